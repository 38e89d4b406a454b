"""Agent → private Mosquitto → the real ingest → PostgreSQL, with faults injected.

Each test starts its own Mosquitto (persistence off: the agent's outbox is the durable copy)
on a free port, so stopping it disturbs nobody, and runs ``twin.ingest.Ingest`` against this
test's own database. "Exactly once" is checked on the stored rows: every sample the agent took
is in ``telemetry`` (whose key is ``(instrument, ts)``), and sampling went on while the fault
lasted (no gap in the timestamps).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import asyncpg
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import Ack, Sample, Status, TelemetryBatch, decode_status, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.credentials import write_credentials
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from pilotshare.twin.ingest import Ingest
from tests.support.agents import Finite, agent_running
from tests.support.brokers import PrivateMosquitto, needs_mosquitto
from tests.support.ingest import register

PARAMS = SimulatedParams(run_mean_s=4, idle_mean_s=2, setup_mean_s=0.5, mtbf_s=30, mttr_s=2)

pytestmark = needs_mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    server = PrivateMosquitto(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def ingesting(pool: asyncpg.Pool, url: str) -> AsyncIterator[Ingest]:
    ingest = Ingest(pool, MqttEndpoint.parse(url), offline_after_s=60)
    stop = asyncio.Event()
    task = asyncio.create_task(ingest.run(stop))
    try:
        await asyncio.wait_for(ingest.ready.wait(), 15)
        yield ingest
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def agent_config(tmp_path: Path, site: str, url: str, **overrides: object) -> AgentConfig:
    fields: dict[str, object] = {
        "site": site,
        "instrument": "oven-1",
        "mqtt_url": url,
        "sample_interval_s": 0.1,
        "batch_max_samples": 20,
        "batch_max_age_s": 0.5,
        "outbox_path": str(tmp_path / "oven-1.outbox.sqlite"),
        "ack_timeout_s": 3.0,
        "metrics_port": 0,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 2.0,
    }
    fields.update(overrides)
    return AgentConfig(**fields)  # type: ignore[arg-type]


async def eventually(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.2)


async def stored_ts(pool: asyncpg.Pool, instrument: str = "oven-1") -> list[datetime]:
    rows = await pool.fetch(
        "SELECT ts FROM telemetry WHERE instrument_id = $1 ORDER BY ts", instrument
    )
    return [r["ts"] for r in rows]


def largest_gaps(ts: list[datetime], n: int = 2) -> list[float]:
    gaps = sorted(((b - a).total_seconds() for a, b in itertools.pairwise(ts)), reverse=True)
    return gaps[:n]


def outbox_ts(path: Path) -> set[float]:
    """The sample times a (possibly killed) agent's outbox holds, read as another process would."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return {round(t, 3) for (t,) in db.execute("SELECT ts FROM samples")}


async def drained(agent: Agent, adapter: Finite, pool: asyncpg.Pool) -> bool:
    if adapter.left > 0 or agent.protocol.depth:
        return False
    return len(await stored_ts(pool)) == agent.stats.samples


@pytest.mark.slow
async def test_broker_stopped_30_s_mid_stream_loses_nothing(
    tmp_path: Path, broker: PrivateMosquitto, pool: asyncpg.Pool, site: str
) -> None:
    await register(pool, site, "oven-1")
    clock = SystemClock()
    adapter = Finite(SimulatedAdapter(PARAMS, 7, start=clock.now()), reads=450)
    agent = Agent(agent_config(tmp_path, site, broker.url()), adapter, clock)
    async with ingesting(pool, broker.url()), agent_running(agent):
        await eventually(lambda: stored_ts(pool), 15, "first rows stored")
        await broker.astop()
        down_at = datetime.now(UTC)
        await asyncio.sleep(30)
        await broker.astart()
        up_at = datetime.now(UTC)
        await eventually(lambda: drained(agent, adapter, pool), 60, "outbox drained into the db")
    ts = await stored_ts(pool)
    assert len(ts) == agent.stats.samples
    assert sum(down_at < t < up_at for t in ts) > 150  # sampled on while the broker was gone
    assert largest_gaps(ts)[0] < 2.0  # and no hole anywhere (the outage was 30 s)
    assert agent.stats.connects >= 2
    assert agent.stats.dropped == 0


