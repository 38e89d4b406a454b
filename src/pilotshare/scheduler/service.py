"""Bookings as a service: load → decide (policy, allocation) → persist → report.

The database has the last word on conflicts: whatever this module checked first, two
holding bookings whose held ranges overlap cannot both commit (migration 0020). An
``ExclusionViolationError`` is therefore the normal answer to a lost race: for an explicit
slot it becomes a ``Conflict`` naming the booking in the way; for a slot the scheduler
picked, the scheduler looks again. Serialisation failures and deadlocks are retried
(``core.db.errors.RETRY_IN_TRANSACTION``).

Who sees a booking is ``core.scope``'s one rule: its client, the network operator's admins, and
the admins of the platform owning its instrument (it is shared with them: they run the line),
who may then move, cancel and check it in as its client may. Every change is written to the
audit log (``core.audit``) in the change's own transaction, owned by the client and the platform.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar
from uuid import UUID

import asyncpg

from pilotshare import registry
from pilotshare.core import audit
from pilotshare.core.clock import Clock
from pilotshare.core.db import RETRY_IN_TRANSACTION, Connection
from pilotshare.core.domain import OFFLINE_AFTER, BookingStatus
from pilotshare.core.errors import BadInput, Conflict, Forbidden, NotFound
from pilotshare.core.scope import require_visible, run_by
from pilotshare.scheduler import search, states, store
from pilotshare.scheduler.allocation import Request
from pilotshare.scheduler.checkin import booking_window
from pilotshare.scheduler.metrics import BookingMetrics
from pilotshare.scheduler.policy import Interval, check_slot, may_book
from pilotshare.scheduler.quota import check_quota
from pilotshare.scheduler.requests import (
    BookingRequest,
    check_duration,
    check_target,
    decode_cursor,
    encode_cursor,
    refuse,
    search_window,
)
from pilotshare.scheduler.search import Slot
from pilotshare.scheduler.states import Event, IllegalTransition
from pilotshare.scheduler.store import Booking, Instrument

T = TypeVar("T")

#: What a caller does in the transaction of a new booking (``BookingService.create``'s
#: ``then``): it commits with the booking, and a refusal it raises undoes the booking.
AfterInsert = Callable[[Connection, Booking], Awaitable[None]]

RETRIES: Final = 8
P_UP_HISTORY: Final = timedelta(days=30)
P_UP_TTL_S: Final = 300.0


class NotQualified(Forbidden):
    """The organisation may not book this instrument (it requires a qualification)."""

    def __init__(self, detail: str) -> None:
        super().__init__("not_qualified", detail)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: their organisation, whether they are the network operator's admin
    (``admin``: sees and acts for every organisation), their key, and whether the key is an
    admin key of their own organisation (``platform_admin``: it sees and acts on the
    bookings made on the instruments its organisation owns)."""

    org: str
    admin: bool = False
    key_id: str | None = None
    platform_admin: bool = False

    @property
    def actor(self) -> audit.Actor:
        """The audit log's view of this caller."""
        return audit.Actor(self.org, self.key_id)


