"""Calibration of ``p_served``: are bookings given 80% served about 80% of the time?

    .venv/bin/python -m benchmarks.calibration [--out docs/forecasting]
        [--database-url URL] [--worlds 20] [--origins 3] [--replications 200] [--processes 2]

The truth is the world of ``tests.support.backtest`` (simulated instruments with known
parameters, booked as the API books). Each world varies its true parameters (``VARIANTS``
there: failure rate, repair time, overrun share, load) so that predictions spread over the
deciles.
Each world runs on, and is forecast from several origins of its continuing run (days 28, 35,
42, …): at each origin four weeks of history go to a scratch database of their own as the
backend would have stored them, the forecast runs from the database alone
(``scheduler.forecast.compute``, after the ingest's behaviour refresh), and the truth goes on
for the week. Worlds run in parallel processes, one scratch database each.

Reported (``validation.json`` key ``calibration``, and ``calibration.png``): decile buckets of
predicted ``p_served`` with n, mean predicted, observed share and its 95% Wilson interval;
the 0.75–0.85 bucket against the 78–82% goal; each bucket of at least 50 bookings against
"within 3 points"; the n each bucket would need for its interval to be that narrow; and the
Brier score beside a baseline that gives every booking the share served of the bookings in
the history its forecast saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pilotshare.scheduler.forecast import ForecastParams
from pilotshare.scheduler.forecast.summary import wilson
from tests.support import backtest as tb

Z95 = 1.959963984540054
GOAL_BUCKET = (0.75, 0.85)
GOAL_SHARE = (0.78, 0.82)
DECILE_TOLERANCE = 0.03
DECILE_MIN_N = 50
MIN_WORLDS = 10
MIN_BOOKINGS = 1000
WORLDS = 20
ORIGINS = 3


def log(msg: str) -> None:
    print(f"[calibration {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def _forecast_at(
    url: str, world: tb.World, now: datetime, *, replications: int, seed: int
) -> dict[str, Any]:
    """The forecast of ``world`` at ``now``, from a scratch database of its own."""
    return await tb.forecast_in_scratch(url, world, now, ForecastParams(7, replications, seed))


async def _world_async(url: str, n: int, origins: int, replications: int) -> dict[str, Any]:
    variant = tb.VARIANTS[(n - 1) % len(tb.VARIANTS)]
    world = tb.World.build(seed=n, truth=variant.truth(), load=variant.load)
    rng = random.Random(n)
    world.run(tb.T0, tb.NOW, rng)
    rows = []
    for k in range(origins):
        now = tb.NOW + k * 7 * tb.DAY
        started = time.perf_counter()
        result = await _forecast_at(url, world, now, replications=replications, seed=1000 * n + k)
        world.run(now, now + 7 * tb.DAY, rng)  # what then happened
        truth = tb.truth_figures(world, result, now)
        kinds = {x["kind"]: x["utilization"] for x in result["kinds"]}
        rows.append(
            {
                "origin": now.isoformat(),
                "utilisation": {
                    x: {"forecast": kinds[x], "truth": truth["utilisation"][x]} for x in tb.KINDS
                },
                "history_served": truth["history_served"],
                "history_bookings": truth["history_bookings"],
                "failure_models": {
                    i["instrument"]: i["failure_model"] for i in result["instruments"]
                },
                "detail": truth["detail"],
            }
        )
        log(
            f"world {n} origin day {28 + 7 * k}: {len(truth['detail'])} bookings, "
            f"{time.perf_counter() - started:.0f} s"
        )
    return {"world": n, "variant": asdict(variant), "origins": rows}


def _world(args: tuple[str, int, int, int]) -> dict[str, Any]:
    return asyncio.run(_world_async(*args))


def backtests(
    url: str, worlds: int, origins: int = 3, replications: int = 200, processes: int = 2
) -> list[dict[str, Any]]:
    """Every world's forecasts and truths (worlds 1..``worlds``, in parallel processes)."""
    jobs = [(url, n, origins, replications) for n in range(1, worlds + 1)]
    if processes <= 1:
        return [_world(j) for j in jobs]
    with ProcessPoolExecutor(processes) as ex:
        return list(ex.map(_world, jobs))


