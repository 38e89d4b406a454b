"""A seeded past of instruments and their bookings (pure): what happened, not how it is stored.

``simulate`` draws each instrument's bookings day by day inside its site's opening hours, some
cancelled in advance and some given back mid-slot, and plays them on the instrument's
``SimulatedInstrument`` (``follow_bookings``: runs start only inside booked slots, with its own
no-shows, late starts, overruns, failures and repairs). It returns, per instrument,

- the samples the instrument's agent would have sent: one at every transition, one per
  ``COARSE`` step and, from the interval in progress ``LOOKBACK`` before ``now``, one per
  ``FINE`` step (the ingest recomputes stored intervals from there with the live gap, so that
  stretch is sampled as densely as a live agent samples it, or it would read as silence);
- every booking with the outcome the booking lifecycle gives it: completed (a run of its own
  inside its check-in window, ``overrun`` when still running at its end), no-show, cancelled
  before its start, or released when given back after a run began.

Same instruments, ``start``, ``now`` and generator state: the same past.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from pilotshare.core.contract import Sample
from pilotshare.core.domain import BookingStatus, InstrumentState

# the module, not the package: the package's other adapters would bring I/O libraries
from pilotshare.edge_agent.adapters.simulated import SimulatedInstrument, SimulatedParams

S = InstrumentState
#: Sample spacing of the older history (the gap its intervals are computed with).
COARSE: Final = timedelta(minutes=30)
#: Sample spacing of the recent history: within the live offline gap (30 s).
FINE: Final = timedelta(seconds=30)
#: The ingest recomputes stored intervals from the one in progress a day back (twin.store's
#: ``LOOKBACK``); from there on the samples are fine, with an hour to spare.
LOOKBACK: Final = timedelta(days=1, hours=1)
#: The lifecycle's check-in window opens this early, and a booking unstarted this long after
#: its start is a no-show (the settings' defaults).
EARLY: Final = timedelta(minutes=10)
GRACE: Final = timedelta(minutes=15)
#: Shares of bookings cancelled before their start and given back during their slot.
P_CANCEL: Final = 0.08
P_RELEASE: Final = 0.05
#: Opening hours of an instrument open around the clock: when clients book it.
DAYTIME: Final = (("08:00", "22:00"),)
WEEKEND_LOAD: Final = 0.35  # weekend bookings relative to a weekday's
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HALF_HOUR: Final = 1800.0


@dataclass(frozen=True, slots=True)
class PastInstrument:
    """One instrument's true dynamics and who booked it for what."""

    id: str
    timezone: str
    operating_hours: Mapping[str, Sequence[Sequence[str]]] | None
    clients: tuple[str, ...]
    purposes: tuple[str, ...]
    session_hours: tuple[float, ...]  # the lengths clients book, drawn uniformly
    params: SimulatedParams  # ``follow_bookings`` is forced on
    setup_buffer: timedelta = timedelta(minutes=10)
    load: float = 0.75  # the chance that a free weekday slot is booked


@dataclass(frozen=True, slots=True)
class PastBooking:
    """A booking of the past, with its outcome as the lifecycle would have stored it."""

    instrument: str
    org: str
    start: datetime
    end: datetime
    status: BookingStatus
    purpose: str
    created_at: datetime
    ended_at: datetime
    activated_at: datetime | None = None
    used_s: float | None = None
    running_s: float | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Planned:
    org: str
    start: datetime
    end: datetime
    purpose: str
    created_at: datetime
    cancel_at: datetime | None  # cancelled before the start
    release_at: datetime | None  # given back during the slot


@dataclass(frozen=True, slots=True)
class InstrumentPast:
    """One instrument's past: its settled bookings, and its samples made on demand (the
    costly part: a loader makes the next instrument's while it stores this one's)."""

    instrument: str
    bookings: tuple[PastBooking, ...]
    spec: PastInstrument
    plan: tuple[_Planned, ...]
    seed: int
    start: datetime
    dense: datetime  # fine samples from here on
    now: datetime

    def samples(self) -> list[Sample]:
        """The samples its agent would have sent, in time order."""
        sim = _machine(self.spec, self.plan, self.seed, self.start)
        return _samples(sim, self.start, self.dense, self.now)


