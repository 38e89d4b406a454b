"""The backtest's world: simulated instruments with known parameters, booked as the API books.

Shared by ``tests/e2e/test_backtest.py`` (one world, asserted) and
``benchmarks/forecast_validation.py`` (several worlds, plotted). The truth is a platform of
simulated instruments (``edge_agent.adapters.simulated``): failures while running (MTBF in
running hours), exponential repairs, late starts, no-shows and overruns. Requests arrive as
Poisson streams per kind and are booked with the scheduler's ``allocate`` on
``policy.free_intervals``. ``store_history`` writes four weeks of it to the database as the
backend would have stored them; ``truth_figures`` says what then happened.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.simulated import SimulatedInstrument, SimulatedParams
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler.allocation import Candidate, Request, allocate
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar, free_intervals
from tests.support.instruments import add_instrument

H = timedelta(hours=1)
DAY = timedelta(days=1)
T0 = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday: four weeks of history
NOW = T0 + 28 * DAY  # the forecast's start
END = NOW + 7 * DAY
OFFICE = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
SAMPLE = timedelta(minutes=2)
BUFFER = timedelta(minutes=15)

# Kinds: (instruments, operating hours, requests per hour, mean hours per request)
KINDS: dict[str, tuple[int, dict[str, Any] | None, float, float]] = {
    "furnace": (3, None, 0.55, 3.0),
    "press": (3, None, 0.45, 4.0),
    "sem": (3, OFFICE, 0.16, 3.0),
    "xrd": (3, OFFICE, 0.12, 2.5),
}
TRUTH = SimulatedParams(
    run_mean_s=6 * 3600.0,
    run_sigma=0.3,
    idle_mean_s=600.0,
    setup_mean_s=600.0,
    mtbf_s=40 * 3600.0,
    mttr_s=3 * 3600.0,
    follow_bookings=True,
    p_no_show=0.1,
    late_start_mean_s=900.0,
    p_overrun=0.3,
    overrun_mean_s=1800.0,
)


@dataclass
class Booked:
    id: int
    instrument: str
    kind: str
    created: datetime
    start: datetime
    end: datetime


@dataclass
class World:
    """The truth: instruments, their booking rules, and every booking made."""

    instruments: dict[str, SimulatedInstrument] = field(default_factory=dict)
    kind: dict[str, str] = field(default_factory=dict)
    rules: dict[str, BookingRules] = field(default_factory=dict)
    hours: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    held: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    bookings: list[Booked] = field(default_factory=list)

    @classmethod
    def build(cls, seed: int) -> World:
        w = cls()
        n = 0
        for kind, (count, hours, _, _) in KINDS.items():
            for i in range(count):
                ident = f"{kind}-{i + 1}"
                n += 1
                w.instruments[ident] = SimulatedInstrument(
                    TRUTH, seed * 100 + n, start=T0, record=True
                )
                w.kind[ident] = kind
                w.hours[ident] = hours
                w.rules[ident] = BookingRules(
                    calendar=OperatingCalendar.parse(hours, "UTC"),
                    setup_buffer=BUFFER,
                    min_length=H,
                )
                w.held[ident] = []
        return w

    def run(self, start: datetime, end: datetime, rng: random.Random) -> None:
        """Requests from ``start`` to ``end``, booked as the API books them."""
        arrivals: list[tuple[datetime, str]] = []
        for kind, (_, _, rate, _) in KINDS.items():
            t = start
            while True:
                t += timedelta(hours=rng.expovariate(rate))
                if t >= end:
                    break
                arrivals.append((t, kind))
        for t, kind in sorted(arrivals):
            mean = KINDS[kind][3]
            hours = min(
                8.0, max(1.0, round(rng.lognormvariate(math.log(mean) - 0.08, 0.4) * 4) / 4)
            )
            earliest = t + timedelta(hours=rng.expovariate(1 / 36))
            request = Request(
                str(len(self.bookings)), kind, hours * H, earliest, earliest + 7 * DAY
            )
            cands = []
            for ident, k in self.kind.items():
                if k != kind:
                    continue
                held = [p for p in self.held[ident] if p[1] + BUFFER > earliest]
                free = free_intervals(
                    self.rules[ident], window=(earliest, earliest + 8 * DAY), now=t, bookings=held
                )
                cands.append(Candidate(ident, kind, frozenset(), free, 0.93, BUFFER, H))
            got = allocate(request, cands, t)
            if got is None:
                continue
            inst = self.instruments[got.instrument]
            inst.advance(t)
            inst.add_booking(got.start, got.end, now=t)
            self.held[got.instrument].append((got.start, got.end))
            self.bookings.append(
                Booked(len(self.bookings), got.instrument, kind, t, got.start, got.end)
            )
        for inst in self.instruments.values():
            inst.advance(end)


class Trace:
    """The state of one instrument over time, from its recorded transitions."""

    def __init__(self, inst: SimulatedInstrument) -> None:
        assert inst.transitions is not None
        self.times = [tr.at for tr in inst.transitions]
        self.states = [tr.state for tr in inst.transitions]

    def before(self, t: datetime) -> InstrumentState:
        """The state just before ``t``."""
        return self.states[max(bisect_left(self.times, t) - 1, 0)]

    def at(self, t: datetime) -> InstrumentState:
        return self.states[max(bisect_left(self.times, t + timedelta(microseconds=1)) - 1, 0)]

    def seconds(self, state: InstrumentState, a: datetime, b: datetime) -> float:
        total = 0.0
        for n, t in enumerate(self.times):
            nxt = self.times[n + 1] if n + 1 < len(self.times) else b
            lo, hi = max(t, a), min(nxt, b)
            if self.states[n] is state and hi > lo:
                total += (hi - lo).total_seconds()
        return total


def served(trace: Trace, b: Booked) -> bool:
    """Up and free at the slot's start: not down, in maintenance, or still running."""
    return trace.before(b.start) not in (
        InstrumentState.DOWN,
        InstrumentState.MAINTENANCE,
        InstrumentState.RUNNING,
    )


