"""The same ``telemetry_hourly`` query answers the same on TimescaleDB and plain PostgreSQL.

On TimescaleDB the hourly rollup is a continuous aggregate (real-time, then materialised by
``refresh_continuous_aggregate``); on plain PostgreSQL it is a table the twin's writer keeps in
the transaction that stores the samples. Both are fed here through the twin's own writer, with
a resent batch (stored once) and a late batch for an old hour, and compared with the answer
computed from the samples themselves. On TimescaleDB, late samples also go into a compressed
chunk, which must store new samples and refuse duplicates like any other.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from pilotshare.core.contract import Channel, Sample, TelemetryBatch, Topic
from pilotshare.core.db.migrate import uses_timescale
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.domain import InstrumentState
from tests.support.instruments import add_instrument

writer_module = pytest.importorskip(
    "pilotshare.twin.writer", reason="the twin's writer (which feeds the plain rollup) is absent"
)

SITE = "s1"
INSTRUMENT = "oven-1"
NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=2)

# The one query readers of the hourly rollup make (the API's telemetry endpoint has this shape).
HOURLY = """SELECT bucket, samples, utilization, n_running, n_idle, n_setup, n_down,
       n_maintenance, first_ts, last_ts
FROM telemetry_hourly WHERE instrument_id = $1 AND bucket >= $2 AND bucket < $3
ORDER BY bucket"""

STATES = ("running", "idle", "setup", "down", "maintenance")


def _samples(start: datetime, n: int, step: timedelta) -> list[Sample]:
    out = []
    for i in range(n):
        state = InstrumentState(STATES[i % 4 if i % 7 else 4])
        util = None if i % 5 == 0 else round((i % 10) / 10, 1)
        out.append(Sample(ts=start + i * step, state=state, utilization=util))
    return out


def _item(batch: int, samples: list[Sample]) -> Any:
    raw = b"{}"  # the writer stores parsed batches; the raw bytes matter only for rejects
    return writer_module.TelemetryItem(
        topic=Topic(SITE, INSTRUMENT, Channel.TELEMETRY),
        batch=TelemetryBatch(agent=f"{INSTRUMENT}-agent", batch=batch, samples=tuple(samples)),
        raw=raw,
        received_at=NOW,
        received=time.monotonic(),
    )


def _expected(samples: list[Sample]) -> list[dict[str, Any]]:
    buckets: dict[datetime, list[Sample]] = {}
    for s in samples:
        hour = s.ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        buckets.setdefault(hour, []).append(s)
    rows = []
    for hour in sorted(buckets):
        group = buckets[hour]
        utils = [s.utilization for s in group if s.utilization is not None]
        row: dict[str, Any] = {
            "bucket": hour,
            "samples": len(group),
            "utilization": sum(utils) / len(utils) if utils else None,
            "first_ts": min(s.ts for s in group),
            "last_ts": max(s.ts for s in group),
        }
        for state in STATES:
            row[f"n_{state}"] = sum(1 for s in group if s.state.value == state)
        rows.append(row)
    return rows


def _same(got: list[asyncpg.Record], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for key, value in w.items():
            if key == "utilization" and value is not None:
                assert g[key] == pytest.approx(value, rel=1e-6), (w["bucket"], key)
            else:
                assert g[key] == value, (w["bucket"], key)


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await connect(db_url)
    try:
        await c.execute("INSERT INTO sites (id, name) VALUES ($1, 'Site 1')", SITE)
        await add_instrument(c, INSTRUMENT, site=SITE, name="Oven 1")
        if await uses_timescale(c):
            # The policies would run concurrently with the test's own compress and refresh.
            await c.execute(
                "SELECT alter_job(job_id, scheduled => false) "
                "FROM timescaledb_information.jobs WHERE job_id >= 1000"
            )
        yield c
    finally:
        await c.close()


async def test_hourly_rollup_answers_the_same_on_both_backends(
    conn: asyncpg.Connection, db_url: str
) -> None:
    timescale = await uses_timescale(conn)
    pool = await create_pool(db_url, min_size=1, max_size=2)
    try:
        writer = writer_module.TelemetryWriter(
            pool, timescale=timescale, offline_after=timedelta(seconds=30)
        )
        recent = _samples(NOW - timedelta(hours=3), 90, timedelta(minutes=2))
        late = _samples(NOW - timedelta(days=10), 40, timedelta(minutes=3))
        first = await writer.write([_item(1, recent)], NOW)
        assert first.stored == len(recent)
        again = await writer.write([_item(1, recent)], NOW)  # a resent batch
        assert again.stored == 0
        assert (await writer.write([_item(2, late)], NOW)).stored == len(late)
    finally:
        await pool.close()

    want = _expected(recent + late)
    window = (INSTRUMENT, NOW - timedelta(days=30), NOW + timedelta(days=1))
    _same(await conn.fetch(HOURLY, *window), want)  # real-time aggregation on TimescaleDB
    if timescale:
        await conn.execute("CALL refresh_continuous_aggregate('telemetry_hourly', NULL, NULL)")
        # the materialised rows alone, without real-time aggregation (rolled back after)
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(
                "ALTER MATERIALIZED VIEW telemetry_hourly "
                "SET (timescaledb.materialized_only = true)"
            )
            _same(await conn.fetch(HOURLY, *window), want)
        finally:
            await tx.rollback()
        _same(await conn.fetch(HOURLY, *window), want)


async def test_late_samples_into_compressed_chunks_are_stored_once(
    conn: asyncpg.Connection, db_url: str
) -> None:
    if not await uses_timescale(conn):
        pytest.skip("TimescaleDB only: plain PostgreSQL does not compress telemetry")
    old = _samples(NOW - timedelta(days=12), 60, timedelta(minutes=1))
    pool = await create_pool(db_url, min_size=1, max_size=2)
    try:
        writer = writer_module.TelemetryWriter(
            pool, timescale=True, offline_after=timedelta(seconds=30)
        )
        assert (await writer.write([_item(1, old)], NOW)).stored == len(old)
        compressed = await conn.fetch(
            "SELECT compress_chunk(c) FROM show_chunks('telemetry', older_than => $1::interval) c",
            timedelta(days=7),
        )
        assert compressed, "the old samples' chunk was not compressed"
        # the agent resends the whole batch, plus samples it had not sent yet, in between
        assert (await writer.write([_item(1, old)], NOW)).stored == 0
        between = [
            Sample(ts=s.ts + timedelta(seconds=30), state=InstrumentState.DOWN) for s in old[:5]
        ]
        assert (await writer.write([_item(2, between)], NOW)).stored == len(between)
    finally:
        await pool.close()
    assert await conn.fetchval(
        "SELECT count(*) FROM telemetry WHERE instrument_id = $1", INSTRUMENT
    ) == len(old) + len(between)

    await conn.execute("CALL refresh_continuous_aggregate('telemetry_hourly', NULL, NULL)")
    window = (INSTRUMENT, NOW - timedelta(days=30), NOW + timedelta(days=1))
    _same(await conn.fetch(HOURLY, *window), _expected(old + between))
