"""``GET /api/v1/availability``: free slots across matching instruments (CONTRACT §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from pilotshare.api.deps import CurrentKey
from pilotshare.api.routes.bookings import Service, caller, forbidden_when_not_qualified
from pilotshare.api.schemas import Problem, Slug
from pilotshare.core.errors import BadInput

router = APIRouter(prefix="/api/v1/availability", tags=["bookings"])


class FreeSlot(BaseModel):
    """A free interval: any ``duration`` inside it can be booked."""

    instrument: str
    start: AwareDatetime
    end: AwareDatetime


@router.get("", response_model=list[FreeSlot], responses={403: {"model": Problem}})
async def availability(
    *,
    principal: CurrentKey,
    svc: Service,
    kind: Annotated[Slug | None, Query()] = None,
    instrument: Annotated[Slug | None, Query()] = None,
    capability: Annotated[list[str] | None, Query(description="repeat for several")] = None,
    duration: Annotated[
        timedelta | None, Query(description="ISO 8601 (PT4H); default: the minimum booking")
    ] = None,
    earliest: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    latest: Annotated[AwareDatetime | None, Query(description="default: earliest + 7 days")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    """Free intervals of every matching instrument, earliest first, after every booking rule
    (operating hours, maintenance, buffers, notice, horizon, qualification)."""
    if (kind is None) == (instrument is None):
        raise BadInput("bad_query", "give exactly one of 'kind' and 'instrument'")
    if duration is not None and duration <= timedelta(0):
        raise BadInput("bad_duration", "'duration' must be positive")
    with forbidden_when_not_qualified():
        slots = await svc.availability(
            caller(principal),
            instrument=instrument,
            kind=kind,
            capabilities=frozenset(capability or ()),
            duration=duration,
            earliest=earliest,
            latest=latest,
            limit=limit,
        )
    return [{"instrument": s.instrument, "start": s.start, "end": s.end} for s in slots]
