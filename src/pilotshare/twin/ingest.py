"""The ingest: MQTT telemetry in, committed rows and acks out, the live twin kept current.

Entry point (what ``pilotshare ingest`` and ``pilotshare demo`` run)::

    ingest = Ingest(pool, MqttEndpoint.parse(url), clock=SystemClock(), registry=registry)
    ingest.add_listener(callback)          # optional: async callback per twin change
    await ingest.run(stop)                 # until ``stop`` (an asyncio.Event) is set

    async with Ingest(...) as ingest:      # or as a context manager: runs in a task
        await ingest.ready.wait()          # subscribed
        await ingest.publisher.publish(topic, payload)   # the scheduler's interlock commands

Theory of operation. One MQTT connection reads ``…/telemetry`` (through the shared
subscription ``$share/<group>/…`` on an MQTT 5 broker, so several ingests split the stream;
a plain subscription on an MQTT 3.1.1 broker such as the embedded one) and ``…/status``
(always plain: retained messages are never delivered to shared subscriptions). Each message
is validated on arrival by ``core.contract``; a bad one becomes a reject item. Items wait in
one bounded buffer; ``writers`` tasks each take a chunk (up to ``flush_samples`` samples, or
whatever is there after ``flush_age_s``) and store it in one transaction (``twin.writer``).
Only after the commit are the batch numbers acknowledged on ``…/ack``. A failed transaction
puts its chunk back at the head of the buffer and the writer backs off; while the buffer is
full the reader stops taking messages, and what then overflows aiomqtt's bounded queue is
dropped *unacknowledged*, so the agents resend it: memory stays bounded and nothing acked is
ever lost. A lost broker is reconnected with backoff and resubscribed.

Twin changes are sent with ``NOTIFY twin_changes`` inside the flush's transaction and, after
the commit, handed to the in-process listeners in their own task. A sweep marks instruments
silent for ``offline_after_s`` offline (the same notification), and a background task keeps
the learned behaviour of every instrument fresh (``twin.store.refresh_all_behaviours``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import aiomqtt
import asyncpg
import msgspec
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from prometheus_client import CollectorRegistry

from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.contract import (
    Ack,
    Channel,
    Rejection,
    Topic,
    batch_number,
    decode_status,
    decode_telemetry,
    encode,
    parse_topic,
    salvage_telemetry,
    subscription,
)
from pilotshare.core.db import TRANSIENT, Backoff, Retry, pause, uses_timescale
from pilotshare.core.domain import OFFLINE_AFTER
from pilotshare.core.errors import BadInput
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.buffer import ItemBuffer
from pilotshare.twin.connection import MqttPublisher, make_client, payload_bytes, read_until
from pilotshare.twin.items import FlushResult, Item, RejectItem, StatusItem, TelemetryItem
from pilotshare.twin.metrics import IngestMetrics
from pilotshare.twin.state import Live
from pilotshare.twin.store import (
    delete_rejects,
    online_count,
    refresh_all_behaviours,
    topic_rejects,
)
from pilotshare.twin.writer import TelemetryWriter, prune_rejects

log = logging.getLogger(__name__)

Listener = Callable[[Live], Awaitable[None]]


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client under an aiomqtt client: the one private access into aiomqtt.

    aiomqtt's ``publish`` costs a future and a wait for each message; acks are many and
    need no wait (paho retransmits QoS 1 by itself), so the ingest hands them to paho
    directly. aiomqtt 2.x keeps it as ``_client``; ``tests/integration/test_ingest_paho.py``
    fails the day that changes.
    """
    inner = client._client  # noqa: SLF001 - the one access, pinned by a test
    if not isinstance(inner, paho.Client):  # pragma: no cover - only if aiomqtt changes
        raise TypeError(f"aiomqtt.Client._client is a {type(inner).__name__}, not paho's")
    return inner


