"""Forecast benchmark: a 50-instrument site, 90 days, 200 replications, against a
straightforward SimPy model of the same site measured in the same run.

    .venv/bin/python -m benchmarks.forecast [--replications 200] [--naive-replications 6]
        [--workers 2] [--json out.json]

The site: 50 instruments of 5 kinds (two thirds open 07:00-22:00 on weekdays, the rest
always), failures every ~150 h with ~5 h exponential repairs, 15-minute setup buffers,
demand of one request per hour per kind (lognormal, mean 4 h, lead about 2 days, two-week
windows), 5% no-shows, late starts (10 min), sessions running 90% of their slot, 20%
overrunning by about 30 min. Both models book new demand with the
scheduler's real ``allocation.allocate`` through the same desk, so the comparison is of
how the simulation spends events, not of allocation.

- *forecast*: ``scheduler.forecast.run_replications`` (``twin.model``): failure timelines
  drawn with numpy, one event per booking, one per request; a process pool on both cores.
- *straightforward*: the textbook SimPy model: one process per job (wait for the slot,
  request the instrument, run, get preempted by repairs and resume), one process per
  failure and one per repair (a preemptive request of the instrument), one arrival process
  per demand stream.

Reported: the forecast's wall time and events/s; per-replication seconds of each model on
one core (same seeds) and their ratio; the straightforward model's wall time for the same
replications on the same cores, extrapolated from its per-replication time with perfect
scaling (which favours it); and per-kind utilisation of both, which should agree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from pilotshare.scheduler.allocation import Candidate, Request, allocate
from pilotshare.scheduler.forecast import run_replications
from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar, free_intervals
from pilotshare.twin.model import (
    DemandSpec,
    Desk,
    Exponential,
    FailureSpec,
    InstrumentSpec,
    Lognormal,
    Placement,
    SiteSpec,
    SlotRequest,
    UsageSpec,
    open_seconds,
    replicate,
    seeds,
)
from pilotshare.twin.timeline import DAY, amounts_per_bin, cumulative

H = 3600.0
KINDS = ("sem", "xrd", "tga", "oven", "aoi")


def _calendar() -> OperatingCalendar:
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    cal = OperatingCalendar.parse({d: [["07:00", "22:00"]] for d in weekdays}, "UTC")
    assert cal is not None
    return cal


def bench_site(instruments: int = 50, days: int = 90) -> SiteSpec:
    """The benchmark site (module docstring)."""
    origin = datetime(2026, 1, 5, tzinfo=UTC)
    cal = _calendar()
    reach = origin + timedelta(days=days + 120)
    hours = tuple(
        ((a - origin).total_seconds(), (b - origin).total_seconds())
        for a, b in cal.open_intervals(origin, reach)
    )
    failures = FailureSpec(Exponential(150 * H), Exponential(5 * H))
    specs = tuple(
        InstrumentSpec(
            f"{KINDS[i % 5]}-{i // 5 + 1}",
            KINDS[i % 5],
            calendar=hours if i % 3 else None,
            failures=failures,
            setup_buffer_s=900,
            min_booking_s=900,
            p_up=failures.availability,
        )
        for i in range(instruments)
    )
    demand = tuple(
        DemandSpec(
            k,
            1.0 * instruments / 50,
            Lognormal(4 * H, 0.6),
            lead=Exponential(2 * DAY),
            window_s=14 * DAY,
        )
        for k in KINDS
    )
    usage = tuple(
        UsageSpec(
            k,
            no_show_p=0.05,
            late_start=Exponential(600),
            run_ratio=Lognormal(0.9, 0.1),
            overrun_p=0.2,
            overrun=Exponential(1800),
        )
        for k in KINDS
    )
    return SiteSpec(
        origin=origin, horizon_s=days * DAY, instruments=specs, demand=demand, usage=usage
    )


class NaiveModel:
    """The straightforward SimPy model of a ``SiteSpec`` (module docstring)."""

    def __init__(self, site: SiteSpec, desk: Desk, seed: np.random.SeedSequence) -> None:
        self.site, self.desk = site, desk
        self.env = simpy.Environment()
        self.rng = np.random.default_rng(seed)
        self.res = [simpy.PreemptiveResource(self.env, 1) for _ in site.instruments]
        self.down = [False] * len(site.instruments)
        self.repair_mean = [
            s.failures.repair.mean_s if s.failures else 0.0 for s in site.instruments
        ]
        self.runs: list[list[tuple[float, float]]] = [[] for _ in site.instruments]
        self.usage = {u.kind: u for u in site.usage}
        self.by_kind: dict[str, list[int]] = {}
        for n, s in enumerate(site.instruments):
            self.by_kind.setdefault(s.kind, []).append(n)
        self.served = np.zeros(len(site.bookings), dtype=bool)
        self.waits: list[float] = []
        self.rid = 0

    def draw(self, sampler: Any) -> float:
        return float(sampler.sample(self.rng, 1)[0])

    # one process per failure, one per repair
    def failures(self, n: int) -> simpy.events.ProcessGenerator:
        spec = self.site.instruments[n].failures
        assert spec is not None
        if self.site.instruments[n].down_at_start:
            self.env.process(self.repair(n, self.draw(spec.repair)))
        while True:
            yield self.env.timeout(self.draw(spec.up))
            done = self.env.process(self.repair(n, self.draw(spec.repair)))
            yield done

    def repair(self, n: int, length: float) -> simpy.events.ProcessGenerator:
        with self.res[n].request(priority=-1, preempt=True) as req:
            yield req
            self.down[n] = True
            yield self.env.timeout(length)
            self.down[n] = False

    # one process per job
    def job(self, n: int, start: float, end: float, existing: int) -> simpy.events.ProcessGenerator:
        yield self.env.timeout(max(start - self.env.now, 0.0))
        if existing >= 0:
            self.served[existing] = not self.down[n] and self.res[n].count == 0
        use = self.usage.get(self.site.instruments[n].kind)
        if use and self.rng.random() < use.no_show_p:
            return
        if use and use.late_start:
            yield self.env.timeout(self.draw(use.late_start))
        # The same session rules as the forecast: run a share of what is left of the slot,
        # stop at its end, and sometimes overrun.
        ratio = self.draw(use.run_ratio) if use and use.run_ratio else 1.0
        with self.res[n].request(priority=0) as req:
            yield req
            if self.env.now >= end:
                self.rebook(n, end - start)  # could not start inside its slot: lost
                return
        remaining = ratio * (end - self.env.now)
        while remaining > 1e-9 and self.env.now < end:
            with self.res[n].request(priority=0) as req:
                yield req
                began = self.env.now
                with contextlib.suppress(simpy.Interrupt):
                    yield self.env.timeout(min(remaining, max(end - began, 0.0)))
                self.runs[n].append((began, self.env.now))
                remaining -= self.env.now - began
        if use and use.overrun and self.rng.random() < use.overrun_p:
            more = self.draw(use.overrun)
            yield self.env.timeout(max(end - self.env.now, 0.0))
            with self.res[n].request(priority=0) as req:
                yield req
                began = self.env.now
                with contextlib.suppress(simpy.Interrupt):
                    yield self.env.timeout(more)
                self.runs[n].append((began, self.env.now))

    def rebook(self, n: int, length: float) -> None:
        kind = self.site.instruments[n].kind
        now = self.env.now
        self.rid += 1
        got = self.desk.place(
            SlotRequest(self.rid, kind, length, now, now + 14 * DAY, frozenset()), now, {}
        )
        if got is not None:
            self.env.process(self.job(got.instrument, got.start, got.end, -1))

    # one arrival process per demand stream
    def arrivals(self, spec: DemandSpec) -> simpy.events.ProcessGenerator:
        rate = spec.rate_per_hour / H
        while True:
            yield self.env.timeout(self.rng.exponential(1 / rate))
            now = self.env.now
            earliest = now + (self.draw(spec.lead) if spec.lead else 0.0)
            self.rid += 1
            not_before = {
                n: now + self.repair_mean[n] for n in self.by_kind[spec.kind] if self.down[n]
            }
            got = self.desk.place(
                SlotRequest(
                    self.rid,
                    spec.kind,
                    self.draw(spec.duration),
                    earliest,
                    earliest + spec.window_s,
                    spec.capabilities,
                ),
                now,
                not_before,
            )
            if got is None:
                continue
            self.waits.append(got.start - earliest)
            self.env.process(self.job(got.instrument, got.start, got.end, -1))

    def run(self) -> dict[str, Any]:
        index = {s.id: n for n, s in enumerate(self.site.instruments)}
        for n, s in enumerate(self.site.instruments):
            if s.failures:
                self.env.process(self.failures(n))
        for b, spec in enumerate(self.site.bookings):
            self.env.process(self.job(index[spec.instrument], spec.start, spec.end, b))
        for spec in self.site.demand:
            self.env.process(self.arrivals(spec))
        self.env.run(until=self.site.horizon_s)
        edges = np.minimum(np.arange(self.site.days + 1) * DAY, self.site.horizon_s)
        run = np.zeros((len(self.site.instruments), self.site.days))
        for n, segs in enumerate(self.runs):
            segs.sort()
            cum = cumulative(self.site.open_intervals(n))
            run[n] = amounts_per_bin([a for a, _ in segs], [b for _, b in segs], cum, edges)
        return {"run_s": run, "events": next(self.env._eid)}


class PolicyDesk:
    """Booking as the API does it, per request: each instrument's free time from
    ``policy.free_intervals`` (calendar, maintenance, the bookings in the window with their
    buffers), then ``allocation.allocate`` on all of them."""

    def __init__(self, site: SiteSpec, calendar: OperatingCalendar) -> None:
        self.origin = site.origin
        self.specs = site.instruments
        self.rules = [
            BookingRules(
                calendar=calendar if s.calendar is not None else None,
                setup_buffer=timedelta(seconds=s.setup_buffer_s),
                min_length=timedelta(seconds=s.min_booking_s),
                max_horizon=timedelta(days=3650),
            )
            for s in site.instruments
        ]
        self.booked: list[list[tuple[datetime, datetime]]] = [[] for _ in site.instruments]
        self.by_kind: dict[str, list[int]] = {}
        for n, s in enumerate(site.instruments):
            self.by_kind.setdefault(s.kind, []).append(n)
        self.index = {s.id: n for n, s in enumerate(site.instruments)}

    def place(
        self, request: SlotRequest, now: float, not_before: dict[int, float]
    ) -> Placement | None:
        dt = self.origin + timedelta(seconds=now)
        lo = self.origin + timedelta(seconds=request.earliest)
        hi = self.origin + timedelta(seconds=request.latest)
        cands = []
        for n in self.by_kind[request.kind]:
            rules = self.rules[n]
            start = max(lo, self.origin + timedelta(seconds=not_before.get(n, now)))
            window = (start, hi)
            buf = rules.setup_buffer
            held = [b for b in self.booked[n] if b[0] - buf < hi and start < b[1] + buf]
            free = free_intervals(rules, window=window, now=dt, bookings=held)
            s = self.specs[n]
            cands.append(
                Candidate(
                    s.id,
                    s.kind,
                    s.capabilities,
                    free,
                    s.p_up,
                    buf,
                    rules.min_length,
                    rules.max_length,
                )
            )
        got = allocate(
            Request(str(request.id), request.kind, timedelta(seconds=request.duration), lo, hi),
            cands,
            dt,
        )
        if got is None:
            return None
        n = self.index[got.instrument]
        self.booked[n].append((got.start, got.end))
        return Placement(
            n, (got.start - self.origin).total_seconds(), (got.end - self.origin).total_seconds()
        )


def naive_replicate(
    site: SiteSpec, seq: np.random.SeedSequence, *, policy_desk: bool
) -> dict[str, Any]:
    desk: Desk = PolicyDesk(site, _calendar()) if policy_desk else SchedulerDeskFactory()(site)
    return NaiveModel(site, desk, seq).run()


def kind_utilisation(site: SiteSpec, runs: list[np.ndarray]) -> dict[str, float]:
    opened = open_seconds(site)
    out = {}
    for kind in site.kinds:
        members = [i for i, s in enumerate(site.instruments) if s.kind == kind]
        out[kind] = round(
            float(np.mean([r[members].sum() / opened[members].sum() for r in runs])), 4
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instruments", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--naive-replications", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    site = bench_site(args.instruments, args.days)
    factory = SchedulerDeskFactory()

    # Per replication, one core, the same seeds for every model.
    # The fast models get three times as many probes: their medians must resist load spikes.
    probe = seeds(99, 3 * args.naive_replications)
    secs: dict[str, list[float]] = {"forecast": [], "same_desk": [], "straightforward": []}
    evs: dict[str, list[int]] = {k: [] for k in secs}
    runs: dict[str, list[np.ndarray]] = {k: [] for k in secs}
    replicate(site, factory, probe[0])  # warm-up: imports and caches are not the model
    for n, seq in enumerate(probe):
        for name in list(secs):
            if name == "straightforward" and n % 3:
                continue
            t = time.perf_counter()
            if name == "forecast":
                rep = replicate(site, factory, seq)
                run_s, ev = rep.run_s, rep.events
            else:
                out = naive_replicate(site, seq, policy_desk=name == "straightforward")
                run_s, ev = out["run_s"], out["events"]
            secs[name].append(time.perf_counter() - t)
            evs[name].append(ev)
            runs[name].append(run_s)
        print(
            "probe: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in secs.items() if v),
            file=sys.stderr,
        )

    # The whole forecast on both cores.
    t = time.perf_counter()
    reps = run_replications(site, args.replications, seed=1, factory=factory, workers=args.workers)
    wall = time.perf_counter() - t
    events = sum(r.events for r in reps)
    per_rep = {k: statistics.median(v) for k, v in secs.items()}
    naive_wall = per_rep["straightforward"] * args.replications / args.workers
    result = {
        "site": {
            "instruments": args.instruments,
            "days": args.days,
            "requests_per_replication": round(statistics.mean(len(r.req_wait) for r in reps)),
            "sessions_per_replication": round(statistics.mean(int(r.sessions.sum()) for r in reps)),
        },
        "forecast": {
            "replications": args.replications,
            "workers": args.workers,
            "wall_s": round(wall, 2),
            "events": events,
            "events_per_s": round(events / wall),
            "events_per_replication": round(events / args.replications),
        },
        "per_replication_one_core_s": {k: round(v, 3) for k, v in per_rep.items()},
        "ratio_one_core": {
            "straightforward_over_forecast": round(
                per_rep["straightforward"] / per_rep["forecast"], 1
            ),
            "same_desk_over_forecast": round(per_rep["same_desk"] / per_rep["forecast"], 2),
        },
        "events_per_replication": {k: round(statistics.median(v)) for k, v in evs.items()},
        "straightforward_wall_s_extrapolated": round(naive_wall, 1),
        "wall_ratio": round(naive_wall / wall, 1),
        "utilisation_by_kind": {k: kind_utilisation(site, v) for k, v in runs.items()},
        "goal": {"wall_under_30_s": wall < 30, "at_least_5x": naive_wall / wall >= 5},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
