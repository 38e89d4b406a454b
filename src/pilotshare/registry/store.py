"""SQL of the registry: organisations, whether an instrument exists, who is qualified for it."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from pilotshare.core.errors import NotFound

#: Anything that runs a statement: a connection (inside a transaction) or the pool.
Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def ensure_organisation(conn: Executor, org: str, name: str | None = None) -> None:
    """Create the organisation if it is new (its name defaults to its id)."""
    await conn.execute(
        "INSERT INTO organisations (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        org,
        name or org,
    )


async def instrument_exists(conn: Executor, instrument: str) -> bool:
    """Whether an instrument of this id is registered."""
    return bool(await conn.fetchval("SELECT true FROM instruments WHERE id = $1", instrument))


async def require_instrument(conn: Executor, instrument: str) -> None:
    """``NotFound`` unless the instrument is registered."""
    if not await instrument_exists(conn, instrument):
        raise NotFound(f"no instrument {instrument!r}")


async def grant_qualification(conn: Executor, instrument: str, org: str) -> None:
    """Qualify ``org`` to book ``instrument`` (idempotent; both must exist)."""
    await conn.execute(
        "INSERT INTO qualifications (instrument_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        instrument,
        org,
    )
