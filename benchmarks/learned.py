"""Learned behaviour against the truth: MTBF and MTTR from four weeks of 1 Hz telemetry.

    .venv/bin/python -m benchmarks.learned [--seeds 400] [--first-seed 0]
        [--out docs/forecasting] [--database-seeds 1] [--database-url URL]

(also ``python -m benchmarks.forecast_validation --learned-seeds N``). For each scenario a
``SimulatedInstrument`` with known MTBF (running hours: it fails only while running) and
MTTR (exponential repairs) is sampled once a second for four weeks, with agent outages (one
a day on average, 30 minutes on average: silence, while the instrument goes on), for
``--seeds`` seeds. Its behaviour is learned with the twin's own functions
(``twin.stats.intervals`` and ``learn``, what ``twin.store.refresh_behaviour`` runs on the
stored intervals) from the samples that decide the intervals (``tests.support.learned``:
the same intervals as all 2.4 million). Reported per scenario: failures in four weeks, the
relative error of running MTBF and MTTR (bias, median, share of seeds within 10 %), and
how often the stated intervals cover the truth, with a 95 % Wilson interval, beside the rule
the twin used before (every ``down`` episode a failure and a whole repair, Student's t) and
beside the same MTBF interval on the instrument's own failures and running time, every
second seen (``truth_covered``): what the seeds allow, so that a shortfall of the twin's
interval can be told apart from the luck of the seeds (``--first-seed`` draws another set).

``--database-seeds`` seeds of the first scenario also go through the database: all 1 Hz
samples stored by the ingest's writer in a scratch database, then ``refresh_behaviour``;
the stored behaviour must equal the in-memory one.

Writes ``learned.json`` and ``learned.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import matplotlib as mpl
import numpy as np
from scipy import stats as st

mpl.use("Agg")
import matplotlib.pyplot as plt

from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.simulated import SimulatedParams
from pilotshare.scheduler.forecast.summary import wilson
from pilotshare.twin.items import TelemetryItem
from pilotshare.twin.stats import CONFIDENCE, Interval, intervals, learn, mtbf
from pilotshare.twin.store import refresh_behaviour
from tests.support import learned as tl
from tests.support.instruments import add_instrument
from tests.support.twin import telemetry_writer

H = 3600.0
DAYS = 28.0
Z95 = 1.959964
ZONE = "Europe/Berlin"


@dataclass(frozen=True)
class Scenario:
    name: str
    params: SimulatedParams
    outage_every_h: float = 24.0
    outage_mean_s: float = 1800.0

    @property
    def mtbf_h(self) -> float:
        return self.params.mtbf_s / H

    @property
    def mttr_h(self) -> float:
        return self.params.mttr_s / H


SCENARIOS = (
    # a busy instrument that fails every 40 running hours: about ten failures in four weeks
    Scenario("typical", SimulatedParams(mtbf_s=40 * H, mttr_s=2 * H)),
    # one that fails often: about 400 failures in four weeks, enough for 10 % in 95 % of seeds
    Scenario(
        "frequent",
        SimulatedParams(
            run_mean_s=1800, idle_mean_s=600, setup_mean_s=0, mtbf_s=1 * H, mttr_s=0.25 * H
        ),
    ),
)


def _previous_rule(ivs: Sequence[Interval]) -> tuple[tuple[float, float] | None, ...]:
    """The rule before: every ``down`` episode (merged over silence, observed seconds only)
    a failure and a repair; MTTR with Student's t alone."""
    running = sum(iv.seconds for iv in ivs if iv.state is InstrumentState.RUNNING) / H
    reps: list[float] = []
    current: float | None = None
    for iv in ivs:
        if iv.state is InstrumentState.DOWN:
            current = (current or 0.0) + iv.seconds
        elif current is not None:
            reps.append(current)
            current = None
    if current is not None:
        reps.append(current)
    r = len(reps)
    if r < 2:
        return None, None
    a = 1 - CONFIDENCE
    mtbf_ci = (
        2 * running / st.chi2.ppf(1 - a / 2, 2 * r + 2),
        2 * running / st.chi2.ppf(a / 2, 2 * r),
    )
    h = np.asarray(reps) / H
    half = st.t.ppf(1 - a / 2, r - 1) * h.std(ddof=1) / math.sqrt(r)
    return mtbf_ci, (h.mean() - half, h.mean() + half)


