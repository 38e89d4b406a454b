"""Compression and retention of telemetry on TimescaleDB, from settings.

Migration 0002 installs default policies; a deployment's ``PILOTSHARE_COMPRESS_AFTER_DAYS`` and
``PILOTSHARE_RETENTION_DAYS`` replace them when the ingest starts, so changing a setting and
restarting is all it takes. On plain PostgreSQL there is nothing to do: history is kept.
"""

from __future__ import annotations

import logging

import asyncpg

from pilotshare.core.db.migrate import uses_timescale
from pilotshare.core.settings import Settings

log = logging.getLogger(__name__)


async def apply_policies(pool: asyncpg.Pool, settings: Settings) -> bool:
    """Set the telemetry compression and retention policies; False on plain PostgreSQL."""
    async with pool.acquire() as conn:
        if not await uses_timescale(conn):
            return False
        async with conn.transaction():
            await conn.execute("SELECT remove_compression_policy('telemetry', if_exists => true)")
            await conn.execute(
                "SELECT add_compression_policy('telemetry', make_interval(days => $1))",
                settings.compress_after_days,
            )
            await conn.execute("SELECT remove_retention_policy('telemetry', if_exists => true)")
            await conn.execute(
                "SELECT add_retention_policy('telemetry', make_interval(days => $1))",
                settings.retention_days,
            )
    log.info(
        "telemetry compressed after %d days, kept %d days",
        settings.compress_after_days,
        settings.retention_days,
    )
    return True
