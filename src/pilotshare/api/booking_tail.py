"""The event streams' ``booking`` events from the ``booking_events`` outbox, not from a NOTIFY
per booking.

The bookings trigger records every change in ``booking_events`` but notifies
``booking_changes`` only for the few the lifecycle must act on at once (a NOTIFY per booking
serialises commits on PostgreSQL's notification queue). So while a stream is open the API
tails the table by id: woken at once by any ``booking_changes`` notification, otherwise every
``TAIL_S``. Ids are taken before commit, so a transaction that commits late makes a lower id
visible after a higher one; ``Cursor`` remembers the ids skipped over (gaps) for ``GAP_S`` and
reads them again, and sends each id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import asyncpg

from pilotshare.core.db import TRANSIENT
from pilotshare.scheduler import store as booking_store
from pilotshare.scheduler.store import Booking

log = logging.getLogger(__name__)

#: How long a quiet tail waits before it reads again: a change the trigger does not notify
#: (a booking beyond the next 15 minutes) reaches the streams within about this long, and a
#: read a second is nothing beside the bookings themselves.
TAIL_S = 1.0
#: Changes per read; a full read is followed by another at once (a burst catches up).
TAIL_BATCH = 500
#: How long a skipped id is looked for: its transaction commits late, or rolled back (never).
GAP_S = 10.0
#: Skipped ids remembered at most (the oldest forgotten first): memory stays bounded.
MAX_GAPS = 10_000


@dataclass(slots=True)
class Cursor:
    """Which ``booking_events`` ids a tail has sent: all up to ``last`` but the ``gaps``
    (id → when it was first skipped, on the caller's monotonic clock). Pure."""

    last: int
    gaps: dict[int, float] = field(default_factory=dict)

    def missing(self) -> list[int]:
        """The skipped ids to read again, lowest first."""
        return sorted(self.gaps)

    def take(self, ids: Iterable[int], now: float) -> list[int]:
        """The ids of a read not sent before (each once, in order); those skipped become gaps,
        and gaps older than ``GAP_S`` or beyond ``MAX_GAPS`` are given up."""
        fresh: list[int] = []
        for i in sorted(set(ids)):
            if self.gaps.pop(i, None) is not None:
                fresh.append(i)
            elif i > self.last:
                for gap in range(max(self.last + 1, i - MAX_GAPS), i):
                    self.gaps[gap] = now
                self.last = i
                fresh.append(i)
        for gap, since in list(self.gaps.items()):
            if now - since > GAP_S:
                del self.gaps[gap]
        if len(self.gaps) > MAX_GAPS:
            for gap in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[gap]
        return fresh


Emit = Callable[[list[Booking]], None]


class BookingTail:
    """Reads ``booking_events`` from where it started, handing the changed bookings (read back,
    several changes of one booking as one) to ``emit``; ``wake`` makes it read at once."""

    def __init__(self, pool: asyncpg.Pool, emit: Emit) -> None:
        self._pool = pool
        self._emit = emit
        self.wake = asyncio.Event()
        self._cursor: Cursor | None = None

    async def start(self) -> None:
        """Start from the changes committed by now (a stream starts from a snapshot)."""
        self._cursor = Cursor(await booking_store.last_booking_event(self._pool))

    async def run(self, stop: asyncio.Event, clock: Callable[[], float] = time.monotonic) -> None:
        """Read until ``stop`` is set (``wake`` set with it ends a wait at once)."""
        while not stop.is_set():
            self.wake.clear()
            try:
                full = await self._read(clock())
            except TRANSIENT as exc:
                log.warning("booking event tail: %s; reading again in %ss", exc, TAIL_S)
                full = False
            except Exception:  # a bug must not end booking events for good
                log.exception("booking event tail: a read failed; reading again in %ss", TAIL_S)
                full = False
            if full or stop.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), TAIL_S)

    async def _read(self, now: float) -> bool:
        cursor = self._cursor
        if cursor is None:
            await self.start()
            return False
        rows = await booking_store.booking_events_after(
            self._pool, cursor.last, missing=cursor.missing(), limit=TAIL_BATCH
        )
        fresh = set(cursor.take((i for i, _ in rows), now))
        changed = list(dict.fromkeys(b for i, b in rows if i in fresh))
        if changed:
            self._emit(await booking_store.get_bookings(self._pool, changed))
        return len(rows) >= TAIL_BATCH
