"""Bookings follow what the instruments actually do: event-driven, never a polling cron.

``BookingLifecycle`` wakes up for exactly three reasons: the twin reports a change of an
instrument (``NOTIFY twin_changes`` from the ingest, or the in-process hook
``on_twin_change``), a booking changes (``NOTIFY booking_changes`` from migration 0020's
trigger), or the next booking deadline arrives (a timer set to the earliest pending start,
start + grace, or end, read from the database each time). On each wake-up it settles every
booking that is due, in the database, with conditional updates, so a second instance or a
restart never applies a transition twice:

- at its start the interlock of the instrument is opened: ``unlock`` becomes the instrument's
  desired interlock state, published retained on ``…/cmd`` by ``scheduler.interlock`` until
  the agent reports it (at its end, or when it is given back, ``lock`` does the same);
- a confirmed booking whose instrument runs a run that started inside its check-in window
  (``scheduler.checkin``) becomes ``active``; one whose instrument still runs a run carried
  over from before that window (someone else's overrun, unbooked use) becomes ``delayed``;
- a booking still not checked in ``grace`` after its start (a delayed one: after the
  carried-over run ended) becomes ``no_show``: it no longer holds the instrument, so the rest
  of its slot is free at once, and the interlock closes;
- at its end an active booking becomes ``completed`` with the used and running seconds
  measured from telemetry; one whose instrument is still running is flagged ``overrun``, and
  that run makes the next booking ``delayed``.

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
from pilotshare.core.contract import BOOKING_CHANGES, TWIN_CHANGES
from pilotshare.core.db import TRANSIENT, Listener, Retry
from pilotshare.core.domain import OFFLINE_AFTER, BookingStatus
from pilotshare.core.messaging import Publisher
from pilotshare.scheduler import store
from pilotshare.scheduler.checkin import (
    CheckInWindow,
    booking_window,
    carried_until,
    check_in_window,
    on_run,
    own_run,
)
from pilotshare.scheduler.interlock import InterlockSender
from pilotshare.scheduler.metrics import booking_metrics
from pilotshare.scheduler.states import HELD, UNSTARTED, Event
from pilotshare.twin.state import Live

log = logging.getLogger(__name__)

#: Stored runs are read from just before a window opens, so a run carried in from earlier
#: starts before it (``store.runs`` dates a carried-in run at the start of what it reads).
_CARRY_IN = timedelta(seconds=1)


class BookingLifecycle:
    """Drives bookings from telemetry and time; run it once per deployment, next to the ingest.

    ``grace``: how long after its start a booking may stay unstarted before it is a no-show
    (a ``delayed`` booking: after its instrument was freed of the carried-over run).
    ``early``: how long before its start a run that starts is already the booking's own.
    ``max_gap``: the twin's offline gap (``Settings.offline_after_s``): silence longer than
    that counts as nothing in the measured usage. ``resync``: the longest sleep; bookings
    notify only when they start within 15 minutes (migration 0021), so it must stay below that.
    ``resend``, ``resend_max``: how soon an interlock state the agent has not reported yet is
    published again, doubling up to the maximum (``scheduler.interlock``).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher | None,
        clock: Clock,
        *,
        grace: timedelta = timedelta(minutes=15),
        early: timedelta = timedelta(minutes=10),
        max_gap: timedelta = OFFLINE_AFTER,
        resync: timedelta = timedelta(minutes=5),
        min_interval: float = 0.05,
        registry: CollectorRegistry | None = None,
        resend: timedelta = timedelta(seconds=5),
        resend_max: timedelta = timedelta(minutes=5),
    ) -> None:
        self._pool = pool
        self._interlock = (
            None
            if publisher is None
            else InterlockSender(pool, publisher, resend=resend, resend_max=resend_max)
        )
        self._clock = clock
        self.grace = grace
        self.early = early
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
            if self._interlock is not None and (send := await self._interlock.next_due()):
                due = send if due is None else min(due, send)
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
        await store.open_due(self._pool, now)
        for booking in await store.in_progress(self._pool, now, self.early):
            await self._arrived(booking, now)
        for booking_id in await store.past_grace(self._pool, now, self.grace):
            await self._unstarted(booking_id, now)
        if self._interlock is not None:  # last: the agents get this pass's final state
            await self._interlock.send_due(now)

    def _window(self, booking: store.Booking | store.InProgress) -> CheckInWindow:
        return booking_window(booking, early=self.early, grace=self.grace)

    async def _arrived(self, booking: store.InProgress, now: datetime) -> None:
        """Check in, delay, or note the end of a carried-over run, by the current run."""
        window = self._window(booking)
        event = on_run(booking.status, booking.run_start, window, taken_until=booking.taken_until)
        if event is not None:
            if done := await store.transition(
                self._pool, booking.id, booking.status, event, at=now
            ):
                self._count(done.status)
        elif booking.status is BookingStatus.DELAYED and booking.run_start is None:
            await store.mark_freed(self._pool, booking.id, now)  # once: its grace starts

    async def _history(
        self, booking: store.Booking, until: datetime
    ) -> tuple[CheckInWindow, datetime | None, datetime | None]:
        """From stored telemetry before ``until``: the booking's window, the start of its own
        run (None: none), and for a confirmed booking whose delay went unseen (the lifecycle
        was down), the end of the run carried over its start: its grace counts from there."""
        window = self._window(booking)
        runs = await store.runs(
            self._pool, booking.instrument, window.opens - _CARRY_IN, until, self._max_gap
        )
        taken = await store.taken_until(self._pool, booking.id, self.early)
        freed = None
        if booking.status is BookingStatus.CONFIRMED:
            freed = carried_until(runs, booking.start, window, taken_until=taken)
            if freed is not None:
                window = check_in_window(
                    booking.start,
                    booking.end,
                    early=self.early,
                    grace=self.grace,
                    delayed=True,
                    freed=freed,
                )
        return window, own_run(runs, booking.start, window, taken_until=taken), freed

    async def _unstarted(self, booking_id: UUID, now: datetime) -> None:
        booking = await store.get_booking(self._pool, booking_id)
        if booking is None or booking.status not in UNSTARTED:
            return
        window, own, freed = await self._history(booking, now)
        if own is not None:  # it ran and we missed the event: active after all
            if checked_in := await store.transition(
                self._pool, booking.id, booking.status, Event.CHECK_IN, at=now
            ):
                self._count(checked_in.status)
            return
        if freed is not None and now < window.closes:  # delayed, unseen: its grace runs on
            if delayed := await store.transition(
                self._pool, booking.id, booking.status, Event.DELAY, at=now
            ):
                self._count(delayed.status)
                await store.mark_freed(self._pool, booking.id, freed)
            return
        used, running = await store.measure(  # only a no-show stores its usage
            self._pool, booking.instrument, booking.start, now, self._max_gap
        )
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
        # Running seconds alone prove nothing: a carried-over run is someone else's. A booking
        # checked in already ran; only an unstarted one needs its stored runs read.
        ran = (
            booking.status not in UNSTARTED
            or (await self._history(booking, booking.end))[1] is not None
        )
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
        await store.close_for(self._pool, booking_id, now)

    def _count(self, status: BookingStatus) -> None:
        if self._metrics:
            self._metrics.transitions.labels(status).inc()
