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
import dataclasses
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
    replicate,
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
    """One replication of the site model with the scheduler's desk, exactly as
    ``scheduler.forecast.run_replications`` runs it on one worker (``replicate``), timed;
    then the same replication again, observed, for the realised waits (not timed)."""
    factory = SchedulerDeskFactory()
    t0 = time.perf_counter()
    rep = replicate(spec, factory, seed)
    wall = time.perf_counter() - t0
    model = _Observed(spec, _Recording(factory(spec)), seed)
    again = model.run()
    assert np.array_equal(again.req_wait, rep.req_wait, equal_nan=True)  # observing changed nothing
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


class _Booked(ciw.dists.Distribution):  # type: ignore[misc]
    """An instrument's service time: the work drawn when the request was booked."""

    def sample(self, t: float | None = None, ind: Any = None) -> float:  # noqa: ARG002
        return float(ind.work)


class _Desk(ciw.routing.NodeRouting):  # type: ignore[misc]
    """The desk's rule inside Ciw: at arrival, draw the work and book it on the instrument
    whose booking finishes first (ties: the first instrument), blind to repairs."""

    def __init__(self, work: ciw.dists.Distribution, nodes: list[int]) -> None:
        self.work, self.nodes = work, nodes
        self.free = [0.0] * len(nodes)

    def next_node(self, ind: Any) -> Any:
        now = float(self.simulation.current_time)
        ind.work = float(self.work.sample())
        ends = [max(now, f) + ind.work for f in self.free]
        j = int(np.argmin(ends))
        ind.booked_wait = max(now, self.free[j]) - now
        self.free[j] = ends[j]
        return self.simulation.nodes[self.nodes[j]]


