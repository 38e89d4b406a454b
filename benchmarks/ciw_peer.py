"""The site model beside a second, independent simulator: the same site run in Ciw.

    .venv/bin/python -m benchmarks.ciw_peer [--replications 20] [--hours 2000] [--json FILE]

A queue-mode ``SiteSpec`` (several kinds, several instruments per kind, exponential
breakdowns and repairs on calendar time, Poisson demand, exponential and lognormal lengths,
``UsageSpec(ends_with_slot=False, max_delay_s=inf)``) is translated into a Ciw network:

- one node per kind, the kind's instruments as its servers, first come, first served;
- customers are the requests: Poisson arrivals at the kind's rate, service times from the
  same distribution as the requested lengths (``ciw.dists.Exponential`` or
  ``ciw.dists.Lognormal`` with the same mean and coefficient of variation);
- breakdowns are a server schedule (``ciw.Schedule``, preemption ``"resume"``): per
  replication each instrument's up and repair times are drawn from its ``FailureSpec`` (by
  this module, not by ``twin.timeline``, so the model's timeline code is checked too) and
  summed into the number of instruments up over time. A job interrupted by a breakdown
  keeps its remaining work and resumes on the next server free.

Both simulators run the same number of replications, interleaved (so they share the
machine's load), one core each. Per kind and replication: the mean wait from arrival to the
start of service (the model: ``req_wait``, from the request's earliest start to the start the
desk booked), utilisation (running seconds over instrument seconds), the share of instrument
time up, and sessions started per hour. Means come with 95% t intervals over replications;
a difference "agrees" when it is inside the 95% interval of the difference (Welch).

Semantic differences, stated:

- *Who serves a job.* The desk books each request at arrival on the instrument whose booking
  finishes first; with identical instruments, first come first served and no breakdowns
  that is Ciw's shared queue (a job starts on the first server free). With breakdowns the
  two differ: the model's job stays on the instrument it was booked on and waits for that
  instrument's repair, and the desk does not know about repairs (``SiteSpec.avoid_down`` is
  off, as in the API), so later requests are booked behind a broken instrument as if it
  were running; Ciw's queue is shared and a server schedule has no identity (which
  instrument broke does not matter), so an interrupted job resumes on whichever server
  comes free.
- *What "wait" means.* The model's ``req_wait`` is the wait until the booked slot, the
  figure a user is quoted; the realised start, after repairs, is later. Ciw's wait is the
  realised one. Without breakdowns the two are the same; with breakdowns they are not, and
  ``realised_wait_h`` (read from the model's sessions by ``_Observed``) is also reported.
- *Sessions started*: the model counts a session when its booked slot starts; Ciw when
  service starts. They differ by the few sessions in between at the horizon.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ciw
import numpy as np
import simpy
from scipy import stats

from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.twin.model import (
    DemandSpec,
    Desk,
    Exponential,
    FailureSpec,
    Fixed,
    InstrumentSpec,
    Lognormal,
    Placement,
    Sampler,
    SiteModel,
    SiteSpec,
    SlotRequest,
    UsageSpec,
    seeds,
)

H = 3600.0
ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)
METRICS = ("wait_h", "utilisation", "up_share", "sessions_per_h")


def site(*, breakdowns: bool = True, hours: float = 2000.0, warmup_h: float = 100.0) -> SiteSpec:
    """A pilot hall in queue mode: three kinds, nine instruments, planned loads 0.75-0.8."""

    def fail(mtbf_h: float, mttr_h: float) -> FailureSpec | None:
        return FailureSpec(Exponential(mtbf_h * H), Exponential(mttr_h * H)) if breakdowns else None

    kinds: list[tuple[str, int, float, Sampler, FailureSpec | None]] = [
        ("furnace", 3, 1.2, Exponential(2 * H), fail(60, 4)),
        ("press", 2, 1.0, Lognormal(1.5 * H, 0.8), fail(40, 3)),
        ("sem", 4, 3.0, Exponential(1 * H), fail(100, 6)),
    ]
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=hours * H,
        instruments=tuple(
            InstrumentSpec(f"{k}{i}", k, failures=f) for k, n, _, _, f in kinds for i in range(n)
        ),
        demand=tuple(DemandSpec(k, lam, d, window_s=90 * 24 * H) for k, _, lam, d, _ in kinds),
        usage=tuple(UsageSpec(k, ends_with_slot=False, max_delay_s=math.inf) for k, *_ in kinds),
        warmup_s=warmup_h * H,
    )


@dataclass(slots=True)
class Figures:
    """One replication of one simulator: per kind (``SiteSpec.kinds`` order)."""

    wait_h: list[float]
    utilisation: list[float]
    up_share: list[float]
    sessions_per_h: list[float]
    wall_s: float
    realised_wait_h: list[float] = field(default_factory=list)


# -- the model ------------------------------------------------------------------------------


class _Recording:
    """The scheduler's desk, remembering each placed slot's request (earliest start)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.earliest: dict[tuple[int, float], float] = {}

    def place(
        self, request: SlotRequest, now: float, not_before: dict[int, float]
    ) -> Placement | None:
        got = self.desk.place(request, now, not_before)
        if got is not None:
            self.earliest[got.instrument, got.start] = request.earliest
        return got


