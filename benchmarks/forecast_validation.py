"""Figures of docs/validation.md: the site model against queueing theory, and the backtest
over several independent worlds.

    .venv/bin/python -m benchmarks.forecast_validation [--out docs/forecasting]
        [--database-url URL] [--worlds 5] [--ciw-replications 20]

1. M/M/2 over a range of loads: mean wait of the model (scheduler's ``allocate`` as the
   desk) against Erlang C, with the standard error over replications.
2. M/M/1 with breakdowns: fraction of time up against MTBF / (MTBF + MTTR) for several
   availabilities.
3. The backtest of ``tests/e2e/test_backtest.py`` (its world is ``tests.support.backtest``)
   for ``--worlds`` seeds, each on a scratch database (default:
   $PILOTSHARE_BENCH_DATABASE_URL, else the local PostgreSQL): utilisation error per kind and
   the pooled calibration of ``p_served``.
4. A second simulator: the same queue-mode site in Ciw, side by side
   (``benchmarks.ciw_peer``, ``--ciw-replications``; 0 skips it).

Writes ``validation.json`` and PNGs to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import matplotlib as mpl
import numpy as np

mpl.use("Agg")
import matplotlib.pyplot as plt

from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect
from pilotshare.scheduler.forecast import ForecastParams, compute, run_replications
from pilotshare.twin.model import (
    DemandSpec,
    Exponential,
    FailureSpec,
    InstrumentSpec,
    SiteSpec,
    UsageSpec,
)
from tests.support import backtest as tb

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


async def backtests(url: str, worlds: int) -> list[dict[str, Any]]:
    out = []
    admin = await asyncpg.connect(url)
    try:
        for seed in range(1, worlds + 1):
            name = f"ps_val_{secrets.token_hex(4)}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                conn = await connect(urlunsplit(urlsplit(url)._replace(path=f"/{name}")))
                try:
                    await migrate(conn)
                    world = tb.World.build(seed=seed)
                    rng = random.Random(seed)
                    world.run(tb.T0, tb.NOW, rng)
                    await tb.store_history(conn, world)
                    result = await compute(conn, ForecastParams(7, 200, seed), tb.NOW, workers=2)
                finally:
                    await conn.close()
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            world.run(tb.NOW, tb.END, rng)
            truth = tb.truth_figures(world, result)
            kinds = {k["kind"]: k["utilization"] for k in result["kinds"]}
            out.append(
                {
                    "seed": seed,
                    "utilisation": {
                        k: {"forecast": kinds[k], "truth": truth["utilisation"][k]}
                        for k in tb.KINDS
                    },
                    "outcomes": truth["outcomes"],
                }
            )
            print(f"world {seed}: {len(truth['outcomes'])} bookings", file=sys.stderr)
    finally:
        await admin.close()
    return out


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
    if not data.get("backtest"):
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    errs: dict[str, list[float]] = {}
    for w in data["backtest"]:
        for k, v in w["utilisation"].items():
            errs.setdefault(k, []).append(v["forecast"]["mean"] - v["truth"])
    a.boxplot(list(errs.values()), tick_labels=list(errs))
    a.axhline(0, color="grey", linewidth=1)
    a.set_ylabel("forecast mean − truth (utilisation)")
    a.set_title(f"{len(data['backtest'])} worlds, next week")
    cal = data["calibration"]
    b.plot([0.5, 1], [0.5, 1], "--", color="grey", linewidth=1)
    b.errorbar(
        [c["predicted"] for c in cal],
        [c["observed"] for c in cal],
        yerr=[[c["observed"] - c["lo"] for c in cal], [c["hi"] - c["observed"] for c in cal]],
        fmt="o",
        capsize=4,
    )
    for c in cal:
        b.annotate(
            f"n={c['n']}",
            (c["predicted"], c["observed"]),
            textcoords="offset points",
            xytext=(6, -12),
        )
    b.set_xlabel("predicted p_served")
    b.set_ylabel("observed share served (90% Wilson)")
    b.set_xlim(0.5, 1.0)
    b.set_ylim(0.5, 1.02)
    fig.tight_layout()
    fig.savefig(out / "backtest.png", dpi=110)
    plt.close(fig)


def main() -> None:
    from pilotshare.scheduler.forecast.summary import wilson

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/forecasting")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--worlds", type=int, default=5)
    parser.add_argument("--ciw-replications", type=int, default=20)
    args = parser.parse_args()
    data: dict[str, Any] = {"mmc": mmc(), "breakdowns": breakdowns()}
    if args.worlds:
        worlds = asyncio.run(backtests(args.database_url, args.worlds))
        pooled = [o for w in worlds for o in w["outcomes"]]
        cal = []
        for lo, hi in ((0.0, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)):
            sel = [s for p, s in pooled if lo <= p < hi]
            if sel:
                w_lo, w_hi = wilson(sum(sel), len(sel))
                cal.append(
                    {
                        "bin": [lo, min(hi, 1.0)],
                        "n": len(sel),
                        "predicted": float(np.mean([p for p, _ in pooled if lo <= p < hi])),
                        "observed": float(np.mean(sel)),
                        "lo": w_lo,
                        "hi": w_hi,
                    }
                )
        data["backtest"] = [{k: v for k, v in w.items() if k != "outcomes"} for w in worlds]
        data["calibration"] = cal
        p = np.array([x for x, _ in pooled])
        s = np.array([y for _, y in pooled], dtype=float)
        data["pooled"] = {
            "bookings": len(pooled),
            "predicted": float(p.mean()),
            "observed": float(s.mean()),
            "brier": float(np.mean((p - s) ** 2)),
        }
    if args.ciw_replications:
        from benchmarks import ciw_peer

        data["ciw"] = ciw_peer.side_by_side(args.ciw_replications, hours=2000.0, seed=7)
        ciw_peer.figure(Path(args.out) / "ciw.png", data["ciw"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps(data, indent=2) + "\n")
    figures(out, data)
    print(json.dumps({k: v for k, v in data.items() if k != "backtest"}, indent=2))


if __name__ == "__main__":
    main()
