"""``/api/v1/bookings``: book, list, read, cancel and measure bookings (CONTRACT §3)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare.api.deps import BookingsDep, CurrentKey, OperatorKey, caller
from pilotshare.api.schemas import Duration, Instant, Slug, problems
from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput
from pilotshare.scheduler.requests import BookingRequest
from pilotshare.scheduler.store import Booking

router = APIRouter(prefix="/api/v1/bookings", tags=["bookings"])


class BookingCreate(BaseModel):
    """An instrument or a kind; and either a slot or a duration in a window.

    Only types here: which combinations are valid is ``scheduler.requests.BookingRequest``'s
    to say, for every caller alike."""

    model_config = ConfigDict(extra="forbid")

    instrument: Slug | None = None
    kind: Slug | None = None
    capabilities: list[str] = Field(default=[], max_length=32)
    start: Instant | None = None
    end: Instant | None = None
    duration: Duration | None = Field(default=None, description="ISO 8601, e.g. PT4H")
    earliest: Instant | None = None
    latest: Instant | None = Field(default=None, description="the booking ends by then")
    purpose: str = Field(default="", max_length=500)


class BookingPublic(BaseModel):
    """A booking."""

    id: str
    instrument: str
    org: str
    start: AwareDatetime
    end: AwareDatetime
    status: BookingStatus
    purpose: str
    flags: list[str] = Field(description="e.g. overrun: the instrument ran past the end")


def _public(booking: Booking) -> BookingPublic:
    """The CONTRACT §3 shape of a stored booking (plus its flags)."""
    return BookingPublic(
        id=str(booking.id),
        instrument=booking.instrument,
        org=booking.org,
        start=booking.start,
        end=booking.end,
        status=booking.status,
        purpose=booking.purpose,
        flags=list(booking.flags),
    )


class Usage(BaseModel):
    """Measured use of a booking, from telemetry."""

    booked_seconds: float
    used_seconds: float = Field(description="running or setup")
    running_seconds: float
    status: BookingStatus


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingPublic,
    responses=problems(401, 403, 409, 422),
)
async def create_booking(
    body: BookingCreate, principal: OperatorKey, svc: BookingsDep
) -> BookingPublic:
    """Book a slot (``instrument`` + ``start``/``end``), or a ``duration`` of an ``instrument`` or
    ``kind`` between ``earliest`` and ``latest``: then the scheduler picks instrument and slot."""
    req = BookingRequest(
        instrument=body.instrument,
        kind=body.kind,
        capabilities=frozenset(body.capabilities),
        start=body.start,
        end=body.end,
        duration=body.duration,
        earliest=body.earliest,
        latest=body.latest,
        purpose=body.purpose,
    )
    return _public(await svc.create(caller(principal), req))


@router.get("", response_model=list[BookingPublic], responses=problems(401, 403, 422))
async def list_bookings(
    *,
    principal: CurrentKey,
    svc: BookingsDep,
    start: Annotated[Instant | None, Query(description="overlapping from")] = None,
    end: Annotated[Instant | None, Query(description="overlapping until")] = None,
    instrument: Annotated[Slug | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[BookingPublic]:
    """Your organisation's bookings (an admin's key: everyone's), by start."""
    window = None
    if start is not None or end is not None:
        if start is None or end is None or end <= start:
            raise BadInput("bad_window", "give both 'start' and 'end', with end after start")
        window = (start, end)
    found = await svc.list_for(caller(principal), window=window, instrument=instrument, limit=limit)
    return [_public(b) for b in found]


@router.get("/{booking_id}", response_model=BookingPublic, responses=problems(401, 403, 404, 422))
async def get_booking(booking_id: UUID, principal: CurrentKey, svc: BookingsDep) -> BookingPublic:
    """One booking of your organisation (404 for another organisation's)."""
    return _public(await svc.get(caller(principal), booking_id))


@router.delete(
    "/{booking_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
async def cancel_booking(booking_id: UUID, principal: OperatorKey, svc: BookingsDep) -> Response:
    """Cancel a confirmed booking, or release the rest of an active one; history is kept."""
    await svc.cancel(caller(principal), booking_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{booking_id}/usage", response_model=Usage, responses=problems(401, 403, 404, 422))
async def booking_usage(booking_id: UUID, principal: CurrentKey, svc: BookingsDep) -> Usage:
    """Booked, used and running seconds, measured from the instrument's telemetry."""
    return Usage.model_validate(
        await svc.usage(caller(principal), booking_id), from_attributes=True
    )
