"""SQL of the registry: organisations, sites, the instrument catalogue, qualifications and
API keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import Conflict, NotFound

#: Anything that runs a statement: a connection (inside a transaction) or the pool.
#: The catalogue's columns, as ``catalogue_rows`` and ``catalogue_row`` answer them.
_CATALOGUE = """i.id, i.site_id, i.name, i.kind, i.capabilities, i.owner_org_id, i.hourly_rate,
    i.billing, i.requires_qualification, i.operating_hours, i.setup_buffer_s, i.min_booking_s,
    i.max_booking_s, i.min_notice_s, i.max_horizon_s, i.retired_at, s.timezone AS site_timezone
    FROM instruments i JOIN sites s ON s.id = i.site_id"""


async def ensure_organisation(conn: Executor, org: str, name: str | None = None) -> None:
    """Create the organisation if it is new (its name defaults to its id)."""
    await conn.execute(
        "INSERT INTO organisations (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        org,
        name or org,
    )


async def ensure_site(conn: Executor, site: str, timezone: str) -> None:
    """Create the site if it is new (named by its id); an existing site keeps its zone."""
    await conn.execute(
        "INSERT INTO sites (id, name, timezone) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        site,
        site,
        timezone,
    )


async def instrument_exists(conn: Executor, instrument: str) -> bool:
    """Whether an instrument of this id is registered."""
    return bool(await conn.fetchval("SELECT true FROM instruments WHERE id = $1", instrument))


async def require_instrument(conn: Executor, instrument: str) -> None:
    """``NotFound`` unless the instrument is registered."""
    if not await instrument_exists(conn, instrument):
        raise NotFound("no_instrument", f"no instrument {instrument!r}")


async def insert_instrument(
    conn: Connection,
    *,
    instrument: str,
    site: str,
    name: str,
    kind: str,
    capabilities: list[str],
    owner_org: str | None,
    hourly_rate: Decimal,
    billing: str,
    requires_qualification: bool,
    operating_hours: dict[str, Any] | None,
    setup_buffer_s: int,
    min_booking_s: int,
    max_booking_s: int,
    min_notice_s: int,
    max_horizon_s: int,
) -> None:
    """Add an instrument and its (empty) live row; ``Conflict`` when the id exists."""
    try:
        await conn.execute(
            """INSERT INTO instruments (id, site_id, name, kind, capabilities, owner_org_id,
                   hourly_rate, billing, requires_qualification, operating_hours,
                   setup_buffer_s, min_booking_s, max_booking_s, min_notice_s, max_horizon_s)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
            instrument,
            site,
            name,
            kind,
            capabilities,
            owner_org,
            hourly_rate,
            billing,
            requires_qualification,
            operating_hours,
            setup_buffer_s,
            min_booking_s,
            max_booking_s,
            min_notice_s,
            max_horizon_s,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("instrument_exists", f"instrument {instrument!r} already exists") from None
    await conn.execute(
        "INSERT INTO instrument_live (instrument_id) VALUES ($1) ON CONFLICT DO NOTHING",
        instrument,
    )


async def catalogue_rows(
    conn: Executor,
    *,
    site: str | None = None,
    kind: str | None = None,
    include_retired: bool = False,
) -> list[asyncpg.Record]:
    """Every instrument's catalogue row, optionally of one site or kind, ordered by id;
    retired instruments only when asked for."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {_CATALOGUE}
            WHERE ($1::text IS NULL OR i.site_id = $1) AND ($2::text IS NULL OR i.kind = $2)
              AND ($3 OR i.retired_at IS NULL)
            ORDER BY i.id""",
        site,
        kind,
        include_retired,
    )
    return rows


async def catalogue_row(
    conn: Executor, instrument: str, *, for_update: bool = False
) -> asyncpg.Record:
    """One instrument's catalogue row (retired or not); ``NotFound`` when there is none.

    ``for_update`` locks the instrument's row until the transaction ends: an edit or a
    retirement then waits for bookings being made on it (migration 0044), and they for it.
    """
    lock = " FOR UPDATE OF i" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_CATALOGUE} WHERE i.id = $1{lock}", instrument)
    if row is None:
        raise NotFound("no_instrument", f"no instrument {instrument!r}")
    return row


async def update_instrument(
    conn: Executor,
    *,
    instrument: str,
    name: str,
    capabilities: list[str],
    hourly_rate: Decimal,
    billing: str,
    requires_qualification: bool,
    operating_hours: dict[str, Any] | None,
    setup_buffer_s: int,
    min_booking_s: int,
    max_booking_s: int,
    min_notice_s: int,
    max_horizon_s: int,
) -> None:
    """Replace an instrument's editable fields (its id, site, kind and owner stay).

    Bookings already made keep the rate, billing policy and setup buffer they were made with.
    """
    await conn.execute(
        """UPDATE instruments SET name = $2, capabilities = $3, hourly_rate = $4, billing = $5,
               requires_qualification = $6, operating_hours = $7, setup_buffer_s = $8,
               min_booking_s = $9, max_booking_s = $10, min_notice_s = $11, max_horizon_s = $12
           WHERE id = $1""",
        instrument,
        name,
        capabilities,
        hourly_rate,
        billing,
        requires_qualification,
        operating_hours,
        setup_buffer_s,
        min_booking_s,
        max_booking_s,
        min_notice_s,
        max_horizon_s,
    )


async def retire_instrument(conn: Executor, instrument: str, now: datetime) -> None:
    """Mark an instrument retired from ``now`` (an already retired one keeps its time)."""
    await conn.execute(
        "UPDATE instruments SET retired_at = coalesce(retired_at, $2) WHERE id = $1",
        instrument,
        now,
    )


async def grant_qualification(conn: Connection, instrument: str, org: str) -> None:
    """Qualify ``org`` for ``instrument`` (idempotent; the organisation is created if new)."""
    async with conn.transaction():
        await require_instrument(conn, instrument)
        await ensure_organisation(conn, org)
        await conn.execute(
            "INSERT INTO qualifications (instrument_id, org_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            instrument,
            org,
        )


async def revoke_qualification(conn: Executor, instrument: str, org: str) -> None:
    """Withdraw a qualification, if it was granted."""
    await require_instrument(conn, instrument)
    await conn.execute(
        "DELETE FROM qualifications WHERE instrument_id = $1 AND org_id = $2", instrument, org
    )


async def insert_key(
    conn: Connection, *, key_id: str, org: str, role: str, secret_hash: bytes
) -> None:
    """Store an API key's hash for ``org`` (created if new)."""
    async with conn.transaction():
        await ensure_organisation(conn, org)
        await conn.execute(
            "INSERT INTO api_keys (id, org_id, role, secret_hash) VALUES ($1, $2, $3, $4)",
            key_id,
            org,
            role,
            secret_hash,
        )


async def live_key(conn: Executor, secret_hash: bytes) -> tuple[str, str, str] | None:
    """``(key id, organisation, role)`` of the unrevoked key with this hash, if any."""
    row = await conn.fetchrow(
        "SELECT id, org_id, role FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
        secret_hash,
    )
    return None if row is None else (row["id"], row["org_id"], row["role"])