def _refused_item(
    topic_text: str,
    topic: Topic | None,
    exc: BadInput,
    raw: bytes,
    *,
    now: datetime,
    mono: float,
) -> TelemetryItem | RejectItem:
    """What becomes of a message that failed validation.

    A telemetry batch with at least one valid sample is stored in part (its refused samples
    ride along as a reject); one with none is a reject acknowledged as rejected by its
    number, if the number can be read at all (CONTRACT §6). Anything else is a plain reject.
    """
    if topic is None or topic.channel is not Channel.TELEMETRY:
        return RejectItem(topic_text, exc.reason, exc.detail, raw, now, mono)
    salvaged = salvage_telemetry(raw, now)
    if salvaged is not None:
        batch, bad = salvaged
        first = bad[0] if bad else exc
        n = len(batch.samples) + len(bad)
        refused = RejectItem(
            topic_text,
            first.reason,
            f"{len(bad)} of {n} samples refused, the others stored; first: {first.detail}",
            raw,
            now,
            mono,
            batch=batch.batch,
        )
        return TelemetryItem(topic, batch, raw, now, mono, refused=refused)
    number = batch_number(raw)
    ack = topic.sibling(Channel.ACK) if number is not None else None
    return RejectItem(topic_text, exc.reason, exc.detail, raw, now, mono, batch=number, ack=ack)


def _ack_of(batches: Iterable[int], rejected: Iterable[Rejection]) -> Ack:
    """The ack of one instrument's committed and rejected batches (each number once)."""
    refused = {r.batch: r for r in rejected}
    return Ack(
        batches=tuple(sorted(set(batches))),
        rejected=tuple(refused[n] for n in sorted(refused)) if refused else msgspec.UNSET,
    )


