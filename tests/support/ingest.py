"""Helpers for ingest tests: register instruments, publish raw bytes with paho, collect acks.

paho (not aiomqtt) plays the agent, so the tests drive the ingest the way any MQTT client
would, byte for byte, over MQTT 3.1.1 (which both the embedded broker and Mosquitto speak).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from pilotshare.core.clock import Clock
from pilotshare.core.contract import Sample, TelemetryBatch, decode_ack, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.ingest import Ingest


async def register(pool: asyncpg.Pool, site: str, *instruments: str, kind: str = "oven") -> None:
    """Create ``site`` and its instruments."""
    await pool.execute(
        "INSERT INTO sites (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", site, site
    )
    for name in instruments:
        await pool.execute(
            "INSERT INTO instruments (id, site_id, name, kind) VALUES ($1, $2, $3, $4)",
            name,
            site,
            name,
            kind,
        )


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


MOSQUITTO = "/usr/sbin/mosquitto"


class PrivateMosquitto:
    """A Mosquitto process of one test, which it may stop and start on the same port.

    ``auth`` (password file, ACL file) turns anonymous access off, as in production.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        max_queued: int = 100_000,
        auth: tuple[Path, Path] | None = None,
    ) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"max_queued_messages {max_queued}",  # deliberate: the default drops
            f"log_dest file {workdir / 'mosquitto.log'}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # keep reading the 0600 auth files
        if auth is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {auth[0]}", f"acl_file {auth[1]}"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user else ""
        return f"mqtt://{cred}127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.port)

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("private mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class CuttingProxy:
    """A TCP proxy to a database that a test can cut (and refuse) and then restore."""

    def __init__(self, host: str, port: int, *, unix_socket: str | None = None) -> None:
        self._target = (host, port)
        self._unix = unix_socket
        self._links: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.refusing = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            if self._unix:
                up_reader, up_writer = await asyncio.open_unix_connection(self._unix)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links -= {writer, up_writer}

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server would."""
        self.refusing = True
        for link in list(self._links):
            link.transport.abort()

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


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