async def _audit(
    conn: Connection,
    caller: Caller,
    action: str,
    at: datetime,
    *,
    before: Booking | None = None,
    after: Booking,
) -> None:
    """The audit line of a change to a booking, owned by its client and its platform."""
    await audit.record(
        conn,
        caller.actor,
        action,
        "booking",
        str(after.id),
        owners=[after.org, after.platform],
        at=at,
        before=before,
        after=after,
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """A booking's booked, used (running or setup) and running seconds."""

    booked_seconds: float
    used_seconds: float
    running_seconds: float
    status: BookingStatus


@dataclass(frozen=True, slots=True)
class BookingPage:
    """One page of a listing, and the cursor of the next while more remain."""

    bookings: list[Booking]
    next_cursor: str | None


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _not_changeable(booking_id: UUID, status: BookingStatus) -> Conflict:
    """The refusal of a change to a booking that no longer holds its instrument."""
    return Conflict(
        "not_changeable", f"booking {booking_id} is {status} and can no longer be changed"
    )


def _serves(item: registry.ServiceItem, inst: Instrument) -> bool:
    """Whether a booking of ``inst`` may be made for ``item`` (``ServiceItem.serves``)."""
    return item.serves(inst.owner, inst.kind, inst.id)


def _mismatch(item: registry.ServiceItem, why: str) -> BadInput:
    """The refusal of a booking naming a service item its instrument does not serve."""
    scope = "".join(
        [
            f" for {item.kind!r} instruments" if item.kind else "",
            f" on instrument {item.instrument_id!r}" if item.instrument_id else "",
        ]
    )
    return BadInput(
        "service_item_mismatch",
        f"service item {item.id!r} is offered by {item.platform_org_id!r}{scope}; {why}",
    )


class BookingService:
    """Creates, finds, cancels and measures bookings on a pool."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        metrics: BookingMetrics | None = None,
        *,
        max_gap: timedelta = OFFLINE_AFTER,
        grace: timedelta = timedelta(minutes=15),
        early: timedelta = timedelta(minutes=10),
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._metrics = metrics
        self._max_gap = max_gap
        self._grace = grace  # the check-in window, as the lifecycle's (settings)
        self._early = early
        self._p_up_cache: dict[str, tuple[float, float]] = {}  # instrument -> (value, fetched at)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, caller: Caller, booking_id: UUID) -> Booking:
        """A booking the caller may see (``core.scope``: its client's, the network's, and
        shared with its platform's admins); ``NotFound`` otherwise."""
        found = await store.get_booking(self._pool, booking_id)
        return require_visible(
            found,
            found.org if found is not None else None,
            org=caller.org,
            admin=caller.admin,
            missing=NotFound("no_booking", f"no booking {booking_id}"),
            shared_with=run_by(found.platform, admin=caller.platform_admin) if found else (),
        )

    async def list_for(
        self,
        caller: Caller,
        *,
        window: Interval | None = None,
        instrument: str | None = None,
        limit: int = 1000,
        statuses: frozenset[BookingStatus] | None = None,
        cursor: str | None = None,
        descending: bool = False,
    ) -> BookingPage:
        """One page of the bookings the caller may see (its organisation's and, for a
        platform's admin, those on its instruments; every one for the network's) by (start,
        id), and the cursor of the next page while more remain."""
        org = None if caller.admin else caller.org
        shared = run_by(org, admin=caller.platform_admin)
        found = await store.list_bookings(
            self._pool,
            org=org,
            platform=shared[0] if shared else None,
            window=window,
            instrument=instrument,
            limit=limit + 1,
            statuses=statuses,
            after=decode_cursor(cursor) if cursor is not None else None,
            descending=descending,
        )
        page = found[:limit]
        more = len(found) > limit
        return BookingPage(page, encode_cursor(page[-1].start, page[-1].id) if more else None)

    async def usage(self, caller: Caller, booking_id: UUID) -> Usage:
        """Booked, used and running seconds, measured from telemetry (stored once ended)."""
        booking = await self.get(caller, booking_id)
        booked = (booking.end - booking.start).total_seconds()
        if booking.used_s is not None and booking.running_s is not None:
            used, running = booking.used_s, booking.running_s
        else:
            until = min(booking.end, booking.ended_at or booking.end, self._clock.now())
            used, running = await store.measure(
                self._pool, booking.instrument, booking.start, until, self._max_gap
            )
        return Usage(booked, used, running, booking.status)

    async def availability(
        self,
        caller: Caller,
        *,
        instrument: str | None,
        kind: str | None,
        capabilities: frozenset[str] = frozenset(),
        duration: timedelta | None,
        earliest: datetime | None,
        latest: datetime | None,
        limit: int = 50,
    ) -> list[Slot]:
        """Free intervals that can hold ``duration``, earliest first, across instruments."""
        check_target(instrument, kind)
        check_duration(duration)
        now = self._clock.now()
        window = search_window(earliest, latest, now)
        instruments = await self._instruments(caller, instrument, kind, capabilities)
        return await search.free_slots(
            self._pool, instruments, window=window, now=now, duration=duration, limit=limit
        )

    async def free_windows(
        self,
        org: str,
        instruments: Sequence[str],
        *,
        duration: timedelta | None,
        earliest: datetime | None,
        latest: datetime | None,
    ) -> dict[str, tuple[timedelta, list[Slot]]]:
        """Per instrument of ``instruments`` that exists and is not retired: the time a
        request needs on it (``duration``, else its minimum booking) and every free slot that
        holds it in the window, earliest first (the availability search, for several
        instruments at once; qualification is the caller's to judge, ``org`` only loads it)."""
        check_duration(duration)
        now = self._clock.now()
        window = search_window(earliest, latest, now)
        found = [
            i
            for i in await store.instruments_by_id(self._pool, instruments, org=org)
            if i.retired_at is None
        ]
        slots = await search.free_slots(
            self._pool, found, window=window, now=now, duration=duration, limit=len(found) * 5000
        )
        out: dict[str, tuple[timedelta, list[Slot]]] = {
            i.id: (duration or i.rules.min_length, []) for i in found
        }
        for s in slots:
            out[s.instrument][1].append(s)
        return out

    # -- writing ---------------------------------------------------------------------------

    async def create(
        self, caller: Caller, req: BookingRequest, *, then: AfterInsert | None = None
    ) -> Booking:
        """Book an explicit slot, or let the scheduler choose one; see the module docstring.

        ``req`` is valid by construction (``scheduler.requests``). ``then`` runs in the
        booking's transaction, after its INSERT: what it changes commits with the booking,
        and a refusal it raises undoes the booking too (an accepted offer)."""
        slot = req.slot
        if slot is not None and req.instrument is not None:
            booking = await self._create_explicit(caller, req.instrument, slot, req, then)
        else:
            booking = await self._create_allocated(caller, req, then)
        if self._metrics:
            self._metrics.transitions.labels(states.INITIAL).inc()
        return booking

    async def change(
        self, caller: Caller, booking_id: UUID, start: datetime, end: datetime
    ) -> Booking:
        """Move, extend or shorten a booking to ``[start, end)`` under a new booking's rules.

        A booking not yet checked in may move anywhere the rules allow (the minimum notice
        applies to a changed start); an active one keeps its start and may only change its
        end. With the start kept, the new end may not have passed. The move is one
        conditional UPDATE in a transaction (with the quota check, when one applies): the
        exclusion constraint decides against a concurrent booking of the same slot, as for
        an INSERT.
        """
        if end <= start:
            refuse("bad_period")
        booking = await self.get(caller, booking_id)
        if booking.status not in states.CHANGEABLE:
            raise _not_changeable(booking.id, booking.status)
        now = self._clock.now()
        if booking.status not in states.MOVABLE and start != booking.start:
            raise Conflict(
                "already_started",
                f"booking {booking.id} is {booking.status}: only its end may change, its "
                f"start stays {_fmt(booking.start)}",
            )
        if start == booking.start and end <= now:  # a moved start meets the notice instead
            raise BadInput("ends_in_past", f"the new end {_fmt(end)} has passed already")
        slot = (start, end)
        owner = Caller(booking.org, caller.admin, caller.key_id)
        inst = await store.instrument_for_slot(
            self._pool, booking.instrument, org=booking.org, slot=slot
        )
        if inst is None:
            raise NotFound("no_instrument", f"no instrument {booking.instrument!r}")
        self._authorise(owner, inst)
        check_slot(inst.rules, start, end, now=now, keep_start=start == booking.start)
        self._refuse_closures(inst)

        async def attempt() -> Booking | None:
            async with self._pool.acquire() as conn, conn.transaction():
                if inst.has_quota:
                    await check_quota(conn, booking.org, slot, inst.timezone, exclude=booking.id)
                moved = await store.update_period(conn, booking.id, booking.status, slot, at=now)
                if moved is not None:
                    await _audit(conn, caller, "booking.move", now, before=booking, after=moved)
                return moved

        try:
            moved = await self._retrying(attempt)
        except asyncpg.ExclusionViolationError:
            raise await self._taken(inst, slot, exclude=booking.id) from None
        if moved is None:  # its status changed meanwhile
            fresh = await store.get_booking(self._pool, booking.id)
            raise _not_changeable(booking.id, fresh.status if fresh else booking.status)
        return moved

    async def cancel(self, caller: Caller, booking_id: UUID) -> Booking:
        """Cancel a confirmed booking, or release an active one; the row stays as history."""
        booking = await self.get(caller, booking_id)
        now = self._clock.now()
        try:
            to = states.apply(booking.status, Event.CANCEL)
        except IllegalTransition:
            raise Conflict(
                "not_cancellable",
                f"booking {booking.id} is {booking.status} and can no longer be cancelled",
            ) from None
        usage = None
        if to is BookingStatus.RELEASED:  # it was in use: measured up to now
            usage = await store.measure(
                self._pool, booking.instrument, booking.start, min(now, booking.end), self._max_gap
            )
        async with self._pool.acquire() as conn, conn.transaction():
            done = await store.transition(
                conn, booking.id, booking.status, Event.CANCEL, at=now, usage=usage
            )
            if done is not None:
                await _audit(conn, caller, "booking.cancel", now, before=booking, after=done)
        if done is None:
            fresh = await store.get_booking(self._pool, booking.id)
            status = fresh.status if fresh else booking.status
            raise Conflict(
                "not_cancellable",
                f"booking {booking.id} is {status} and can no longer be cancelled",
            )
        if self._metrics:
            self._metrics.transitions.labels(done.status).inc()
        return done

    async def check_in(self, caller: Caller, booking_id: UUID) -> Booking:
        """Check a booking in by hand (an instrument without an agent): ``active`` inside its
        check-in window (``scheduler.checkin``), ``Conflict`` outside it; an active one as it is."""
        booking = await self.get(caller, booking_id)
        if booking.status is BookingStatus.ACTIVE:
            return booking  # checked in already: a retry changes nothing
        states.apply(booking.status, Event.CHECK_IN)  # IllegalTransition: settled or given back
        now = self._clock.now()
        window = booking_window(booking, early=self._early, grace=self._grace)
        if now not in window:
            raise Conflict(
                "outside_check_in_window",
                f"booking {booking.id} can be checked in from {_fmt(window.opens)} "
                f"until {_fmt(window.closes)}",
            )
        async with self._pool.acquire() as conn, conn.transaction():
            done = await store.transition(conn, booking.id, booking.status, Event.CHECK_IN, at=now)
            if done is not None:
                await _audit(conn, caller, "booking.check_in", now, before=booking, after=done)
        if done is None:  # the lifecycle moved it meanwhile: answer what it is now
            fresh = await store.get_booking(self._pool, booking.id)
            if fresh is not None and fresh.status is BookingStatus.ACTIVE:
                return fresh
            status = fresh.status if fresh else booking.status
            raise IllegalTransition(status, Event.CHECK_IN)
        if self._metrics:
            self._metrics.transitions.labels(done.status).inc()
        return done

    # -- internals -------------------------------------------------------------------------

    async def _instruments(
        self, caller: Caller, instrument: str | None, kind: str | None, caps: frozenset[str]
    ) -> list[Instrument]:
        if instrument is not None:
            one = await store.instrument(self._pool, instrument, org=caller.org)
            if one is None:
                raise NotFound("no_instrument", f"no instrument {instrument!r}")
            if not caps <= one.capabilities:
                return []
            self._authorise(caller, one)
            return [one]
        assert kind is not None  # noqa: S101 - requests.check_target: one of the two
        found = await store.instruments_of_kind(self._pool, kind, caps, org=caller.org)
        allowed = [
            i
            for i in found
            if may_book(
                requires_qualification=i.requires_qualification,
                qualified=i.qualified,
                admin=caller.admin,
            )
        ]
        if found and not allowed:
            raise NotQualified(f"organisation {caller.org!r} is not qualified for any {kind!r}")
        return allowed

    @staticmethod
    def _authorise(caller: Caller, inst: Instrument) -> None:
        if inst.retired_at is not None:
            raise store.InstrumentRetired(inst.id)
        if not may_book(
            requires_qualification=inst.requires_qualification,
            qualified=inst.qualified,
            admin=caller.admin,
        ):
            raise NotQualified(
                f"organisation {caller.org!r} is not qualified to book instrument {inst.id!r}"
            )

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        for n in range(RETRIES):
            try:
                return await attempt()
            except RETRY_IN_TRANSACTION:
                await asyncio.sleep(0.002 * (n + 1))
        return await attempt()

    async def _insert(
        self,
        caller: Caller,
        inst: Instrument,
        slot: Interval,
        purpose: str,
        *,
        item: str | None,
        then: AfterInsert | None = None,
    ) -> Booking:
        """The INSERT, its audit line and ``then`` (a caller's own steps) in one
        transaction, with the quota check when one applies."""

        async def attempt() -> Booking:
            async with self._pool.acquire() as conn, conn.transaction():
                if inst.has_quota:
                    await check_quota(conn, caller.org, slot, inst.timezone)
                made = await store.insert_booking(
                    conn,
                    instrument=inst.id,
                    org=caller.org,
                    slot=slot,
                    purpose=purpose,
                    key_id=caller.key_id,
                    service_item=item,
                )
                await _audit(conn, caller, "booking.create", self._clock.now(), after=made)
                if then is not None:
                    await then(conn, made)
                return made

        return await self._retrying(attempt)

    async def _create_explicit(
        self,
        caller: Caller,
        instrument: str,
        slot: Interval,
        req: BookingRequest,
        then: AfterInsert | None = None,
    ) -> Booking:
        inst = await store.instrument_for_slot(self._pool, instrument, org=caller.org, slot=slot)
        if inst is None:
            raise NotFound("no_instrument", f"no instrument {instrument!r}")
        self._authorise(caller, inst)
        if req.service_item is not None:
            item = await registry.service_item(self._pool, req.service_item)
            if not _serves(item, inst):
                raise _mismatch(item, f"instrument {inst.id!r} does not serve it")
        check_slot(inst.rules, slot[0], slot[1], now=self._clock.now())
        self._refuse_closures(inst)
        try:
            return await self._insert(
                caller, inst, slot, req.purpose, item=req.service_item, then=then
            )
        except asyncpg.ExclusionViolationError:
            raise await self._taken(inst, slot) from None

    @staticmethod
    def _refuse_closures(inst: Instrument) -> None:
        """A ``closure`` conflict when a closure overlaps the slot ``inst`` was loaded for."""
        if inst.closures:
            kind, reason, a, b = inst.closures[0]
            raise Conflict(
                "closure",
                f"instrument {inst.id!r} has a {kind} window from {_fmt(a)} to {_fmt(b)}"
                + (f" ({reason})" if reason else ""),
            )

    async def _taken(
        self, inst: Instrument, slot: Interval, *, exclude: UUID | None = None
    ) -> Conflict:
        """The ``slot_taken`` answer to a lost race, naming the booking in the way."""
        if self._metrics:
            self._metrics.conflicts.inc()
        holder = await store.holder_of(self._pool, inst.id, slot, exclude=exclude)
        if holder is None:  # released meanwhile: the caller may simply try again
            return Conflict("slot_taken", f"instrument {inst.id!r} was just booked for that slot")
        buffer = inst.rules.setup_buffer
        extra = f" (plus a {buffer} setup buffer)" if buffer else ""
        return Conflict(
            "slot_taken",
            f"instrument {inst.id!r} is already booked from {_fmt(holder.start)} to "
            f"{_fmt(holder.end)}{extra}",
        )

    async def _p_up(self, instruments: list[str]) -> dict[str, float]:
        now_m = self._clock.monotonic()
        cache = self._p_up_cache
        stale = [i for i in instruments if now_m - cache.get(i, (0.0, -1e18))[1] > P_UP_TTL_S]
        if stale:
            since = self._clock.now() - P_UP_HISTORY
            fresh = await store.p_up(self._pool, stale, since)
            for i in stale:
                self._p_up_cache[i] = (fresh.get(i, 1.0), now_m)
        return {i: self._p_up_cache[i][0] for i in instruments}

    async def _create_allocated(
        self, caller: Caller, req: BookingRequest, then: AfterInsert | None = None
    ) -> Booking:
        """Choose and insert under a per-kind (or per-instrument) lock.

        Concurrent requests for one kind would otherwise all choose the same earliest slot
        and all but one lose at the constraint; in turn, each sees the others' bookings.
        Explicit bookings do not take the lock: a lost race with one is retried.
        """
        assert req.duration is not None  # noqa: S101 - a search has one (BookingRequest)
        now = self._clock.now()
        window = search_window(req.earliest, req.latest, now)
        instruments = await self._instruments(caller, req.instrument, req.kind, req.capabilities)
        if req.service_item is not None:
            item = await registry.service_item(self._pool, req.service_item)
            serving = [i for i in instruments if _serves(item, i)]
            if instruments and not serving:
                raise _mismatch(item, "no instrument the request matches serves it")
            instruments = serving
        if not instruments:
            raise Conflict("no_match", "no instrument matches the request")
        p_up = await self._p_up([i.id for i in instruments])
        want = Request(
            "api",
            None,
            req.duration,
            window[0],
            window[1],
            req.capabilities,
            caller.org,
            req.instrument,
        )
        lock = f"alloc:{req.kind}" if req.kind is not None else f"alloc:{req.instrument}"

        async def attempt() -> Booking:
            async with self._pool.acquire() as conn, conn.transaction():
                await store.lock_allocation(conn, lock)
                started = time.perf_counter()
                chosen = await search.choose(
                    conn, instruments=instruments, p_up=p_up, want=want, window=window, now=now
                )
                if self._metrics:
                    self._metrics.allocation_seconds.observe(time.perf_counter() - started)
                if chosen is None:
                    raise Conflict(
                        "no_free_slot",
                        f"no free slot of {req.duration} between {_fmt(window[0])} and "
                        f"{_fmt(window[1])}",
                    )
                slot = (chosen.start, chosen.end)
                if instruments[0].has_quota:
                    zone = next(i.timezone for i in instruments if i.id == chosen.instrument)
                    await check_quota(conn, caller.org, slot, zone)
                made = await store.insert_booking(
                    conn,
                    instrument=chosen.instrument,
                    org=caller.org,
                    slot=slot,
                    purpose=req.purpose,
                    key_id=caller.key_id,
                    service_item=req.service_item,
                )
                await _audit(conn, caller, "booking.create", now, after=made)
                if then is not None:
                    await then(conn, made)
                return made

        for _ in range(RETRIES):
            try:
                return await self._retrying(attempt)
            except asyncpg.ExclusionViolationError:
                if self._metrics:
                    self._metrics.conflicts.inc()
        raise Conflict(
            "booking_busy", "the matching instruments are being booked too fast; try again"
        )
