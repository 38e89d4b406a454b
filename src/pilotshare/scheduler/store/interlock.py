"""The interlock as desired state (migration 0041): each instrument's one current command,
its ``seq``, when to (re)publish it, and what its agent reported.

A change of the desired state and the booking's mark (``unlocked_at``/``locked_at``) are one
transaction, and the ``seq`` is counted here, per instrument, so it is never used twice: not
by two lifecycle instances, not after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.scheduler.states import HELD_SQL

_UNLOCK: Final = f"""
UPDATE bookings b SET unlocked_at = $1
WHERE b.status IN {HELD_SQL}
  AND b.unlocked_at IS NULL AND lower(b.period) <= $1 AND upper(b.period) > $1
RETURNING b.id, b.instrument_id, upper(b.period) AS "end\""""

_LOCK: Final = """
UPDATE bookings b SET locked_at = $2
WHERE b.id = $1 AND b.unlocked_at IS NOT NULL AND b.locked_at IS NULL
RETURNING b.id, b.instrument_id, upper(b.period) AS "end\""""

# A lock never overrides another booking's unlock (that booking holds the instrument now); the
# booking is then marked with the seq that superseded it.
_DESIRE: Final = """
WITH x AS (
    INSERT INTO interlocks AS x (instrument_id, seq, cmd, booking_id, until, changed_at,
                                 next_send_at)
    VALUES ($1, 1, $2, $3, $4, $5, $5)
    ON CONFLICT (instrument_id) DO UPDATE SET
        seq = x.seq + 1, cmd = EXCLUDED.cmd, booking_id = EXCLUDED.booking_id,
        until = EXCLUDED.until, changed_at = EXCLUDED.changed_at, sends = 0, sent_at = NULL,
        next_send_at = EXCLUDED.next_send_at
    WHERE EXCLUDED.cmd = 'unlock' OR x.cmd = 'lock'
       OR x.booking_id IS NOT DISTINCT FROM EXCLUDED.booking_id
    RETURNING x.seq)
UPDATE bookings SET interlock_reported = NULL,
    interlock_seq = coalesce((SELECT seq FROM x),
                             (SELECT seq FROM interlocks WHERE instrument_id = $1))
WHERE id = $3"""

# Where the agent reports the desired seq (or a newer one), stop re-sending; the booking the
# command was for keeps what was reported.
_REPORTED: Final = """
WITH done AS (
    UPDATE interlocks x SET next_send_at = NULL
    FROM instrument_live l
    WHERE l.instrument_id = x.instrument_id AND x.next_send_at IS NOT NULL
      AND l.interlock_seq >= x.seq
    RETURNING x.booking_id, l.interlock_state, l.interlock_seq)
UPDATE bookings b SET interlock_reported = d.interlock_state
FROM done d WHERE b.id = d.booking_id AND b.interlock_seq = d.interlock_seq"""

_DUE: Final = """
SELECT x.instrument_id, i.site_id, x.seq, x.cmd, x.booking_id, x.until, x.sends
FROM interlocks x JOIN instruments i ON i.id = x.instrument_id
WHERE x.next_send_at <= $1
ORDER BY x.next_send_at LIMIT 500"""

_SENT: Final = """
UPDATE interlocks SET sends = sends + 1, next_send_at = $3,
    sent_at = CASE WHEN $4 THEN $5 ELSE sent_at END
WHERE instrument_id = $1 AND seq = $2 AND next_send_at IS NOT NULL"""


@dataclass(frozen=True, slots=True)
class Desired:
    """An instrument's desired interlock state, due to be (re)published."""

    instrument: str
    site: str
    seq: int
    cmd: str
    booking: UUID | None
    until: datetime | None
    sends: int  # publishes of this seq tried before


async def _desire(conn: Executor, row: asyncpg.Record, cmd: str, now: datetime) -> None:
    await conn.execute(_DESIRE, row["instrument_id"], cmd, row["id"], row["end"], now)


async def open_due(pool: asyncpg.Pool, now: datetime) -> int:
    """Open the interlock of every held booking that has started: mark it unlocked and make
    ``unlock`` its instrument's desired state, in one transaction; how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_UNLOCK, now)
        for row in rows:
            await _desire(conn, row, "unlock", now)
    return len(rows)


async def close_for(pool: asyncpg.Pool, booking_id: UUID, now: datetime) -> bool:
    """Close an unlocked booking's interlock once (``lock`` desired); False if done already."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_LOCK, booking_id, now)
        if row is not None:
            await _desire(conn, row, "lock", now)
    return row is not None


async def settle_reported(conn: Executor) -> None:
    """Stop re-sending where the agent reported the desired seq; note it on the booking."""
    await conn.execute(_REPORTED)


async def sends_due(conn: Executor, now: datetime) -> list[Desired]:
    """Desired states due to be (re)published at ``now``, the longest waiting first."""
    return [
        Desired(
            instrument=r["instrument_id"],
            site=r["site_id"],
            seq=r["seq"],
            cmd=r["cmd"],
            booking=r["booking_id"],
            until=r["until"],
            sends=r["sends"],
        )
        for r in await conn.fetch(_DUE, now)
    ]


async def sent(
    conn: Executor, desired: Desired, *, published: bool, now: datetime, again: datetime
) -> None:
    """Record a publish of ``desired`` (done or failed) and when to send it again, unless the
    seq has changed or been reported since."""
    await conn.execute(_SENT, desired.instrument, desired.seq, again, published, now)


async def next_send(conn: Executor) -> datetime | None:
    """When the next desired state is due to be (re)published."""
    due: datetime | None = await conn.fetchval(
        "SELECT min(next_send_at) FROM interlocks WHERE next_send_at IS NOT NULL"
    )
    return due
