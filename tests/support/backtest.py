"""The backtest's world: simulated instruments with known parameters, booked as the API books.

Shared by ``tests/e2e/test_backtest.py`` (one world, asserted) and
``benchmarks/forecast_validation.py`` (several worlds, plotted). The truth is a platform of
simulated instruments (``edge_agent.adapters.simulated``): failures while running (MTBF in
running hours), exponential repairs, late starts, no-shows and overruns. Requests arrive as
Poisson streams per kind and are booked with the scheduler's ``allocate`` on
``policy.free_intervals``. ``store_history`` writes four weeks of it to the database as the
backend would have stored them; ``truth_figures`` says what then happened.

The defaults are the world of the e2e test; ``World.build`` also takes other true parameters
and a load factor, and ``store_history``/``truth_figures`` another forecast start (``now``),
so that one world's continuing run can be forecast from several origins.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.simulated import SimulatedInstrument, SimulatedParams
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler.allocation import Candidate, Request, allocate
from pilotshare.scheduler.forecast import ForecastParams, compute
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar, free_intervals
from pilotshare.twin.store import refresh_behaviour
from tests.support.databases import scratch_database
from tests.support.instruments import add_instrument

H = timedelta(hours=1)
DAY = timedelta(days=1)
T0 = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday: four weeks of history
HISTORY = 28 * DAY
NOW = T0 + HISTORY  # the forecast's start
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


@dataclass(frozen=True)
class Variant:
    """How one world's truth differs from the e2e test's (``TRUTH``, load 1)."""

    mtbf_h: float = 40.0  # running hours between failures
    mttr_h: float = 3.0
    p_overrun: float = 0.3
    load: float = 1.0

    def truth(self) -> SimulatedParams:
        return msgspec.structs.replace(
            TRUTH,
            mtbf_s=self.mtbf_h * 3600.0,
            mttr_s=self.mttr_h * 3600.0,
            p_overrun=self.p_overrun,
        )


# World n (from 1) uses VARIANTS[(n - 1) % len(VARIANTS)] and seed n; the first is the
# e2e test's world.
VARIANTS: tuple[Variant, ...] = (
    Variant(),
    Variant(mtbf_h=15.0, mttr_h=4.0),
    Variant(load=1.3, p_overrun=0.5),
    Variant(mtbf_h=25.0, mttr_h=6.0, load=0.8),
    Variant(mtbf_h=80.0, load=1.2),
    Variant(mtbf_h=10.0, mttr_h=3.0, load=0.9),
    Variant(mtbf_h=20.0, mttr_h=8.0, p_overrun=0.5),
    Variant(mtbf_h=40.0, mttr_h=2.0, p_overrun=0.6, load=1.2),
    Variant(mtbf_h=12.0, mttr_h=6.0, load=1.1),
    Variant(mtbf_h=60.0, mttr_h=4.0, p_overrun=0.15, load=0.7),
    Variant(mtbf_h=30.0, mttr_h=5.0, p_overrun=0.4, load=1.0),
    Variant(mtbf_h=8.0, mttr_h=4.0, p_overrun=0.3, load=1.0),
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
    load: float = 1.0  # factor on every kind's request rate

    @classmethod
    def build(cls, seed: int, truth: SimulatedParams = TRUTH, load: float = 1.0) -> World:
        w = cls(load=load)
        n = 0
        for kind, (count, hours, _, _) in KINDS.items():
            for i in range(count):
                ident = f"{kind}-{i + 1}"
                n += 1
                w.instruments[ident] = SimulatedInstrument(
                    truth, seed * 100 + n, start=T0, record=True
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
                t += timedelta(hours=rng.expovariate(rate * self.load))
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


async def store_history(conn: asyncpg.Connection, world: World, now: datetime = NOW) -> None:
    """What the backend would hold at ``now``: telemetry of the last four weeks, bookings and
    their outcomes, live state."""
    since = max(T0, now - HISTORY)
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
                *(since + k * SAMPLE for k in range(int((now - since) / SAMPLE))),
                *(t for t in trace.times if since <= t < now),
            }
        )
        rows.extend((ident, t, trace.at(t).value, 1) for t in grid)
        await conn.execute(
            """UPDATE instrument_live SET online = true, state = $2, since = $3, last_seen = $3
               WHERE instrument_id = $1""",
            ident,
            trace.at(now).value,
            now,
        )
    await conn.copy_records_to_table(
        "telemetry", records=rows, columns=["instrument_id", "ts", "state", "batch"]
    )
    for b in world.bookings:
        if b.created >= now or b.end <= since:
            continue
        trace = Trace(world.instruments[b.instrument])
        status, activated, running, flags = "confirmed", None, None, []
        if b.start < now:
            # As the booking lifecycle measures: running inside the slot, the first run in
            # it, and an "overrun" flag when it is still running at the end.
            stop = min(b.end, now)
            running = trace.seconds(InstrumentState.RUNNING, b.start, stop)
            activated = next(
                (
                    t
                    for t, s in zip(trace.times, trace.states, strict=True)
                    if b.start <= t < stop and s is InstrumentState.RUNNING
                ),
                None if trace.at(b.start) is not InstrumentState.RUNNING else b.start,
            )
            status = "active" if b.end > now else ("completed" if activated else "no_show")
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


async def forecast_at(
    url: str, world: World, now: datetime, params: ForecastParams, *, workers: int = 1
) -> dict[str, Any]:
    """The forecast at ``now`` from the database at ``url`` (migrated, empty): the history
    stored, the ingest's behaviour refresh, then ``compute`` from the database alone."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await store_history(conn, world, now)
        for ident in world.instruments:  # what the ingest's background refresh stores
            await refresh_behaviour(pool, ident, now, gap=SAMPLE, window=HISTORY)
        async with pool.acquire() as conn:
            result: dict[str, Any] = await compute(conn, params, now, workers=workers)
    finally:
        await pool.close()
    return result


