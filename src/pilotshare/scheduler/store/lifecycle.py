"""The lifecycle's set-based updates: what is due, settled with conditional statements, so
a second instance or a restart never applies a transition twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from pilotshare.core.db import Executor
from pilotshare.core.domain import BookingStatus, InstrumentState
from pilotshare.scheduler.states import DELAYED_SQL, GIVEN_BACK_SQL, HELD_SQL, UNSTARTED_SQL
from pilotshare.twin import store as twin_store
from pilotshare.twin.store import RUNNING_NOW_SQL

#: The end of the latest booking flagged ``overrun`` on b's instrument that ended inside
#: ``[lower(b.period) - $EARLY, lower(b.period)]``: a run begun before it is that booking's.
_TAKEN_UNTIL: Final = """(
    SELECT max(upper(p.period)) FROM bookings p
    WHERE p.instrument_id = b.instrument_id AND 'overrun' = ANY(p.flags)
      AND upper(p.period) <= lower(b.period)
      AND upper(p.period) > lower(b.period) - {early}::interval)"""

_IN_PROGRESS: Final = f"""
SELECT b.id, b.instrument_id, b.status, lower(b.period) AS start, upper(b.period) AS "end",
       b.freed_at, CASE WHEN {RUNNING_NOW_SQL} THEN l.since END AS run_start,
       {_TAKEN_UNTIL.format(early="$2")} AS taken_until
FROM bookings b LEFT JOIN instrument_live l ON l.instrument_id = b.instrument_id
WHERE b.status IN {UNSTARTED_SQL} AND lower(b.period) <= $1 AND upper(b.period) > $1
ORDER BY lower(b.period) LIMIT 500"""

_TAKEN_UNTIL_OF: Final = f"""
SELECT {_TAKEN_UNTIL.format(early="$2")} FROM bookings b WHERE b.id = $1"""

_FREED: Final = f"""
UPDATE bookings SET freed_at = $2
WHERE id = $1 AND status = {DELAYED_SQL} AND freed_at IS NULL"""

_RELEASED: Final = f"""
SELECT id FROM bookings
WHERE unlocked_at IS NOT NULL AND locked_at IS NULL AND status IN {GIVEN_BACK_SQL}
LIMIT 500"""

_UNSTARTED: Final = f"""
SELECT id FROM bookings
WHERE status IN {UNSTARTED_SQL} AND upper(period) > $1
  AND lower(period) <= $1::timestamptz - $2::interval
  -- a delayed booking's grace starts only when the instrument is theirs (scheduler.checkin)
  AND (status <> {DELAYED_SQL} OR freed_at <= $1::timestamptz - $2::interval)
ORDER BY lower(period) LIMIT 500"""

_ENDED: Final = f"""
SELECT id FROM bookings
WHERE status IN {HELD_SQL} AND upper(period) <= $1
ORDER BY upper(period) LIMIT 500"""

_NEXT_DUE: Final = f"""
SELECT least(
    (SELECT min(lower(period)) FROM bookings
     WHERE status IN {HELD_SQL} AND unlocked_at IS NULL AND upper(period) > $2),
    (SELECT min(lower(period)) FROM bookings
     WHERE status IN {UNSTARTED_SQL} AND status <> {DELAYED_SQL}) + $1::interval,
    (SELECT min(freed_at) FROM bookings WHERE status = {DELAYED_SQL}) + $1::interval,
    (SELECT min(upper(period)) FROM bookings WHERE status IN {HELD_SQL}))"""


async def ended_held(conn: Executor, now: datetime) -> list[UUID]:
    """Held bookings whose end has passed, earliest end first (500 at a time)."""
    return [r["id"] for r in await conn.fetch(_ENDED, now)]


async def released_unlocked(conn: Executor) -> list[UUID]:
    """Bookings given back while their interlock is still open (500 at a time)."""
    return [r["id"] for r in await conn.fetch(_RELEASED)]


@dataclass(frozen=True, slots=True)
class InProgress:
    """An unstarted booking whose slot is under way, with its instrument's current run."""

    id: UUID
    instrument: str
    status: BookingStatus
    start: datetime
    end: datetime
    freed_at: datetime | None
    #: When the instrument's current run started (None: not running, or offline).
    run_start: datetime | None
    #: The end of an overrunning previous booking (``scheduler.checkin.arrival``).
    taken_until: datetime | None


async def in_progress(conn: Executor, now: datetime, early: timedelta) -> list[InProgress]:
    """Unstarted (confirmed or delayed) bookings under way now, by start (500 at a time)."""
    rows = await conn.fetch(_IN_PROGRESS, now, early)
    return [
        InProgress(
            id=r["id"],
            instrument=r["instrument_id"],
            status=BookingStatus(r["status"]),
            start=r["start"],
            end=r["end"],
            freed_at=r["freed_at"],
            run_start=r["run_start"],
            taken_until=r["taken_until"],
        )
        for r in rows
    ]


async def taken_until(conn: Executor, booking_id: UUID, early: timedelta) -> datetime | None:
    """``InProgress.taken_until`` of one booking."""
    until: datetime | None = await conn.fetchval(_TAKEN_UNTIL_OF, booking_id, early)
    return until


async def mark_freed(conn: Executor, booking_id: UUID, now: datetime) -> bool:
    """Record once that a delayed booking's instrument no longer runs the carried-over run."""
    return str(await conn.execute(_FREED, booking_id, now)) != "UPDATE 0"


async def runs(
    conn: Executor, instrument: str, since: datetime, until: datetime, max_gap: timedelta
) -> list[tuple[datetime, datetime]]:
    """``(start, end)`` of the instrument's running stretches in ``[since, until)``, from
    stored telemetry; one carried in from before ``since`` starts at ``since``."""
    if until <= since:
        return []
    ivs = await twin_store.load_intervals(conn, instrument, since, until, gap=max_gap)
    return [(iv.start, iv.end) for iv in ivs if iv.state is InstrumentState.RUNNING]


async def past_grace(conn: Executor, now: datetime, grace: timedelta) -> list[UUID]:
    """Unstarted bookings past ``grace`` after their start (a delayed one: after it was
    freed), by start."""
    return [r["id"] for r in await conn.fetch(_UNSTARTED, now, grace)]


async def next_due(conn: Executor, grace: timedelta, now: datetime) -> datetime | None:
    """The earliest moment a booking falls due: a start, a start (or a delayed booking's
    freeing) plus ``grace``, an end."""
    due: datetime | None = await conn.fetchval(_NEXT_DUE, grace, now)
    return due
