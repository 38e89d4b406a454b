"""The Sparkplug B host bridge's I/O: one MQTT session in, the ingest's writer out.

Entry point (what ``pilotshare sparkplug`` runs)::

    bridge = SparkplugBridge(pool, MqttEndpoint.parse(url), mapping, site="demo")
    await bridge.run(stop)            # until ``stop`` (an asyncio.Event) is set

On every connection it sets its will (STATE ``online: false``, retained), subscribes to
``spBv1.0/#`` and only then publishes its STATE birth (``online: true``, retained, the same
timestamp), as Sparkplug 3.0 asks of a host application. Each message goes through
``host.Host`` (the protocol, pure); what it yields becomes the ingest's own items: samples are
encoded as contract telemetry and validated by ``core.contract.decode_telemetry`` (the same
reject rules), births and deaths become an agent's status (online / offline), and refused
messages become rejects. One writer task stores them through ``twin.writer.TelemetryWriter``,
the ingest's one write path, so a sample is stored once and the live twin follows. Rebirth
requests (NCMD) go out on the same connection. On stop it publishes its STATE death.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta

import aiomqtt
import asyncpg
import msgspec
from prometheus_client import CollectorRegistry, Counter

from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.contract import Channel, Status, Topic, decode_telemetry
from pilotshare.core.db import TRANSIENT, Backoff, Retry, pause, uses_timescale
from pilotshare.core.domain import OFFLINE_AFTER
from pilotshare.core.errors import BadInput
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.buffer import ItemBuffer
from pilotshare.twin.connection import make_client, payload_bytes, read_until
from pilotshare.twin.items import Item, RejectItem, StatusItem, TelemetryItem
from pilotshare.twin.sparkplug.host import Effect, Host, Observe, Presence, Publish, Refuse
from pilotshare.twin.sparkplug.mapping import Mapping
from pilotshare.twin.sparkplug.topic import NAMESPACE
from pilotshare.twin.writer import TelemetryWriter

log = logging.getLogger(__name__)

#: What a status from Sparkplug reports as the agent's version.
AGENT_VERSION = "spBv1.0"
#: Messages aiomqtt holds before the reader takes them, as the ingest bounds them: memory stays
#: bounded, and what overflows is a sequence gap, which the host answers with a rebirth request.
MQTT_QUEUE = 20_000

_json = msgspec.json.Encoder()


class SparkplugMetrics:
    """The bridge's Prometheus metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "pilotshare_sparkplug_messages_total", "Sparkplug messages received", registry=registry
        )
        self.samples = Counter(
            "pilotshare_sparkplug_samples_total",
            "samples stored from Sparkplug (new to the database)",
            registry=registry,
        )
        self.rejects = Counter(
            "pilotshare_sparkplug_rejects_total",
            "Sparkplug messages kept as rejects, by reason",
            ["reason"],
            registry=registry,
        )
        self.rebirths = Counter(
            "pilotshare_sparkplug_rebirths_total", "rebirth requests sent", registry=registry
        )


