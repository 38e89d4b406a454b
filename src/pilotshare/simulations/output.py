"""Write an experiment's report to a directory: ``report.json``, ``report.html`` and PNGs.

The PNGs are separate files (not inlined) so that documentation can embed them; the HTML
refers to them by relative path, so the directory can be copied or served as it is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from pilotshare.simulations import charts, metrics
from pilotshare.simulations import report as report_mod
from pilotshare.simulations.experiment import Outcome
from pilotshare.simulations.metrics import METRICS, SITE


def _fmt(value: object, *, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int | float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return str(value)


def _pct(value: object) -> str:
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f} %"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pilotshare.simulations", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    env.filters["pct"] = _pct
    return env


def _kind_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    b = {k["kind"]: k for k in report["sites"]["baseline"]["kinds"]}
    s = {k["kind"]: k for k in report["sites"]["scenario"]["kinds"]}
    return [
        {
            "kind": kind,
            "b_instruments": b.get(kind, {}).get("instruments", 0),
            "s_instruments": s.get(kind, {}).get("instruments", 0),
            "b_demand": b.get(kind, {}).get("requests_per_week", 0.0),
            "s_demand": s.get(kind, {}).get("requests_per_week", 0.0),
        }
        for kind in sorted(b.keys() | s.keys())
    ]


def write(outcome: Outcome, out_dir: Path, report: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write every artefact; returns their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report or report_mod.build(outcome)
    paths = {"json": out_dir / "report.json"}
    paths["json"].write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    kinds = [SITE, *metrics.kinds_of(outcome.baseline, outcome.variant)]
    samples: dict[str, dict[str, np.ndarray]] = {
        "baseline": {k: metrics.waits(outcome.baseline, k) for k in kinds},
        "scenario": {k: metrics.waits(outcome.variant, k) for k in kinds},
    }
    paths["utilisation"] = charts.utilisation_by_week(data, out_dir / "utilisation_by_week.png")
    paths["waits"] = charts.wait_distributions(data, samples, out_dir / "wait_hours.png")
    paths["differences"] = charts.differences(data, out_dir / "differences.png")
    sweep_png = charts.sweep(data, out_dir / "sweep.png")
    if sweep_png is not None:
        paths["sweep"] = sweep_png
    images = {name: p.name for name, p in paths.items() if p.suffix == ".png"}
    html = (
        _environment()
        .get_template("report.html")
        .render(
            s=data["scenario"],
            run=data["run"],
            sites=data["sites"],
            kinds=_kind_rows(data),
            comparison=data["comparison"],
            waits=data["wait_hours"],
            bookings=data["bookings"],
            sweep=data["sweep"],
            metrics=METRICS,
            images={"differences": None, "sweep": None, **images},
        )
    )
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text(html)
    return paths