def one(scenario: Scenario, seed: int) -> dict[str, Any]:
    """Learn one seed's four weeks; the figures compared with the truth."""
    trace = tl.simulate(
        scenario.params,
        seed,
        days=DAYS,
        outage_every_h=scenario.outage_every_h,
        outage_mean_s=scenario.outage_mean_s,
    )
    ivs = intervals(tl.thinned(trace), gap=tl.GAP, since=trace.start, until=trace.end)
    b = learn(ivs, timezone=ZONE)
    old_mtbf, old_mttr = _previous_rule(ivs)

    def covers(ci: tuple[float, float] | None, truth: float) -> bool:
        return ci is not None and ci[0] <= truth <= ci[1]

    return {
        "seed": seed,
        "true_failures": trace.failures,
        "failures": b.failures,
        "repairs": b.repairs,
        "running_h": b.state_hours.get("running", 0.0),
        "mtbf_h": b.running_mtbf_hours,
        "mttr_h": b.mttr_hours,
        "mtbf_covered": covers(b.running_mtbf_ci, scenario.mtbf_h),
        "mttr_covered": covers(b.mttr_ci, scenario.mttr_h),
        "previous_mtbf_covered": covers(old_mtbf, scenario.mtbf_h),
        "previous_mttr_covered": covers(old_mttr, scenario.mttr_h),
        "truth_mtbf_covered": covers(
            mtbf(tl.running_hours(trace) * H, trace.failures)[1], scenario.mtbf_h
        ),
    }


def _share(hits: int, n: int) -> dict[str, float]:
    lo, hi = wilson(hits, n, z=Z95)
    return {"share": hits / n, "lo": lo, "hi": hi, "n": n}


