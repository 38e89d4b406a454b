"""Maintenance windows and blackouts of instruments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import NotFound
from pilotshare.registry import require_instrument
from pilotshare.scheduler.policy import Interval
from pilotshare.scheduler.states import HELD_SQL


@dataclass(frozen=True, slots=True)
class Closure:
    """A maintenance window or blackout of one instrument."""

    id: int
    instrument: str
    start: datetime
    end: datetime
    kind: str
    reason: str


async def add_closure(
    conn: Connection, instrument: str, slot: Interval, kind: str, reason: str
) -> tuple[Closure, list[str]]:
    """Close ``instrument`` over ``slot``; with the ids of the held bookings it overlaps."""
    async with conn.transaction():
        await require_instrument(conn, instrument)
        closure_id = await conn.fetchval(
            "INSERT INTO maintenance_windows (instrument_id, period, kind, reason) "
            "VALUES ($1, tstzrange($2, $3), $4, $5) RETURNING id",
            instrument,
            slot[0],
            slot[1],
            kind,
            reason,
        )
        affected = await conn.fetch(
            "SELECT id::text FROM bookings WHERE instrument_id = $1 AND period && tstzrange($2, $3)"
            f" AND status IN {HELD_SQL} ORDER BY lower(period)",
            instrument,
            slot[0],
            slot[1],
        )
    closure = Closure(closure_id, instrument, slot[0], slot[1], kind, reason)
    return closure, [r["id"] for r in affected]


async def open_closures(conn: Executor, instrument: str, now: datetime) -> list[Closure]:
    """The instrument's closures that have not ended by ``now``, by start."""
    rows = await conn.fetch(
        'SELECT id, lower(period) AS start, upper(period) AS "end", kind, reason '
        "FROM maintenance_windows WHERE instrument_id = $1 AND upper(period) > $2 "
        "ORDER BY lower(period)",
        instrument,
        now,
    )
    return [
        Closure(r["id"], instrument, r["start"], r["end"], r["kind"], r["reason"]) for r in rows
    ]


async def remove_closure(conn: Executor, instrument: str, closure_id: int) -> None:
    """Reopen: delete a closure; ``NotFound`` when the instrument has none of this id."""
    done = await conn.fetchval(
        "DELETE FROM maintenance_windows WHERE id = $1 AND instrument_id = $2 RETURNING true",
        closure_id,
        instrument,
    )
    if not done:
        raise NotFound("no_closure", f"no closure {closure_id} of {instrument!r}")
