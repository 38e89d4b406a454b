"""``/api/v1/bookings``: book, list, read, cancel and measure bookings (CONTRACT §3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare.api.deps import CurrentKey, OperatorKey
from pilotshare.api.keys import Principal
from pilotshare.api.schemas import Problem, Slug
from pilotshare.core.domain import BookingStatus, Role
from pilotshare.core.errors import BadInput
from pilotshare.scheduler.metrics import booking_metrics
from pilotshare.scheduler.requests import BookingRequest
from pilotshare.scheduler.service import BookingService, Caller, NotQualified

router = APIRouter(prefix="/api/v1/bookings", tags=["bookings"])


async def service(request: Request) -> BookingService:
    """The app's booking service, built on first use from ``app.state``."""
    state = request.app.state
    found: BookingService | None = getattr(state, "booking_service", None)
    if found is None:
        found = BookingService(
            state.pool,
            state.clock,
            booking_metrics(state.registry),
            max_gap=timedelta(seconds=state.settings.offline_after_s),
        )
        state.booking_service = found
    return found


Service = Annotated[BookingService, Depends(service)]


def caller(principal: Principal) -> Caller:
    return Caller(principal.org, principal.role == Role.ADMIN, principal.key_id)


@contextmanager
def forbidden_when_not_qualified() -> Iterator[None]:
    """Turn the scheduler's ``NotQualified`` into a 403."""
    try:
        yield
    except NotQualified as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


class BookingCreate(BaseModel):
    """An instrument or a kind; and either a slot or a duration in a window.

    Only types here: which combinations are valid is ``scheduler.requests.BookingRequest``'s
    to say, for every caller alike."""

    model_config = ConfigDict(extra="forbid")

    instrument: Slug | None = None
    kind: Slug | None = None
    capabilities: list[str] = Field(default=[], max_length=32)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    duration: timedelta | None = Field(default=None, description="ISO 8601, e.g. PT4H")
    earliest: AwareDatetime | None = None
    latest: AwareDatetime | None = Field(default=None, description="the booking ends by then")
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
    responses={403: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
)
async def create_booking(body: BookingCreate, principal: OperatorKey, svc: Service) -> Any:
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
    with forbidden_when_not_qualified():
        return (await svc.create(caller(principal), req)).public()


@router.get("", response_model=list[BookingPublic])
async def list_bookings(
    *,
    principal: CurrentKey,
    svc: Service,
    start: Annotated[AwareDatetime | None, Query(description="overlapping from")] = None,
    end: Annotated[AwareDatetime | None, Query(description="overlapping until")] = None,
    instrument: Annotated[Slug | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> Any:
    """Your organisation's bookings (an admin's key: everyone's), by start."""
    window = None
    if start is not None or end is not None:
        if start is None or end is None or end <= start:
            raise BadInput("bad_window", "give both 'start' and 'end', with end after start")
        window = (start, end)
    found = await svc.list_for(caller(principal), window=window, instrument=instrument, limit=limit)
    return [b.public() for b in found]


@router.get("/{booking_id}", response_model=BookingPublic, responses={404: {"model": Problem}})
async def get_booking(booking_id: UUID, principal: CurrentKey, svc: Service) -> Any:
    """One booking of your organisation (404 for another organisation's)."""
    return (await svc.get(caller(principal), booking_id)).public()


@router.delete(
    "/{booking_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def cancel_booking(booking_id: UUID, principal: OperatorKey, svc: Service) -> Response:
    """Cancel a confirmed booking, or release the rest of an active one; history is kept."""
    await svc.cancel(caller(principal), booking_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{booking_id}/usage", response_model=Usage, responses={404: {"model": Problem}})
async def booking_usage(booking_id: UUID, principal: CurrentKey, svc: Service) -> Any:
    """Booked, used and running seconds, measured from the instrument's telemetry."""
    return await svc.usage(caller(principal), booking_id)