class Ingest:
    """Telemetry ingest and live-twin keeper; see the module docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        mqtt: MqttEndpoint,
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        shared: bool | None = None,
        group: str = "pilotshare-ingest",
        site: str = "+",
        offline_after_s: float = OFFLINE_AFTER.total_seconds(),
        writers: int = 2,
        flush_samples: int = 5000,
        flush_age_s: float = 0.1,
        max_buffer_samples: int = 200_000,
        mqtt_queue: int = 20_000,
        drain_timeout_s: float = 10.0,
        sweep_interval_s: float | None = None,
        behaviour_every_s: float = 600.0,
        rejects_retention_days: float = 30.0,
        prune_every_s: float = 600.0,
    ) -> None:
        self._pool = pool
        self._mqtt = mqtt
        self._clock = clock or SystemClock()
        self.metrics = IngestMetrics(registry or CollectorRegistry())
        self._shared = shared
        self._group = group
        self._site = site
        self._offline_after = timedelta(seconds=offline_after_s)
        self._writers = writers
        self._mqtt_queue = mqtt_queue
        self._drain_timeout = drain_timeout_s
        self._sweep_interval = sweep_interval_s or min(offline_after_s / 3, 5.0)
        self._behaviour_every = behaviour_every_s
        self._rejects_retention = timedelta(days=rejects_retention_days)
        self._prune_every = prune_every_s
        self._pruned_at: float | None = None
        self._buffer = ItemBuffer(
            self._clock,
            flush_samples=flush_samples,
            flush_age_s=flush_age_s,
            max_samples=max_buffer_samples,
        )
        self._stopping = asyncio.Event()
        self._drained = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._listeners: list[Listener] = []
        self._changes: asyncio.Queue[Live] = asyncio.Queue()
        self._writer: TelemetryWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None
        self.ready = asyncio.Event()
        self.publisher = MqttPublisher(lambda: self._client)
        self.client_id = f"pilotshare-ingest-{secrets.token_hex(4)}"

    # -- public surface ---------------------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(live)`` after each commit that changed an instrument's live state."""
        self._listeners.append(callback)

    @property
    def buffered_samples(self) -> int:
        """Samples held in memory (queued or being written)."""
        return self._buffer.held

    @property
    def shared(self) -> bool | None:
        """Whether the telemetry subscription is shared (None until connected once)."""
        return self._shared

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then store what is buffered (bounded by a timeout)."""
        timescale = await self._detect_timescale(stop)
        if timescale is None:
            return  # stopped before the database was ever reachable
        self._writer = TelemetryWriter(
            self._pool, timescale=timescale, offline_after=self._offline_after
        )
        tasks = [asyncio.create_task(self._mqtt_loop(), name="ingest-mqtt")]
        tasks += [
            asyncio.create_task(self._write_loop(), name=f"ingest-writer-{i}")
            for i in range(self._writers)
        ]
        background = [
            asyncio.create_task(self._sweep_loop(), name="ingest-sweep"),
            asyncio.create_task(self._learn_loop(), name="ingest-learn"),
            asyncio.create_task(self._notify_loop(), name="ingest-notify"),
        ]
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopped:
                    task.result()  # a crashed task ends the ingest with its error
            self._stopping.set()
            self._buffer.drain()
            writers = tasks[1:]
            _, pending = await asyncio.wait(writers, timeout=self._drain_timeout)
            if pending:
                log.warning(
                    "stopped with %d samples not stored (unacknowledged)", self._buffer.held
                )
        finally:
            self._drained.set()
            self._stopping.set()
            with contextlib.suppress(TimeoutError):  # the listeners hear the last changes
                await asyncio.wait_for(self._changes.join(), 2)
            for task in [*tasks, *background, stopped]:
                task.cancel()
            await asyncio.gather(*tasks, *background, stopped, return_exceptions=True)
            self._client = None
            self.ready.clear()

    async def __aenter__(self) -> Self:
        self._stop_event = asyncio.Event()
        self._task = asyncio.create_task(self.run(self._stop_event), name="ingest")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stop_event is not None  # noqa: S101
        assert self._task is not None  # noqa: S101
        self._stop_event.set()
        await self._task

    # -- MQTT side --------------------------------------------------------------------------

    def _client_for(self, *, v5: bool) -> aiomqtt.Client:
        return make_client(self._mqtt, self.client_id, v5=v5, queue=self._mqtt_queue)

    async def _mqtt_loop(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            v5 = self._shared is not False
            try:
                async with self._client_for(v5=v5) as client:
                    if self._shared is None:
                        self._shared = True
                    await self._serve(client)
                    backoff.reset()
                    return
            except MqttConnectError as exc:
                if v5 and self._shared is None:
                    log.info("broker refused MQTT 5 (%s): plain subscription over 3.1.1", exc)
                    self._shared = False
                    continue
                log.warning("MQTT connect to %s refused: %s", self._mqtt.url(), exc)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT connection to %s lost: %s", self._mqtt.url(), exc)
            finally:
                self._client = None
                self.ready.clear()
            await pause(self._stopping, backoff.next())

    async def _serve(self, client: aiomqtt.Client) -> None:
        telemetry = subscription(Channel.TELEMETRY, site=self._site)
        if self._shared:
            telemetry = f"$share/{self._group}/{telemetry}"
        await client.subscribe(telemetry, qos=1)
        await client.subscribe(subscription(Channel.STATUS, site=self._site), qos=1)
        self._client = client
        self.ready.set()
        log.info("ingest subscribed to %s on %s", telemetry, self._mqtt.url())
        if await read_until(self._read(client), self._stopping):
            await self._drained.wait()  # stay connected: the last acks go out on it

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._buffer.room()
            self._accept(str(message.topic), payload_bytes(message))

    def _accept(self, topic_text: str, raw: bytes) -> None:
        """Validate one message and queue it (as a reject if it is bad)."""
        now = self._clock.now()
        mono = self._clock.monotonic()
        item: Item
        topic: Topic | None = None
        try:
            topic = parse_topic(topic_text)
            if topic.channel is Channel.TELEMETRY:
                self.metrics.messages.labels("telemetry").inc()
                item = TelemetryItem(topic, decode_telemetry(raw, now), raw, now, mono)
            elif topic.channel is Channel.STATUS:
                if not raw:
                    return  # an empty retained message clears a status: nothing to apply
                self.metrics.messages.labels("status").inc()
                item = StatusItem(topic, decode_status(raw), raw, now, mono)
            else:
                return
        except BadInput as exc:
            item = _refused_item(topic_text, topic, exc, raw, now=now, mono=mono)
        self._buffer.append(item)
        self.metrics.buffer.set(self._buffer.held)

    # -- database side ----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._writer is not None  # noqa: S101
        retry = Retry(log, "ingest: storing a flush")
        while True:
            chunk = await self._buffer.take()
            if chunk is None:
                return
            started = self._clock.monotonic()
            try:
                result = await self._writer.write(chunk, self._clock.now())
            except TRANSIENT as exc:
                self._buffer.put_back(chunk)
                self.metrics.db_errors.inc()
                await retry.after(exc, self._drained)
                continue
            except asyncpg.PostgresError:
                log.exception("the database refused a flush; isolating the message at fault")
                result = await self._isolate(chunk)
            retry.reset()
            committed = self._clock.monotonic()
            self.metrics.commit_latency.observe(committed - started)
            self._buffer.done(chunk)
            self.metrics.buffer.set(self._buffer.held)
            self._record(result, chunk)
            await self._acknowledge(result, chunk)
            await self._announce(result.changes)

    async def _isolate(self, chunk: list[Item]) -> FlushResult:
        """Store a chunk message by message; one the database refuses becomes a reject."""
        assert self._writer is not None  # noqa: S101
        total = FlushResult()
        for item in chunk:
            try:
                part = await self._writer.write([item], self._clock.now())
            except asyncpg.PostgresError as exc:
                if isinstance(exc, TRANSIENT) or isinstance(item, RejectItem):
                    raise
                bad = RejectItem.whole(
                    item, "bad_field", f"the database refused the message: {exc}", self._clock.now()
                )
                part = await self._writer.write([bad], self._clock.now())
            total.add(part)
        return total

    def _record(self, result: FlushResult, chunk: list[Item]) -> None:
        m = self.metrics
        m.samples.inc(result.stored)
        m.duplicates.inc(result.samples - result.stored)
        m.flush_samples.observe(result.samples)
        for reason, n in result.rejects.items():
            m.rejects.labels(reason).inc(n)
        if result.changes:
            online = sum(1 for c in result.changes if c.online)
            log.debug("%d twin changes (%d online)", len(result.changes), online)
        _ = chunk

    async def _acknowledge(self, result: FlushResult, chunk: list[Item]) -> None:
        """Publish the acks of a committed flush (QoS 1, not awaited one by one).

        aiomqtt's ``publish`` costs a future and a wait per message; acks go straight to its
        paho client, on this loop's thread, which retransmits them like any QoS 1 message.
        """
        client = self._client
        if client is None or not (result.acks or result.rejected):
            return
        direct = paho_client(client)
        failed = 0
        for topic in result.acks.keys() | result.rejected.keys():
            payload = encode(_ack_of(result.acks.get(topic, ()), result.rejected.get(topic, ())))
            if direct.publish(str(topic), payload, qos=1).rc != 0:
                failed += 1
        if failed:
            log.info("%d acks not sent (not connected); agents will resend", failed)
        now = self._clock.monotonic()
        oldest = min((i.received for i in chunk if isinstance(i, TelemetryItem)), default=now)
        self.metrics.ack_latency.observe(now - oldest)

    async def _announce(self, changes: list[Live]) -> None:
        """Hand committed changes to the listeners' task: a slow listener never holds a writer."""
        for live in changes:
            self._changes.put_nowait(live)

    async def _notify_loop(self) -> None:
        while True:
            live = await self._changes.get()
            for callback in self._listeners:
                try:
                    await callback(live)
                except Exception:
                    log.exception("twin change listener failed")
            self._changes.task_done()

    async def _detect_timescale(self, stop: asyncio.Event) -> bool | None:
        """Whether telemetry is a hypertable; waits (with backoff) for the database."""
        retry = Retry(log, "ingest: starting")
        while not stop.is_set():
            try:
                async with self._pool.acquire() as conn:
                    return await uses_timescale(conn)
            except TRANSIENT as exc:
                await retry.after(exc, stop)
        return None

    async def _sweep_loop(self) -> None:
        assert self._writer is not None  # noqa: S101
        retry = Retry(log, "ingest: offline sweep")
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                changes = await self._writer.sweep(self._clock.now())
                self.metrics.online.set(await online_count(self._pool))
                self._writer.forget()
                await self._prune_rejects()
            except TRANSIENT as exc:
                await retry.after(exc, self._stopping)
                continue
            retry.reset()
            await self._announce(changes)

    async def _prune_rejects(self) -> None:
        """Enforce the rejects retention, at most once per ``prune_every_s`` (one indexed
        range delete: cheap); several ingests doing it at once only find less to delete."""
        mono = self._clock.monotonic()
        if self._pruned_at is not None and mono - self._pruned_at < self._prune_every:
            return
        self._pruned_at = mono
        deleted = await prune_rejects(self._pool, self._clock.now() - self._rejects_retention)
        if deleted:
            log.info(
                "deleted %d rejects older than %s (retention)", deleted, self._rejects_retention
            )

    async def _learn_loop(self) -> None:
        """Refresh each instrument's learned behaviour (MTBF, MTTR, fits) in the background."""
        retry = Retry(log, "ingest: behaviour refresh")
        while True:
            await asyncio.sleep(min(self._behaviour_every, 30.0))
            try:
                await refresh_all_behaviours(
                    self._pool,
                    self._clock.now(),
                    gap=self._offline_after,
                    older_than=timedelta(seconds=self._behaviour_every),
                )
                retry.reset()
            except TRANSIENT as exc:
                await retry.after(exc, self._stopping)
            except asyncpg.PostgresError:
                log.exception("behaviour refresh failed")


