"""The Sparkplug B host bridge against an independent edge node (PyPI pysparkplug) on the
real broker: births, data by alias, a sequence gap and its rebirth, deaths; read back through
the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiomqtt
import asyncpg
import httpx
import pytest

from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.sparkplug.bridge import SparkplugBridge
from pilotshare.twin.sparkplug.mapping import HostConfig, InstrumentMap, Mapping
from tests.support.ingest import register, wait_for
from tests.support.sparkplug import EdgeNode, edge_python


@pytest.fixture
def clock() -> Clock:
    """The API reads the twin in wall time: the bridge stores wall-time samples."""
    return SystemClock()


def mapping(site: str, group: str) -> Mapping:
    oven = InstrumentMap(
        id=f"{site}-oven",
        group=group,
        node="edge",
        device="oven",
        state="State",
        states={"1": InstrumentState.RUNNING, "2": InstrumentState.IDLE},
        utilization="OEE",
        utilization_scale=0.01,
        metrics={"power_w": "Power"},
    )
    plc = InstrumentMap(id=f"{site}-plc", group=group, node="edge", state="Mode")
    host = HostConfig(host_id=f"{site}-host", site=site, rebirth_interval_s=1.0)
    return Mapping.of(host, [oven, plc])


@contextlib.asynccontextmanager
async def bridge_running(
    pool: asyncpg.Pool, mqtt: MqttEndpoint, m: Mapping, site: str
) -> AsyncIterator[SparkplugBridge]:
    bridge = SparkplugBridge(pool, mqtt, m, site=site, offline_after_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        async with asyncio.timeout(10):
            await bridge.ready.wait()
        yield bridge
    finally:
        stop.set()
        await task


async def retained_state(mqtt: MqttEndpoint, host_id: str) -> dict[str, object]:
    async with aiomqtt.Client(mqtt.host, mqtt.port) as client:
        await client.subscribe(f"spBv1.0/STATE/{host_id}", qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                assert isinstance(message.payload, bytes)
                answer: dict[str, object] = json.loads(message.payload)
                return answer
    raise AssertionError("no STATE")


async def twin(client: httpx.AsyncClient, who: dict[str, str], inst: str) -> dict[str, object]:
    r = await client.get(f"/api/v1/instruments/{inst}/twin", headers=who)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def stored_samples(client: httpx.AsyncClient, who: dict[str, str], inst: str) -> int:
    now = datetime.now(UTC)
    params = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "bucket": "PT1H",
    }
    r = await client.get(f"/api/v1/instruments/{inst}/telemetry", params=params, headers=who)
    assert r.status_code == 200, r.text
    return sum(b["samples"] for b in r.json())


#: Room for each step: the edge node is a second Python in its own venv, and under the whole
#: suite's load on two cores one step once took over 20 s (alone, the whole test takes about 14 s).
SETTLE_S = 60.0


async def test_births_data_gap_and_deaths_of_a_pysparkplug_edge_node(
    pool: asyncpg.Pool,
    mqtt_endpoint: MqttEndpoint,
    site: str,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    edge_python()  # skips here, with the reason, when pysparkplug cannot be installed
    group = f"{site}-g"
    oven, plc = f"{site}-oven", f"{site}-plc"
    await register(pool, site, oven, plc)
    m = mapping(site, group)
    async with (
        bridge_running(pool, mqtt_endpoint, m, site),
        EdgeNode(mqtt_endpoint.host, mqtt_endpoint.port, group, "edge", "oven") as edge,
    ):
        state = await retained_state(mqtt_endpoint, f"{site}-host")
        assert state["online"] is True
        assert isinstance(state["timestamp"], int)

        await edge.do("connect")

        async def oven_running() -> bool:
            t = await twin(client, admin, oven)
            return t["online"] is True and t["state"] == "running"

        await wait_for(oven_running, timeout=SETTLE_S)
        assert (await twin(client, admin, plc))["state"] == "running"  # the node's own metrics

        await edge.do("ddata 2 50 900")  # by alias: idle

        async def oven_idle() -> bool:
            return (await twin(client, admin, oven))["state"] == "idle"

        await wait_for(oven_idle, timeout=SETTLE_S)
        assert (await twin(client, admin, oven))["utilization"]["1h"] is not None  # type: ignore[index]

        # a lost sequence number: the host asks for a rebirth, the node is born again
        await edge.do("skip")
        mark = len(edge.lines)
        await edge.do("ddata 1 90 1600")
        await edge.wait_for("rebirth", after=mark, timeout=SETTLE_S)
        await edge.wait_for("reborn", after=mark, timeout=SETTLE_S)
        await edge.do("ddata 2 40 800")  # after the rebirth: in sequence again

        async def all_stored() -> bool:  # DBIRTH, DDATA, DDATA, DBIRTH, DDATA, each once
            times = edge.sample_times()
            return len(times) == 5 and await stored_samples(client, admin, oven) == len(set(times))

        await wait_for(all_stored, timeout=SETTLE_S)
        times = edge.sample_times()
        rows = await pool.fetch(
            "SELECT ts, state, metrics FROM telemetry WHERE instrument_id = $1 ORDER BY ts", oven
        )
        assert [int(r["ts"].timestamp() * 1000) for r in rows] == sorted(set(times))
        assert rows[-1]["state"] == "idle"
        assert rows[-1]["metrics"] == {"power_w": 800.0}

        await edge.do("ddeath")

        async def oven_offline() -> bool:
            return (await twin(client, admin, oven))["online"] is False

        await wait_for(oven_offline, timeout=SETTLE_S)
        assert (await twin(client, admin, plc))["online"] is True

        await edge.do("ndeath")

        async def plc_offline() -> bool:
            return (await twin(client, admin, plc))["online"] is False

        await wait_for(plc_offline, timeout=SETTLE_S)
        assert (await twin(client, admin, oven))["state"] == "offline"
        assert await stored_samples(client, admin, oven) == len(set(times))  # nothing twice
        rejects = await pool.fetchval("SELECT count(*) FROM rejects")
        assert rejects == 0
    state = await retained_state(mqtt_endpoint, f"{site}-host")
    assert state["online"] is False  # its death, with its birth's timestamp
