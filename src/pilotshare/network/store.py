"""SQL of the public directory: only what platforms mark public, and nothing about clients.

Every query here filters on the platform's ``public`` flag and the thing's own (migration
0049), and reads no client column: bookings are read only as "held until" per instrument,
never their organisation, purpose or id. Text search takes ``network.status.patterns``: every
pattern must match the text searched (``NOT EXISTS`` a pattern that does not).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.scheduler.states import HELD_SQL

#: Every pattern of ``$n`` matches ``text`` (``{text}``, ``{n}`` filled in).
_ALL_MATCH: Final = "NOT EXISTS (SELECT 1 FROM unnest(${n}::text[]) p WHERE NOT ({text} ILIKE p))"

_PLATFORM_TEXT: Final = (
    "concat_ws(' ', o.id, o.name, o.name_zh, o.name_en, o.description_zh, o.description_en, "
    "o.address, array_to_string(o.accreditations, ' '))"
)
_INSTRUMENT_TEXT: Final = (
    "concat_ws(' ', i.id, i.name, i.kind, i.model, array_to_string(i.capabilities, ' '), "
    "o.name_zh, o.name_en, o.name)"
)
_ITEM_TEXT: Final = (
    "concat_ws(' ', si.id, si.name_zh, si.name_en, si.description_zh, si.description_en, "
    "si.kind, si.unit, o.name_zh, o.name_en, o.name)"
)
#: Public instruments of public platforms, in service.
_PUBLIC_INSTRUMENT: Final = "i.public AND i.retired_at IS NULL AND i.owner_org_id = o.id"


async def public_platforms(
    conn: Executor, *, patterns: list[str], site: str | None
) -> list[asyncpg.Record]:
    """Public platforms (of ``site``: their home site, or one of their public instruments or
    items is there) matching every pattern, with how many public instruments and service
    items they show, by id."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT o.id, coalesce(o.name_zh, o.name) AS name_zh,
                   coalesce(o.name_en, o.name) AS name_en, o.site_id, o.address,
                   o.description_zh, o.description_en, o.contact, o.accreditations,
                   (SELECT count(*) FROM instruments i WHERE {_PUBLIC_INSTRUMENT}) AS instruments,
                   (SELECT count(*) FROM service_items si
                    WHERE si.platform_org_id = o.id AND si.public) AS service_items
            FROM organisations o
            WHERE o.public AND o.kind = 'platform'
              AND ($2::text IS NULL OR o.site_id = $2
                   OR EXISTS (SELECT 1 FROM instruments i
                              WHERE {_PUBLIC_INSTRUMENT} AND i.site_id = $2)
                   OR EXISTS (SELECT 1 FROM service_items si
                              WHERE si.platform_org_id = o.id AND si.public AND si.site_id = $2))
              AND {_ALL_MATCH.format(n=1, text=_PLATFORM_TEXT)}
            ORDER BY o.id""",
        patterns,
        site,
    )
    return rows


async def public_instruments(
    conn: Executor,
    *,
    patterns: list[str],
    capabilities: list[str],
    kind: str | None,
    site: str | None,
    now: datetime,
) -> list[asyncpg.Record]:
    """Public instruments in service of public platforms, matching every pattern and having
    every capability (of ``kind``, at ``site``), by id: their catalogue fields, their
    platform's names, the twin's live row and when the booking holding them now ends."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT i.id, i.name, i.kind, i.model, i.capabilities, i.hourly_rate, i.billing,
                   i.requires_qualification, i.operating_hours, i.site_id,
                   s.timezone AS site_timezone, o.id AS platform,
                   coalesce(o.name_zh, o.name) AS platform_name_zh,
                   coalesce(o.name_en, o.name) AS platform_name_en,
                   coalesce(l.online, false) AS online, l.state, l.since,
                   (SELECT max(upper(b.period)) FROM bookings b
                    WHERE b.instrument_id = i.id AND b.status IN {HELD_SQL}
                      AND b.period @> $5::timestamptz) AS held_until
            FROM instruments i
            JOIN organisations o ON o.id = i.owner_org_id
            JOIN sites s ON s.id = i.site_id
            LEFT JOIN instrument_live l ON l.instrument_id = i.id
            WHERE o.public AND {_PUBLIC_INSTRUMENT}
              AND i.capabilities @> $2::text[]
              AND ($3::text IS NULL OR i.kind = $3) AND ($4::text IS NULL OR i.site_id = $4)
              AND {_ALL_MATCH.format(n=1, text=_INSTRUMENT_TEXT)}
            ORDER BY i.id""",
        patterns,
        capabilities,
        kind,
        site,
        now,
    )
    return rows


async def public_items(
    conn: Executor, *, patterns: list[str], platform: str | None, site: str | None
) -> list[asyncpg.Record]:
    """Public service items of public platforms matching every pattern (of ``platform``, at
    ``site``), by id; the instrument they name only when it is public itself."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT si.id, si.platform_org_id AS platform,
                   coalesce(o.name_zh, o.name) AS platform_name_zh,
                   coalesce(o.name_en, o.name) AS platform_name_en, si.site_id, si.name_zh,
                   si.name_en, si.description_zh, si.description_en, si.unit, si.price,
                   si.kind,
                   (SELECT i.id FROM instruments i
                    WHERE i.id = si.instrument_id AND {_PUBLIC_INSTRUMENT}) AS instrument
            FROM service_items si JOIN organisations o ON o.id = si.platform_org_id
            WHERE si.public AND o.public
              AND ($2::text IS NULL OR si.platform_org_id = $2)
              AND ($3::text IS NULL OR si.site_id = $3)
              AND {_ALL_MATCH.format(n=1, text=_ITEM_TEXT)}
            ORDER BY si.id""",
        patterns,
        platform,
        site,
    )
    return rows
