"""Figures of docs/validation.md: the site model against queueing theory, and the backtest
over several independent worlds.

    .venv/bin/python -m benchmarks.forecast_validation [--out docs/forecasting]
        [--database-url URL] [--worlds 12] [--learned-seeds N] [--ciw-replications 20]
        [--speed-replications 200]

1. M/M/2 over a range of loads: mean wait of the model (scheduler's ``allocate`` as the
   desk) against Erlang C, with the standard error and 95% interval over replications.
2. M/M/1 that breaks down only while busy (the running clock), preemptive resume: mean
   wait against Pollaczek–Khinchine on the completion time.
3. M/M/1 with breakdowns: fraction of time up against MTBF / (MTBF + MTTR) (calendar
   clock) or 1 − ρ·MTTR/MTBF (running clock).
4. The backtest (``benchmarks.calibration``, on the world of ``tests.support.backtest``) for
   ``--worlds`` worlds, each forecast from several origins on scratch databases (default:
   $PILOTSHARE_BENCH_DATABASE_URL, else the local PostgreSQL): utilisation error per kind and
   the calibration of ``p_served`` (``--worlds 0`` skips it).
5. Learned behaviour against simulated instruments of known MTBF and MTTR
   (``benchmarks.learned``, ``--learned-seeds``; 0 skips it).
6. A second simulator: the same queue-mode site in Ciw, side by side
   (``benchmarks.ciw_peer``, ``--ciw-replications``; 0 skips it).
7. Speed: 50 instruments x 90 days x ``--speed-replications`` replications on both cores
   against the straightforward SimPy model (``benchmarks.forecast``; 0 skips it, the default:
   run it alone on a quiet machine, its figures are times).

Writes ``validation.json`` and PNGs to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from scipy import stats as st

mpl.use("Agg")
import matplotlib.pyplot as plt

from benchmarks import calibration
from pilotshare.scheduler.forecast import run_replications
from pilotshare.twin.model import (
    DemandSpec,
    Exponential,
    FailureSpec,
    InstrumentSpec,
    SiteSpec,
    UsageSpec,
)

H = 3600.0
ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top) / (c * mu - lam)


def queue(
    c: int,
    lam: float,
    customers: int,
    failures: FailureSpec | None = None,
    *,
    warmup_h: float = 200.0,
) -> SiteSpec:
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=customers / lam * H,
        instruments=tuple(InstrumentSpec(f"m{i}", "q", failures=failures) for i in range(c)),
        demand=(DemandSpec("q", lam, Exponential(H), window_s=30 * 24 * H),),
        usage=(UsageSpec("q", ends_with_slot=False, max_delay_s=math.inf),),
        warmup_s=warmup_h * H,
    )


def _mean_and_ci(values: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """Mean over replications, its standard error and the 95% Student interval."""
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(values.size))
    half = float(st.t.ppf(0.975, values.size - 1)) * se
    return mean, se, (mean - half, mean + half)


#: Per load: replications × customers. The standard error of the mean wait grows like
#: 1/(1 − ρ) per customer: at ρ = 0.9 about 8% per 100,000 customers, so 48 × 250,000 give
#: 0.7% (and a warm-up of 2,000 h, ten relaxation times).
MMC_RUNS = {
    0.3: (8, 60_000),
    0.5: (8, 60_000),
    0.7: (8, 60_000),
    0.8: (24, 120_000),
    0.9: (48, 250_000),
}


def mmc() -> list[dict[str, Any]]:
    rows = []
    for rho, (n, customers) in MMC_RUNS.items():
        reps = run_replications(queue(2, 2 * rho, customers, warmup_h=2000), n, seed=11, workers=2)
        waits = np.array([np.mean(r.req_wait) / H for r in reps])
        busy = np.mean([r.run_s.sum() / (2 * reps[0].run_s.shape[1] * 86400) for r in reps])
        mean, se, ci = _mean_and_ci(waits)
        exact = erlang_c_wait(2, 2 * rho, 1.0)
        rows.append(
            {
                "rho": rho,
                "replications": n,
                "customers": customers,
                "model_wait_h": mean,
                "stderr_h": se,
                "ci95_h": list(ci),
                "erlang_c_wait_h": exact,
                "difference": mean / exact - 1,
                "exact_inside_ci": ci[0] <= exact <= ci[1],
                "model_utilisation": float(busy),
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def completion_time_wait(lam: float, mu: float, fail: float, repair: float) -> float:
    """Mean wait of M/G/1 whose service is the completion time C of an exponential job on an
    instrument that fails only while running (rate ``fail``) and is repaired at rate
    ``repair``, preemptive resume: W = λE[C²] / (2(1 − λE[C])) (docs/validation.md)."""
    es, es2 = 1 / mu, 2 / mu**2
    ec = es * (1 + fail / repair)
    ec2 = es2 * (1 + fail / repair) ** 2 + fail * es * 2 / repair**2
    return lam * ec2 / (2 * (1 - lam * ec))


def busy_breakdowns() -> list[dict[str, Any]]:
    """One instrument that breaks down only while busy (the running clock), preemptive
    resume, against Pollaczek–Khinchine on the completion time. A request's wait is its
    placed wait plus how late its session really began (the desk does not see repairs)."""
    rows = []
    fail, repair = 0.1, 0.5
    spec = FailureSpec(Exponential(H / fail), Exponential(H / repair), clock="running")
    for lam in (0.3, 0.5, 0.6):
        reps = run_replications(queue(1, lam, 100_000, spec, warmup_h=2000), 16, seed=13, workers=2)
        waits = np.array([np.nanmean(r.req_wait + r.req_delay) / H for r in reps])
        horizon = reps[0].run_s.shape[1] * 86400
        up = float(np.mean([r.up_s.sum() / horizon for r in reps]))
        mean, se, ci = _mean_and_ci(waits)
        exact = completion_time_wait(lam, 1.0, fail, repair)
        rows.append(
            {
                "lambda": lam,
                "failure_rate": fail,
                "repair_rate": repair,
                "replications": len(reps),
                "customers": 100_000,
                "model_wait_h": mean,
                "stderr_h": se,
                "ci95_h": list(ci),
                "exact_wait_h": exact,
                "difference": mean / exact - 1,
                "exact_inside_ci": ci[0] <= exact <= ci[1],
                "up_share_expected": 1 - lam * fail / repair,
                "model_up_share": up,
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def breakdowns() -> list[dict[str, Any]]:
    rows = []
    for mtbf, mttr, clock in (
        (50.0, 1.0, "calendar"),
        (20.0, 2.0, "calendar"),
        (8.0, 2.0, "calendar"),
        (20.0, 2.0, "running"),
        (8.0, 2.0, "running"),
    ):
        fail = FailureSpec(Exponential(mtbf * H), Exponential(mttr * H), clock=clock)
        reps = run_replications(queue(1, 0.4, 20_000, fail), 4, seed=5, workers=2)
        horizon = reps[0].run_s.shape[1] * 86400
        up = float(np.mean([r.up_s.sum() / horizon for r in reps]))
        running = float(np.mean([r.run_s.sum() / horizon for r in reps]))
        rows.append(
            {
                "mtbf_h": mtbf,
                "mttr_h": mttr,
                "clock": clock,
                # Calendar: MTBF / (MTBF + MTTR); running: down for MTTR per MTBF of running
                # (the running share is λ/μ = 0.4 when no work is lost).
                "availability": mtbf / (mtbf + mttr)
                if clock == "calendar"
                else 1 - 0.4 * mttr / mtbf,
                "model_up_share": up,
                "model_running_share": running,
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def figures(out: Path, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fig, (a, c, b) = plt.subplots(1, 3, figsize=(14, 4))
    m = data["mmc"]
    a.plot([r["rho"] for r in m], [r["erlang_c_wait_h"] for r in m], "-", label="Erlang C")
    a.errorbar(
        [r["rho"] for r in m],
        [r["model_wait_h"] for r in m],
        yerr=[2 * r["stderr_h"] for r in m],
        fmt="o",
        capsize=4,
        label="model (±2 s.e.)",
    )
    a.set_xlabel("load ρ (M/M/2, mean service 1 h)")
    a.set_ylabel("mean wait in queue (h)")
    a.legend()
    pk = data.get("busy_breakdowns", [])
    if pk:
        lam = np.linspace(min(r["lambda"] for r in pk), max(r["lambda"] for r in pk), 50)
        f, rr = pk[0]["failure_rate"], pk[0]["repair_rate"]
        c.plot(
            lam,
            [completion_time_wait(x, 1.0, f, rr) for x in lam],
            "-",
            label="P–K, completion time",
        )
        c.errorbar(
            [r["lambda"] for r in pk],
            [r["model_wait_h"] for r in pk],
            yerr=[2 * r["stderr_h"] for r in pk],
            fmt="o",
            capsize=4,
            label="model (±2 s.e.)",
        )
        c.set_xlabel(f"arrival rate λ (M/M/1, fails {f}/h while busy, repairs {rr}/h)")
        c.set_ylabel("mean wait in queue (h)")
        c.legend()
    bd = data["breakdowns"]
    b.plot([0.7, 1], [0.7, 1], "--", color="grey", linewidth=1)
    for clock, marker in (("calendar", "o"), ("running", "s")):
        sel = [r for r in bd if r.get("clock", "calendar") == clock]
        b.scatter(
            [r["availability"] for r in sel],
            [r["model_up_share"] for r in sel],
            marker=marker,
            label=f"{clock} clock",
        )
    b.set_xlabel("expected share of time up")
    b.set_ylabel("model: share of time up")
    b.legend()
    fig.tight_layout()
    fig.savefig(out / "queueing.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/forecasting")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--worlds", type=int, default=calibration.WORLDS)
    parser.add_argument("--learned-seeds", type=int, default=0, help="benchmarks.learned")
    parser.add_argument("--ciw-replications", type=int, default=20)
    parser.add_argument("--speed-replications", type=int, default=0, help="benchmarks.forecast")
    args = parser.parse_args()
    if args.learned_seeds:
        from benchmarks import learned

        found = learned.run(args.learned_seeds, Path(args.out), args.database_url)
        (Path(args.out) / "learned.json").write_text(json.dumps(learned.report(found), indent=2))
    data: dict[str, Any] = {
        "mmc": mmc(),
        "busy_breakdowns": busy_breakdowns(),
        "breakdowns": breakdowns(),
    }
    if args.ciw_replications:
        from benchmarks import ciw_peer

        data["ciw"] = ciw_peer.side_by_side(args.ciw_replications, hours=2000.0, seed=7)
        ciw_peer.figure(Path(args.out) / "ciw.png", data["ciw"])
    if args.speed_replications:
        from benchmarks import forecast

        data["speed"] = forecast.main(
            ["--replications", str(args.speed_replications), "--naive-replications", "1"]
        )
    out = Path(args.out)
    if args.worlds:
        data |= calibration.run(args.database_url, args.worlds, out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps(data, indent=2) + "\n")
    figures(out, data)
    print(json.dumps({k: v for k, v in data.items() if k != "backtest"}, indent=2))


if __name__ == "__main__":
    main()