def simulate(
    instruments: Sequence[PastInstrument],
    *,
    start: datetime,
    now: datetime,
    rng: np.random.Generator,
) -> list[InstrumentPast]:
    """The past of ``instruments`` from ``start`` to ``now``."""
    out = []
    for spec in instruments:
        plan = tuple(_plan(spec, start, now, rng))
        seed = int(rng.integers(2**31))
        # the trace alone first (cheap: no samples); the samples replay the same machine
        sim = _machine(spec, plan, seed, start)
        sim.advance(now)
        played = sim.transitions or []  # recorded: record=True
        trace = _Trace([t.at for t in played], [t.state for t in played])
        dense = max((t for t in trace.times if t <= now - LOOKBACK), default=now - LOOKBACK)
        bookings = tuple(_outcome(spec.id, p, trace) for p in plan)
        out.append(InstrumentPast(spec.id, bookings, spec, plan, seed, start, dense, now))
    return out


def _machine(
    spec: PastInstrument, plan: Sequence[_Planned], seed: int, start: datetime
) -> SimulatedInstrument:
    """The instrument's simulated machine with every booking not cancelled beforehand."""
    params = msgspec.structs.replace(spec.params, follow_bookings=True)
    sim = SimulatedInstrument(params, seed, start=start, record=True)
    for p in plan:
        if p.cancel_at is None:
            sim.add_booking(p.start, p.release_at or p.end, now=start)
    return sim


def _windows(spec: PastInstrument, day: date) -> Iterator[tuple[datetime, datetime, float]]:
    """The day's bookable windows in the site's zone, each with its booking chance."""
    zone = ZoneInfo(spec.timezone)
    name = _DAYS[day.weekday()]
    if spec.operating_hours is None:
        hours: Sequence[Sequence[str]] = DAYTIME
        load = spec.load * (WEEKEND_LOAD if day.weekday() >= 5 else 1.0)
    else:
        hours, load = spec.operating_hours.get(name, ()), spec.load
    for a, b in hours:
        yield _at(day, a, zone), _at(day, b, zone), load


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), zone)


def _half_hours(rng: np.random.Generator, mean_s: float) -> timedelta:
    return timedelta(seconds=round(float(rng.exponential(mean_s)) / _HALF_HOUR) * _HALF_HOUR)


def _ceil_half_hour(t: datetime) -> datetime:
    """``t`` rounded up to a whole half hour: the first slot of a window starts on one."""
    seconds = t.timestamp()
    return t + timedelta(seconds=-seconds % _HALF_HOUR)


def _plan(
    spec: PastInstrument, start: datetime, now: datetime, rng: np.random.Generator
) -> list[_Planned]:
    """The bookings clients made, day by day: slots one after another in each window."""
    out: list[_Planned] = []
    day = start.astimezone(ZoneInfo(spec.timezone)).date()
    while _at(day, "00:00", ZoneInfo(spec.timezone)) < now:
        for opens, closes, load in _windows(spec, day):
            t = max(opens, _ceil_half_hour(start)) + _half_hours(rng, 3600.0)
            while True:
                hours = float(rng.choice(spec.session_hours))
                end = t + timedelta(hours=hours)
                if end > closes or end > now:
                    break
                if rng.random() < load:
                    out.append(_draw(spec, t, end, rng))
                t = end + spec.setup_buffer + _half_hours(rng, 2400.0)
        day += timedelta(days=1)
    return out