def needed_n(p: float, half_width: float, z: float = Z95) -> int:
    """Bookings for a binomial share near ``p`` to have an interval of ± ``half_width``."""
    p = min(max(p, 0.01), 0.99)
    return math.ceil(z * z * p * (1 - p) / (half_width * half_width))


def bucket(
    rows: Sequence[tuple[float, bool]], lo: float, hi: float, *, last: bool = False
) -> dict[str, Any]:
    sel = [(p, s) for p, s in rows if lo <= p < hi or (last and p == hi)]
    n = len(sel)
    hits = sum(s for _, s in sel)
    out: dict[str, Any] = {"bucket": [lo, hi], "n": n}
    if n:
        w_lo, w_hi = wilson(hits, n, Z95)
        pred = float(np.mean([p for p, _ in sel]))
        out |= {
            "predicted": round(pred, 4),
            "observed": round(hits / n, 4),
            "wilson95": [round(w_lo, 4), round(w_hi, 4)],
            "error": round(hits / n - pred, 4),
            "consistent": w_lo <= pred <= w_hi,
        }
    return out


def brier(p: np.ndarray[Any, Any], s: np.ndarray[Any, Any]) -> float:
    return float(np.mean((p - s) ** 2)) if p.size else math.nan


def analyse(worlds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The calibration section of ``validation.json`` (pure)."""
    det = [(d, o["history_served"]) for w in worlds for o in w["origins"] for d in o["detail"]]
    rows = [(d["p"], d["served"]) for d, _ in det]
    p = np.array([x for x, _ in rows], dtype=float)
    s = np.array([y for _, y in rows], dtype=float)
    base = np.array([h if h is not None else s.mean() for _, h in det], dtype=float)
    deciles = [bucket(rows, k / 10, (k + 1) / 10, last=k == 9) for k in range(10)]
    for d in deciles:
        if d["n"]:
            d["within_3_points"] = abs(d["error"]) <= DECILE_TOLERANCE
            d["n_for_3_points"] = needed_n(d["predicted"], DECILE_TOLERANCE)
    goal = bucket(rows, *GOAL_BUCKET)
    if goal["n"]:
        goal["in_78_82"] = GOAL_SHARE[0] <= goal["observed"] <= GOAL_SHARE[1]
        # For an observed share to show 78-82% the interval must be ± 2 points.
        goal["n_for_2_points"] = needed_n(0.8, 0.02)
    judged = [d for d in deciles if d["n"] >= DECILE_MIN_N]
    bookings = len(rows)
    n_worlds = len(worlds)
    by_kind = {
        k: bucket([(d["p"], d["served"]) for d, _ in det if d["kind"] == k], 0.0, 1.0, last=True)
        for k in tb.KINDS
    }
    return {
        "worlds": n_worlds,
        "forecasts": sum(len(w["origins"]) for w in worlds),
        "bookings": bookings,
        "deciles": deciles,
        "goal_bucket": goal,
        "by_kind": by_kind,
        "predicted": round(float(p.mean()), 4) if bookings else None,
        "observed": round(float(s.mean()), 4) if bookings else None,
        "brier": round(brier(p, s), 4),
        "brier_baseline": round(brier(base, s), 4),
        "goals": {
            "enough_worlds_and_bookings": n_worlds >= MIN_WORLDS and bookings >= MIN_BOOKINGS,
            "bucket_75_85_in_78_82": bool(goal.get("in_78_82", False)),
            "deciles_within_3_points": all(d["within_3_points"] for d in judged),
            "deciles_judged": len(judged),
            "brier_below_baseline": brier(p, s) < brier(base, s),
        },
        "variants": {str(w["world"]): w["variant"] for w in worlds},
    }


def chart(out: Path, cal: dict[str, Any]) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rows = [d for d in cal["deciles"] if d["n"]]
    fig, (a, b) = plt.subplots(
        1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [3, 2]}, constrained_layout=True
    )
    a.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
    a.axhspan(*GOAL_SHARE, xmin=0.75, xmax=0.85, color="tab:green", alpha=0.25)
    for d in rows:
        lo, hi = d["wilson95"]
        a.errorbar(
            d["predicted"],
            d["observed"],
            yerr=[[d["observed"] - lo], [hi - d["observed"]]],
            fmt="o",
            color="tab:blue" if d["n"] >= DECILE_MIN_N else "tab:grey",
            capsize=3,
        )
        a.annotate(
            f"{d['n']}",
            (d["predicted"], d["observed"]),
            textcoords="offset points",
            xytext=(5, -11),
        )
    a.set_xlim(0, 1)
    a.set_ylim(0, 1.02)
    a.set_xlabel("predicted p_served (decile mean)")
    a.set_ylabel("observed share served (95% Wilson)")
    a.set_title(
        f"{cal['bookings']} bookings, {cal['forecasts']} forecasts in {cal['worlds']} worlds; "
        f"Brier {cal['brier']:.3f} (baseline {cal['brier_baseline']:.3f})",
        fontsize=9,
    )
    b.bar(
        [d["bucket"][0] + 0.05 for d in cal["deciles"]],
        [d["n"] for d in cal["deciles"]],
        width=0.09,
    )
    b.set_xlim(0, 1)
    b.set_xlabel("predicted p_served")
    b.set_ylabel("bookings")
    fig.savefig(out / "calibration.png", dpi=110)
    plt.close(fig)


def utilisation_chart(out: Path, backtest: Sequence[dict[str, Any]]) -> None:
    """``backtest.png``: forecast mean minus truth, per kind, over every forecast."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    errs: dict[str, list[float]] = {}
    inside: dict[str, int] = {}
    for row in backtest:
        for k, v in row["utilisation"].items():
            errs.setdefault(k, []).append(v["forecast"]["mean"] - v["truth"])
            inside[k] = inside.get(k, 0) + (
                v["forecast"]["p05"] <= v["truth"] <= v["forecast"]["p95"]
            )
    fig, a = plt.subplots(figsize=(6, 4))
    a.boxplot(
        list(errs.values()), tick_labels=[f"{k}\n{inside[k]}/{len(errs[k])} in band" for k in errs]
    )
    a.axhline(0, color="grey", linewidth=1)
    a.set_ylabel("forecast mean − truth (utilisation)")
    a.set_title(f"{len(backtest)} forecasts, next week", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "backtest.png", dpi=110)
    plt.close(fig)


def utilisation_table(backtest: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per kind: mean error, mean absolute error, share of truths inside the 90% band."""
    out = {}
    for k in tb.KINDS:
        rows = [r["utilisation"][k] for r in backtest]
        err = np.array([r["forecast"]["mean"] - r["truth"] for r in rows])
        band = [r["forecast"]["p05"] <= r["truth"] <= r["forecast"]["p95"] for r in rows]
        out[k] = {
            "mean_error": round(float(err.mean()), 4),
            "mean_absolute_error": round(float(np.abs(err).mean()), 4),
            "inside_band": round(float(np.mean(band)), 4),
            "forecasts": len(rows),
        }
    return out


def run(
    url: str,
    worlds: int,
    out: Path,
    *,
    origins: int = ORIGINS,
    replications: int = 200,
    processes: int = 2,
) -> dict[str, Any]:
    """Backtest, analyse and chart; returns the keys of ``validation.json`` it owns
    (``backtest``: utilisation per world and origin; ``calibration``)."""
    started = time.perf_counter()
    data = backtests(url, worlds, origins, replications, processes)
    cal = analyse(data)
    cal["elapsed_s"] = round(time.perf_counter() - started, 1)
    cal["replications"] = replications
    backtest = [
        {
            "world": w["world"],
            "origin": o["origin"],
            "utilisation": o["utilisation"],
            "history_served": o["history_served"],
        }
        for w in data
        for o in w["origins"]
    ]
    cal["utilisation"] = utilisation_table(backtest)
    chart(out, cal)
    utilisation_chart(out, backtest)
    detail = os.environ.get("PILOTSHARE_CALIBRATION_DETAIL")
    if detail:
        Path(detail).write_text(json.dumps(data) + "\n")
    return {"backtest": backtest, "calibration": cal}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="docs/forecasting")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--worlds", type=int, default=WORLDS)
    parser.add_argument("--origins", type=int, default=ORIGINS)
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    got = run(
        args.database_url,
        args.worlds,
        out,
        origins=args.origins,
        replications=args.replications,
        processes=args.processes,
    )
    path = out / "validation.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(got)
    path.write_text(json.dumps(data, indent=2) + "\n")
    cal = {k: v for k, v in got["calibration"].items() if k != "variants"}
    print(json.dumps(cal, indent=2))


if __name__ == "__main__":
    main()
