"""The JSON report of an experiment: what machines read, and what the HTML and charts show.

Every number of the HTML report comes from this dictionary, so the two never disagree. The
shape (documented in docs/simulations.md) is also the ``result`` of a simulation job in the
API. Undefined numbers (no request of a kind was served, so it has no waiting time) are
``null``, never NaN, so the document is strict JSON.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from pilotshare.simulations import metrics
from pilotshare.simulations.experiment import Outcome
from pilotshare.simulations.metrics import METRICS, SITE, ReplicationResult
from pilotshare.simulations.paired import band, estimate, paired, wilson
from pilotshare.simulations.scenario import Site

VERSION = 1


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _nums(xs: np.ndarray) -> list[float | None]:
    return [_num(float(x)) for x in xs]


def describe_site(site: Site) -> dict[str, Any]:
    """A short description of a site: instruments per kind and demand per kind."""
    count = Counter(i.kind for i in site.instruments)
    per_week: dict[str, float] = {}
    for d in site.demand:
        per_week[d.kind] = per_week.get(d.kind, 0.0) + d.per_week
    return {
        "id": site.id,
        "instruments": len(site.instruments),
        "policy": {
            "allocation": site.policy.allocation,
            "window_hours": site.policy.window_hours,
        },
        "kinds": [
            {"kind": k, "instruments": count.get(k, 0), "requests_per_week": per_week.get(k, 0.0)}
            for k in site.kinds()
        ],
    }


def comparison(outcome: Outcome) -> list[dict[str, Any]]:
    """Paired differences of every metric, for the site and each kind."""
    rows = []
    conf = outcome.scenario.confidence
    kinds = metrics.kinds_of(outcome.baseline, outcome.variant)
    for metric in METRICS:
        for kind in [SITE, *([] if metric == "booking_odds" else kinds)]:
            a = metrics.series(outcome.baseline, metric, kind)
            b = metrics.series(outcome.variant, metric, kind)
            if not (np.isfinite(a).any() or np.isfinite(b).any()):
                continue
            diff = paired(a, b, conf, metrics.bounds(metric))
            rows.append({"metric": metric, "kind": kind, **diff.as_dict()})
    return rows


def _weekly(results: Sequence[ReplicationResult], kinds: Sequence[str]) -> dict[str, Any]:
    out = {}
    for kind in [SITE, *kinds]:
        mean, p05, p95 = band(metrics.weekly_utilisation(results, kind))
        out[kind] = {"mean": _nums(mean), "p05": _nums(p05), "p95": _nums(p95)}
    return out


def _waits(results: Sequence[ReplicationResult], kinds: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in [SITE, *kinds]:
        w = metrics.waits(results, kind)
        if w.size == 0:
            out[kind] = {"n": 0, "mean": None, "p50": None, "p90": None, "p95": None, "max": None}
            continue
        q = np.quantile(w, [0.5, 0.9, 0.95])
        out[kind] = {
            "n": int(w.size),
            "mean": _num(float(w.mean())),
            "p50": _num(float(q[0])),
            "p90": _num(float(q[1])),
            "p95": _num(float(q[2])),
            "max": _num(float(w.max())),
        }
    return out


def _bookings(outcome: Outcome) -> list[dict[str, Any]]:
    """Each existing booking's odds of being served as booked, in both arms (Wilson intervals).

    A booking on an instrument the scenario removes has no odds there (``null``).
    """
    conf = outcome.scenario.confidence
    positions = {
        "baseline": {b.id: k for k, b in enumerate(outcome.baseline_site.bookings)},
        "scenario": {b.id: k for k, b in enumerate(outcome.scenario_site.bookings)},
    }
    rows = []
    for booking in outcome.baseline_site.bookings:
        row: dict[str, Any] = {"booking": booking.id, "instrument": booking.instrument}
        for arm, results in (("baseline", outcome.baseline), ("scenario", outcome.variant)):
            k = positions[arm].get(booking.id)
            if k is None or not results:
                row[arm] = None
                continue
            served = sum(1 for r in results if k < len(r.bookings_served) and r.bookings_served[k])
            lo, hi = wilson(served, len(results), conf)
            row[arm] = {"p_served": served / len(results), "interval": [lo, hi]}
        rows.append(row)
    return rows


def _sweep(outcome: Outcome) -> dict[str, Any] | None:
    sweep = outcome.scenario.sweep
    if sweep is None:
        return None
    conf = outcome.scenario.confidence
    points = []
    for point in outcome.sweep:
        row: dict[str, Any] = {
            "values": list(point.values),
            "instruments": len(point.site.instruments),
        }
        for metric in METRICS:
            values = metrics.series(point.results, metric, sweep.kind)
            row[metric] = estimate(values, conf, metrics.bounds(metric)).as_dict()
        points.append(row)
    return {
        "parameters": [
            {"change": p.change, "field": p.field, "values": list(p.values)}
            for p in sweep.parameters
        ],
        "metric": sweep.metric,
        "kind": sweep.kind,
        "replications": len(outcome.sweep[0].results) if outcome.sweep else 0,
        "points": points,
    }


def build(outcome: Outcome) -> dict[str, Any]:
    """The whole report as JSON-ready values."""
    s = outcome.scenario
    kinds = metrics.kinds_of(outcome.baseline, outcome.variant)
    events = sum(r.events for r in outcome.baseline) + sum(r.events for r in outcome.variant)
    events += sum(r.events for p in outcome.sweep for r in p.results)
    return {
        "version": VERSION,
        "scenario": {
            "name": s.name,
            "description": s.description,
            "source": s.source,
            "horizon_days": s.horizon_days,
            "warmup_days": s.warmup_days,
            "replications": outcome.replications,
            "seed": outcome.seed,
            "confidence": s.confidence,
        },
        "run": {
            "runner": outcome.runner,
            "elapsed_s": round(outcome.elapsed_s, 3),
            "events": events,
            "replications_total": 2 * outcome.replications
            + sum(len(p.results) for p in outcome.sweep),
        },
        "sites": {
            "baseline": describe_site(outcome.baseline_site),
            "scenario": describe_site(outcome.scenario_site),
        },
        "comparison": comparison(outcome),
        "weekly_utilisation": {
            "baseline": _weekly(outcome.baseline, kinds),
            "scenario": _weekly(outcome.variant, kinds),
        },
        "wait_hours": {
            "baseline": _waits(outcome.baseline, kinds),
            "scenario": _waits(outcome.variant, kinds),
        },
        "bookings": _bookings(outcome),
        "sweep": _sweep(outcome),
    }


def headline(report: dict[str, Any]) -> list[str]:
    """A few lines for a terminal: the site-wide differences."""
    lines = []
    for row in report["comparison"]:
        if row["kind"] != SITE:
            continue
        d, b = row["difference"], row["baseline"]
        if d["mean"] is None:
            continue
        mark = "*" if row["significant"] else " "
        base = "n/a" if b["mean"] is None else f"{b['mean']:.4g}"
        lo = "n/a" if d["lo"] is None else f"{d['lo']:+.4g}"
        hi = "n/a" if d["hi"] is None else f"{d['hi']:+.4g}"
        lines.append(
            f"{mark} {row['metric']:<13} baseline {base:>10}   change {d['mean']:+.4g} [{lo}, {hi}]"
        )
    return lines


def sweep_lines(report: dict[str, Any]) -> list[str]:
    """The sweep as a small table for a terminal: parameter values, mean and interval."""
    data = report.get("sweep")
    if not data:
        return []
    metric, kind = data["metric"], data.get("kind", SITE)
    names = [f"{p['change']}.{p['field']}" for p in data["parameters"]]
    lines = [
        f"sweep: {metric} ({kind}), {data['replications']} replications per point",
        "  " + "  ".join(f"{n:>18}" for n in names) + f"  {'mean':>10}  interval",
    ]
    for point in data["points"]:
        e = point[metric]
        values = "  ".join(f"{v:>18g}" for v in point["values"])
        if e["mean"] is None:
            lines.append(f"  {values}  {'n/a':>10}")
            continue
        interval = "" if e["lo"] is None else f"[{e['lo']:.4g}, {e['hi']:.4g}]"
        lines.append(f"  {values}  {e['mean']:>10.4g}  {interval}")
    return lines
