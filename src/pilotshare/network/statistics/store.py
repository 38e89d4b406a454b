"""The SQL of the open statistics: platforms' instruments, their bookings, request responses.

Platforms are the organisations that own instruments; their names and ``public`` flag are the
directory's profile (migration 0049), the requests and offers the requests' (migration 0050).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pilotshare.core.db import Executor

_INSTRUMENTS = """
SELECT i.id, i.owner_org_id AS platform, coalesce(o.name_zh, o.name) AS name_zh,
       coalesce(o.name_en, o.name) AS name_en, o.public, i.kind,
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

#: Each (request, platform) with an offer: when it was asked, the platform's first offer,
#: and the zone of the site of the instrument that first offer named.
_RESPONSES = """
SELECT o.platform_org_id AS platform, r.id AS request, r.created_at AS asked,
       min(o.created_at) AS offered,
       (array_agg(s.timezone ORDER BY o.created_at, o.id))[1] AS timezone
FROM request_offers o
JOIN pilot_requests r ON r.id = o.request_id
JOIN instruments i ON i.id = o.instrument_id
JOIN sites s ON s.id = i.site_id
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
    return list(await conn.fetch(_INSTRUMENTS))


async def bookings_between(
    conn: Executor, instruments: Sequence[str], since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """The bookings of ``instruments`` whose slot overlaps ``[since, until)``, any status."""
    return list(await conn.fetch(_BOOKINGS, list(instruments), since, until))


async def responses(conn: Executor, since: datetime, until: datetime) -> list[Response]:
    """Each platform's first offer to each request asked in ``[since, until)``."""
    rows = await conn.fetch(_RESPONSES, since, until)
    return [
        Response(r["platform"], str(r["request"]), r["asked"], r["offered"], r["timezone"])
        for r in rows
    ]
