"""The lifecycle's set-based updates: what is due, settled with conditional statements, so
a second instance or a restart never applies a transition twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from pilotshare.core.db import Executor
from pilotshare.scheduler.states import CHECKED_IN_SQL, GIVEN_BACK_SQL, HELD_SQL, UNSTARTED_SQL
from pilotshare.twin.store import RUNNING_NOW_SQL

_ACTIVATE: Final = f"""
UPDATE bookings b SET status = {CHECKED_IN_SQL}, activated_at = $1, updated_at = $1
FROM instrument_live l
WHERE b.status IN {UNSTARTED_SQL} AND lower(b.period) <= $1 AND upper(b.period) > $1
  AND l.instrument_id = b.instrument_id AND {RUNNING_NOW_SQL}
  AND NOT EXISTS (   -- a run that began before an overrunning booking ended is not ours
      SELECT 1 FROM bookings p
      WHERE p.instrument_id = b.instrument_id AND 'overrun' = ANY(p.flags)
        AND upper(p.period) <= lower(b.period) AND upper(p.period) > l.since)
RETURNING b.id"""

_DELAYED: Final = f"""
UPDATE bookings b SET flags = array_append(b.flags, 'delayed')
FROM instrument_live l
WHERE b.status IN {UNSTARTED_SQL} AND lower(b.period) <= $1 AND upper(b.period) > $1
  AND NOT ('delayed' = ANY(b.flags))
  AND l.instrument_id = b.instrument_id AND {RUNNING_NOW_SQL}
  AND EXISTS (SELECT 1 FROM bookings p
              WHERE p.instrument_id = b.instrument_id AND 'overrun' = ANY(p.flags)
                AND upper(p.period) <= lower(b.period) AND upper(p.period) > l.since)"""

_RELEASED: Final = f"""
SELECT id FROM bookings
WHERE unlocked_at IS NOT NULL AND locked_at IS NULL AND status IN {GIVEN_BACK_SQL}
LIMIT 500"""

_UNSTARTED: Final = f"""
SELECT id FROM bookings
WHERE status IN {UNSTARTED_SQL} AND upper(period) > $1
  AND lower(period) <= $1::timestamptz - $2::interval
  AND NOT ('delayed' = ANY(flags))  -- the grace starts only when the instrument is theirs
ORDER BY lower(period) LIMIT 500"""

_ENDED: Final = f"""
SELECT id FROM bookings
WHERE status IN {HELD_SQL} AND upper(period) <= $1
ORDER BY upper(period) LIMIT 500"""

_NEXT_DUE: Final = f"""
SELECT least(
    (SELECT min(lower(period)) FROM bookings
     WHERE status IN {HELD_SQL} AND unlocked_at IS NULL AND upper(period) > $2),
    (SELECT min(lower(period)) FROM bookings WHERE status IN {UNSTARTED_SQL}) + $1::interval,
    (SELECT min(upper(period)) FROM bookings WHERE status IN {HELD_SQL}))"""


async def ended_held(conn: Executor, now: datetime) -> list[UUID]:
    """Held bookings whose end has passed, earliest end first (500 at a time)."""
    return [r["id"] for r in await conn.fetch(_ENDED, now)]


async def released_unlocked(conn: Executor) -> list[UUID]:
    """Bookings given back while their interlock is still open (500 at a time)."""
    return [r["id"] for r in await conn.fetch(_RELEASED)]


async def flag_delayed(conn: Executor, now: datetime) -> None:
    """Flag ``delayed`` the started bookings whose instrument still runs an overrun."""
    await conn.execute(_DELAYED, now)


async def check_in_running(conn: Executor, now: datetime) -> int:
    """Check in the started bookings whose instrument runs in their slot; how many."""
    return len(await conn.fetch(_ACTIVATE, now))


async def past_grace(conn: Executor, now: datetime, grace: timedelta) -> list[UUID]:
    """Unstarted bookings past ``grace`` after their start (not delayed), by start."""
    return [r["id"] for r in await conn.fetch(_UNSTARTED, now, grace)]


async def next_due(conn: Executor, grace: timedelta, now: datetime) -> datetime | None:
    """The earliest moment a booking falls due: a start, a start plus ``grace``, an end."""
    due: datetime | None = await conn.fetchval(_NEXT_DUE, grace, now)
    return due
