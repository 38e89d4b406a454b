"""TimescaleDB's background policies for telemetry, set from ``Settings``.

Migration 0002 creates the policies with fixed defaults; ``apply_policies`` then makes them
match the deployment's settings (``PILOTSHARE_COMPRESS_AFTER_DAYS``,
``PILOTSHARE_RETENTION_DAYS``). It runs after every ``pilotshare migrate``, changes only what
differs, and does nothing on plain PostgreSQL, where telemetry is neither compressed nor
dropped. The continuous aggregates' refresh window (``telemetry_hourly`` and
``telemetry_metrics_hourly``) follows retention: every hour whose raw
samples are still kept is refreshed when late samples arrive for it (an agent that was offline
for days resends its outbox), and hours whose raw samples were dropped are never recomputed,
so ``telemetry_hourly`` keeps them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from pilotshare.core.db.migrate import uses_timescale
from pilotshare.core.db.pool import Connection

log = logging.getLogger(__name__)

_LOCK_KEY = 0x706F6C69  # "poli": one writer of the policies at a time per database

HYPERTABLE = "telemetry"
AGGREGATE = "telemetry_hourly"
#: Every continuous aggregate over telemetry: each one's refresh window follows retention.
AGGREGATES = (AGGREGATE, "telemetry_metrics_hourly")
#: The newest hour is left to real-time aggregation; the policy materialises older ones.
REFRESH_END_OFFSET = timedelta(hours=1)
REFRESH_SCHEDULE = timedelta(minutes=15)

_JOB = """SELECT j.job_id, j.config::text AS config FROM timescaledb_information.jobs j
    WHERE j.proc_name = $1 AND j.hypertable_schema = current_schema()
      AND j.hypertable_name = $2"""  # for a continuous aggregate's job: the view's name


@dataclass(frozen=True, slots=True)
class Policies:
    """What telemetry's policies are after ``apply_policies``, and which ones it changed."""

    compress_after: timedelta
    retention: timedelta
    refresh_start_offset: timedelta
    changed: tuple[str, ...]

    def describe(self) -> str:
        what = ", ".join(self.changed) if self.changed else "unchanged"
        return (
            f"compress after {self.compress_after.days} d, drop after {self.retention.days} d, "
            f"hourly aggregate refreshed over {self.refresh_start_offset.days} d ({what})"
        )


def _config(row: asyncpg.Record | None) -> dict[str, object]:
    """A job's JSON config (read as text, whatever codecs the connection has)."""
    if row is None or row["config"] is None:
        return {}
    config = json.loads(row["config"])
    return config if isinstance(config, dict) else {}


async def _interval(conn: Connection, config: dict[str, object], key: str) -> timedelta | None:
    """An interval held in a job's config (as text such as '7 days'), or None."""
    if config.get(key) is None:
        return None
    value = await conn.fetchval("SELECT $1::text::interval", str(config[key]))
    return value if isinstance(value, timedelta) else None


async def _refresh_policy(conn: Connection, aggregate: str, retention: timedelta) -> bool:
    """Make ``aggregate``'s refresh policy cover ``retention``; whether it changed."""
    row = await conn.fetchrow(_JOB, "policy_refresh_continuous_aggregate", aggregate)
    config = _config(row)
    start = await _interval(conn, config, "start_offset")
    end = await _interval(conn, config, "end_offset")
    if (start, end) == (retention, REFRESH_END_OFFSET):
        return False
    if row is not None:
        await conn.execute("SELECT remove_continuous_aggregate_policy($1::regclass)", aggregate)
    await conn.execute(
        "SELECT add_continuous_aggregate_policy($1::regclass, "
        "start_offset => $2::interval, end_offset => $3::interval, "
        "schedule_interval => $4::interval)",
        aggregate,
        retention,
        REFRESH_END_OFFSET,
        REFRESH_SCHEDULE,
    )
    return True


async def apply_policies(
    conn: Connection, *, compress_after_days: int, retention_days: int
) -> Policies | None:
    """Make telemetry's compression, retention and refresh policies match the settings.

    Idempotent: a policy already as wanted is left alone (its schedule is kept). Returns
    ``None`` on plain PostgreSQL, where there is nothing to apply.
    """
    if compress_after_days < 1 or retention_days < 1:
        raise ValueError("compress_after_days and retention_days must be at least 1")
    if not await uses_timescale(conn):
        return None
    compress_after = timedelta(days=compress_after_days)
    retention = timedelta(days=retention_days)
    changed: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)

        row = await conn.fetchrow(_JOB, "policy_compression", HYPERTABLE)
        current = await _interval(conn, _config(row), "compress_after")
        if current != compress_after:
            if row is not None:
                await conn.execute("SELECT remove_compression_policy($1::regclass)", HYPERTABLE)
            await conn.execute(
                "SELECT add_compression_policy($1::regclass, $2::interval)",
                HYPERTABLE,
                compress_after,
            )
            changed.append("compression")

        row = await conn.fetchrow(_JOB, "policy_retention", HYPERTABLE)
        current = await _interval(conn, _config(row), "drop_after")
        if current != retention:
            if row is not None:
                await conn.execute("SELECT remove_retention_policy($1::regclass)", HYPERTABLE)
            await conn.execute(
                "SELECT add_retention_policy($1::regclass, $2::interval)", HYPERTABLE, retention
            )
            changed.append("retention")

        refreshed = [await _refresh_policy(conn, a, retention) for a in AGGREGATES]
        if any(refreshed):
            changed.append("refresh")
    policies = Policies(compress_after, retention, retention, tuple(changed))
    log.info("TimescaleDB policies: %s", policies.describe())
    return policies