#: Rejects read, decoded and stored per transaction by ``replay_rejects``.
REPLAY_CHUNK = 50


@dataclass(slots=True)
class Replayed:
    """What a replay of an instrument's rejects did."""

    replayed: int = 0  # rejects whose messages are now stored whole (and so removed)
    stored_samples: int = 0  # samples new to the database
    duplicate_samples: int = 0  # samples it held already
    still_rejected: dict[str, int] = field(default_factory=dict)  # kept, by reason


async def replay_rejects(
    pool: asyncpg.Pool,
    site: str,
    instrument: str,
    *,
    now: datetime,
    offline_after: timedelta = OFFLINE_AFTER,
) -> Replayed:
    """Store what the rejects of ``instrument``'s telemetry topic hold, once it is registered.

    Each kept message is validated again as the ingest does on arrival (at ``now``) and what
    passes is stored by the ingest's own writer, so a sample already stored is not stored
    twice and the live twin and rollup follow. A message stored whole has its reject removed;
    one stored in part or not at all keeps its reject (counted by reason in the answer).
    Replaying twice stores nothing twice.
    """
    async with pool.acquire() as conn:
        timescale = await uses_timescale(conn)
    writer = TelemetryWriter(pool, timescale=timescale, offline_after=offline_after)
    topic = Topic(site, instrument, Channel.TELEMETRY)
    done = Replayed()
    after = 0
    while True:
        rows = await topic_rejects(pool, str(topic), after_id=after, limit=REPLAY_CHUNK)
        if not rows:
            return done
        after = rows[-1].id
        items: list[Item] = []
        whole: dict[int, int] = {}  # reject id -> batch number, of messages valid whole
        for row in rows:
            try:
                batch = decode_telemetry(row.payload, now)
            except BadInput as exc:
                refused = _refused_item(row.topic, topic, exc, row.payload, now=now, mono=0.0)
                if isinstance(refused, TelemetryItem):  # stored in part: its reject stays
                    items.append(TelemetryItem(topic, refused.batch, row.payload, now, 0.0))
                    kept = refused.refused
                else:
                    kept = refused
                reason = exc.reason if kept is None else kept.reason
                done.still_rejected[reason] = done.still_rejected.get(reason, 0) + 1
            else:
                items.append(TelemetryItem(topic, batch, row.payload, now, 0.0))
                whole[row.id] = batch.batch
        if items:
            result = await writer.write(items, now)
            done.stored_samples += result.stored
            done.duplicate_samples += result.samples - result.stored
            # a reject goes only once its message is committed: the writer still refuses
            # one whose instrument was removed since the caller checked (kept, counted)
            acked = set(result.acks.get(topic.sibling(Channel.ACK), ()))
            stored = [i for i, n in whole.items() if n in acked]
            if refused_again := len(whole) - len(stored):
                gone = done.still_rejected.get("unknown_instrument", 0)
                done.still_rejected["unknown_instrument"] = gone + refused_again
            if stored:
                await delete_rejects(pool, stored)
                done.replayed += len(stored)
