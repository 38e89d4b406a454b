"""The running agent: adapter → outbox → MQTT, and acks and commands back.

In-process use (the demo starts one per simulated instrument, no file needed)::

    agent = Agent(AgentConfig(site="demo", instrument="oven-1", mqtt_url=url, metrics_port=0,
                              outbox_path="/data/oven-1.outbox.sqlite"),
                  adapter=SimulatedAdapter(SimulatedParams(), seed=1, start=clock.now()),
                  clock=SystemClock())
    await agent.run(stop)          # stop: asyncio.Event; returns after a clean goodbye

``Agent(config, adapter, clock, *, registry=None, rng=None)``: ``registry`` is the
``prometheus_client`` registry its metrics go to (a new one by default; served on
``config.metrics_port`` unless 0), ``rng`` seeds the reconnect jitter. ``agent.stats`` has the
counters for tests. ``run_from_config(path)`` is what ``pilotshare agent --config FILE`` runs.

Four tasks share one event loop and so need no locks: the sampler (``recorder.Recorder``:
reads the adapter, commits each sample, feeds the protocol), the link (connects with backoff,
publishes the retained status, reads ``…/ack`` and ``…/cmd``), the pump (seals, sends and
resends as the protocol says) and the interlock driver (``interlock.InterlockDriver``: switches
through the adapter, retries, fails safe; a slow switch never holds up the acks). This module
is the only place the agent touches aiomqtt.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import random
import signal
import sqlite3
import ssl
from pathlib import Path

import aiomqtt
import msgspec
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt import client as paho_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry

from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.contract import (
    Channel,
    Status,
    Topic,
    decode_ack,
    decode_command,
    encode,
)
from pilotshare.core.errors import BadInput
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import Adapter, build_adapter
from pilotshare.edge_agent.config import AgentConfig, load_config
from pilotshare.edge_agent.interlock import InterlockDriver, InterlockMemory
from pilotshare.edge_agent.metrics import AgentMetrics
from pilotshare.edge_agent.protocol import (
    Send,
    backoff_delay,
)
from pilotshare.edge_agent.recorder import AgentStats, Recorder

__all__ = ["Agent", "AgentStats", "run_from_config"]

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return importlib.metadata.version("pilotshare")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


AGENT_VERSION = _version()

#: How long a batch's PUBACK may take before the publish is abandoned (it is resent later).
PUBLISH_TIMEOUT_S = 10.0
#: How long a disconnect may take before the connection is abandoned.
GOODBYE_TIMEOUT_S = 2.0
#: How long an MQTT 5 CONNECT may go unanswered before ``auto`` tries 3.1.1.
PROBE_TIMEOUT_S = 3.0


class Agent:
    """One instrument's agent. See the module docstring for the in-process API."""

    def __init__(
        self,
        config: AgentConfig,
        adapter: Adapter,
        clock: Clock | None = None,
        *,
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.clock: Clock = clock or SystemClock()
        self.metrics = AgentMetrics(registry, instrument=config.instrument)
        self.recorder = Recorder(config, adapter, self.clock, self.metrics)
        self.stats = self.recorder.stats
        self.outbox = self.recorder.outbox
        self.protocol = self.recorder.protocol
        self.interlock = InterlockMemory(self.recorder.outbox.path)
        self.interlock_driver = InterlockDriver(
            adapter, self.interlock, self.clock, self.metrics, report=self._report_interlock
        )
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._topic = Topic(config.site, config.instrument, Channel.TELEMETRY)
        self._client_id = f"pilotshare-agent-{config.site}-{config.instrument}"
        self._ack_topic = str(self._topic.sibling(Channel.ACK))
        self._cmd_topic = str(self._topic.sibling(Channel.CMD))
        self._client: aiomqtt.Client | None = None
        self._tls: ssl.SSLContext | None = None
        self._wake = self.recorder.wake
        self._v5: bool | None = {"auto": None, "5": True, "3.1.1": False}[config.mqtt_protocol]
        self.connected = asyncio.Event()
        self._down = asyncio.Event()  # set whenever there is no usable connection
        self._down.set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then say goodbye (retained offline status) and return.

        The outbox is opened when the agent is built and closed when ``run`` returns.
        """
        cfg = self.config
        server = (
            self.metrics.serve(cfg.metrics_host, cfg.metrics_port) if cfg.metrics_port else None
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                workers = [
                    tasks.create_task(self.recorder.sample_forever(stop)),
                    tasks.create_task(self._pump(stop)),
                    tasks.create_task(self.interlock_driver.run(stop)),
                    tasks.create_task(self._link(stop)),
                ]
                await stop.wait()
                self._down.set()
                self._wake.set()
                for task in workers[:3]:
                    task.cancel()
        finally:
            if server is not None:
                server.shutdown()
            await self.adapter.aclose()
            self.recorder.close()
            self.interlock.close()

    # -- pump ----------------------------------------------------------------------------------

    async def _pump(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._pump_once(stop)
            except sqlite3.Error as exc:  # a broken disk: say so, keep trying
                log.error("%s: OUTBOX READ FAILED: %s", self.config.instrument, exc)  # noqa: TRY400
                await _sleep_or(stop, 1.0)

    async def _pump_once(self, stop: asyncio.Event) -> None:
        """Seal, send and resend what is due, then wait for news or the next deadline."""
        self._wake.clear()
        client = self._client
        sends: list[Send] = []
        for effect in self.protocol.tick(self.clock.monotonic(), connected=client is not None):
            if isinstance(effect, Send):
                sends.append(effect)
            else:
                self.recorder.store(effect)
        if client is not None and sends and not stop.is_set():
            # concurrently: the window is in flight at once, not one round trip each
            await asyncio.gather(*(self._send(client, effect) for effect in sends))
        self.recorder.update_gauges(connected=self._client is not None)
        deadline = self.protocol.deadline(connected=self._client is not None)
        wait = 1.0 if deadline is None else deadline - self.clock.monotonic()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(wait, 1.0))

    async def _send(self, client: aiomqtt.Client, effect: Send) -> None:
        """Publish one batch; give up when the link goes down (it is resent after reconnect).

        aiomqtt's publish waits for its PUBACK even after a disconnect, and Python 3.11's
        ``wait_for`` may swallow a cancel, so the publish races the link's ``down`` event.
        """
        payload = self.outbox.payload(effect.number, self.config.agent_name)
        publish = asyncio.ensure_future(
            client.publish(str(self._topic), payload, qos=1, timeout=PUBLISH_TIMEOUT_S)
        )
        down = asyncio.ensure_future(self._down.wait())
        try:
            await asyncio.wait({publish, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()
            publish.cancel()
        if publish.cancelled() or publish.exception() is not None:
            log.debug("%s: batch %d not published", self.config.instrument, effect.number)
            return
        self.stats.sent += 1
        self.metrics.sent.inc()
        if effect.resend:
            self.stats.resent += 1
            self.metrics.resent.inc()

    # -- link ----------------------------------------------------------------------------------

    def _status(self, *, online: bool) -> bytes:
        """The retained status; only an online one reports the interlock (the will is written
        at connect time and would report a stale state)."""
        return encode(
            Status(
                online=online,
                agent=self.config.agent_name,
                agent_version=AGENT_VERSION,
                ts=self.clock.now(),
                interlock=(self.interlock.report() or msgspec.UNSET) if online else msgspec.UNSET,
            )
        )

    async def _tls_context(self) -> ssl.SSLContext | None:
        """The context of an ``mqtts://`` broker (None for plain MQTT), built once, off the loop.

        Loading a CA bundle takes about 0.1 s of CPU; done on the loop at every reconnect
        attempt, it stalls the sampler, and state changes are sampled late.
        """
        if not MqttEndpoint.parse(self.config.mqtt_url).tls:
            return None
        if self._tls is None:
            cafile = self.config.tls_ca_file or None
            self._tls = await asyncio.to_thread(ssl.create_default_context, cafile=cafile)
        return self._tls

    def _client_for(
        self, *, v5: bool, tls: ssl.SSLContext | None, timeout: float
    ) -> aiomqtt.Client:
        cfg = self.config
        endpoint = MqttEndpoint.parse(cfg.mqtt_url)
        status = str(self._topic.sibling(Channel.STATUS))
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = cfg.session_expiry_s
        client = aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            username=endpoint.username,
            password=endpoint.password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(status, self._status(online=False), qos=1, retain=True),
            clean_session=None if v5 else False,
            clean_start=False if v5 else paho_client.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            keepalive=cfg.keepalive_s,
            max_inflight_messages=cfg.max_inflight_batches + 2,
            tls_context=tls,
            timeout=timeout,
        )
        client.pending_calls_threshold = cfg.max_inflight_batches + 2  # a full window is normal
        return client

    async def _probe_v5(self, tls: ssl.SSLContext | None) -> bool:
        """Whether the broker speaks MQTT 5, asked with a bare CONNECT (no will, no properties).

        A 3.1.1 broker refuses it at once (CONNACK 1); amqtt given a full MQTT 5 CONNECT
        misreads it and never answers, hence a bare one, on a client id of its own.
        """
        endpoint = MqttEndpoint.parse(self.config.mqtt_url)
        probe = aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            username=endpoint.username,
            password=endpoint.password,
            identifier=f"{self._client_id}-probe",
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=tls,
            timeout=PROBE_TIMEOUT_S,
        )
        try:
            async with probe:
                return True
        except aiomqtt.MqttError as exc:
            if _refused_version(exc):
                log.info(
                    "%s: the broker refused MQTT 5 (%s); using 3.1.1", self.config.instrument, exc
                )
                return False
            raise

    async def _connect(self) -> aiomqtt.Client:
        """Connect with the configured protocol; ``auto`` asks the broker once per run."""
        tls = await self._tls_context()
        if self._v5 is None:
            self._v5 = await self._probe_v5(tls)
        client = self._client_for(v5=self._v5, tls=tls, timeout=10.0)
        await client.__aenter__()
        return client

    async def _link(self, stop: asyncio.Event) -> None:
        cfg = self.config
        attempt = 0
        while not stop.is_set():
            try:
                client = await self._connect()
            except (aiomqtt.MqttError, OSError, ValueError) as exc:
                delay = backoff_delay(
                    attempt, self._rng, base=cfg.reconnect_min_s, cap=cfg.reconnect_max_s
                )
                attempt += 1
                log.warning(
                    "%s: cannot reach the broker at %s (%s); retry in %.1f s",
                    cfg.instrument,
                    MqttEndpoint.parse(cfg.mqtt_url).url(),
                    exc,
                    delay,
                )
                await _sleep_or(stop, delay)
                continue
            attempt = 0
            try:
                await self._session(client, stop)
            except aiomqtt.MqttError as exc:
                log.warning("%s: connection lost: %s", cfg.instrument, exc)
            except Exception:  # a bug here must not end a months-long run: reconnect
                log.exception("%s: the connection failed unexpectedly", cfg.instrument)
            finally:
                self._client = None
                self.connected.clear()
                self._down.set()
                self.protocol.disconnected()
                self.recorder.update_gauges(connected=self._client is not None)
                client.timeout = GOODBYE_TIMEOUT_S  # a broker that never hangs up is left
                with contextlib.suppress(Exception):
                    await client.__aexit__(None, None, None)
            if not stop.is_set():
                await _sleep_or(
                    stop,
                    backoff_delay(0, self._rng, base=cfg.reconnect_min_s, cap=cfg.reconnect_max_s),
                )

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        topic = self._topic
        await client.subscribe(
            [(str(topic.sibling(Channel.ACK)), 1), (str(topic.sibling(Channel.CMD)), 1)]
        )
        await client.publish(
            str(topic.sibling(Channel.STATUS)), self._status(online=True), qos=1, retain=True
        )
        self.stats.connects += 1
        self.metrics.connects.inc()
        log.info(
            "%s: connected to %s (MQTT %s)",
            self.config.instrument,
            MqttEndpoint.parse(self.config.mqtt_url).url(),
            "5" if self._v5 else "3.1.1",
        )
        self._client = client
        self.connected.set()
        self._down.clear()
        self._wake.set()
        reader = asyncio.ensure_future(self._read(client))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({reader, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()  # type: ignore[misc]
        if stop.is_set():  # a clean goodbye: no will, so say offline ourselves
            self._client = None
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(
                    str(topic.sibling(Channel.STATUS)),
                    self._status(online=False),
                    qos=1,
                    retain=True,
                    timeout=GOODBYE_TIMEOUT_S,
                )

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            raw = message.payload if isinstance(message.payload, bytes) else b""
            try:
                if message.topic.value == self._ack_topic:
                    ack = decode_ack(raw)
                    for effect in self.protocol.ack(ack.batches):
                        self.recorder.store(effect)
                    if ack.rejections:
                        self.recorder.rejected(ack.rejections)
                    self._wake.set()
                elif message.topic.value == self._cmd_topic and raw:  # b"": cleared
                    self.interlock_driver.offer(decode_command(raw))
            except BadInput as exc:
                self.stats.bad_messages += 1
                self.metrics.bad_messages.inc()
                log.warning(
                    "%s: ignored a bad message on %s: %s",
                    self.config.instrument,
                    message.topic.value,
                    exc,
                )

    # -- interlock -----------------------------------------------------------------------------

    async def _report_interlock(self) -> None:
        """Publish the status after a confirmed switch (when offline, the next connect does)."""
        client = self._client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(
                str(self._topic.sibling(Channel.STATUS)),
                self._status(online=True),
                qos=1,
                retain=True,
                timeout=PUBLISH_TIMEOUT_S,
            )


def _refused_version(exc: aiomqtt.MqttError) -> bool:
    """Whether a failed MQTT 5 connect means 'try 3.1.1'.

    A 3.1.1 broker answers CONNACK 1 (132 in MQTT 5 terms), or, like amqtt given a CONNECT
    with properties, misreads it and never answers: a timeout.
    """
    rc = getattr(exc, "rc", None)
    if isinstance(exc, MqttConnectError):
        return getattr(rc, "value", rc) in (1, 132)
    return "timed out" in str(exc)


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_from_config(path: Path) -> None:
    """``pilotshare agent --config FILE``: run until SIGTERM or Ctrl-C, then say goodbye."""
    config = load_config(path)
    clock = SystemClock()
    adapter = build_adapter(config.adapter, now=clock.now())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await Agent(config.agent, adapter, clock).run(stop)
