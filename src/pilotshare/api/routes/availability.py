"""``GET /api/v1/availability``: free slots across matching instruments (CONTRACT §3), and the
maintenance windows and blackouts that close instruments (``/api/v1/instruments/{id}/closures``,
and a site's at once: ``/api/v1/closures``).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pilotshare.api.deps import (
    AdminKey,
    BookingsDep,
    ClockDep,
    CurrentKey,
    Pool,
    actor,
    administers_instrument,
    caller,
)
from pilotshare.api.schemas import Duration, Instant, Slug, problems
from pilotshare.core.errors import BadInput
from pilotshare.registry import require_instrument
from pilotshare.scheduler import store

router = APIRouter(prefix="/api/v1/availability", tags=["bookings"])


class FreeSlot(BaseModel):
    """A free interval: any ``duration`` inside it can be booked."""

    instrument: str
    start: AwareDatetime
    end: AwareDatetime


@router.get("", response_model=list[FreeSlot], responses=problems(401, 403, 404, 409, 422))
async def availability(
    *,
    principal: CurrentKey,
    svc: BookingsDep,
    kind: Annotated[Slug | None, Query()] = None,
    instrument: Annotated[Slug | None, Query()] = None,
    capability: Annotated[list[str] | None, Query(description="repeat for several")] = None,
    duration: Annotated[
        Duration | None, Query(description="ISO 8601 (PT4H); default: the minimum booking")
    ] = None,
    earliest: Annotated[Instant | None, Query(description="default: now")] = None,
    latest: Annotated[Instant | None, Query(description="default: earliest + 7 days")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[FreeSlot]:
    """Free intervals of every matching instrument, earliest first, after every booking rule
    (operating hours, maintenance, buffers, notice, horizon, qualification)."""
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
    return [FreeSlot(instrument=s.instrument, start=s.start, end=s.end) for s in slots]


class ClosureCreate(BaseModel):
    """A maintenance window or a blackout of one instrument."""

    model_config = ConfigDict(extra="forbid")

    start: Instant
    end: Instant
    kind: Literal["maintenance", "blackout"] = "maintenance"
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> ClosureCreate:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


class ClosurePublic(BaseModel):
    """A closure as stored."""

    id: int
    instrument: str
    start: AwareDatetime
    end: AwareDatetime
    kind: Literal["maintenance", "blackout"]
    reason: str
    affected: list[str] = Field(
        default=[], description="held bookings that overlap it (cancel or move them)"
    )

    @classmethod
    def of(cls, closure: store.Closure, affected: list[str] | None = None) -> ClosurePublic:
        return cls.model_validate({**dataclasses.asdict(closure), "affected": affected or []})


closures = APIRouter(prefix="/api/v1/instruments", tags=["bookings"])
site_closures = APIRouter(prefix="/api/v1/closures", tags=["bookings"])


@closures.post(
    "/{instrument}/closures",
    status_code=status.HTTP_201_CREATED,
    response_model=ClosurePublic,
    responses=problems(401, 403, 404, 422),
)
async def add_closure(
    instrument: str, body: ClosureCreate, pool: Pool, clock: ClockDep, principal: AdminKey
) -> ClosurePublic:
    """Close an instrument for maintenance or a blackout (its platform's admins, or the
    network's); nothing can be booked across it. Held bookings it overlaps stay and are
    listed in ``affected``."""
    await administers_instrument(pool, principal, instrument)
    async with pool.acquire() as conn:
        closure, affected = await store.add_closure(
            conn,
            instrument,
            (body.start, body.end),
            body.kind,
            body.reason,
            actor=actor(principal),
            at=clock.now(),
        )
    return ClosurePublic.of(closure, affected)


@closures.get(
    "/{instrument}/closures",
    response_model=list[ClosurePublic],
    responses=problems(401, 403, 404, 422),
)
async def list_closures(
    instrument: str,
    pool: Pool,
    clock: ClockDep,
    _: CurrentKey,
    since: Annotated[
        Instant | None,
        Query(description="those that end after this time (a past month's too); default: now"),
    ] = None,
) -> list[ClosurePublic]:
    """Maintenance windows and blackouts that have not ended yet (or by ``since``): the open
    statistics take them out of a month's open hours, so a past month's are readable too."""
    await require_instrument(pool, instrument)
    after = since if since is not None else clock.now()
    return [ClosurePublic.of(c) for c in await store.open_closures(pool, instrument, after)]


@closures.delete(
    "/{instrument}/closures/{closure_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def remove_closure(
    instrument: str, closure_id: int, pool: Pool, clock: ClockDep, principal: AdminKey
) -> Response:
    """Reopen: remove a maintenance window or blackout (its platform's admins, or the
    network's)."""
    await administers_instrument(pool, principal, instrument)
    async with pool.acquire() as conn:
        await store.remove_closure(
            conn, instrument, closure_id, actor=actor(principal), at=clock.now()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@site_closures.get("", response_model=list[ClosurePublic], responses=problems(401, 422))
async def list_site_closures(
    pool: Pool,
    _: CurrentKey,
    site: Annotated[Slug, Query(description="the site whose instruments' closures to list")],
    start: Annotated[Instant, Query(description="those overlapping [start, end)")],
    end: Annotated[Instant, Query()],
) -> list[ClosurePublic]:
    """Every closure of a site's instruments overlapping a window, past ones too, by start:
    one question where a view of the site would ask each instrument (any key, as the
    instruments' own listing)."""
    if end <= start:
        raise BadInput("bad_window", "'end' must be after 'start'")
    return [ClosurePublic.of(c) for c in await store.site_closures(pool, site, start, end)]
