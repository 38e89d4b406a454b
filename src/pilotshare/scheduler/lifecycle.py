"""Bookings follow what the instruments actually do: event-driven, never a polling cron.

``BookingLifecycle`` wakes up for exactly three reasons: the twin reports a change of an
instrument (``NOTIFY twin_changes`` from the ingest, or the in-process hook
``on_twin_change``), a booking changes (``NOTIFY booking_changes`` from migration 0020's
trigger), or the next booking deadline arrives (a timer set to the earliest pending start,
start + grace, or end, read from the database each time). On each wake-up it settles every
booking that is due, in the database, with conditional updates, so a second instance or a
restart never applies a transition twice:

- at its start the interlock of the instrument is opened (``unlock`` on ``…/cmd``);
- a confirmed booking whose instrument runs inside its slot becomes ``active``;
- a confirmed booking still not started ``grace`` after its start becomes ``no_show``: it no
  longer holds the instrument, so the rest of its slot is free at once, and the interlock
  closes;
- at its end an active booking becomes ``completed`` with the used and running seconds
  measured from telemetry; one whose instrument is still running is flagged ``overrun``, and
  the next booking, whose instrument is busy with someone else's run, ``delayed``.

Telemetry missed while the lifecycle was down is not lost: deadlines are settled from the
stored telemetry, so a booking that ran unseen still completes with its measured usage.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry

from pilotshare.core.clock import Clock
from pilotshare.core.contract import BOOKING_CHANGES, TWIN_CHANGES, Channel, Command, Topic, encode
from pilotshare.core.db import TRANSIENT, Listener, Retry
from pilotshare.core.domain import OFFLINE_AFTER, BookingStatus
from pilotshare.core.messaging import Publisher
from pilotshare.scheduler import store
from pilotshare.scheduler.metrics import booking_metrics
from pilotshare.scheduler.states import HELD, UNSTARTED, Event
from pilotshare.twin.state import Live

log = logging.getLogger(__name__)


class BookingLifecycle:
    """Drives bookings from telemetry and time; run it once per deployment, next to the ingest.

    ``grace``: how long after its start a booking may stay unstarted before it is a no-show
    (a booking ``delayed`` by the previous one's overrun is never a no-show before its end).
    ``max_gap``: the twin's offline gap (``Settings.offline_after_s``): silence longer than
    that counts as nothing in the measured usage. ``resync``: the longest sleep; bookings
    notify only when they start within 15 minutes (migration 0021), so it must stay below that.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher | None,
        clock: Clock,
        *,
        grace: timedelta = timedelta(minutes=15),
        max_gap: timedelta = OFFLINE_AFTER,
        resync: timedelta = timedelta(minutes=5),
        min_interval: float = 0.05,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._clock = clock
        self.grace = grace
        self._max_gap = max_gap
        if resync >= timedelta(minutes=15):
            raise ValueError("resync must be under 15 minutes (see migration 0021)")
        self._resync = resync
        self._min_interval = min_interval  # coalesces bursts of notifications
        self._metrics = booking_metrics(registry)
        self._wake = asyncio.Event()
        self._listener: Listener | None = None
        self.ready = asyncio.Event()

    async def on_twin_change(self, live: Live) -> None:
        """In-process hook for the ingest (``Ingest.add_listener``): settle bookings now."""
        del live
        self._wake.set()

    async def _notified(self, _channel: str, _payload: str) -> None:
        self._wake.set()

    async def _listening(self) -> None:
        self._wake.set()  # (re)connected: settle what changed while nobody listened

    async def run(self, stop: asyncio.Event) -> None:
        """Listen and settle until ``stop`` is set; carries on through database failures."""
        self._listener = Listener(
            self._pool,
            (TWIN_CHANGES, BOOKING_CHANGES),
            self._notified,
            on_connect=self._listening,
            name="booking lifecycle: listening",
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._listener.run(stop))
            tasks.create_task(self._settle_loop(stop))

    async def _settle_loop(self, stop: asyncio.Event) -> None:
        retry = Retry(log, "booking lifecycle")
        while not stop.is_set():
            try:
                await self._loop(stop, retry)
            except TRANSIENT as exc:
                await retry.after(exc, stop)
            except Exception:  # a bad row must not stop every booking's lifecycle
                log.exception("booking lifecycle failed; restarting it")
                await retry.wait(stop)

    async def _loop(self, stop: asyncio.Event, retry: Retry) -> None:
        while not stop.is_set():
            self._wake.clear()
            started = self._clock.monotonic()
            await self.settle()
            retry.reset()
            if self._listener is not None and self._listener.ready.is_set():
                self.ready.set()  # listening, and settled since
            due = await store.next_due(self._pool, self.grace, self._clock.now())
            delay = self._resync.total_seconds()
            if due is not None:
                delay = min(delay, max((due - self._clock.now()).total_seconds(), 0.0) + 0.005)
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            rest = self._min_interval - (self._clock.monotonic() - started)
            if rest > 0 and not stop.is_set():
                await asyncio.sleep(rest)

    async def settle(self) -> None:
        """Apply every transition that is due now (also callable directly, e.g. in tests)."""
        now = self._clock.now()
        # Endings first: an overrun flagged here decides whether the next booking's run is
        # its own.
        for booking_id in await store.ended_held(self._pool, now):
            await self._ended(booking_id, now)
        for booking_id in await store.released_unlocked(self._pool):
            await self._lock(booking_id, now)
        for row in await store.unlock_due(self._pool, now):
            await self._command("unlock", row)
        await store.flag_delayed(self._pool, now)
        for _ in range(await store.check_in_running(self._pool, now)):
            self._count(BookingStatus.ACTIVE)
        for booking_id in await store.past_grace(self._pool, now, self.grace):
            await self._unstarted(booking_id, now)

    async def _unstarted(self, booking_id: UUID, now: datetime) -> None:
        booking = await store.get_booking(self._pool, booking_id)
        if booking is None or booking.status not in UNSTARTED:
            return
        used, running = await store.measure(
            self._pool, booking.instrument, booking.start, now, self._max_gap
        )
        if running > 0:  # it ran and we missed the event: it is active after all
            if checked_in := await store.transition(
                self._pool, booking.id, booking.status, Event.CHECK_IN, at=now
            ):
                self._count(checked_in.status)
            return
        done = await store.transition(
            self._pool, booking.id, booking.status, Event.MISS, at=now, usage=(used, running)
        )
        if done is None:
            return
        log.info("booking %s on %s is a no-show; its slot is released", done.id, done.instrument)
        self._count(done.status)
        if self._metrics:
            self._metrics.no_shows.inc()
        await self._lock(done.id, now)

    async def _ended(self, booking_id: UUID, now: datetime) -> None:
        booking = await store.get_booking(self._pool, booking_id)
        if booking is None or booking.status not in HELD:
            return
        used, running = await store.measure(
            self._pool, booking.instrument, booking.start, booking.end, self._max_gap
        )
        # A delayed booking's telemetry is the previous run until a fresh run activates it.
        checked_in = booking.status not in UNSTARTED
        ran = checked_in or (running > 0 and "delayed" not in booking.flags)
        state, _since = await store.live_state(self._pool, booking.instrument)
        overrun = ran and state == "running"
        done = await store.transition(
            self._pool,
            booking.id,
            booking.status,
            Event.COMPLETE if ran else Event.MISS,
            at=now,
            usage=(used, running),
            flag="overrun" if overrun else None,
        )
        if done is None:
            return
        self._count(done.status)
        if self._metrics:
            self._metrics.booked_seconds.inc((booking.end - booking.start).total_seconds())
            self._metrics.measured_seconds.inc(used)
            if not ran:
                self._metrics.no_shows.inc()
            if overrun:
                self._metrics.overruns.inc()
        await self._lock(done.id, now)

    async def _lock(self, booking_id: UUID, now: datetime) -> None:
        row = await store.close_interlock(self._pool, booking_id, now)
        if row is not None:
            await self._command("lock", row)

    async def _command(self, cmd: str, row: asyncpg.Record) -> None:
        if self._publisher is None:
            return
        topic = str(Topic(row["site_id"], row["instrument_id"], Channel.CMD))
        payload = encode(
            Command(
                cmd="unlock" if cmd == "unlock" else "lock",
                booking=str(row["id"]),
                until=row["end"],
            )
        )
        try:
            await self._publisher.publish(topic, payload, qos=1)
        except (ConnectionError, OSError) as exc:  # agents may ignore it anyway; never block
            log.warning("could not send %s for booking %s: %s", cmd, row["id"], exc)

    def _count(self, status: BookingStatus) -> None:
        if self._metrics:
            self._metrics.transitions.labels(status).inc()
