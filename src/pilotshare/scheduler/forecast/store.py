"""The forecast's SQL: the snapshot it starts from, and the risk watch's trigger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.scheduler.policy import Interval
from pilotshare.scheduler.states import HELD_SQL, QUOTA_COUNTED_SQL

_HISTORY: Final = """
SELECT i.kind, b.instrument_id, b.org_id, b.created_at, lower(b.period) AS a, upper(b.period) AS b,
       b.status, b.activated_at, b.running_s,
       CASE WHEN 'overrun' = ANY(b.flags) THEN extract(epoch FROM (
           SELECT min(t.ts) FROM telemetry t
           WHERE t.instrument_id = b.instrument_id AND t.state <> 'running'
             AND t.ts >= upper(b.period)
             AND t.ts < upper(b.period) + interval '1 day'
       ) - upper(b.period))::float8 END AS overrun_s
FROM bookings b JOIN instruments i ON i.id = b.instrument_id
WHERE b.created_at >= $1 AND b.created_at < $2 ORDER BY b.created_at"""

_AFFECTED: Final = f"""
SELECT org_id FROM bookings
WHERE instrument_id = $1 AND status IN {HELD_SQL}
  AND period && tstzrange($2, $3)
GROUP BY org_id ORDER BY min(lower(period)), org_id"""

#: Take the instrument's trigger unless it fired within the quiet time, or (catching up) since
#: it went down at $4 (one process wins).
_CLAIM: Final = """
INSERT INTO forecast_triggers AS t (instrument_id, last_at) VALUES ($1, $2)
ON CONFLICT (instrument_id) DO UPDATE SET last_at = EXCLUDED.last_at
WHERE t.last_at <= EXCLUDED.last_at - make_interval(secs => $3)
  AND ($4::timestamptz IS NULL OR t.last_at < $4)
RETURNING instrument_id"""


async def instrument_rows(conn: Executor) -> list[asyncpg.Record]:
    """Every instrument in service (retired ones take no bookings) with its site's timezone,
    by id."""
    return await conn.fetch(
        "SELECT i.*, s.timezone FROM instruments i JOIN sites s ON s.id = i.site_id "
        "WHERE i.retired_at IS NULL ORDER BY i.id"
    )


async def retired_kinds(conn: Executor) -> dict[str, str]:
    """The kind of every retired instrument, by id (a booking may be left on one)."""
    rows = await conn.fetch("SELECT id, kind FROM instruments WHERE retired_at IS NOT NULL")
    return {r["id"]: r["kind"] for r in rows}


async def maintenance(
    conn: Executor, window: Interval
) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """Maintenance windows and blackouts overlapping ``window``, per instrument, each with
    its kind (``maintenance`` or ``blackout``)."""
    found: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for r in await conn.fetch(
        """SELECT instrument_id, lower(period) AS a, upper(period) AS b, kind
           FROM maintenance_windows WHERE period && tstzrange($1, $2)""",
        window[0],
        window[1],
    ):
        found.setdefault(r["instrument_id"], []).append((r["a"], r["b"], r["kind"]))
    return found


async def held_bookings(
    conn: Executor, window: Interval
) -> tuple[tuple[str, str, datetime, datetime, str], ...]:
    """``(id, instrument, start, end, org)`` of the holding bookings overlapping ``window``."""
    rows = await conn.fetch(
        f"""SELECT id::text, instrument_id, lower(period) AS a, upper(period) AS b, org_id
            FROM bookings WHERE status IN {HELD_SQL}
              AND period && tstzrange($1, $2) ORDER BY lower(period), id""",
        window[0],
        window[1],
    )
    return tuple((r["id"], r["instrument_id"], r["a"], r["b"], r["org_id"]) for r in rows)


async def history_rows(conn: Executor, made: Interval) -> list[asyncpg.Record]:
    """Bookings created in ``made``, with their kind and (when flagged ``overrun``) the seconds
    their instrument went on running past the end, from telemetry."""
    return await conn.fetch(_HISTORY, made[0], made[1])


async def affected_orgs(conn: Executor, instrument: str, window: Interval) -> list[str]:
    """The organisations holding bookings of ``instrument`` in ``window``, the one of the
    first booking first."""
    rows = await conn.fetch(_AFFECTED, instrument, window[0], window[1])
    return [r["org_id"] for r in rows]


async def qualifications(conn: Executor) -> dict[str, frozenset[str]]:
    """The organisations qualified for each instrument that has any qualification."""
    found: dict[str, set[str]] = {}
    for r in await conn.fetch("SELECT instrument_id, org_id FROM qualifications"):
        found.setdefault(r["instrument_id"], set()).add(r["org_id"])
    return {k: frozenset(v) for k, v in found.items()}


async def quotas(conn: Executor) -> list[tuple[str, str, float]]:
    """``(org, period, max hours)`` of every booking quota, by organisation and period."""
    rows = await conn.fetch(
        "SELECT org_id, period, max_hours::float8 AS h FROM booking_quotas ORDER BY 1, 2"
    )
    return [(r["org_id"], r["period"], r["h"]) for r in rows]


async def quota_counted(
    conn: Executor, orgs: list[str], window: Interval
) -> list[tuple[str, datetime, datetime]]:
    """``(org, start, end)`` of the bookings of ``orgs`` overlapping ``window`` (which ends
    at the forecast's start) that count against quotas, but those that still hold their
    instrument past the window's end (``held_bookings`` has them)."""
    rows = await conn.fetch(
        f"""SELECT org_id, lower(period) AS a, upper(period) AS b FROM bookings
            WHERE org_id = ANY($1::text[]) AND status IN {QUOTA_COUNTED_SQL}
              AND NOT (status IN {HELD_SQL} AND upper(period) > $3)
              AND period && tstzrange($2, $3) ORDER BY lower(period), id""",
        orgs,
        window[0],
        window[1],
    )
    return [(r["org_id"], r["a"], r["b"]) for r in rows]


async def claim_trigger(
    conn: Executor,
    instrument: str,
    now: datetime,
    quiet_s: float,
    *,
    down_since: datetime | None = None,
) -> bool:
    """Take ``instrument``'s forecast trigger, unless it fired within ``quiet_s`` (or, when
    catching up, after the instrument went down at ``down_since``)."""
    return await conn.fetchval(_CLAIM, instrument, now, quiet_s, down_since) is not None


async def instrument_sites(conn: Executor, instruments: Iterable[str]) -> dict[str, str]:
    """The site of each of ``instruments`` (retired ones too), by id."""
    rows = await conn.fetch(
        "SELECT id, site_id FROM instruments WHERE id = ANY($1::text[])", sorted(instruments)
    )
    return {r["id"]: r["site_id"] for r in rows}
