"""The agent against a real broker, with a test playing the backend (subscribe, store, ack)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import sqlite3
import ssl
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import msgspec
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import (
    Ack,
    Command,
    Sample,
    TelemetryBatch,
    decode_status,
    decode_telemetry,
    encode,
)
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.outbox import Outbox
from pilotshare.edge_agent.runner import Agent

FAST = SimulatedParams(run_mean_s=0.3, idle_mean_s=0.2, setup_mean_s=0.05, mtbf_s=5.0, mttr_s=0.3)


class Backend:
    """Plays the backend: keeps every sample by timestamp, acks batches when told to."""

    def __init__(self, endpoint: MqttEndpoint, site: str, instrument: str) -> None:
        self.endpoint = endpoint
        self.root = f"pilotshare/v1/{site}/{instrument}"
        self.samples: dict[datetime, str] = {}
        self.batches: list[int] = []
        self.deliveries = 0
        self.acking = True
        self.status: list[bytes] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # the broker hung up as the test ended
            await self._run()

    async def _run(self) -> None:
        client = aiomqtt.Client(self.endpoint.host, self.endpoint.port, timeout=2)
        async with client:
            await client.subscribe(f"{self.root}/telemetry", qos=1)
            await client.subscribe(f"{self.root}/status", qos=1)
            self.ready.set()
            async for message in client.messages:
                raw = message.payload
                assert isinstance(raw, bytes)
                if message.topic.value.endswith("/status"):
                    self.status.append(raw)
                    continue
                batch = decode_telemetry(raw, datetime.now(UTC))
                self.deliveries += 1
                if not self.acking:
                    continue
                for sample in batch.samples:
                    self.samples[sample.ts] = sample.state.value
                self.batches.append(batch.batch)
                await client.publish(f"{self.root}/ack", encode(Ack(batches=(batch.batch,))), qos=1)


@contextlib.asynccontextmanager
async def running(coro_factory: object) -> AsyncIterator[None]:
    task = asyncio.ensure_future(coro_factory)  # type: ignore[arg-type]
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=5)  # amqtt sometimes never closes a socket


def decode_sample(body: bytes) -> Sample:
    return msgspec.json.decode(body, type=Sample)


def config(tmp_path: Path, site: str, url: str, **overrides: object) -> AgentConfig:
    fields: dict[str, object] = {
        "site": site,
        "instrument": "oven-1",
        "mqtt_url": url,
        "sample_interval_s": 0.05,
        "batch_max_samples": 5,
        "batch_max_age_s": 0.2,
        "outbox_path": str(tmp_path / "outbox.sqlite"),
        "ack_timeout_s": 1.0,
        "metrics_port": 0,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "session_expiry_s": 60,  # the shared test broker need not keep our sessions long
    }
    fields.update(overrides)
    return AgentConfig(**fields)  # type: ignore[arg-type]


def agent_for(cfg: AgentConfig, seed: int = 1) -> Agent:
    clock = SystemClock()
    return Agent(cfg, SimulatedAdapter(FAST, seed, start=clock.now()), clock)


async def wait_until(predicate: object, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_batches_are_acked_and_the_outbox_drains(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint, mqtt_is_embedded: bool
) -> None:
    backend = Backend(mqtt_endpoint, site, "oven-1")
    stop = asyncio.Event()
    agent = agent_for(config(tmp_path, site, mqtt_url))
    async with running(backend.run()):
        await backend.ready.wait()
        task = asyncio.ensure_future(agent.run(stop))
        await wait_until(lambda: len(backend.batches) >= 6)
        assert agent._v5 is (not mqtt_is_embedded)  # MQTT 5 where offered, else 3.1.1
        stop.set()
        await asyncio.wait_for(task, 10)
        await wait_until(lambda: any(not decode_status(s).online for s in backend.status))
    assert decode_status(backend.status[0]).online
    assert backend.batches == sorted(backend.batches)
    assert len(set(backend.batches)) == len(backend.batches)
    # every sealed batch is either acked by the backend or still held in the outbox
    first = min(backend.batches)
    held = set(agent.protocol.unacked)
    sealed = set(range(first, agent.protocol.next_batch))
    assert sealed <= set(backend.batches) | held
    assert (
        len(backend.samples) <= agent.stats.samples <= len(backend.samples) + agent.protocol.depth
    )


async def test_unacked_batches_are_resent_after_the_timeout(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    backend = Backend(mqtt_endpoint, site, "oven-1")
    backend.acking = False
    stop = asyncio.Event()
    agent = agent_for(config(tmp_path, site, mqtt_url, ack_timeout_s=0.5))
    async with running(backend.run()):
        await backend.ready.wait()
        task = asyncio.ensure_future(agent.run(stop))
        await wait_until(lambda: agent.stats.resent >= 2)
        backend.acking = True
        await wait_until(lambda: agent.protocol.depth < 10 and agent.stats.acked >= 3)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert backend.deliveries > len(set(backend.batches))


async def test_restart_keeps_unacked_samples_and_the_counter(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    backend = Backend(mqtt_endpoint, site, "oven-1")
    backend.acking = False
    cfg = config(tmp_path, site, mqtt_url)
    first = agent_for(cfg)
    stop = asyncio.Event()
    async with running(backend.run()):
        await backend.ready.wait()
        task = asyncio.ensure_future(first.run(stop))
        await wait_until(lambda: first.stats.sent >= 3)
        stop.set()
        await asyncio.wait_for(task, 10)
        taken = first.stats.samples
        counter = first.protocol.next_batch
        backend.acking = True
        second = agent_for(cfg, seed=2)
        assert second.protocol.next_batch >= counter
        assert second.protocol.depth == taken
        stop2 = asyncio.Event()
        task = asyncio.ensure_future(second.run(stop2))
        await wait_until(lambda: len(backend.samples) >= taken + 5)
        stop2.set()
        await asyncio.wait_for(task, 10)
    assert min(b for b in backend.batches if b >= counter) >= counter
    assert len(backend.samples) >= taken


async def test_lock_command_reaches_the_simulated_instrument(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    stop = asyncio.Event()
    agent = agent_for(config(tmp_path, site, mqtt_url))
    task = asyncio.ensure_future(agent.run(stop))
    await asyncio.wait_for(agent.connected.wait(), 10)
    until = datetime.now(UTC) + timedelta(hours=1)
    async with aiomqtt.Client(mqtt_endpoint.host, mqtt_endpoint.port) as client:
        await client.publish(f"pilotshare/v1/{site}/oven-1/cmd", b"{not json", qos=1)
        cmd = Command(cmd="lock", booking="b-1", until=until)
        await client.publish(f"pilotshare/v1/{site}/oven-1/cmd", encode(cmd), qos=1)
    adapter = agent.adapter
    assert isinstance(adapter, SimulatedAdapter)
    await wait_until(lambda: adapter.instrument.locked(datetime.now(UTC)))
    assert agent.stats.bad_messages == 1
    await asyncio.sleep(1.5)  # any run in progress ends within ~1 s; none may start
    assert adapter.instrument.state.value in ("idle", "down", "maintenance")
    stop.set()
    await asyncio.wait_for(task, 10)


def test_batch_payload_is_valid_telemetry(tmp_path: Path) -> None:
    cfg = config(tmp_path, "s", "mqtt://127.0.0.1:1")
    agent = agent_for(cfg)
    start = datetime.now(UTC)
    inst = agent.adapter
    assert isinstance(inst, SimulatedAdapter)
    for i in range(5):
        agent.recorder.record(inst.instrument.step(start + timedelta(seconds=i)))
    number = agent.protocol.unacked[0]
    batch = decode_telemetry(agent.outbox.payload(number, "oven-1-agent"), start)
    assert isinstance(batch, TelemetryBatch)
    assert len(batch.samples) == 5
    agent.outbox.close()


async def test_metrics_endpoint_reports_the_outbox_and_the_link(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    backend = Backend(mqtt_endpoint, site, "oven-1")
    port = free_port()
    agent = agent_for(config(tmp_path, site, mqtt_url, metrics_port=port, metrics_host="127.0.0.1"))
    stop = asyncio.Event()
    async with running(backend.run()):
        await backend.ready.wait()
        task = asyncio.ensure_future(agent.run(stop))
        await wait_until(lambda: agent.stats.acked >= 2)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        stop.set()
        await asyncio.wait_for(task, 10)
    values = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pilotshare_agent_") and 'instrument="oven-1"' in line
    }
    assert values["pilotshare_agent_batches_acked_total"] >= 2
    assert values["pilotshare_agent_samples_total"] >= 10
    assert values["pilotshare_agent_connects_total"] == 1
    assert values["pilotshare_agent_connected"] == 1
    for name in (
        "outbox_samples",
        "outbox_batches",
        "oldest_unacked_seconds",
        "dropped_samples_total",
        "batches_resent_total",
        "batches_sent_total",
    ):
        assert f"pilotshare_agent_{name}" in values


async def test_full_outbox_drops_the_oldest_and_says_so(
    tmp_path: Path, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"mqtt://127.0.0.1:{free_port()}"  # no broker: nothing is ever acknowledged
    cfg = config(
        tmp_path, site, nowhere, batch_max_samples=5, outbox_max_samples=20, sample_interval_s=0.01
    )
    agent = agent_for(cfg)
    stop = asyncio.Event()
    task = asyncio.ensure_future(agent.run(stop))
    await wait_until(lambda: agent.stats.dropped >= 20)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert agent.protocol.depth <= 20
    assert any("OUTBOX FULL" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    # the newest samples are the ones kept
    newest = Outbox(Path(cfg.outbox_path), first_batch=0)
    try:
        assert newest.dropped() == agent.stats.dropped  # counted on disk too
        oldest_kept = newest.oldest()
        assert oldest_kept is not None
        assert (datetime.now(UTC) - oldest_kept).total_seconds() < 5
    finally:
        newest.close()


async def test_a_state_change_is_sampled_at_once(tmp_path: Path, site: str) -> None:
    """With a 10 s interval, every sample after the first is a state change, taken as it happens.

    Each sample is matched to the transition that produced it: the latest one at or before its
    timestamp, which is the state the instrument had then. Matching by nearest time instead
    fails whenever a change is sampled a few ms late and the next one follows soon (a short
    setup), which is scheduling, not the agent.
    """
    nowhere = f"mqtt://127.0.0.1:{free_port()}"  # only the outbox matters here
    cfg = config(tmp_path, site, nowhere, sample_interval_s=10.0, batch_max_samples=1000)
    agent = agent_for(cfg)
    adapter = agent.adapter
    assert isinstance(adapter, SimulatedAdapter)
    adapter.instrument.transitions = []  # record from now on
    stop = asyncio.Event()
    task = asyncio.ensure_future(agent.run(stop))
    await wait_until(lambda: agent.stats.samples >= 6)
    stop.set()
    await asyncio.wait_for(task, 10)
    with contextlib.closing(sqlite3.connect(cfg.outbox_path)) as db:
        rows = db.execute("SELECT body FROM samples ORDER BY id").fetchall()
    samples = [decode_sample(body) for (body,) in rows]
    transitions = adapter.instrument.transitions
    produced_by = -1
    for previous, sample in itertools.pairwise(samples):
        assert sample.state != previous.state
        latest = bisect.bisect_right([t.at for t in transitions], sample.ts) - 1
        assert latest > produced_by  # a change of its own, not the previous sample's
        produced_by = latest
        change = transitions[latest]
        assert change.state == sample.state
        assert (sample.ts - change.at).total_seconds() < cfg.sample_interval_s / 10


async def test_reconnecting_loads_no_tls_context_on_the_loop(
    tmp_path: Path, site: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a CA bundle takes ~0.1 s: on the loop at every reconnect it made samples late.

    Plain MQTT loads none; ``mqtts://`` loads one per agent, in a worker thread.
    """
    loop_thread = threading.get_ident()
    loads: list[bool] = []  # per load: whether it ran on the loop's thread
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        loads.append(threading.get_ident() == loop_thread)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    for scheme, expected in (("mqtt", []), ("mqtts", [False])):
        url = f"{scheme}://127.0.0.1:{free_port()}"  # nobody listens: it keeps reconnecting
        agent = agent_for(config(tmp_path / scheme, site, url, reconnect_max_s=0.1))
        caplog.clear()
        stop = asyncio.Event()
        task = asyncio.ensure_future(agent.run(stop))
        await wait_until(
            lambda: sum("cannot reach the broker" in r.getMessage() for r in caplog.records) >= 3
        )
        stop.set()
        await asyncio.wait_for(task, 10)
        assert loads == expected, scheme