class _Observed(SiteModel):
    """The site model, also noting when each new request's session really started (the first
    running interval it adds), for the realised wait. Diagnostic only: it reads the model's
    private session state and changes nothing."""

    def __init__(self, site: SiteSpec, desk: _Recording, seed: np.random.SeedSequence) -> None:
        super().__init__(site, desk, seed)
        self.recording = desk
        self.realised: list[tuple[int, float, float]] = []  # kind, earliest, real start

    def _on_start(self, event: simpy.Event) -> None:
        b = event.value
        before = len(b.unit.run_s)
        super()._on_start(event)
        earliest = self.recording.earliest.get((b.unit.index, b.start))
        if b.existing < 0 and earliest is not None and len(b.unit.run_s) > before:
            self.realised.append((b.unit.kind, earliest, b.unit.run_s[before]))


def ours(spec: SiteSpec, seed: np.random.SeedSequence) -> Figures:
    """One replication of the site model with the scheduler's desk, as
    ``scheduler.forecast.run_replications`` runs it on one worker."""
    t0 = time.perf_counter()
    model = _Observed(spec, _Recording(SchedulerDeskFactory()(spec)), seed)
    rep = model.run()
    wall = time.perf_counter() - t0
    hours = spec.horizon_s / H
    kind_of = np.array([spec.kinds.index(i.kind) for i in spec.instruments])
    real = np.asarray(model.realised, dtype=float).reshape(-1, 3)
    real = real[(real[:, 1] >= spec.warmup_s) & (real[:, 1] < spec.horizon_s)]
    out = Figures([], [], [], [], wall)
    for k in range(len(spec.kinds)):
        n = int((kind_of == k).sum())
        out.wait_h.append(float(np.mean(rep.req_wait[rep.req_kind == k])) / H)
        out.utilisation.append(float(rep.run_s[kind_of == k].sum()) / (n * spec.horizon_s))
        out.up_share.append(float(rep.up_s[kind_of == k].sum()) / (n * spec.horizon_s))
        out.sessions_per_h.append(float(rep.sessions[k]) / hours)
        sel = real[real[:, 0] == k]
        out.realised_wait_h.append(float(np.mean(sel[:, 2] - sel[:, 1])) / H)
    return out


# -- the same site in Ciw ---------------------------------------------------------------------


def _distribution(sampler: Sampler) -> ciw.dists.Distribution:
    """The Ciw distribution of a duration sampler, in hours."""
    if isinstance(sampler, Exponential):
        return ciw.dists.Exponential(H / sampler.mean_s)
    if isinstance(sampler, Lognormal):
        sigma2 = math.log1p(sampler.cv**2)
        return ciw.dists.Lognormal(math.log(sampler.mean_s / H) - sigma2 / 2, math.sqrt(sigma2))
    if isinstance(sampler, Fixed):
        return ciw.dists.Deterministic(sampler.mean_s / H)
    raise ValueError(f"no Ciw distribution for {sampler!r}")


