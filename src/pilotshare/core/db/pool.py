"""The asyncpg pool, with JSON codecs so jsonb columns read and write Python values."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool

#: One connection, opened alone (``connect``) or lent by the pool (``pool.acquire()``): what a
#: transaction, a ``LISTEN`` or a ``COPY`` needs.
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
#: Whatever runs one statement: a connection, or the pool (which lends one for it).
Executor: TypeAlias = Connection | asyncpg.Pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any
) -> asyncpg.Pool:
    """Open a pool on ``url``; every connection gets the JSON codecs."""
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs
    )
    assert pool is not None  # noqa: S101 - asyncpg returns None only when not awaited
    return pool


async def connect(url: str) -> asyncpg.Connection:
    """One connection with the same codecs, for CLI commands and migrations."""
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip to the database; raises whatever keeps it from answering."""
    await pool.fetchval("SELECT 1")