async def forecast_in_scratch(
    admin_url: str, world: World, now: datetime, params: ForecastParams, *, workers: int = 1
) -> dict[str, Any]:
    """``forecast_at`` on a scratch database of its own (created, migrated, then dropped), so
    that the forecast sees only what the backend would hold at ``now``."""
    async with scratch_database(admin_url) as url:
        conn = await connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        return await forecast_at(url, world, now, params, workers=workers)


def _open_seconds(
    hours: dict[str, Any] | None, a: datetime, b: datetime
) -> list[tuple[datetime, datetime]]:
    cal = OperatingCalendar.parse(hours, "UTC")
    return [(a, b)] if cal is None else cal.open_intervals(a, b)


def truth_figures(
    world: World, result: dict[str, Any], now: datetime = NOW, end: datetime | None = None
) -> dict[str, Any]:
    """Utilisation per kind and booking outcomes in the forecast week, from the truth.

    ``outcomes`` pairs each booking held at ``now`` and starting before ``end`` (default: a
    week later) with whether it was served; ``detail`` says more of each (for diagnosis), and
    ``history_served`` is the share served of the bookings the forecast's history held
    (created in the four weeks before ``now``, started before it).
    """
    end = now + 7 * DAY if end is None else end
    traces = {ident: Trace(inst) for ident, inst in world.instruments.items()}
    util: dict[str, list[float]] = {k: [0.0, 0.0] for k in KINDS}
    for ident, trace in traces.items():
        for a, b in _open_seconds(world.hours[ident], now, end):
            util[world.kind[ident]][0] += trace.seconds(InstrumentState.RUNNING, a, b)
            util[world.kind[ident]][1] += (b - a).total_seconds()
    # Bookings held at now, as the forecast saw them (its booking ids are the database's).
    predicted = {(b["instrument"], b["start"]): b["p_served"] for b in result["bookings"]}
    outcomes, detail = [], []
    for b in world.bookings:
        if b.created < now <= b.start < end:
            p = predicted[(b.instrument, b.start.isoformat())]
            trace = traces[b.instrument]
            ok = served(trace, b)
            outcomes.append((p, ok))
            detail.append(
                {
                    "p": p,
                    "served": ok,
                    "kind": b.kind,
                    "instrument": b.instrument,
                    "ahead_h": (b.start - now).total_seconds() / 3600,
                    "state_before": trace.before(b.start).value,
                    "state_at_origin": trace.at(now).value,
                    "first": not any(
                        o.instrument == b.instrument and now <= o.start < b.start
                        for o in world.bookings
                        if o.created < now
                    ),
                    "gap_h": min(
                        (
                            (b.start - o.end).total_seconds() / 3600
                            for o in world.bookings
                            if o.instrument == b.instrument and o.end <= b.start
                        ),
                        default=None,
                    ),
                }
            )
    past = [
        served(traces[b.instrument], b)
        for b in world.bookings
        if now - HISTORY <= b.created and b.start < now and b.start >= T0
    ]
    return {
        "utilisation": {k: v[0] / v[1] for k, v in util.items()},
        "outcomes": outcomes,
        "detail": detail,
        "history_served": sum(past) / len(past) if past else None,
        "history_bookings": len(past),
    }
