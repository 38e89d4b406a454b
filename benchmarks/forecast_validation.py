"""Figures of docs/validation.md: the site model against queueing theory, and the backtest
over several independent worlds.

    .venv/bin/python -m benchmarks.forecast_validation [--out docs/forecasting]
        [--database-url URL] [--worlds 12]

1. M/M/2 over a range of loads: mean wait of the model (scheduler's ``allocate`` as the
   desk) against Erlang C, with the standard error over replications.
2. M/M/1 with breakdowns: fraction of time up against MTBF / (MTBF + MTTR) for several
   availabilities.
3. The backtest (``benchmarks.calibration``, on the world of ``tests.support.backtest``) for
   ``--worlds`` worlds, each forecast from several origins on scratch databases (default:
   $PILOTSHARE_BENCH_DATABASE_URL, else the local PostgreSQL): utilisation error per kind and
   the calibration of ``p_served`` (``--worlds 0`` skips it).

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


def queue(c: int, lam: float, customers: int, failures: FailureSpec | None = None) -> SiteSpec:
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=customers / lam * H,
        instruments=tuple(InstrumentSpec(f"m{i}", "q", failures=failures) for i in range(c)),
        demand=(DemandSpec("q", lam, Exponential(H), window_s=30 * 24 * H),),
        usage=(UsageSpec("q", ends_with_slot=False, max_delay_s=math.inf),),
        warmup_s=200 * H,
    )


def mmc() -> list[dict[str, float]]:
    rows = []
    for rho in (0.3, 0.5, 0.7, 0.8):
        reps = run_replications(queue(2, 2 * rho, 60_000), 8, seed=11, workers=2)
        waits = np.array([np.mean(r.req_wait) / H for r in reps])
        busy = np.mean([r.run_s.sum() / (2 * reps[0].run_s.shape[1] * 86400) for r in reps])
        rows.append(
            {
                "rho": rho,
                "model_wait_h": float(waits.mean()),
                "stderr_h": float(waits.std(ddof=1) / math.sqrt(len(waits))),
                "erlang_c_wait_h": erlang_c_wait(2, 2 * rho, 1.0),
                "model_utilisation": float(busy),
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def breakdowns() -> list[dict[str, float]]:
    rows = []
    for mtbf, mttr in ((50.0, 1.0), (20.0, 2.0), (8.0, 2.0)):
        fail = FailureSpec(Exponential(mtbf * H), Exponential(mttr * H))
        reps = run_replications(queue(1, 0.4, 20_000, fail), 4, seed=5, workers=2)
        horizon = reps[0].run_s.shape[1] * 86400
        up = float(np.mean([r.up_s.sum() / horizon for r in reps]))
        rows.append(
            {
                "mtbf_h": mtbf,
                "mttr_h": mttr,
                "availability": mtbf / (mtbf + mttr),
                "model_up_share": up,
            }
        )
        print(rows[-1], file=sys.stderr)
    return rows


def figures(out: Path, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
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
    bd = data["breakdowns"]
    b.plot([0.7, 1], [0.7, 1], "--", color="grey", linewidth=1)
    b.scatter([r["availability"] for r in bd], [r["model_up_share"] for r in bd])
    b.set_xlabel("MTBF / (MTBF + MTTR)")
    b.set_ylabel("model: share of time up")
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
    args = parser.parse_args()
    data: dict[str, Any] = {"mmc": mmc(), "breakdowns": breakdowns()}
    out = Path(args.out)
    if args.worlds:
        data |= calibration.run(args.database_url, args.worlds, out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps(data, indent=2) + "\n")
    figures(out, data)
    print(json.dumps({k: v for k, v in data.items() if k != "backtest"}, indent=2))


if __name__ == "__main__":
    main()
