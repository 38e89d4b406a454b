"""The thin path end to end, on both pairs of services: a simulated agent publishes through
a real broker, the ingest stores each sample once and acks, the twin shows it over HTTP, and
a malformed message becomes a stored reject while the good ones around it are stored.

``pair`` runs every test twice: on the configured PostgreSQL + Mosquitto
(``PILOTSHARE_TEST_DATABASE_URL`` / ``PILOTSHARE_TEST_MQTT_URL``; skipped where unset) and on
the embedded PostgreSQL + amqtt broker, started here whatever the environment says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import Sample, TelemetryBatch, encode
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.domain import InstrumentState
from pilotshare.core.embedded import EmbeddedPostgres, embedded_broker
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from pilotshare.twin.ingest import Ingest
from tests.support.databases import scratch_database
from tests.support.instruments import add_instrument

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Pair:
    database_url: str
    mqtt_url: str
    embedded: bool


@contextlib.asynccontextmanager
async def _migrated(admin_url: str) -> AsyncIterator[str]:
    """A scratch database of this test at the current schema, dropped afterwards."""
    async with scratch_database(admin_url) as url:
        conn = await connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield url


@pytest.fixture(params=["configured", "embedded"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    if request.param == "configured":
        db, mq = (os.environ.get(f"PILOTSHARE_TEST_{k}_URL") for k in ("DATABASE", "MQTT"))
        if not (db and mq):
            pytest.skip("PILOTSHARE_TEST_DATABASE_URL / _MQTT_URL unset: no configured pair")
        async with _migrated(db) as url:
            yield Pair(url, mq, embedded=False)
        return
    server = await asyncio.to_thread(EmbeddedPostgres, Path(tempfile.mkdtemp(prefix="ps-e2e-")))
    try:
        async with embedded_broker() as url, _migrated(server.url("postgres")) as db_url:
            yield Pair(db_url, url, embedded=True)
    finally:
        await asyncio.to_thread(server.stop)


@dataclass
class Platform:
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    site: str
    mqtt: MqttEndpoint
    headers: dict[str, str]


@pytest.fixture
async def platform(pair: Pair) -> AsyncIterator[Platform]:
    """Ingest and API on the pair, one registered instrument at a fresh site."""
    site = f"e{secrets.token_hex(4)}"
    pool = await create_pool(pair.database_url, min_size=1, max_size=6)
    stop = asyncio.Event()
    ingest = Ingest(
        pool, MqttEndpoint.parse(pair.mqtt_url), registry=CollectorRegistry(), site=site
    )
    task = asyncio.create_task(ingest.run(stop))
    try:
        async with pool.acquire() as conn:
            await add_instrument(conn, f"{site}-oven", site=site)
            key = await create_key(conn, org="acme", role="operator")
        await asyncio.wait_for(ingest.ready.wait(), 15)
        app = create_app(Settings(), pool=pool, clock=SystemClock(), registry=CollectorRegistry())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Platform(
                pool,
                client,
                site,
                MqttEndpoint.parse(pair.mqtt_url),
                {"Authorization": f"Bearer {key}"},
            )
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await pool.close()


async def _eventually(check: object, timeout: float = 20.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_agent_samples_arrive_once_and_show_in_the_twin(
    platform: Platform, pair: Pair, tmp_path: Path
) -> None:
    instrument = f"{platform.site}-oven"
    config = AgentConfig(
        site=platform.site,
        instrument=instrument,
        mqtt_url=pair.mqtt_url,
        mqtt_protocol="3.1.1" if pair.embedded else "auto",
        sample_interval_s=0.05,
        batch_max_samples=20,
        batch_max_age_s=0.2,
        metrics_port=0,
        outbox_path=str(tmp_path / "oven.outbox.sqlite"),
    )
    params = SimulatedParams(run_mean_s=0.5, idle_mean_s=0.3, setup_mean_s=0.1)
    agent = Agent(config, SimulatedAdapter(params, seed=7, start=datetime.now(UTC)))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    url = f"/api/v1/instruments/{instrument}/twin"
    states = {s.value for s in InstrumentState}

    async def live() -> bool:
        body = (await platform.client.get(url, headers=platform.headers)).json()
        return body["online"] is True and body["state"] in states

    await _eventually(live, timeout=10)
    await asyncio.sleep(2)
    stop.set()
    await asyncio.wait_for(task, 30)
    produced = agent.stats.samples
    assert produced > 20

    # every sample the agent produced and saw acknowledged is stored exactly once
    async def all_stored() -> bool:
        n = await platform.pool.fetchval(
            "SELECT count(*) FROM telemetry WHERE instrument_id = $1", instrument
        )
        return bool(n >= agent.stats.samples - agent.protocol.depth)

    await _eventually(all_stored)
    rows = await platform.pool.fetch(
        "SELECT ts, count(*) AS n FROM telemetry WHERE instrument_id = $1 GROUP BY ts", instrument
    )
    assert all(r["n"] == 1 for r in rows)
    # A batch in flight when the agent stopped may be committed without its ack arriving: it
    # stays in the outbox (to be resent and stored once), so it can be stored and still held.
    assert produced - agent.protocol.depth <= len(rows) <= produced
    assert agent.stats.acked >= 1

    last = await platform.pool.fetchrow(
        "SELECT state FROM telemetry WHERE instrument_id = $1 ORDER BY ts DESC LIMIT 1", instrument
    )

    async def offline() -> bool:
        # the agent said goodbye (a retained offline status) when it stopped
        return (await platform.client.get(url, headers=platform.headers)).json()["online"] is False

    await _eventually(offline)
    twin = await platform.client.get(url, headers=platform.headers)
    assert twin.status_code == 200
    body = twin.json()
    assert body["instrument"] == instrument
    assert body["last_seen"] is not None
    assert body["state"] == "offline"
    assert last["state"] in states


async def test_malformed_message_is_a_reject_and_neighbours_are_stored(
    platform: Platform,
) -> None:
    instrument = f"{platform.site}-oven"
    topic = f"pilotshare/v1/{platform.site}/{instrument}/telemetry"
    now = datetime.now(UTC).replace(microsecond=0)

    def good(batch: int, second: int) -> bytes:
        ts = now.replace(second=second % 60)
        sample = Sample(ts=ts, state=InstrumentState.RUNNING, utilization=0.5)
        return encode(TelemetryBatch(agent="raw", batch=batch, samples=(sample,)))

    bad = b'{"v":1,"agent":"raw","batch":2,"samples":[{"ts":"yesterday","state":"running"}]}'
    async with aiomqtt.Client(
        platform.mqtt.host,
        platform.mqtt.port,
        protocol=aiomqtt.ProtocolVersion.V311,
        identifier=f"raw-{secrets.token_hex(3)}",
    ) as client:
        for payload in (good(1, 1), bad, good(3, 3)):
            await client.publish(topic, payload, qos=1)

    async def settled() -> bool:
        rejects = await platform.pool.fetchval(
            "SELECT count(*) FROM rejects WHERE topic = $1", topic
        )
        stored = await platform.pool.fetchval(
            "SELECT count(*) FROM telemetry WHERE instrument_id = $1", instrument
        )
        return bool(rejects == 1 and stored == 2)

    await _eventually(settled)
    reject = await platform.pool.fetchrow(
        "SELECT reason, payload FROM rejects WHERE topic = $1", topic
    )
    assert reject["reason"] == "bad_ts"
    assert bytes(reject["payload"]) == bad


async def test_keys_and_roles_end_to_end(platform: Platform) -> None:
    body = {"id": f"{platform.site}-sem", "site": platform.site, "kind": "sem"}
    assert (await platform.client.post("/api/v1/instruments", json=body)).status_code == 401
    r = await platform.client.post("/api/v1/instruments", json=body, headers=platform.headers)
    assert r.status_code == 403