def summarise(scenario: Scenario, rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {
        "scenario": scenario.name,
        "truth": {"running_mtbf_h": scenario.mtbf_h, "mttr_h": scenario.mttr_h},
        "seeds": n,
        "days": DAYS,
        "outages": {"every_h": scenario.outage_every_h, "mean_s": scenario.outage_mean_s},
        "failures": {
            "mean": float(np.mean([r["failures"] for r in rows])),
            "min": int(min(r["failures"] for r in rows)),
            "max": int(max(r["failures"] for r in rows)),
            "true_mean": float(np.mean([r["true_failures"] for r in rows])),
        },
        "confidence": CONFIDENCE,
    }
    for key, truth in (("mtbf_h", scenario.mtbf_h), ("mttr_h", scenario.mttr_h)):
        est = np.array([r[key] for r in rows if r[key] is not None])
        rel = est / truth - 1
        name = key.removesuffix("_h")
        out[name] = {
            "learned": len(est),
            "bias": float(rel.mean()),
            "bias_se": float(rel.std(ddof=1) / math.sqrt(len(rel))),
            "median_abs_error": float(np.median(np.abs(rel))),
            "p95_abs_error": float(np.quantile(np.abs(rel), 0.95)),
            "within_10pct": _share(int(np.sum(np.abs(rel) <= 0.10)), n),
            "covered": _share(sum(r[f"{name}_covered"] for r in rows), n),
            "previous_covered": _share(sum(r[f"previous_{name}_covered"] for r in rows), n),
            **(
                {"truth_covered": _share(sum(r["truth_mtbf_covered"] for r in rows), n)}
                if name == "mtbf"
                else {}
            ),
            "relative_errors": [float(x) for x in rel],
        }
    return out


async def through_database(url: str, scenario: Scenario, seed: int) -> dict[str, Any]:
    """One seed's four weeks of 1 Hz samples stored by the ingest's writer, learned by
    ``refresh_behaviour``: it must equal the in-memory behaviour."""
    trace = tl.simulate(
        scenario.params,
        seed,
        days=DAYS,
        outage_every_h=scenario.outage_every_h,
        outage_mean_s=scenario.outage_mean_s,
    )
    name = f"ps_learned_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
        conn = await connect(db)
        try:
            await migrate(conn)
            await add_instrument(conn, "kiln", site="lab", site_timezone=ZONE)
        finally:
            await conn.close()
        pool = await create_pool(db, max_size=4)
        try:
            writer = await telemetry_writer(pool, tl.GAP)
            topic = Topic("lab", "kiln", Channel.TELEMETRY)
            t0 = time.perf_counter()
            stored = 0
            chunk: list[Sample] = []

            async def flush(batch: int) -> None:
                b = TelemetryBatch(agent="kiln-agent", batch=batch, samples=tuple(chunk))
                await writer.write(
                    [TelemetryItem(topic, b, encode(b), chunk[-1].ts, 0.0)], chunk[-1].ts
                )

            batch = 0
            for ts, state in tl.samples(trace):
                chunk.append(Sample(ts=ts, state=state))
                if len(chunk) == 5000:
                    batch += 1
                    await flush(batch)
                    stored += len(chunk)
                    chunk = []
            if chunk:
                await flush(batch + 1)
                stored += len(chunk)
            written_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            from_db = await refresh_behaviour(pool, "kiln", trace.end, gap=tl.GAP)
            learn_s = time.perf_counter() - t0
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    in_memory = learn(
        intervals(
            tl.thinned(trace), gap=tl.GAP, since=trace.end - timedelta(days=30), until=trace.end
        ),
        timezone=ZONE,
    )
    return {
        "scenario": scenario.name,
        "seed": seed,
        "samples": stored,
        "write_s": written_s,
        "refresh_s": learn_s,
        "failures": from_db.failures,
        "running_mtbf_h": from_db.running_mtbf_hours,
        "mttr_h": from_db.mttr_hours,
        "equal_to_in_memory": from_db == in_memory,
    }


def run(
    seeds: int, out: Path, url: str | None, *, database_seeds: int = 1, first_seed: int = 0
) -> dict[str, Any]:
    """Every scenario over ``seeds`` seeds from ``first_seed`` (two worker processes); the
    figure to ``out``."""
    results = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for sc in SCENARIOS:
            t0 = time.perf_counter()
            rows = list(
                pool.map(one, [sc] * seeds, range(first_seed, first_seed + seeds), chunksize=4)
            )
            summary = summarise(sc, rows)
            summary["first_seed"] = first_seed
            summary["seconds"] = time.perf_counter() - t0
            results.append(summary)
            print(f"{sc.name}: {seeds} seeds in {summary['seconds']:.0f} s", file=sys.stderr)
    data: dict[str, Any] = {"scenarios": results}
    if url and database_seeds:
        data["database"] = [
            asyncio.run(through_database(url, SCENARIOS[0], seed)) for seed in range(database_seeds)
        ]
    figure(out, data)
    return data


def figure(out: Path, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scs = data["scenarios"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, sc in zip(axes[:2], scs, strict=True):
        bins = (
            np.linspace(-0.8, 1.2, 41)
            if sc["failures"]["mean"] < 50
            else np.linspace(-0.2, 0.2, 41)
        )
        ax.hist(sc["mtbf"]["relative_errors"], bins=bins, alpha=0.6, label="running MTBF")
        ax.hist(sc["mttr"]["relative_errors"], bins=bins, alpha=0.6, label="MTTR")
        for x in (-0.1, 0.1):
            ax.axvline(x, color="grey", linestyle="--", linewidth=1)
        ax.set_title(
            f"{sc['scenario']}: MTBF {sc['truth']['running_mtbf_h']:g} running h, "
            f"~{sc['failures']['mean']:.0f} failures"
        )
        ax.set_xlabel("learned / truth − 1")
        ax.legend()
    ax = axes[2]
    labels, shares, los, his, colours = [], [], [], [], []
    for sc in scs:
        for name in ("mtbf", "mttr"):
            for key, colour in (
                ("covered", "C0"),
                ("previous_covered", "C3"),
                ("truth_covered", "C7"),
            ):
                if key not in sc[name]:
                    continue
                c = sc[name][key]
                labels.append(f"{sc['scenario']}\n{name}" if key == "covered" else "")
                shares.append(c["share"])
                los.append(c["share"] - c["lo"])
                his.append(c["hi"] - c["share"])
                colours.append(colour)
    x = np.arange(len(shares))
    ax.bar(x, shares, color=colours, yerr=[los, his], capsize=3)
    ax.axhline(CONFIDENCE, color="black", linewidth=1)
    ax.set_xticks(x + 0.5, labels, fontsize=7)
    ax.set_ylim(0.6, 1.0)
    ax.set_ylabel(f"share of seeds covered (stated {CONFIDENCE:.0%})")
    ax.set_title("blue: the twin, red: the rule before, grey: every second seen", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "learned.png", dpi=110)
    plt.close(fig)


def report(data: dict[str, Any]) -> dict[str, Any]:
    """The figures without the per-seed errors."""
    return {
        "scenarios": [
            {
                k: (
                    {kk: vv for kk, vv in v.items() if kk != "relative_errors"}
                    if isinstance(v, dict)
                    else v
                )
                for k, v in sc.items()
            }
            for sc in data["scenarios"]
        ],
        **({"database": data["database"]} if "database" in data else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", default="docs/forecasting")
    parser.add_argument("--database-seeds", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    out = Path(args.out)
    data = run(
        args.seeds,
        out,
        args.database_url,
        database_seeds=args.database_seeds,
        first_seed=args.first_seed,
    )
    (out / "learned.json").write_text(json.dumps(report(data), indent=2) + "\n")
    print(json.dumps(report(data), indent=2))


if __name__ == "__main__":
    main()