async def store_history(conn: asyncpg.Connection, world: World) -> None:
    """What the backend would hold at NOW: telemetry, bookings and outcomes, live state."""
    await conn.execute("INSERT INTO sites (id, name) VALUES ('plant', 'Plant')")
    await ensure_organisation(conn, "acme", "Acme")
    rows = []
    for ident, inst in world.instruments.items():
        await add_instrument(
            conn,
            ident,
            site="plant",
            kind=world.kind[ident],
            operating_hours=world.hours[ident],
            setup_buffer_s=int(BUFFER.total_seconds()),
            min_booking_s=3600,
        )
        trace = Trace(inst)
        grid = sorted(
            {
                *(T0 + k * SAMPLE for k in range(int((NOW - T0) / SAMPLE))),
                *(t for t in trace.times if t < NOW),
            }
        )
        rows.extend((ident, t, trace.at(t).value, 1) for t in grid)
        await conn.execute(
            """UPDATE instrument_live SET online = true, state = $2, since = $3, last_seen = $3
               WHERE instrument_id = $1""",
            ident,
            trace.at(NOW).value,
            NOW,
        )
    await conn.copy_records_to_table(
        "telemetry", records=rows, columns=["instrument_id", "ts", "state", "batch"]
    )
    for b in world.bookings:
        if b.created >= NOW:
            continue
        trace = Trace(world.instruments[b.instrument])
        status, activated, running, flags = "confirmed", None, None, []
        if b.start < NOW:
            # As the booking lifecycle measures: running inside the slot, the first run in
            # it, and an "overrun" flag when it is still running at the end.
            stop = min(b.end, NOW)
            running = trace.seconds(InstrumentState.RUNNING, b.start, stop)
            activated = next(
                (
                    t
                    for t, s in zip(trace.times, trace.states, strict=True)
                    if b.start <= t < stop and s is InstrumentState.RUNNING
                ),
                None if trace.at(b.start) is not InstrumentState.RUNNING else b.start,
            )
            status = "active" if b.end > NOW else ("completed" if activated else "no_show")
            if status == "completed" and trace.at(b.end) is InstrumentState.RUNNING:
                flags = ["overrun"]
        await conn.execute(
            """INSERT INTO bookings (instrument_id, org_id, period, status, created_at,
                                     activated_at, running_s, flags)
               VALUES ($1, 'acme', tstzrange($2, $3), $4, $5, $6, $7, $8)""",
            b.instrument,
            b.start,
            b.end,
            status,
            b.created,
            activated,
            running,
            flags,
        )


def _open_seconds(
    hours: dict[str, Any] | None, a: datetime, b: datetime
) -> list[tuple[datetime, datetime]]:
    cal = OperatingCalendar.parse(hours, "UTC")
    return [(a, b)] if cal is None else cal.open_intervals(a, b)


def truth_figures(world: World, result: dict[str, Any]) -> dict[str, Any]:
    """Utilisation per kind and booking outcomes in the forecast week, from the truth."""
    util: dict[str, list[float]] = {k: [0.0, 0.0] for k in KINDS}
    for ident, inst in world.instruments.items():
        trace = Trace(inst)
        for a, b in _open_seconds(world.hours[ident], NOW, END):
            util[world.kind[ident]][0] += trace.seconds(InstrumentState.RUNNING, a, b)
            util[world.kind[ident]][1] += (b - a).total_seconds()
    # Bookings held at NOW, as the forecast saw them (its booking ids are the database's).
    predicted = {(b["instrument"], b["start"]): b["p_served"] for b in result["bookings"]}
    outcomes = []
    for b in world.bookings:
        if b.created < NOW <= b.start < END:
            p = predicted[(b.instrument, b.start.isoformat())]
            outcomes.append((p, served(Trace(world.instruments[b.instrument]), b)))
    return {"utilisation": {k: v[0] / v[1] for k, v in util.items()}, "outcomes": outcomes}
