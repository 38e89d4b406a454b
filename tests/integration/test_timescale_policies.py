"""Compression, retention and refresh policies follow the settings, idempotently.

On plain PostgreSQL ``apply_policies`` does nothing; on TimescaleDB it makes the jobs match
``compress_after_days`` / ``retention_days``, and the jobs, run here in the foreground, do
what they say: compress old chunks, drop chunks past retention, and materialise late samples
of any hour still retained.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pilotshare.core.db.migrate import uses_timescale
from pilotshare.core.db.policies import apply_policies
from pilotshare.core.db.pool import connect

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await connect(db_url)
    try:
        yield c
    finally:
        await c.close()


async def _jobs(conn: asyncpg.Connection) -> dict[str, tuple[int, dict[str, object]]]:
    rows = await conn.fetch(
        "SELECT proc_name, job_id, config::text AS config FROM timescaledb_information.jobs "
        "WHERE hypertable_name IN ('telemetry', 'telemetry_hourly')"
    )
    return {r["proc_name"]: (r["job_id"], json.loads(r["config"])) for r in rows}


async def _metrics_refresh(conn: asyncpg.Connection) -> tuple[int, dict[str, object]]:
    """The refresh job of the metric aggregate (``telemetry_metrics_hourly``)."""
    row = await conn.fetchrow(
        "SELECT job_id, config::text AS config FROM timescaledb_information.jobs "
        "WHERE hypertable_name = 'telemetry_metrics_hourly'"
    )
    assert row is not None
    return row["job_id"], json.loads(row["config"])


async def _insert(conn: asyncpg.Connection, start: datetime, n: int, batch: int) -> None:
    await conn.execute(
        "INSERT INTO telemetry (instrument_id, ts, state, utilization, metrics, batch) "
        "SELECT 'oven-1', $1::timestamptz + i * interval '1 minute', 'running', 0.5, "
        "jsonb_build_object('power_w', i), $3 "
        "FROM generate_series(0, $2 - 1) i",
        start,
        n,
        batch,
    )


async def _run(conn: asyncpg.Connection, job_id: int) -> None:
    # Scheduled jobs are paused in tests; run_job runs one now, in this session.
    await conn.execute(f"CALL run_job({int(job_id)})")


async def test_policies_are_a_no_op_on_plain_postgresql(conn: asyncpg.Connection) -> None:
    if await uses_timescale(conn):
        pytest.skip("the test database uses TimescaleDB; the plain path is tested elsewhere")
    assert await apply_policies(conn, compress_after_days=3, retention_days=90) is None


async def test_policies_follow_the_settings_idempotently(conn: asyncpg.Connection) -> None:
    if not await uses_timescale(conn):
        pytest.skip("the test database does not offer TimescaleDB; policies need it")
    first = await apply_policies(conn, compress_after_days=7, retention_days=730)
    assert first is not None
    again = await apply_policies(conn, compress_after_days=7, retention_days=730)
    assert again is not None
    assert again.changed == ()
    jobs_before = await _jobs(conn)

    changed = await apply_policies(conn, compress_after_days=3, retention_days=90)
    assert changed is not None
    assert set(changed.changed) == {"compression", "retention", "refresh"}
    jobs = await _jobs(conn)
    assert set(jobs) == {
        "policy_compression",
        "policy_retention",
        "policy_refresh_continuous_aggregate",
    }
    assert jobs["policy_compression"][1]["compress_after"] == "3 days"
    assert jobs["policy_retention"][1]["drop_after"] == "90 days"
    assert jobs["policy_refresh_continuous_aggregate"][1]["start_offset"] == "90 days"
    assert (await _metrics_refresh(conn))[1]["start_offset"] == "90 days"
    assert jobs_before["policy_compression"][0] != jobs["policy_compression"][0]

    same = await apply_policies(conn, compress_after_days=3, retention_days=90)
    assert same is not None
    assert same.changed == ()
    assert await _jobs(conn) == jobs


async def test_policy_jobs_compress_drop_and_materialise_late_samples(
    conn: asyncpg.Connection,
) -> None:
    if not await uses_timescale(conn):
        pytest.skip("the test database does not offer TimescaleDB; policies need it")
    await apply_policies(conn, compress_after_days=3, retention_days=30)
    await conn.execute(
        "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
        "WHERE job_id >= 1000"
    )
    jobs = await _jobs(conn)
    await _insert(conn, NOW - timedelta(days=40), 60, 1)  # past retention
    await _insert(conn, NOW - timedelta(days=10), 60, 2)  # to compress
    await _insert(conn, NOW - timedelta(hours=5), 60, 3)  # recent

    metrics_job = (await _metrics_refresh(conn))[0]
    await _run(conn, jobs["policy_refresh_continuous_aggregate"][0])
    await _run(conn, metrics_job)
    await _run(conn, jobs["policy_retention"][0])
    await _run(conn, jobs["policy_compression"][0])

    assert await conn.fetchval("SELECT count(*) FROM telemetry") == 120
    assert await conn.fetchval("SELECT min(ts) FROM telemetry") == NOW - timedelta(days=10)
    compressed = await conn.fetch(
        "SELECT range_start, range_end FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'telemetry' AND is_compressed"
    )
    assert any(r["range_start"] <= NOW - timedelta(days=10) < r["range_end"] for r in compressed)
    assert not any(r["range_end"] > NOW - timedelta(days=3) for r in compressed)

    # An agent back after a week offline resends an old hour: the refresh policy covers it.
    await _insert(conn, NOW - timedelta(days=10) + timedelta(seconds=30), 10, 4)
    await _run(conn, jobs["policy_refresh_continuous_aggregate"][0])
    await _run(conn, metrics_job)
    for view in ("telemetry_hourly", "telemetry_metrics_hourly"):
        await conn.execute(f"ALTER MATERIALIZED VIEW {view} SET (timescaledb.materialized_only)")
    samples = await conn.fetchval(
        "SELECT samples FROM telemetry_hourly WHERE instrument_id = 'oven-1' AND bucket = $1",
        NOW - timedelta(days=10),
    )
    assert samples == 70
    # the metric rollup too: 0..59 from the first batch, 0..9 from the resend
    rollup = await conn.fetchrow(
        "SELECT n, total, lo, hi FROM telemetry_metrics_hourly "
        "WHERE instrument_id = 'oven-1' AND bucket = $1 AND name = 'power_w'",
        NOW - timedelta(days=10),
    )
    assert rollup is not None
    assert tuple(rollup) == (70, sum(range(60)) + sum(range(10)), 0.0, 59.0)


def test_migrate_command_applies_the_policies_from_the_environment(empty_db_url: str) -> None:
    env = {
        **os.environ,
        "PILOTSHARE_DATABASE_URL": empty_db_url,
        "PILOTSHARE_COMPRESS_AFTER_DAYS": "2",
        "PILOTSHARE_RETENTION_DAYS": "45",
    }
    command = [sys.executable, "-m", "pilotshare.cli", "migrate"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    if "schema current on PostgreSQL" in first.stderr:
        assert "telemetry policies" not in first.stderr  # nothing to apply without TimescaleDB
        return
    assert "schema current on TimescaleDB" in first.stderr
    assert "compress after 2 d, drop after 45 d" in first.stderr
    assert "telemetry policies: compress after 2 d, drop after 45 d" in again.stderr
    assert "(unchanged)" in again.stderr