class SparkplugBridge:
    """A Sparkplug B host application feeding the twin; see the module docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        mqtt: MqttEndpoint,
        mapping: Mapping,
        *,
        site: str,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        offline_after_s: float = OFFLINE_AFTER.total_seconds(),
        flush_age_s: float = 0.05,
    ) -> None:
        self._pool = pool
        self._mqtt = mqtt
        self._site = site
        self._clock = clock or SystemClock()
        self._host = Host(mapping)
        self._offline_after = timedelta(seconds=offline_after_s)
        self.metrics = SparkplugMetrics(registry or CollectorRegistry())
        self._buffer = ItemBuffer(
            self._clock, flush_samples=1000, flush_age_s=flush_age_s, max_samples=50_000
        )
        self._batch = 0
        self.ready = asyncio.Event()
        self.client_id = f"pilotshare-sparkplug-{secrets.token_hex(4)}"

    @property
    def host_id(self) -> str:
        return self._host.state_topic.rsplit("/", 1)[-1]

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then announce the host's death and store what is held."""
        async with self._pool.acquire() as conn:
            timescale = await uses_timescale(conn)
        writer = TelemetryWriter(self._pool, timescale=timescale, offline_after=self._offline_after)
        writing = asyncio.create_task(self._write_loop(writer, stop), name="sparkplug-writer")
        try:
            await self._mqtt_loop(stop)
        finally:
            self._buffer.drain()
            try:
                await asyncio.wait_for(writing, 10)
            except TimeoutError:
                log.warning("stopped with %d items not stored", self._buffer.held)

    # -- MQTT -----------------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self._host.state_topic, self._host.state(online=False), qos=1, retain=True
        )
        return make_client(self._mqtt, self.client_id, v5=False, queue=MQTT_QUEUE, will=will)

    async def _mqtt_loop(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            self._host.connected(self._clock.now())  # the will's timestamp is this session's
            try:
                async with self._client() as client:
                    backoff.reset()
                    await self._serve(client, stop)
                    return
            except aiomqtt.MqttError as exc:
                log.warning("MQTT connection to %s lost: %s", self._mqtt.url(), exc)
            finally:
                self.ready.clear()
            await pause(stop, backoff.next())

    async def _serve(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        await client.subscribe(f"{NAMESPACE}/#", qos=1)  # first, then the birth (Sparkplug 3.0)
        await client.publish(
            self._host.state_topic, self._host.state(online=True), qos=1, retain=True
        )
        self.ready.set()
        log.info("Sparkplug host %s online on %s", self.host_id, self._mqtt.url())
        # read no more before our own death: read back, it would make the host announce
        # itself again
        if await read_until(self._read(client), stop):
            await client.publish(
                self._host.state_topic, self._host.state(online=False), qos=1, retain=True
            )

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._buffer.room()
            raw = payload_bytes(message)
            now = self._clock.now()
            self.metrics.messages.inc()
            for effect in self._host.receive(str(message.topic), raw, now):
                if isinstance(effect, Publish):
                    if "/NCMD/" in effect.topic:
                        self.metrics.rebirths.inc()
                    await client.publish(
                        effect.topic, effect.payload, qos=effect.qos, retain=effect.retain
                    )
                else:
                    self._buffer.append(self._item(effect, now))

    def _item(self, effect: Effect, now: datetime) -> Item:
        """The ingest item of an effect: contract telemetry, an agent status or a reject."""
        mono = self._clock.monotonic()
        if isinstance(effect, Observe):
            self._batch = max(self._batch + 1, int(now.timestamp() * 1_000_000))
            body = {"v": 1, "agent": effect.agent, "batch": self._batch, "samples": [effect.sample]}
            encoded = _json.encode(body)
            try:
                batch = decode_telemetry(encoded, now)
            except BadInput as exc:
                return RejectItem(effect.topic, exc.reason, exc.detail, effect.raw, now, mono)
            topic = Topic(self._site, effect.instrument, Channel.TELEMETRY)
            return TelemetryItem(topic, batch, encoded, now, mono)
        if isinstance(effect, Presence):
            status = Status(
                online=effect.online, agent=effect.agent, agent_version=AGENT_VERSION, ts=effect.ts
            )
            topic = Topic(self._site, effect.instrument, Channel.STATUS)
            return StatusItem(topic, status, effect.raw, now, mono)
        assert isinstance(effect, Refuse)  # noqa: S101 - Publish is handled by the reader
        return RejectItem(effect.topic, effect.reason, effect.detail, effect.raw, now, mono)

    # -- database -------------------------------------------------------------------------

    async def _write_loop(self, writer: TelemetryWriter, stop: asyncio.Event) -> None:
        retry = Retry(log, "sparkplug: storing")
        while True:
            chunk = await self._buffer.take()
            if chunk is None:
                return
            try:
                result = await writer.write(chunk, self._clock.now())
            except TRANSIENT as exc:
                self._buffer.put_back(chunk)
                await retry.after(exc, stop)
                continue
            except asyncpg.PostgresError:
                log.exception(
                    "the database refused %d Sparkplug items; they are dropped", len(chunk)
                )
                self._buffer.done(chunk)
                continue
            retry.reset()
            self._buffer.done(chunk)
            self.metrics.samples.inc(result.stored)
            for reason, n in result.rejects.items():
                self.metrics.rejects.labels(reason).inc(n)
