"""Backtest: does the forecast, calibrated from history only, predict what then happens?

The truth is the world of ``tests.support.backtest``: simulated instruments with known
parameters (failures, repairs, late starts, no-shows, overruns), booked with the scheduler's
``allocate`` as the API books them. Four weeks of that history are written to the database as
the backend would have stored them (telemetry samples, bookings with their outcome, the live
state at the end); then

1. the forecast runs from the database alone (``scheduler.forecast.compute``) for the next
   week, and
2. the truth goes on for that week with the same instruments and the same kind of demand.

Compared: utilisation per kind (running time in open time) against the forecast's mean and
90% band; and calibration of ``p_served``: bookings held at the forecast's start, grouped by
predicted probability, served (instrument up and free at the start) about as often as
predicted. ``PILOTSHARE_BACKTEST_REPORT=DIR`` writes the figures (JSON and PNG) to DIR.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from pilotshare.scheduler.forecast import ForecastParams, compute
from pilotshare.twin.store import refresh_behaviour
from tests.support.backtest import END, KINDS, NOW, SAMPLE, T0, World, store_history, truth_figures


def calibration(outcomes: list[tuple[float, bool]]) -> list[dict[str, float]]:
    """Predicted against observed served share, in bins of predicted probability."""
    out = []
    for lo, hi in ((0.0, 0.8), (0.8, 0.9), (0.9, 1.01)):
        sel = [(p, s) for p, s in outcomes if lo <= p < hi]
        if sel:
            out.append(
                {
                    "bin": [lo, min(hi, 1.0)],
                    "n": len(sel),
                    "predicted": float(np.mean([p for p, _ in sel])),
                    "observed": float(np.mean([s for _, s in sel])),
                }
            )
    return out


async def test_forecast_predicts_the_next_week(pool: asyncpg.Pool) -> None:
    world = World.build(seed=7)
    rng = random.Random(7)
    world.run(T0, NOW, rng)
    async with pool.acquire() as conn:
        await store_history(conn, world)
        for ident in world.instruments:  # what the ingest's background refresh would store
            await refresh_behaviour(pool, ident, NOW, gap=SAMPLE, window=NOW - T0)
        result = await compute(
            conn, ForecastParams(horizon_days=7, replications=200, seed=3), NOW, workers=2
        )
    world.run(NOW, END, rng)  # what then happened
    truth = truth_figures(world, result)

    kinds = {k["kind"]: k for k in result["kinds"]}
    errors = {k: kinds[k]["utilization"]["mean"] - truth["utilisation"][k] for k in KINDS}
    outcomes = truth["outcomes"]
    p = np.array([x for x, _ in outcomes])
    s = np.array([y for _, y in outcomes], dtype=float)
    brier = float(np.mean((p - s) ** 2))
    figures = {
        "utilisation": {
            k: {
                "forecast": kinds[k]["utilization"],
                "truth": truth["utilisation"][k],
                "error": errors[k],
            }
            for k in KINDS
        },
        "bookings": len(outcomes),
        "predicted_served": float(p.mean()),
        "observed_served": float(s.mean()),
        "brier": brier,
        "brier_of_the_base_rate": float(np.mean((s.mean() - s) ** 2)),
        "calibration": calibration(outcomes),
        "failure_models": {i["instrument"]: i["failure_model"] for i in result["instruments"]},
        "failure_clocks": {i["instrument"]: i["failure_clock"] for i in result["instruments"]},
    }
    report = os.environ.get("PILOTSHARE_BACKTEST_REPORT")
    if report:
        _write_report(Path(report), figures)
    print(json.dumps(figures, indent=2))

    # Calibrated from history only: the instruments that run day and night failed often
    # enough to learn from; the others may fall back to the prior, and say so.
    # The truth fails only while running, and the history shows it where it holds enough
    # failures: those instruments are on the running clock.
    for ident, model in figures["failure_models"].items():
        assert model in ("learned", "prior")
        if KINDS[ident.rsplit("-", 1)[0]][1] is None:
            assert model == "learned", ident
            assert figures["failure_clocks"][ident] == "running", ident
    # Utilisation per kind: the truth lies in the forecast's 90% band (give or take 0.02),
    # and the mean is within 0.08 of it.
    for k, row in figures["utilisation"].items():
        band = row["forecast"]
        assert band["p05"] - 0.02 <= row["truth"] <= band["p95"] + 0.02, (k, row)
        assert abs(row["error"]) < 0.08, (k, row)
    # Booking probabilities: enough bookings to judge, and the served share within
    # 2.5 binomial standard errors of the predicted share, overall and per populated bin.
    assert len(outcomes) >= 60
    se = math.sqrt(p.mean() * (1 - p.mean()) / len(p))
    assert abs(s.mean() - p.mean()) < 2.5 * se + 0.02, (s.mean(), p.mean())
    for row in figures["calibration"]:
        if row["n"] >= 20:
            se_bin = math.sqrt(row["predicted"] * (1 - row["predicted"]) / row["n"])
            assert abs(row["observed"] - row["predicted"]) < 2.5 * se_bin + 0.05, row


def _write_report(out: Path, figures: dict[str, Any]) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "backtest.json").write_text(json.dumps(figures, indent=2) + "\n")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    kinds = list(figures["utilisation"])
    x = np.arange(len(kinds))
    fc = [figures["utilisation"][k]["forecast"] for k in kinds]
    left.bar(
        x - 0.2,
        [f["mean"] for f in fc],
        0.4,
        label="forecast (mean, 90% band)",
        yerr=[[f["mean"] - f["p05"] for f in fc], [f["p95"] - f["mean"] for f in fc]],
        capsize=4,
    )
    left.bar(x + 0.2, [figures["utilisation"][k]["truth"] for k in kinds], 0.4, label="truth")
    left.set_xticks(x, kinds)
    left.set_ylabel("utilisation of open time, next week")
    left.set_ylim(0, 1)
    left.legend()
    cal = figures["calibration"]
    right.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    right.scatter(
        [c["predicted"] for c in cal],
        [c["observed"] for c in cal],
        s=[20 + 3 * c["n"] for c in cal],
    )
    for c in cal:
        right.annotate(
            f"n={c['n']}",
            (c["predicted"], c["observed"]),
            textcoords="offset points",
            xytext=(6, -10),
        )
    right.set_xlabel("predicted p_served")
    right.set_ylabel("observed share served")
    right.set_xlim(0.5, 1.0)
    right.set_ylim(0.5, 1.0)
    right.set_title("calibration of booking probabilities")
    fig.tight_layout()
    fig.savefig(out / "backtest.png", dpi=110)
    plt.close(fig)