def up_servers(
    instruments: list[InstrumentSpec], rng: np.random.Generator, until_h: float
) -> tuple[list[int], list[float]]:
    """Number of instruments up, as Ciw's schedule takes it: ``counts[i]`` servers until
    ``ends[i]`` hours (the last reaching far past ``until_h``, so it never cycles)."""
    changes: list[tuple[float, int]] = []
    for inst in instruments:
        f = inst.failures
        if f is None:
            continue
        t = 0.0
        while t < until_h:
            up = float(f.up.sample(rng, 1)[0]) / H
            repair = float(f.repair.sample(rng, 1)[0]) / H
            changes += [(t + up, -1), (t + up + repair, +1)]
            t += up + repair
    changes.sort()
    counts: list[int] = []
    ends: list[float] = []
    c = len(instruments)
    for at, step in changes:
        if at >= until_h:
            break
        if ends and at <= ends[-1]:  # simultaneous changes: one shift
            c += step
            continue
        ends.append(at)
        counts.append(c)
        c += step
    counts.append(c)
    ends.append(until_h * 10)
    return counts, ends


def peer(spec: SiteSpec, seed: np.random.SeedSequence) -> Figures:
    """One replication of ``spec`` in Ciw (times in hours)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    ciw.seed(int(seed.generate_state(1)[0]))
    hours, warmup = spec.horizon_s / H, spec.warmup_s / H
    until = hours * 1.05 + 50  # past the horizon, so every arrival before it starts
    demand = {d.kind: d for d in spec.demand}
    servers: list[Any] = []
    schedules: list[tuple[list[int], list[float]]] = []
    for k in spec.kinds:
        members = [i for i in spec.instruments if i.kind == k]
        counts, ends = up_servers(members, rng, until)
        schedules.append((counts, ends))
        servers.append(
            ciw.Schedule(numbers_of_servers=counts, shift_end_dates=ends, preemption="resume")
            if len(counts) > 1
            else len(members)
        )
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(demand[k].rate_per_hour) for k in spec.kinds],
        service_distributions=[_distribution(demand[k].duration) for k in spec.kinds],
        number_of_servers=servers,
        routing=[[0.0] * len(spec.kinds) for _ in spec.kinds],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(until)
    records = sim.get_all_records(only=["service", "interrupted service"], include_incomplete=True)
    kinds = len(spec.kinds)
    busy = np.zeros(kinds)
    first: dict[int, tuple[int, float, float]] = {}  # customer: node, first start, arrival
    for r in records:
        if r.service_start_date is None or r.service_start_date is False:
            continue  # queueing at the end (False: interrupted, waiting to resume)
        end = {"service": r.service_end_date, "interrupted service": r.exit_date}.get(r.record_type)
        end = until if end is None else end
        busy[r.node - 1] += max(0.0, min(end, hours) - min(r.service_start_date, hours))
        seen = first.get(r.id_number)
        if seen is None or r.service_start_date < seen[1]:
            first[r.id_number] = (r.node - 1, r.service_start_date, r.arrival_date)
    waits: list[list[float]] = [[] for _ in range(kinds)]
    started = np.zeros(kinds)
    for node, start, arrival in first.values():
        started[node] += start < hours
        if warmup <= arrival < hours:
            waits[node].append(start - arrival)
    wall = time.perf_counter() - t0
    out = Figures([], [], [], [], wall)
    for k, (counts, ends) in enumerate(schedules):
        n = sum(1 for i in spec.instruments if i.kind == spec.kinds[k])
        edges = np.minimum(np.array([0.0, *ends]), hours)
        out.wait_h.append(float(np.mean(waits[k])))
        out.utilisation.append(float(busy[k]) / (n * hours))
        out.up_share.append(float(np.dot(counts, np.diff(edges))) / (n * hours))
        out.sessions_per_h.append(float(started[k]) / hours)
    return out


# -- side by side ---------------------------------------------------------------------------


def run(spec: SiteSpec, replications: int, seed: int) -> tuple[list[Figures], list[Figures]]:
    """Both simulators, ``replications`` each, interleaved; independent streams."""
    model_seeds = seeds(seed, replications)
    peer_seeds = np.random.SeedSequence([seed, 1]).spawn(replications)
    a, b = [], []
    for m, p in zip(model_seeds, peer_seeds, strict=True):
        a.append(ours(spec, m))
        b.append(peer(spec, p))
    return a, b


def interval(values: list[float]) -> dict[str, float]:
    """Mean, standard error and 95% t interval over replications."""
    x = np.asarray(values, dtype=float)
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    half = float(stats.t.ppf(0.975, x.size - 1)) * se
    m = float(x.mean())
    return {"mean": m, "se": se, "lo": m - half, "hi": m + half}


def agreement(a: list[float], b: list[float]) -> dict[str, Any]:
    """``a`` against ``b``: both intervals, the difference, its 95% Welch half-width and the
    difference in combined standard errors (``z``)."""
    ia, ib = interval(a), interval(b)
    va, vb = ia["se"] ** 2, ib["se"] ** 2
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    half = float(stats.t.ppf(0.975, df)) * se
    diff = ia["mean"] - ib["mean"]
    return {
        "model": ia,
        "ciw": ib,
        "difference": diff,
        "half_width": half,
        "z": diff / se if se > 0 else 0.0,
        "agree": abs(diff) <= half,
        "overlap": ia["lo"] <= ib["hi"] and ib["lo"] <= ia["hi"],
    }


def compare(spec: SiteSpec, a: list[Figures], b: list[Figures]) -> dict[str, Any]:
    """Per kind and metric, the agreement of the model (``a``) with Ciw (``b``)."""
    kinds: dict[str, Any] = {}
    for k, kind in enumerate(spec.kinds):
        row = {
            m: agreement([getattr(x, m)[k] for x in a], [getattr(x, m)[k] for x in b])
            for m in METRICS
        }
        row["realised_wait_h"] = interval([x.realised_wait_h[k] for x in a])
        kinds[kind] = row
    return {
        "replications": len(a),
        "hours": spec.horizon_s / H,
        "warmup_h": spec.warmup_s / H,
        "kinds": kinds,
        "wall_s_per_replication": {
            "model": statistics.median(x.wall_s for x in a),
            "ciw": statistics.median(x.wall_s for x in b),
        },
    }


def side_by_side(replications: int, hours: float, seed: int) -> dict[str, Any]:
    """The site without and with breakdowns, both simulators."""
    out: dict[str, Any] = {}
    for name, broken in (("no_breakdowns", False), ("breakdowns", True)):
        spec = site(breakdowns=broken, hours=hours)
        out[name] = compare(spec, *run(spec, replications, seed))
        print(f"{name}: {_summary(out[name])}", file=sys.stderr)
    return out


def _summary(result: dict[str, Any]) -> str:
    parts = []
    for kind, row in result["kinds"].items():
        for m in METRICS:
            r = row[m]
            flag = "" if r["agree"] else " DISAGREE"
            parts.append(f"{kind}.{m} {r['model']['mean']:.4g}/{r['ciw']['mean']:.4g}{flag}")
    w = result["wall_s_per_replication"]
    parts.append(f"wall {w['model']:.3f}s/{w['ciw']:.3f}s")
    return "; ".join(parts)


def figure(path: Path, data: dict[str, Any]) -> None:
    """Model against Ciw per kind and metric, 95% intervals, both scenarios."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(data)
    fig, axes = plt.subplots(len(scenarios), 3, figsize=(12, 3.4 * len(scenarios)), squeeze=False)
    for row, name in zip(axes, scenarios, strict=True):
        result = data[name]
        kinds = list(result["kinds"])
        x = np.arange(len(kinds))
        for ax, metric, label in zip(
            row,
            ("wait_h", "utilisation", "up_share"),
            ("mean wait (h)", "utilisation", "share of time up"),
            strict=True,
        ):
            for dx, who, colour in ((-0.12, "model", "C0"), (0.12, "ciw", "C1")):
                r = [result["kinds"][k][metric][who] for k in kinds]
                ax.errorbar(
                    x + dx,
                    [v["mean"] for v in r],
                    yerr=[[v["mean"] - v["lo"] for v in r], [v["hi"] - v["mean"] for v in r]],
                    fmt="o",
                    capsize=4,
                    color=colour,
                    label="site model" if who == "model" else "Ciw",
                )
            if metric == "wait_h" and name == "breakdowns":
                r = [result["kinds"][k]["realised_wait_h"] for k in kinds]
                ax.errorbar(
                    x,
                    [v["mean"] for v in r],
                    yerr=[[v["mean"] - v["lo"] for v in r], [v["hi"] - v["mean"] for v in r]],
                    fmt="s",
                    capsize=4,
                    color="C2",
                    label="site model, realised start",
                )
            ax.set_xticks(x, kinds)
            ax.set_title(f"{label}, {name.replace('_', ' ')}")
        row[0].legend(fontsize=8)
    fig.suptitle(
        f"site model against Ciw, 95% intervals over {data[scenarios[0]]['replications']} "
        "replications"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--hours", type=float, default=2000.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    data = side_by_side(args.replications, args.hours, args.seed)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if args.figure:
        figure(args.figure, data)
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
