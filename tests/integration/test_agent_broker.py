"""The agent with a private Mosquitto: TLS with a private CA, and a session that outlives it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import Ack, encode
from pilotshare.core.embedded import free_port
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from tests.support.brokers import PrivateMosquitto, needs_mosquitto

pytestmark = needs_mosquitto


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d: Path) -> None:
    """A private CA and a server certificate for localhost signed by it."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=pilotshare test CA",
        "-days",
        "2",
        cwd=d,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        cwd=d,
    )


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A private broker: a plain listener and a TLS one; yields (plain port, TLS port)."""
    make_certs(tmp_path)
    tls = free_port()
    broker = PrivateMosquitto(
        tmp_path,
        max_queued=10000,
        settings=[
            f"listener {tls} 127.0.0.1",
            f"cafile {tmp_path / 'ca.crt'}",
            f"certfile {tmp_path / 'server.crt'}",
            f"keyfile {tmp_path / 'server.key'}",
        ],
    )
    broker.start()
    try:
        yield broker.port, tls
    finally:
        broker.stop()


def agent(tmp_path: Path, url: str, **overrides: object) -> Agent:
    fields: dict[str, object] = {
        "site": "lab",
        "instrument": "oven-1",
        "mqtt_url": url,
        "sample_interval_s": 0.05,
        "batch_max_samples": 5,
        "batch_max_age_s": 0.2,
        "metrics_port": 0,
        "outbox_path": str(tmp_path / "oven-1.outbox.sqlite"),
        "reconnect_max_s": 0.5,
    }
    fields.update(overrides)
    clock = SystemClock()
    return Agent(
        AgentConfig(**fields),  # type: ignore[arg-type]
        SimulatedAdapter(SimulatedParams(), 1, start=clock.now()),
        clock,
    )


async def wait_for(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_tls_with_a_private_ca(tmp_path: Path, mosquitto: tuple[int, int]) -> None:
    plain, tls = mosquitto
    received: list[bytes] = []
    async with aiomqtt.Client("127.0.0.1", plain) as sub:
        await sub.subscribe("pilotshare/v1/lab/oven-1/telemetry", qos=1)
        trusting = agent(tmp_path, f"mqtts://localhost:{tls}", tls_ca_file=str(tmp_path / "ca.crt"))
        stop = asyncio.Event()
        task = asyncio.create_task(trusting.run(stop))

        async def collect() -> None:
            async for message in sub.messages:
                assert isinstance(message.payload, bytes)
                received.append(message.payload)

        reader = asyncio.create_task(collect())
        await wait_for(lambda: received)
        assert trusting._v5 is True
        stop.set()
        await asyncio.wait_for(task, 10)
        reader.cancel()

    # without the private CA the broker's certificate is not trusted: no connection
    doubting = agent(tmp_path / "other", f"mqtts://localhost:{tls}")
    stop = asyncio.Event()
    task = asyncio.create_task(doubting.run(stop))
    await asyncio.sleep(2)
    assert not doubting.connected.is_set()
    assert doubting.stats.connects == 0
    stop.set()
    await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_acks_sent_while_the_agent_was_away_reach_it(
    tmp_path: Path, mosquitto: tuple[int, int], protocol: str
) -> None:
    plain, _ = mosquitto
    url = f"mqtt://127.0.0.1:{plain}"
    first = agent(tmp_path, url, mqtt_protocol=protocol)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await wait_for(lambda: first.stats.sent >= 2)
    stop.set()
    await asyncio.wait_for(task, 10)
    waiting = first.protocol.unacked
    assert waiting
    # the backend commits the batches while the agent is away; the broker keeps the ack
    async with aiomqtt.Client("127.0.0.1", plain) as backend:
        await backend.publish(
            "pilotshare/v1/lab/oven-1/ack", encode(Ack(batches=waiting[:2])), qos=1
        )
    second = agent(tmp_path, url, mqtt_protocol=protocol)
    assert set(waiting[:2]) <= set(second.protocol.unacked)
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    await wait_for(lambda: second.stats.acked >= len(waiting[:2]))
    assert not set(waiting[:2]) & set(second.protocol.unacked)
    stop.set()
    await asyncio.wait_for(task, 10)
