"""The instrument catalogue as the API shows it: create, list, get.

Used by the instruments routes and by ``pilotshare demo`` to seed its site, so both register
instruments the same way; the SQL is the registry's.
"""

from __future__ import annotations

import asyncpg

from pilotshare import registry
from pilotshare.api.schemas import InstrumentCreate, InstrumentPublic
from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import BadInput


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


async def create_instrument(conn: Connection, body: InstrumentCreate) -> InstrumentPublic:
    """Register an instrument (and its site, if new); ``Conflict`` when the id exists,
    ``NotFound`` when its owner is not a registered organisation."""
    if body.max_booking_s < body.min_booking_s:
        raise BadInput("bad_rules", "max_booking_s is shorter than min_booking_s")
    async with conn.transaction():
        await registry.ensure_site(conn, body.site, body.site_timezone or "UTC")
        if body.owner_org is not None:
            await registry.require_organisation(conn, body.owner_org)
        await registry.insert_instrument(
            conn,
            instrument=body.id,
            site=body.site,
            name=body.name or body.id,
            kind=body.kind,
            capabilities=body.capabilities,
            owner_org=body.owner_org,
            hourly_rate=body.hourly_rate,
            billing=body.billing,
            requires_qualification=body.requires_qualification,
            operating_hours=body.operating_hours,
            setup_buffer_s=body.setup_buffer_s,
            min_booking_s=body.min_booking_s,
            max_booking_s=body.max_booking_s,
            min_notice_s=body.min_notice_s,
            max_horizon_s=body.max_horizon_s,
        )
    return await get_instrument(conn, body.id)


async def list_instruments(
    conn: Executor, *, site: str | None = None, kind: str | None = None
) -> list[InstrumentPublic]:
    """Every instrument, optionally of one site or kind, ordered by id."""
    return [_public(r) for r in await registry.catalogue_rows(conn, site=site, kind=kind)]


async def get_instrument(conn: Executor, instrument: str) -> InstrumentPublic:
    """One instrument; ``NotFound`` when there is none."""
    return _public(await registry.catalogue_row(conn, instrument))
