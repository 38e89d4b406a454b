"""The instrument catalogue in the database: create, list, get.

Used by the instruments routes and by ``pilotshare demo`` to seed its site, so both register
instruments the same way.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from pilotshare.api.schemas import InstrumentCreate, InstrumentPublic
from pilotshare.core.errors import BadInput, Conflict, NotFound
from pilotshare.registry import ensure_organisation

_COLUMNS = """i.id, i.site_id, i.name, i.kind, i.capabilities, i.owner_org_id, i.hourly_rate,
    i.billing, i.requires_qualification, i.operating_hours, i.setup_buffer_s, i.min_booking_s,
    i.max_booking_s, i.min_notice_s, i.max_horizon_s"""


def _public(row: asyncpg.Record) -> InstrumentPublic:
    return InstrumentPublic(
        id=row["id"],
        site=row["site_id"],
        name=row["name"],
        kind=row["kind"],
        capabilities=list(row["capabilities"]),
        owner_org=row["owner_org_id"],
        hourly_rate=row["hourly_rate"],
        billing=row["billing"],
        requires_qualification=row["requires_qualification"],
        operating_hours=row["operating_hours"],
        setup_buffer_s=row["setup_buffer_s"],
        min_booking_s=row["min_booking_s"],
        max_booking_s=row["max_booking_s"],
        min_notice_s=row["min_notice_s"],
        max_horizon_s=row["max_horizon_s"],
    )


async def create_instrument(conn: asyncpg.Connection, body: InstrumentCreate) -> InstrumentPublic:
    """Register an instrument (and its site, if new); ``Conflict`` when the id exists."""
    if body.max_booking_s < body.min_booking_s:
        raise BadInput("bad_rules", "max_booking_s is shorter than min_booking_s")
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO sites (id, name, timezone) VALUES ($1, $2, $3) "
            "ON CONFLICT (id) DO NOTHING",
            body.site,
            body.site,
            body.site_timezone or "UTC",
        )
        if body.owner_org is not None:
            await ensure_organisation(conn, body.owner_org)
        try:
            await conn.execute(
                """INSERT INTO instruments (id, site_id, name, kind, capabilities, owner_org_id,
                       hourly_rate, billing, requires_qualification, operating_hours,
                       setup_buffer_s, min_booking_s, max_booking_s, min_notice_s, max_horizon_s)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
                body.id,
                body.site,
                body.name or body.id,
                body.kind,
                body.capabilities,
                body.owner_org,
                body.hourly_rate,
                body.billing,
                body.requires_qualification,
                body.operating_hours,
                body.setup_buffer_s,
                body.min_booking_s,
                body.max_booking_s,
                body.min_notice_s,
                body.max_horizon_s,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"instrument {body.id!r} already exists") from None
        await conn.execute(
            "INSERT INTO instrument_live (instrument_id) VALUES ($1) ON CONFLICT DO NOTHING",
            body.id,
        )
    return await get_instrument(conn, body.id)


async def list_instruments(
    conn: asyncpg.Connection | asyncpg.Pool, *, site: str | None = None, kind: str | None = None
) -> list[InstrumentPublic]:
    """Every instrument, optionally of one site or kind, ordered by id."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM instruments i
            WHERE ($1::text IS NULL OR i.site_id = $1) AND ($2::text IS NULL OR i.kind = $2)
            ORDER BY i.id""",
        site,
        kind,
    )
    return [_public(r) for r in rows]


async def get_instrument(
    conn: asyncpg.Connection | asyncpg.Pool, instrument: str
) -> InstrumentPublic:
    """One instrument; ``NotFound`` when there is none."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM instruments i WHERE i.id = $1", instrument)
    if row is None:
        raise NotFound(f"no instrument {instrument!r}")
    return _public(row)


def as_dict(instrument: InstrumentPublic) -> dict[str, Any]:
    """JSON-ready form (hourly_rate as a number)."""
    return instrument.model_dump(mode="json")