def pinned(spec: SiteSpec, seed: np.random.SeedSequence) -> Figures:
    """The model's own semantics in Ciw: per kind, a desk node (no servers to wait for) that
    books each request on one instrument node; each instrument a node of one server with its
    own breakdown schedule (preemption ``"resume"``). ``wait_h`` is the booked wait and
    ``realised_wait_h`` the wait until service started. Diagnostic: it explains where the
    model and the shared queue part."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    ciw.seed(int(seed.generate_state(1)[0]))
    hours, warmup = spec.horizon_s / H, spec.warmup_s / H
    until = hours * 1.05 + 50
    demand = {d.kind: d for d in spec.demand}
    arrivals: list[Any] = []
    services: list[Any] = []
    servers: list[Any] = []
    routers: list[Any] = []
    kind_of_node: list[int] = []
    members = [[i for i in spec.instruments if i.kind == k] for k in spec.kinds]
    node = 1
    for k, kind in enumerate(spec.kinds):
        first = node + 1
        arrivals.append(ciw.dists.Exponential(demand[kind].rate_per_hour))
        services.append(ciw.dists.Deterministic(0.0))
        servers.append(float("inf"))
        routers.append(
            _Desk(_distribution(demand[kind].duration), list(range(first, first + len(members[k]))))
        )
        kind_of_node.append(k)
        for inst in members[k]:
            counts, ends = up_servers([inst], rng, until)
            arrivals.append(None)
            services.append(_Booked())
            servers.append(
                ciw.Schedule(numbers_of_servers=counts, shift_end_dates=ends, preemption="resume")
                if len(counts) > 1
                else 1
            )
            routers.append(ciw.routing.Leave())
            kind_of_node.append(k)
        node = first + len(members[k])
    network = ciw.create_network(
        arrival_distributions=arrivals,
        service_distributions=services,
        number_of_servers=servers,
        routing=ciw.routing.NetworkRouting(routers=routers),
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(until)
    kinds = len(spec.kinds)
    booked: list[list[float]] = [[] for _ in range(kinds)]
    real: list[list[float]] = [[] for _ in range(kinds)]
    for ind in sim.get_all_individuals():
        recs = [r for r in ind.data_records if r.record_type in ("service", "interrupted service")]
        if not recs or not hasattr(ind, "booked_wait"):
            continue
        arrival = recs[0].arrival_date  # the desk node's record comes first
        if not warmup <= arrival < hours:
            continue
        k = kind_of_node[recs[0].node - 1]
        starts = [r.service_start_date for r in recs[1:]]
        if starts and min(starts) < hours:  # as the model sees it: started in the horizon
            booked[k].append(ind.booked_wait)
            real[k].append(min(starts) - arrival)
    wall = time.perf_counter() - t0
    out = Figures([], [], [], [], wall)
    for k in range(kinds):
        out.wait_h.append(float(np.mean(booked[k])))
        out.realised_wait_h.append(float(np.mean(real[k])))
    return out


# -- side by side ---------------------------------------------------------------------------


def run(
    spec: SiteSpec, replications: int, seed: int, *, diagnostics: bool = False
) -> tuple[list[Figures], list[Figures], dict[str, list[Figures]]]:
    """The model and Ciw, ``replications`` each, interleaved so that they share the machine's
    load; independent streams. With ``diagnostics``, also Ciw with the desk's rule
    (``"pinned"``) and the model with ``SiteSpec.avoid_down`` (``"avoid_down"``)."""
    model_seeds = seeds(seed, replications)
    peer_seeds = np.random.SeedSequence([seed, 1]).spawn(replications)
    pinned_seeds = np.random.SeedSequence([seed, 2]).spawn(replications)
    avoiding = dataclasses.replace(spec, avoid_down=True)
    a: list[Figures] = []
    b: list[Figures] = []
    extra: dict[str, list[Figures]] = {"pinned": [], "avoid_down": []} if diagnostics else {}
    for m, p, q in zip(model_seeds, peer_seeds, pinned_seeds, strict=True):
        a.append(ours(spec, m))
        b.append(peer(spec, p))
        if diagnostics:
            extra["pinned"].append(pinned(spec, q))
            extra["avoid_down"].append(ours(avoiding, m))
    return a, b, extra


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


def compare(
    spec: SiteSpec,
    a: list[Figures],
    b: list[Figures],
    extra: dict[str, list[Figures]] | None = None,
) -> dict[str, Any]:
    """Per kind and metric, the agreement of the model (``a``) with Ciw (``b``); with
    ``extra`` (``run(diagnostics=True)``), also the model's booked and realised waits against
    Ciw with the desk's rule (``"pinned"``), and the realised wait of the model with
    ``avoid_down`` against Ciw's shared queue (``"avoid_down"``)."""
    extra = extra or {}
    c = extra.get("pinned")
    d = extra.get("avoid_down")
    kinds: dict[str, Any] = {}
    for k, kind in enumerate(spec.kinds):
        row = {
            m: agreement([getattr(x, m)[k] for x in a], [getattr(x, m)[k] for x in b])
            for m in METRICS
        }
        row["realised_wait_h"] = interval([x.realised_wait_h[k] for x in a])
        if c:
            row["pinned"] = {
                m: agreement([getattr(x, m)[k] for x in a], [getattr(x, m)[k] for x in c])
                for m in ("wait_h", "realised_wait_h")
            }
        if d:
            row["avoid_down"] = {
                "wait_h": interval([x.wait_h[k] for x in d]),
                "realised_wait_h": agreement(
                    [x.realised_wait_h[k] for x in d], [x.wait_h[k] for x in b]
                ),
            }
        kinds[kind] = row
    wall = {
        "model": statistics.median(x.wall_s for x in a),
        "ciw": statistics.median(x.wall_s for x in b),
    }
    if d:
        wall["model_avoid_down"] = statistics.median(x.wall_s for x in d)
    if c:
        wall["ciw_pinned"] = statistics.median(x.wall_s for x in c)
    return {
        "replications": len(a),
        "hours": spec.horizon_s / H,
        "warmup_h": spec.warmup_s / H,
        "kinds": kinds,
        "wall_s_per_replication": wall,
    }


