"""Helpers for ingest tests: register instruments, publish raw bytes with paho, collect acks.

paho (not aiomqtt) plays the agent, so the tests drive the ingest the way any MQTT client
would, byte for byte, over MQTT 3.1.1 (which both the embedded broker and Mosquitto speak).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiomqtt
import asyncpg
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from pilotshare.core.clock import Clock
from pilotshare.core.contract import Sample, Status, TelemetryBatch, decode_ack, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.ingest import Ingest
from tests.support.instruments import add_instrument


async def register(pool: asyncpg.Pool, site: str, *instruments: str, kind: str = "oven") -> None:
    """Register ``instruments`` of ``kind`` at ``site``."""
    for name in instruments:
        await add_instrument(pool, name, site=site, kind=kind)


def topic(site: str, instrument: str, channel: str = "telemetry") -> str:
    return f"pilotshare/v1/{site}/{instrument}/{channel}"


def batch_bytes(
    batch: int,
    start: datetime,
    n: int,
    *,
    state: InstrumentState | Callable[[int], InstrumentState] = InstrumentState.RUNNING,
    step_s: float = 1.0,
    agent: str = "agent-1",
    utilization: float | None = 0.5,
) -> bytes:
    """An encoded telemetry batch of ``n`` samples from ``start``, ``step_s`` apart."""
    samples = tuple(
        Sample(
            ts=start + timedelta(seconds=i * step_s),
            state=state(i) if callable(state) else state,
            utilization=utilization,
            metrics={"power_w": 100.0 + i},
        )
        for i in range(n)
    )
    return encode(TelemetryBatch(agent=agent, batch=batch, samples=samples))


class RawClient:
    """A paho MQTT 3.1.1 client: publishes raw bytes with QoS 1, records what it receives."""

    def __init__(self, endpoint: MqttEndpoint) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-{secrets.token_hex(4)}",
            protocol=paho.MQTTv311,
        )
        if endpoint.username:
            self._client.username_pw_set(endpoint.username, endpoint.password)
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._patterns: list[str] = []
        self._client.connect_async(endpoint.host, endpoint.port)
        self._client.loop_start()

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        for pattern in self._patterns:  # again after every reconnection
            client.subscribe(pattern, qos=1)

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    async def subscribe(self, pattern: str) -> None:
        result, _ = self._client.subscribe(pattern, qos=1)
        assert result == paho.MQTT_ERR_SUCCESS
        await asyncio.sleep(0.3)

    async def publish(self, name: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish and wait for the broker's PUBACK (off the loop: the broker may be in it)."""
        info = self._client.publish(name, payload, qos=1, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, 10)

    def subscribe_now(self, pattern: str) -> None:
        """Subscribe now if connected, and on every (re)connection."""
        self._patterns.append(pattern)
        if self._client.is_connected():
            self._client.subscribe(pattern, qos=1)

    def publish_nowait(self, name: str, payload: bytes) -> None:
        self._client.publish(name, payload, qos=1)

    def take(self) -> list[tuple[str, bytes]]:
        """The messages received since the last call."""
        with self._lock:
            out, self.received = self.received, []
        return out

    def messages(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@contextlib.asynccontextmanager
async def raw_client(endpoint: MqttEndpoint) -> AsyncIterator[RawClient]:
    """A connected ``RawClient`` (connecting off the loop: the broker may run in it)."""
    client = RawClient(endpoint)
    try:
        deadline = time.monotonic() + 10
        while not client._client.is_connected():
            if time.monotonic() > deadline:
                raise AssertionError("test MQTT client could not connect")
            await asyncio.sleep(0.02)
        yield client
    finally:
        client.close()


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, every: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def running_ingest(
    pool: asyncpg.Pool,
    endpoint: MqttEndpoint,
    site: str,
    *,
    clock: Clock | None = None,
    **options: object,
) -> AsyncIterator[Ingest]:
    """An ingest on this test's site only, subscribed before the block starts."""
    options.setdefault("group", f"g{secrets.token_hex(4)}")
    async with Ingest(pool, endpoint, clock=clock, site=site, **options) as ingest:  # type: ignore[arg-type]
        await asyncio.wait_for(ingest.ready.wait(), 20)
        await asyncio.sleep(0.1)
        yield ingest


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class OutboxAgent:
    """An agent's delivery protocol over paho: numbered batches resent until acknowledged.

    ``on_ack`` runs (in the test's loop) for every newly acknowledged batch, so a test can
    check at that very moment that the batch is in the database.
    """

    def __init__(self, endpoint: MqttEndpoint, site: str, instrument: str) -> None:
        self.site, self.instrument = site, instrument
        self.sent: dict[int, bytes] = {}
        self.acked: set[int] = set()
        self.pending_checks: list[int] = []
        self._last_send: dict[int, float] = {}
        self._client = RawClient(endpoint)
        self._client.subscribe_now(topic(site, instrument, "ack"))

    def send(self, number: int, payload: bytes) -> None:
        self.sent[number] = payload
        self._publish(number)

    def _publish(self, number: int) -> None:
        self._last_send[number] = time.monotonic()
        self._client.publish_nowait(topic(self.site, self.instrument), self.sent[number])

    def poll(self, resend_after_s: float) -> list[int]:
        """Newly acknowledged batches; resends those unacknowledged for too long."""
        new: list[int] = []
        for _, raw in self._client.take():
            for number in decode_ack(raw).batches:
                if number not in self.acked:
                    self.acked.add(number)
                    new.append(number)
        now = time.monotonic()
        for number in self.sent.keys() - self.acked:
            if now - self._last_send[number] > resend_after_s:
                self._publish(number)
        return new

    def close(self) -> None:
        self._client.close()


async def publish_running(endpoint: MqttEndpoint, site: str, instrument: str) -> None:
    """An agent's birth and one ``running`` sample for ``instrument``, as an agent sends them
    (aiomqtt); the retained status is cleared after, so no later test sees it."""
    root = f"pilotshare/v1/{site}/{instrument}"
    now = datetime.now(UTC)
    # the status and the first sample carry the same instant: the sample still sets the state
    status = Status(online=True, agent="browser-test", agent_version="0", ts=now)
    sample = Sample(ts=now, state=InstrumentState.RUNNING, utilization=0.7)
    async with aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        protocol=aiomqtt.ProtocolVersion.V311,
        identifier=f"board-{secrets.token_hex(3)}",
    ) as client:
        await client.publish(f"{root}/status", encode(status), qos=1, retain=True)
        batch = TelemetryBatch(agent="browser-test", batch=1, samples=(sample,))
        await client.publish(f"{root}/telemetry", encode(batch), qos=1)
        await client.publish(f"{root}/status", b"", qos=1, retain=True)  # leave no retained state
