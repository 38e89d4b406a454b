"""The SQL of the open statistics: platforms' instruments, their bookings, request responses.

Platforms are the organisations that own instruments. Two inputs belong to other parts of
the network and are read only where their tables exist, so this module answers the same on a
database with or without them: the platform profile's ``organisations.public`` flag (without
it every platform is public) and the requests' ``pilot_requests``/``request_offers`` (without
them no platform has a response time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pilotshare.core.db import Executor

_HAS_PUBLIC = """SELECT EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'organisations'
      AND column_name = 'public')"""

_INSTRUMENTS = """
SELECT i.id, i.owner_org_id AS platform, o.name AS platform_name, {public} AS public, i.kind,
       s.timezone, i.operating_hours, i.setup_buffer_s, i.min_booking_s, i.max_booking_s,
       i.min_notice_s, i.max_horizon_s, i.retired_at
FROM instruments i
JOIN organisations o ON o.id = i.owner_org_id
JOIN sites s ON s.id = i.site_id
ORDER BY i.id"""

_BOOKINGS = """
SELECT b.id, b.instrument_id, b.org_id, lower(b.period) AS start, upper(b.period) AS "end",
       b.status, b.billing, b.used_s, b.ended_at, b.activated_at
FROM bookings b
WHERE b.instrument_id = ANY($1::text[]) AND b.period && tstzrange($2, $3)
ORDER BY lower(b.period), b.id"""

_HAS_REQUESTS = """SELECT to_regclass('pilot_requests') IS NOT NULL
    AND to_regclass('request_offers') IS NOT NULL"""

#: Each (request, platform) with an offer: when it was asked, the platform's first offer,
#: and the zone of the site of the instrument that first offer named (UTC without one).
_RESPONSES = """
SELECT o.platform_org_id AS platform, r.id AS request, r.created_at AS asked,
       min(o.created_at) AS offered,
       coalesce((array_agg(s.timezone ORDER BY o.created_at, o.id))[1], 'UTC') AS timezone
FROM request_offers o
JOIN pilot_requests r ON r.id = o.request_id
LEFT JOIN instruments i ON i.id = o.instrument_id
LEFT JOIN sites s ON s.id = i.site_id
WHERE r.created_at >= $1 AND r.created_at < $2
GROUP BY o.platform_org_id, r.id, r.created_at"""


@dataclass(frozen=True, slots=True)
class Response:
    """A platform's first answer to a request."""

    platform: str
    request: str
    asked: datetime
    offered: datetime
    timezone: str


async def platform_instruments(conn: Executor) -> list[asyncpg.Record]:
    """Every instrument with an owner, with its platform, site zone and booking rules."""
    public = "o.public" if await conn.fetchval(_HAS_PUBLIC) else "true"
    return list(await conn.fetch(_INSTRUMENTS.format(public=public)))


async def bookings_between(
    conn: Executor, instruments: Sequence[str], since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """The bookings of ``instruments`` whose slot overlaps ``[since, until)``, any status."""
    return list(await conn.fetch(_BOOKINGS, list(instruments), since, until))


async def responses(conn: Executor, since: datetime, until: datetime) -> list[Response] | None:
    """First offers to requests asked in ``[since, until)``; None without the requests'
    tables."""
    if not await conn.fetchval(_HAS_REQUESTS):
        return None
    rows = await conn.fetch(_RESPONSES, since, until)
    return [
        Response(r["platform"], str(r["request"]), r["asked"], r["offered"], r["timezone"])
        for r in rows
    ]
