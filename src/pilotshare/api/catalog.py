"""The instrument catalogue as the API shows it: create, list, get, edit, retire.

Used by the instruments routes and by ``pilotshare demo`` to seed its site, so both register
instruments the same way; the SQL is the registry's.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from pilotshare import registry
from pilotshare.api.schemas import InstrumentCreate, InstrumentPatch, InstrumentPublic
from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import BadInput, Conflict
from pilotshare.scheduler import store as scheduler_store


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
        site_timezone=row["site_timezone"],
        retired_at=row["retired_at"],
        public=row["public"],
        model=row["model"],
    )


def _terms(body: InstrumentCreate | InstrumentPublic, *, name: str) -> registry.InstrumentTerms:
    """The editable fields of a new instrument or an edited one, as the registry stores them."""
    return registry.InstrumentTerms(
        name=name,
        capabilities=body.capabilities,
        hourly_rate=body.hourly_rate,
        billing=body.billing,
        requires_qualification=body.requires_qualification,
        operating_hours=body.operating_hours,
        setup_buffer_s=body.setup_buffer_s,
        min_booking_s=body.min_booking_s,
        max_booking_s=body.max_booking_s,
        min_notice_s=body.min_notice_s,
        max_horizon_s=body.max_horizon_s,
        public=body.public,
        model=body.model,
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
            kind=body.kind,
            owner_org=body.owner_org,
            terms=_terms(body, name=body.name or body.id),
        )
    return await get_instrument(conn, body.id)


async def list_instruments(
    conn: Executor,
    *,
    site: str | None = None,
    kind: str | None = None,
    include_retired: bool = False,
) -> list[InstrumentPublic]:
    """Every instrument, optionally of one site or kind, ordered by id; retired ones too
    only when asked for."""
    rows = await registry.catalogue_rows(
        conn, site=site, kind=kind, include_retired=include_retired
    )
    return [_public(r) for r in rows]


async def get_instrument(conn: Executor, instrument: str) -> InstrumentPublic:
    """One instrument; ``NotFound`` when there is none."""
    return _public(await registry.catalogue_row(conn, instrument))


async def update_instrument(
    conn: Connection, instrument: str, patch: InstrumentPatch
) -> InstrumentPublic:
    """Change the fields ``patch`` sets; the result is validated as a new instrument's rules.

    ``NotFound`` for an unknown instrument. New bookings follow the new rules; bookings made
    before keep their rate, billing policy and setup buffer.
    """
    async with conn.transaction():
        current = _public(await registry.catalogue_row(conn, instrument, for_update=True))
        merged = current.model_copy(update=patch.model_dump(exclude_unset=True))
        if merged.max_booking_s < merged.min_booking_s:
            raise BadInput("bad_rules", "max_booking_s is shorter than min_booking_s")
        await registry.update_instrument(
            conn, instrument=instrument, terms=_terms(merged, name=merged.name)
        )
    return await get_instrument(conn, instrument)


async def retire_instrument(conn: Connection, instrument: str, now: datetime) -> None:
    """Retire an instrument from ``now``: it takes no new bookings and keeps its history.

    ``NotFound`` for an unknown instrument; ``Conflict('future_bookings')`` while bookings
    hold it now or later (cancel them first). Retiring twice changes nothing. The lock on
    the instrument's row makes this and a booking being made on it serialise (migration
    0044): either the booking is counted here, or it is refused.
    """
    async with conn.transaction():
        await registry.catalogue_row(conn, instrument, for_update=True)
        held = await scheduler_store.held_from(conn, instrument, now)
        if held:
            raise Conflict(
                "future_bookings",
                f"instrument {instrument!r} still holds {held} booking{'s' if held > 1 else ''}"
                " now or later; cancel them before retiring it",
            )
        await registry.retire_instrument(conn, instrument, now)
