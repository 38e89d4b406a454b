"""The twin's writer as the ingest builds it for the database under test."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from pilotshare.core.db.migrate import uses_timescale
from pilotshare.twin.writer import TelemetryWriter


async def telemetry_writer(pool: asyncpg.Pool, offline_after: timedelta) -> TelemetryWriter:
    """A writer for this database: on TimescaleDB the hourly rollup is a continuous
    aggregate the writer must not write into, so detect it as the product does."""
    async with pool.acquire() as conn:
        timescale = await uses_timescale(conn)
    return TelemetryWriter(pool, timescale=timescale, offline_after=offline_after)