def side_by_side(
    replications: int, hours: float, seed: int, *, diagnostics: bool = True
) -> dict[str, Any]:
    """The site without and with breakdowns in both simulators (with breakdowns, also the
    diagnostics of ``run`` unless ``diagnostics`` is false)."""
    out: dict[str, Any] = {}
    for name, broken in (("no_breakdowns", False), ("breakdowns", True)):
        spec = site(breakdowns=broken, hours=hours)
        out[name] = compare(
            spec, *run(spec, replications, seed, diagnostics=broken and diagnostics)
        )
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


def _series(result: dict[str, Any], metric: str) -> list[tuple[str, str, list[dict[str, float]]]]:
    """(label, marker, intervals per kind) to draw for one panel."""
    kinds = list(result["kinds"].values())
    out = [
        ("site model", "o", [k[metric]["model"] for k in kinds]),
        ("Ciw, shared queue", "o", [k[metric]["ciw"] for k in kinds]),
    ]
    if metric == "wait_h" and "pinned" in kinds[0]:
        out = [
            ("site model, booked", "o", [k["wait_h"]["model"] for k in kinds]),
            ("Ciw, shared queue", "o", [k["wait_h"]["ciw"] for k in kinds]),
            ("site model, realised", "s", [k["realised_wait_h"] for k in kinds]),
            (
                "Ciw, desk's rule, realised",
                "^",
                [k["pinned"]["realised_wait_h"]["ciw"] for k in kinds],
            ),
        ]
        if "avoid_down" in kinds[0]:
            out.append(
                (
                    "site model with avoid_down, realised",
                    "D",
                    [k["avoid_down"]["realised_wait_h"]["model"] for k in kinds],
                )
            )
    return out


def figure(path: Path, data: dict[str, Any]) -> None:
    """Model against Ciw per kind and metric, 95% intervals, both scenarios."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(data)
    fig, axes = plt.subplots(len(scenarios), 3, figsize=(13, 3.6 * len(scenarios)), squeeze=False)
    for row, name in zip(axes, scenarios, strict=True):
        result = data[name]
        x = np.arange(len(result["kinds"]))
        always_up = all(k["up_share"]["ciw"]["mean"] == 1.0 for k in result["kinds"].values())
        third = ("sessions_per_h", "sessions started per hour")
        for ax, metric, label in zip(
            row,
            ("wait_h", "utilisation", third[0] if always_up else "up_share"),
            ("mean wait (h)", "utilisation", third[1] if always_up else "share of time up"),
            strict=True,
        ):
            series = _series(result, metric)
            width = 0.5 / len(series)
            for n, (who, marker, r) in enumerate(series):
                ax.errorbar(
                    x + (n - (len(series) - 1) / 2) * width,
                    [v["mean"] for v in r],
                    yerr=[[v["mean"] - v["lo"] for v in r], [v["hi"] - v["mean"] for v in r]],
                    fmt=marker,
                    capsize=3,
                    color=f"C{n}",
                    label=who,
                )
            ax.set_xticks(x, list(result["kinds"]))
            ax.set_title(f"{label}, {name.replace('_', ' ')}", fontsize=10)
            if metric == "wait_h":
                ax.legend(fontsize=7)
    fig.suptitle(
        f"site model against Ciw: 95% intervals over {data[scenarios[0]]['replications']} "
        f"replications of {data[scenarios[0]]['hours']:.0f} h"
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
    parser.add_argument(
        "--no-diagnostics",
        action="store_true",
        help="skip Ciw with the desk's rule (the slowest) and the model with avoid_down",
    )
    args = parser.parse_args()
    data = side_by_side(
        args.replications, args.hours, args.seed, diagnostics=not args.no_diagnostics
    )
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if args.figure:
        figure(args.figure, data)
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
