"""Maintenance windows and blackouts of instruments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pilotshare.core.audit import Actor, record
from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import NotFound
from pilotshare.registry import instrument_owner
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
    conn: Connection,
    instrument: str,
    slot: Interval,
    kind: str,
    reason: str,
    *,
    actor: Actor,
    at: datetime,
) -> tuple[Closure, list[str]]:
    """Close ``instrument`` over ``slot``, with its audit line; with the ids of the held
    bookings it overlaps."""
    async with conn.transaction():
        owner = await instrument_owner(conn, instrument)
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
        await record(
            conn,
            actor,
            "closure.add",
            "closure",
            str(closure_id),
            owners=[owner],
            at=at,
            after=closure,
        )
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


async def site_closures(conn: Executor, site: str, start: datetime, end: datetime) -> list[Closure]:
    """The closures of the site's instruments overlapping ``[start, end)``, by start: one
    question for a view of the whole site (the resource timeline)."""
    rows = await conn.fetch(
        'SELECT w.id, w.instrument_id, lower(w.period) AS start, upper(w.period) AS "end", '
        "w.kind, w.reason FROM maintenance_windows w JOIN instruments i ON i.id = w.instrument_id "
        "WHERE i.site_id = $1 AND w.period && tstzrange($2, $3) "
        "ORDER BY lower(w.period), w.id",
        site,
        start,
        end,
    )
    return [
        Closure(r["id"], r["instrument_id"], r["start"], r["end"], r["kind"], r["reason"])
        for r in rows
    ]


async def remove_closure(
    conn: Connection, instrument: str, closure_id: int, *, actor: Actor, at: datetime
) -> None:
    """Reopen: delete a closure, with its audit line; ``NotFound`` when the instrument has
    none of this id."""
    async with conn.transaction():
        owner = await instrument_owner(conn, instrument)
        row = await conn.fetchrow(
            "DELETE FROM maintenance_windows WHERE id = $1 AND instrument_id = $2 "
            'RETURNING id, lower(period) AS start, upper(period) AS "end", kind, reason',
            closure_id,
            instrument,
        )
        if row is None:
            raise NotFound("no_closure", f"no closure {closure_id} of {instrument!r}")
        gone = Closure(row["id"], instrument, row["start"], row["end"], row["kind"], row["reason"])
        await record(
            conn,
            actor,
            "closure.remove",
            "closure",
            str(closure_id),
            owners=[owner],
            at=at,
            before=gone,
        )
