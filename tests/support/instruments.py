"""The one way tests and benchmarks register an instrument: the product's own catalogue.

Going through ``pilotshare.api.catalog.create_instrument`` (what ``POST /api/v1/instruments``
and the demo call) means a test's instrument has exactly what a registered one has: its site,
its live row, defaults for every booking rule, and the rules validated as the API validates
them. A hand-written ``INSERT`` would drift from that the day a column is added.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from pilotshare.api.catalog import create_instrument
from pilotshare.api.schemas import InstrumentCreate, InstrumentPublic


async def add_instrument(
    conn: asyncpg.Connection | asyncpg.Pool,
    instrument: str,
    *,
    site: str,
    kind: str = "oven",
    **fields: Any,
) -> InstrumentPublic:
    """Register ``instrument`` at ``site`` (created if new); ``fields`` as the API takes them.

    ``fields`` are those of ``InstrumentCreate``: ``name`` (default: the id),
    ``hourly_rate``, ``billing``, ``operating_hours``, ``min_booking_s``, ….
    """
    body = InstrumentCreate(id=instrument, site=site, kind=kind, **fields)
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            return await create_instrument(c, body)
    return await create_instrument(conn, body)
