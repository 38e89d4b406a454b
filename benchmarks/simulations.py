"""Simulation runners: replications/s in this process, on a local pool and on a 2-worker Dask
``LocalCluster``, and the overhead each adds per task.

    .venv/bin/python -m benchmarks.simulations [--scenario FILE] [--replications 20]
        [--repeats 3] [--overhead-tasks 200] [--json OUT.json]

Each runner runs the same experiment (baseline and scenario, ``2 × replications`` tasks, no
sweep) ``repeats`` times; figures are medians, and the ratio to the in-process run is taken
within one run of this script because absolute speeds drift with the machine's load. Every
runner must return bit-identical replications, which the script checks. Overhead per task is
measured with a task that does almost nothing (one tiny numpy draw), so it is the cost of
shipping a task and its result, not of simulating; runners send tasks in chunks, so the cost
of one round trip (one chunk) is shown too. Cluster start-up is reported separately.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from pilotshare.simulations import experiment
from pilotshare.simulations.loader import load_scenario
from pilotshare.simulations.runner import (
    DaskRunner,
    InlineRunner,
    LocalRunner,
    Runner,
    chunks,
)
from pilotshare.simulations.scenario import Site

DEFAULT = Path(str(resources.files("pilotshare.simulations") / "scenarios/smt-second-reflow.yaml"))


def tiny(seed: int) -> float:
    """A task that costs almost nothing to run: what is left is the runner's overhead."""
    return float(np.random.default_rng(seed).random())


def trips(runner: Runner, client: Client) -> int:
    """How many round trips (chunks) the overhead run makes on ``runner``."""
    if isinstance(runner, InlineRunner):
        return ARGS_TASKS[0]
    workers = 2 if isinstance(runner, LocalRunner) else sum(client.nthreads().values())
    per = (
        LocalRunner.CHUNKS_PER_WORKER
        if isinstance(runner, LocalRunner)
        else (DaskRunner.CHUNKS_PER_WORKER)
    )
    return len(chunks(ARGS_TASKS[0], workers * per))


ARGS_TASKS = [200]


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--overhead-tasks", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ARGS_TASKS[0] = args.overhead_tasks

    scenario = dataclasses.replace(load_scenario(args.scenario), sweep=None)
    assert isinstance(scenario.base, Site)
    base = scenario.base
    n = args.replications
    tasks = 2 * n
    print(
        f"scenario {scenario.name}: {len(base.instruments)} instruments, "
        f"{scenario.horizon_days:g} days, {tasks} replications per experiment, "
        f"median of {args.repeats}; {os.cpu_count()} cores"
    )

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    client = Client(cluster)
    startup = time.perf_counter() - started

    runners: dict[str, Runner] = {
        "inline (1 process)": InlineRunner(),
        "local pool (2 processes)": LocalRunner(2),
        "Dask LocalCluster (2 workers)": DaskRunner(client=client),
    }
    rows = []
    reference = None
    try:
        for name, runner in runners.items():

            def run(r: Runner = runner) -> experiment.Outcome:
                return experiment.run(scenario, base, r, replications=n)

            wall, outcome = median_time(run, args.repeats)
            same = reference is None or (outcome.baseline, outcome.variant) == reference
            reference = reference or (outcome.baseline, outcome.variant)
            events = sum(r.events for r in outcome.baseline + outcome.variant)
            over, _ = median_time(
                lambda r=runner: r.map(tiny, list(range(args.overhead_tasks))), args.repeats
            )
            rows.append(
                {
                    "runner": name,
                    "wall_s": round(wall, 3),
                    "replications_per_s": round(tasks / wall, 2),
                    "events_per_s": round(events / wall),
                    "overhead_ms_per_task": round(1000 * over / args.overhead_tasks, 3),
                    "overhead_ms_per_round_trip": round(1000 * over / trips(runner, client), 3),
                    "identical": same,
                }
            )
    finally:
        for runner in runners.values():
            runner.close()
        client.close()
        cluster.close()

    base_rate = rows[0]["replications_per_s"]
    print(
        f"\n{'runner':<32}{'wall s':>9}{'repl/s':>9}{'× inline':>10}{'events/s':>11}"
        f"{'ms/task':>10}{'ms/trip':>10}  identical"
    )
    for row in rows:
        row["speedup"] = round(row["replications_per_s"] / base_rate, 2)
        print(
            f"{row['runner']:<32}{row['wall_s']:>9.2f}{row['replications_per_s']:>9.2f}"
            f"{row['speedup']:>10.2f}{row['events_per_s']:>11}"
            f"{row['overhead_ms_per_task']:>10.3f}{row['overhead_ms_per_round_trip']:>10.3f}"
            f"  {row['identical']}"
        )
    print(f"\nLocalCluster start-up: {startup:.2f} s (paid once per cluster, not per run)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "scenario": scenario.name,
                    "replications": tasks,
                    "cluster_startup_s": round(startup, 2),
                    "rows": rows,
                },
                indent=2,
            )
            + "\n"
        )
    if not all(r["identical"] for r in rows):
        raise SystemExit("runners disagree: results must be identical for the same seeds")


if __name__ == "__main__":
    main()
