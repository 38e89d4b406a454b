"""Finding free time: the availability search and the scheduler's choice of a slot.

Both read the holding bookings and closures of the candidate instruments from the database
and turn them into bookable intervals with ``policy.free_intervals``; the choice then asks
the pure ``allocation.allocate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from pilotshare.core.db import Connection, Executor
from pilotshare.scheduler import store
from pilotshare.scheduler.allocation import Allocation, Request, allocate, candidate
from pilotshare.scheduler.policy import Interval, free_intervals
from pilotshare.scheduler.store import Instrument

#: The first horizon of a search; it widens fourfold until a slot fits.
SEARCH_HORIZON: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Slot:
    """A free interval of one instrument: any ``duration`` inside it can be booked."""

    instrument: str
    start: datetime
    end: datetime


def rounded_start(start: datetime, end: datetime, need: timedelta) -> datetime:
    """``start`` rounded up to the next whole minute, or to the next whole second when the
    minute would leave less than ``need`` before ``end`` (unchanged when already whole)."""
    second = start.replace(microsecond=0)
    if second < start:
        second += timedelta(seconds=1)
    minute = second.replace(second=0)
    if minute < second:
        minute += timedelta(minutes=1)
    return minute if end - minute >= need else second


async def free_slots(
    conn: Executor,
    instruments: list[Instrument],
    *,
    window: Interval,
    now: datetime,
    duration: timedelta | None,
    limit: int,
) -> list[Slot]:
    """Free intervals that can hold ``duration`` (default: each instrument's minimum booking),
    earliest first.

    Each start is rounded up to a whole minute (to a whole second where a whole minute would
    leave less than ``duration``): the first slot would otherwise start at ``now`` to the
    microsecond. With ``policy.NOTICE_TOLERANCE`` in the notice check, every slot offered
    here can be booked as offered for at least that long.
    """
    booked, closed = await store.busy(conn, [i.id for i in instruments], window)
    slots: list[Slot] = []
    for inst in instruments:
        need = duration or inst.rules.min_length
        if not inst.rules.min_length <= need <= inst.rules.max_length:
            continue
        for lo, b in free_intervals(
            inst.rules,
            window=window,
            now=now,
            bookings=booked.get(inst.id, ()),
            closures=closed.get(inst.id, ()),
        ):
            a = rounded_start(lo, b, need)
            if b - a >= need:
                slots.append(Slot(inst.id, a, b))
    slots.sort(key=lambda s: (s.start, s.end, s.instrument))
    return slots[:limit]


async def next_free(
    conn: Executor, instrument_ids: list[str], *, now: datetime, horizon: timedelta
) -> dict[str, Slot]:
    """Each instrument's first free slot that can hold its minimum booking, within
    ``horizon`` of ``now`` (missing: nothing free in it); what ``free_slots`` offers, read
    for many instruments in one pass (the public directory)."""
    if not instrument_ids:
        return {}
    instruments = await store.instruments_by_id(conn, instrument_ids, org="")
    slots = await free_slots(
        conn,
        instruments,
        window=(now, now + horizon),
        now=now,
        duration=None,
        limit=len(instruments) * 1000,
    )
    first: dict[str, Slot] = {}
    for slot in slots:
        first.setdefault(slot.instrument, slot)
    return first


async def choose(
    conn: Connection,
    *,
    instruments: list[Instrument],
    p_up: dict[str, float],
    want: Request,
    window: Interval,
    now: datetime,
) -> Allocation | None:
    """Allocate ``want`` over a horizon that widens fourfold until a slot fits.

    The earliest finish wins, so a slot that ends within the horizon ``h`` is the one the
    whole window would give; free time is read up to ``2h`` so the tie-breaks see intervals
    whole unless they are longer than that. A short horizon reads far fewer bookings on a
    busy calendar.
    """
    ids = [i.id for i in instruments]
    h = max(SEARCH_HORIZON, 4 * want.duration)
    while True:
        seen = (window[0], min(window[1], window[0] + 2 * h))
        booked, closed = await store.busy(conn, ids, seen)
        candidates = [
            candidate(
                i.rules,
                instrument=i.id,
                kind=i.kind,
                capabilities=i.capabilities,
                window=seen,
                now=now,
                bookings=booked.get(i.id, ()),
                closures=closed.get(i.id, ()),
                p_up=p_up[i.id],
            )
            for i in instruments
        ]
        chosen = allocate(want, candidates, now)
        if seen[1] >= window[1] or (chosen is not None and chosen.end <= window[0] + h):
            return chosen
        h *= 4
