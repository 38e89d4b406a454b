"""``/api/v1/bookings``: book, list (a page at a time), read, change, cancel and measure
bookings (CONTRACT §3, §6)."""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare.api.deps import BookingsDep, CurrentKey, OperatorKey, caller
from pilotshare.api.schemas import Duration, Instant, Slug, problems
from pilotshare.core.contract import InterlockState
from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput
from pilotshare.scheduler.requests import BookingRequest, statuses
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
    service_item: Slug | None = Field(
        default=None,
        description="a priced service item (服务项目) of the platform owning the instrument",
    )


class InterlockPublic(BaseModel):
    """The booking's interlock (CONTRACT §6): what the platform wants and the agent reports."""

    desired: Literal["unlocked", "locked"] | None = Field(
        description="unlocked from its start; locked once it ended or was given back; "
        "null before its start"
    )
    reported: InterlockState | None = Field(
        description="what the instrument's agent reports it applied, at this seq or an older "
        "one; unsupported: the agent cannot switch an interlock; null: nothing reported"
    )
    seq: int | None = Field(description="the number of the interlock change made for it")


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
    interlock: InterlockPublic
    checked_in_at: AwareDatetime | None = Field(
        default=None,
        description="when it became active (checked in by a run of its own or by hand); null"
        " before, or when it was settled from stored telemetry without a check-in",
    )
    service_item: str | None = Field(
        default=None, description="the service item it was booked for; null: instrument time"
    )


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
        interlock=InterlockPublic(
            desired=_DESIRED.get(booking.interlock_desired or ""),
            reported=_REPORTED.get(booking.interlock_reported or ""),
            seq=booking.interlock_seq,
        ),
        checked_in_at=booking.activated_at,
        service_item=booking.service_item,
    )


#: A stored booking in its public shape, for other routes that answer one (an accepted offer).
booking_public = _public

#: The stored words as their API literals (the database's CHECK constraints allow no others).
_DESIRED: Final[dict[str, Literal["unlocked", "locked"]]] = {
    "unlocked": "unlocked",
    "locked": "locked",
}
_REPORTED: Final[dict[str, InterlockState]] = {
    "unlocked": "unlocked",
    "locked": "locked",
    "unsupported": "unsupported",
}


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
    responses=problems(401, 403, 404, 409, 422),
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
        service_item=body.service_item,
    )
    return _public(await svc.create(caller(principal), req))


#: A page of ``GET /api/v1/bookings`` by default, and at most.
DEFAULT_PAGE: Final = 1000
MAX_PAGE: Final = 10000


@router.get(
    "",
    response_model=list[BookingPublic],
    responses={
        **problems(401, 403, 422),
        200: {
            "description": 'one page, by (start, id); a `Link: <…>; rel="next"` header '
            "while more remain",
            "headers": {"Link": {"description": "the next page", "schema": {"type": "string"}}},
        },
    },
)
async def list_bookings(
    *,
    request: Request,
    response: Response,
    principal: CurrentKey,
    svc: BookingsDep,
    start: Annotated[Instant | None, Query(description="overlapping from")] = None,
    end: Annotated[Instant | None, Query(description="overlapping until")] = None,
    instrument: Annotated[Slug | None, Query()] = None,
    status: Annotated[
        list[str] | None, Query(description="repeat, or separate by commas, for several")
    ] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="by start, then id")] = "asc",
    cursor: Annotated[
        str | None, Query(max_length=200, description="from the previous page's Link header")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> list[BookingPublic]:
    """Your organisation's bookings (an admin's key: everyone's), a page at a time, by start
    (``order=desc``: newest first); the ``Link`` header names the next page while more
    remain, with the same filters."""
    window = None
    if start is not None or end is not None:
        if start is None or end is None or end <= start:
            raise BadInput("bad_window", "give both 'start' and 'end', with end after start")
        window = (start, end)
    page = await svc.list_for(
        caller(principal),
        window=window,
        instrument=instrument,
        limit=limit,
        statuses=statuses(status or ()),
        cursor=cursor,
        descending=order == "desc",
    )
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return [_public(b) for b in page.bookings]


@router.get("/{booking_id}", response_model=BookingPublic, responses=problems(401, 403, 404, 422))
async def get_booking(booking_id: UUID, principal: CurrentKey, svc: BookingsDep) -> BookingPublic:
    """One booking of your organisation (404 for another organisation's)."""
    return _public(await svc.get(caller(principal), booking_id))


class BookingChange(BaseModel):
    """The new slot of a booking: move, extend or shorten it."""

    model_config = ConfigDict(extra="forbid")

    start: Instant
    end: Instant


@router.patch(
    "/{booking_id}", response_model=BookingPublic, responses=problems(401, 403, 404, 409, 422)
)
async def change_booking(
    booking_id: UUID, body: BookingChange, principal: OperatorKey, svc: BookingsDep
) -> BookingPublic:
    """Move, extend or shorten a booking under the rules of a new one (409 when the slot is
    taken or the booking has ended; an active booking may change only its end)."""
    return _public(await svc.change(caller(principal), booking_id, body.start, body.end))


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


@router.post(
    "/{booking_id}/check-in",
    response_model=BookingPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def check_in_booking(
    booking_id: UUID, principal: OperatorKey, svc: BookingsDep
) -> BookingPublic:
    """Check a booking in by hand (an instrument without an agent): ``active`` inside its
    check-in window, from ``PILOTSHARE_BOOKING_EARLY_S`` before its start until its no-show
    grace ends; 409 ``outside_check_in_window`` outside it, 409 once settled or given back."""
    return _public(await svc.check_in(caller(principal), booking_id))