def _draw(
    spec: PastInstrument, start: datetime, end: datetime, rng: np.random.Generator
) -> _Planned:
    created = start - timedelta(hours=float(rng.uniform(4, 14 * 24)))
    u = float(rng.random())
    cancel = release = None
    if u < P_CANCEL:
        cancel = created + (start - created) * float(rng.uniform(0.2, 0.95))
    elif u < P_CANCEL + P_RELEASE:
        release = start + (end - start) * float(rng.uniform(0.3, 0.7))
    return _Planned(
        org=str(rng.choice(spec.clients)),
        start=start,
        end=end,
        purpose=str(rng.choice(spec.purposes)),
        created_at=created,
        cancel_at=cancel,
        release_at=release,
    )


def _samples(
    sim: SimulatedInstrument, start: datetime, dense: datetime, now: datetime
) -> list[Sample]:
    """A sample at every transition, on the coarse grid before ``dense`` and the fine one
    after (times increase: a step plays every transition due by its time)."""
    coarse = (start + k * COARSE for k in range(int((dense - start) / COARSE) + 1))
    fine = (dense + k * FINE for k in range(1, int((now - dense) / FINE) + 1))
    grid = (t for part in (coarse, fine) for t in part if t < now)
    out: list[Sample] = []
    tick = next(grid, now)
    while True:
        change = sim.next_change()
        t = tick if change is None or change >= tick else change
        if t >= now:
            return out
        out.append(sim.step(t))
        if t == tick:
            tick = next(grid, now)


class _Trace:
    """The state over time, from the recorded transitions."""

    def __init__(self, times: list[datetime], states: list[InstrumentState]) -> None:
        self.times, self.states = times, states

    def at(self, t: datetime) -> InstrumentState:
        return self.states[max(bisect_left(self.times, t + timedelta(microseconds=1)) - 1, 0)]

    def seconds(self, states: frozenset[InstrumentState], a: datetime, b: datetime) -> float:
        total = 0.0
        first = max(bisect_left(self.times, a) - 1, 0)
        for n in range(first, len(self.times)):
            t = self.times[n]
            if t >= b:
                break
            nxt = self.times[n + 1] if n + 1 < len(self.times) else b
            lo, hi = max(t, a), min(nxt, b)
            if self.states[n] in states and hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def first_run(self, a: datetime, b: datetime) -> datetime | None:
        """The first run that starts in ``[a, b)``."""
        for n in range(bisect_left(self.times, a), len(self.times)):
            if self.times[n] >= b:
                return None
            if self.states[n] is S.RUNNING:
                return self.times[n]
        return None


_USED: Final = frozenset({S.RUNNING, S.SETUP})
_RUNNING: Final = frozenset({S.RUNNING})


def _outcome(instrument: str, p: _Planned, trace: _Trace) -> PastBooking:
    """The booking's final status and measured usage, as the lifecycle settles it."""
    base = PastBooking(
        instrument,
        p.org,
        p.start,
        p.end,
        BookingStatus.CANCELLED,
        p.purpose,
        p.created_at,
        ended_at=p.cancel_at or p.end,
    )
    if p.cancel_at is not None:
        return base
    until = p.release_at or p.end
    run = trace.first_run(p.start - EARLY, min(until, p.start + GRACE))
    if run is None:
        if p.release_at is not None and p.release_at < p.start + GRACE:
            return replace(base, ended_at=p.release_at)  # given back before it started
        return _measured(base, trace, BookingStatus.NO_SHOW, p.start + GRACE, None)
    if p.release_at is not None:
        return _measured(base, trace, BookingStatus.RELEASED, p.release_at, run)
    done = _measured(base, trace, BookingStatus.COMPLETED, p.end, run)
    return replace(done, flags=("overrun",)) if trace.at(p.end) is S.RUNNING else done


def _measured(
    base: PastBooking,
    trace: _Trace,
    status: BookingStatus,
    ended: datetime,
    run: datetime | None,
) -> PastBooking:
    """``base`` settled as ``status`` at ``ended``: its usage measured from its start."""
    return replace(
        base,
        status=status,
        ended_at=ended,
        activated_at=run,
        used_s=trace.seconds(_USED, base.start, ended),
        running_s=trace.seconds(_RUNNING, base.start, ended),
    )