@pytest.mark.slow
async def test_agent_sigkilled_mid_stream_and_restarted_loses_nothing(
    tmp_path: Path, broker: PrivateMosquitto, pool: asyncpg.Pool, site: str
) -> None:
    await register(pool, site, "oven-1")
    outbox = tmp_path / "oven-1.outbox.sqlite"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
site = "{site}"
instrument = "oven-1"
mqtt_url = "{broker.url()}"
sample_interval_s = 0.05
batch_max_samples = 20
batch_max_age_s = 2.0
outbox_path = "{outbox}"
ack_timeout_s = 3.0
metrics_port = 0
reconnect_max_s = 1.0

[adapter]
type = "simulated"
seed = 3
run_mean_s = 3.0
idle_mean_s = 1.0
setup_mean_s = 0.5
mtbf_s = 20.0
mttr_s = 1.0
"""
    )
    argv = [sys.executable, "-m", "pilotshare.cli", "agent", "--config", str(config)]
    env = {**os.environ, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    async with ingesting(pool, broker.url()):
        first = subprocess.Popen(argv, env=env)
        try:
            await eventually(lambda: _count_at_least(pool, 40), 30, "first agent's rows stored")
            await asyncio.sleep(0.7)  # mid-batch: batch_max_age_s is 2 s
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        killed_at = datetime.now(UTC)
        held = outbox_ts(outbox)  # committed by the killed agent, not necessarily acked
        before = len(await stored_ts(pool))
        assert held, "the killed agent held unacknowledged samples"
        # the broker published the agent's last will: its retained status now says offline
        assert not (await retained_status(broker, site)).online
        second = subprocess.Popen(argv, env=env)
        try:
            await eventually(lambda: _count_at_least(pool, before + 60), 30, "restarted agent")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        # what the second run left unacknowledged at its clean stop is sent by a third
        clock = SystemClock()
        adapter = Finite(SimulatedAdapter(PARAMS, 1, start=clock.now()), reads=0)
        last = Agent(agent_config(tmp_path, site, broker.url()), adapter, clock)
        async with agent_running(last):
            await eventually(lambda: last.protocol.depth == 0, 30, "outbox drained")
    rows = await pool.fetch(
        "SELECT ts, batch FROM telemetry WHERE instrument_id = 'oven-1' ORDER BY ts"
    )
    ts = [r["ts"] for r in rows]
    stored = {round(t.timestamp(), 3) for t in ts}
    assert held <= stored  # everything the killed agent had committed reached the database
    gaps = largest_gaps(ts, 2)
    assert gaps[1] < 1.5  # one hole only: while no agent ran
    # batch numbers never went back: in time order they only grow, across the restart too
    batches = [r["batch"] for r in rows]
    assert batches == sorted(batches)
    assert any(r["ts"] > killed_at for r in rows)


async def retained_status(broker: PrivateMosquitto, site: str) -> Status:
    topic = f"pilotshare/v1/{site}/oven-1/status"
    deadline = time.monotonic() + 10
    while True:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe(topic, qos=1)
            message = await asyncio.wait_for(client.messages.__anext__(), 5)
        assert isinstance(message.payload, bytes)
        status = decode_status(message.payload)
        if not status.online or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.5)


async def _count_at_least(pool: asyncpg.Pool, n: int) -> bool:
    return len(await stored_ts(pool)) >= n


@pytest.mark.slow
async def test_ingest_down_a_minute_loses_nothing(
    tmp_path: Path, broker: PrivateMosquitto, pool: asyncpg.Pool, site: str
) -> None:
    await register(pool, site, "oven-1")
    clock = SystemClock()
    adapter = Finite(SimulatedAdapter(PARAMS, 5, start=clock.now()), reads=400)
    cfg = agent_config(tmp_path, site, broker.url(), sample_interval_s=0.2)
    agent = Agent(cfg, adapter, clock)
    async with agent_running(agent):
        async with ingesting(pool, broker.url()):
            await eventually(lambda: stored_ts(pool), 15, "first rows stored")
        down_at = datetime.now(UTC)
        await asyncio.sleep(60)
        assert agent.protocol.depth > 150  # held while nobody acknowledged
        assert agent.stats.resent > 0
        async with ingesting(pool, broker.url()):
            await eventually(lambda: drained(agent, adapter, pool), 60, "outbox drained")
    ts = await stored_ts(pool)
    assert len(ts) == agent.stats.samples
    assert sum(t > down_at for t in ts) > 150
    assert largest_gaps(ts)[0] < 2.0  # the ingest was away 60 s: no hole


async def test_acl_keeps_an_agent_to_its_own_topics(
    tmp_path: Path, pool: asyncpg.Pool, db_url: str, site: str
) -> None:
    await register(pool, site, "oven-1", "oven-2")
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    created = dict(
        await write_credentials(
            Settings(database_url=db_url, data_dir=tmp_path), passwd=passwd, acl=acl
        )
    )
    assert set(created) == {"ingest", "agent-oven-1", "agent-oven-2"}
    # a second run keeps every password and creates none
    again = await write_credentials(
        Settings(database_url=db_url, data_dir=tmp_path), passwd=passwd, acl=acl
    )
    assert again == []
    server = PrivateMosquitto(tmp_path, auth=(passwd, acl))
    server.start()
    try:
        ingest_url = server.url("ingest", created["ingest"])
        me = ("agent-oven-1", created["agent-oven-1"])
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", server.port, username=me[0], password="wrong"):
                pass
        async with ingesting(pool, ingest_url):
            clock = SystemClock()
            agent = Agent(
                agent_config(tmp_path, site, server.url(*me)),
                SimulatedAdapter(PARAMS, 2, start=clock.now()),
                clock,
            )
            async with agent_running(agent):
                await eventually(lambda: agent.stats.acked >= 2, 20, "agent's batches acked")
            now = datetime.now(UTC)
            forged = TelemetryBatch(
                agent="oven-1-agent",
                batch=1,
                samples=(Sample(ts=now, state=InstrumentState.RUNNING),),
            )
            own = TelemetryBatch(
                agent="oven-1-agent",
                batch=2**40,
                samples=(Sample(ts=now + timedelta(seconds=1), state=InstrumentState.IDLE),),
            )
            other = ("agent-oven-2", created["agent-oven-2"])
            backend = ("ingest", created["ingest"])
            async with (
                aiomqtt.Client("127.0.0.1", server.port, username=me[0], password=me[1]) as c1,
                aiomqtt.Client(
                    "127.0.0.1", server.port, username=other[0], password=other[1]
                ) as c2,
                aiomqtt.Client(
                    "127.0.0.1", server.port, username=backend[0], password=backend[1]
                ) as b,
            ):
                await c1.subscribe(f"pilotshare/v1/{site}/oven-2/ack", qos=1)
                await c2.subscribe(f"pilotshare/v1/{site}/oven-2/ack", qos=1)
                await c1.publish(f"pilotshare/v1/{site}/oven-2/telemetry", encode(forged), qos=1)
                await c1.publish(f"pilotshare/v1/{site}/oven-1/telemetry", encode(own), qos=1)
                await b.publish(
                    f"pilotshare/v1/{site}/oven-2/ack", encode(Ack(batches=(7,))), qos=1
                )
                # oven-2's own agent gets its ack; oven-1's credentials read nothing of oven-2
                message = await asyncio.wait_for(c2.messages.__anext__(), 10)
                assert message.payload == encode(Ack(batches=(7,)))
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(c1.messages.__anext__(), 1.5)
            # the message after the forged one arrived, so the forged one was not let through
            await eventually(lambda: _has(pool, "oven-1", now + timedelta(seconds=1)), 15, "own")
            assert await stored_ts(pool, "oven-2") == []
            assert await pool.fetchval("SELECT count(*) FROM rejects") == 0
    finally:
        server.stop()


async def _has(pool: asyncpg.Pool, instrument: str, ts: datetime) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM telemetry WHERE instrument_id = $1 AND ts = $2", instrument, ts
        )
    )
