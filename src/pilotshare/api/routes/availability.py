"""``GET /api/v1/availability``: free slots across matching instruments (CONTRACT §3), and the
maintenance windows and blackouts that close instruments (``/api/v1/instruments/{id}/closures``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pilotshare.api.deps import AdminKey, ClockDep, CurrentKey, Pool
from pilotshare.api.routes.bookings import Service, caller, forbidden_when_not_qualified
from pilotshare.api.schemas import Problem, Slug
from pilotshare.core.errors import NotFound
from pilotshare.registry import require_instrument
from pilotshare.scheduler.states import HELD_SQL

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


class ClosureCreate(BaseModel):
    """A maintenance window or a blackout of one instrument."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    kind: Literal["maintenance", "blackout"] = "maintenance"
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> ClosureCreate:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


class ClosurePublic(BaseModel):
    id: int
    instrument: str
    start: AwareDatetime
    end: AwareDatetime
    kind: Literal["maintenance", "blackout"]
    reason: str
    affected: list[str] = Field(
        default=[], description="held bookings that overlap it (cancel or move them)"
    )


closures = APIRouter(prefix="/api/v1/instruments", tags=["bookings"])


@closures.post(
    "/{instrument}/closures",
    status_code=status.HTTP_201_CREATED,
    response_model=ClosurePublic,
    responses={404: {"model": Problem}},
)
async def add_closure(instrument: str, body: ClosureCreate, pool: Pool, _: AdminKey) -> Any:
    """Close an instrument for maintenance or a blackout (admin); nothing can be booked
    across it. Held bookings it overlaps stay and are listed in ``affected``."""
    async with pool.acquire() as conn, conn.transaction():
        await require_instrument(conn, instrument)
        row = await conn.fetchrow(
            "INSERT INTO maintenance_windows (instrument_id, period, kind, reason) "
            "VALUES ($1, tstzrange($2, $3), $4, $5) RETURNING id",
            instrument,
            body.start,
            body.end,
            body.kind,
            body.reason,
        )
        affected = await conn.fetch(
            "SELECT id::text FROM bookings WHERE instrument_id = $1 AND period && tstzrange($2, $3)"
            f" AND status IN {HELD_SQL} ORDER BY lower(period)",
            instrument,
            body.start,
            body.end,
        )
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    return {
        "id": row["id"],
        "instrument": instrument,
        **body.model_dump(),
        "affected": [r["id"] for r in affected],
    }


@closures.get("/{instrument}/closures", response_model=list[ClosurePublic])
async def list_closures(
    instrument: str,
    pool: Pool,
    clock: ClockDep,
    _: CurrentKey,
) -> Any:
    """Maintenance windows and blackouts that have not ended yet."""
    rows = await pool.fetch(
        'SELECT id, lower(period) AS start, upper(period) AS "end", kind, reason '
        "FROM maintenance_windows WHERE instrument_id = $1 AND upper(period) > $2 "
        "ORDER BY lower(period)",
        instrument,
        clock.now(),
    )
    return [{**dict(r), "instrument": instrument} for r in rows]


@closures.delete(
    "/{instrument}/closures/{closure_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def remove_closure(instrument: str, closure_id: int, pool: Pool, _: AdminKey) -> Response:
    """Reopen: remove a maintenance window or blackout."""
    done = await pool.fetchval(
        "DELETE FROM maintenance_windows WHERE id = $1 AND instrument_id = $2 RETURNING true",
        closure_id,
        instrument,
    )
    if not done:
        raise NotFound(f"no closure {closure_id} of {instrument!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
