"""One experiment: baseline and scenario replications with common random numbers, and a sweep.

Every replication is a :class:`Task`: a site, the horizon and one child of
``SeedSequence(scenario.seed)``. Replication ``i`` of the baseline, of the scenario and of every
sweep point gets the *same* child ``i``, which is what makes the comparison paired and the sweep
surface smooth (neighbouring points differ by their parameters, not by their luck). All tasks of
an experiment go to the runner as one batch, so one progress bar covers them and a cluster
sees all the parallelism at once.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from pilotshare.simulations import engine
from pilotshare.simulations.changes import apply_changes, with_values
from pilotshare.simulations.metrics import ReplicationResult
from pilotshare.simulations.runner import Progress, Runner
from pilotshare.simulations.scenario import Scenario, Site


@dataclass(frozen=True, slots=True)
class Task:
    """One replication of one site: all a worker needs, picklable and small."""

    site: Site
    horizon_hours: float
    warmup_hours: float
    seed: np.random.SeedSequence
    index: int


def replicate(task: Task) -> ReplicationResult:
    """Run one replication (a module-level function, so process pools and Dask can ship it)."""
    return engine.run_replication(task.site, task.horizon_hours, task.warmup_hours, task.seed)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One grid point: the parameter values and its replications."""

    values: tuple[float, ...]
    site: Site
    results: tuple[ReplicationResult, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything an experiment produced, before it is summarised into a report."""

    scenario: Scenario
    baseline_site: Site
    scenario_site: Site
    replications: int
    seed: int
    baseline: tuple[ReplicationResult, ...]
    variant: tuple[ReplicationResult, ...]
    sweep: tuple[SweepPoint, ...]
    runner: str
    elapsed_s: float


def sweep_sites(scenario: Scenario, base: Site) -> list[tuple[tuple[float, ...], Site]]:
    """The grid of a scenario's sweep: every combination of values, first parameter slowest."""
    if scenario.sweep is None:
        return []
    params = scenario.sweep.parameters
    out = []
    for combo in itertools.product(*(p.values for p in params)):
        values = {(p.change, p.field): v for p, v in zip(params, combo, strict=True)}
        changes = with_values(scenario.changes, values)
        out.append((tuple(combo), apply_changes(base, changes, source=scenario.source)))
    return out


def run(
    scenario: Scenario,
    base: Site,
    runner: Runner,
    *,
    replications: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Run baseline, scenario and sweep on ``runner``; ``base`` is the resolved baseline site."""
    n = replications or scenario.replications
    root = scenario.seed if seed is None else seed
    children = np.random.SeedSequence(root).spawn(n)
    horizon = scenario.horizon_days * 24.0
    warmup = scenario.warmup_days * 24.0
    variant_site = apply_changes(base, scenario.changes, source=scenario.source)
    grid = sweep_sites(scenario, base)
    m = min(n, scenario.sweep.replications or n) if scenario.sweep else 0

    def tasks(site: Site, count: int) -> list[Task]:
        return [Task(site, horizon, warmup, children[i], i) for i in range(count)]

    batch = tasks(base, n) + tasks(variant_site, n)
    for _, site in grid:
        batch += tasks(site, m)
    started = time.perf_counter()
    results = runner.map(replicate, batch, progress)
    elapsed = time.perf_counter() - started
    points = []
    for j, (values, site) in enumerate(grid):
        start = 2 * n + j * m
        points.append(SweepPoint(values, site, tuple(results[start : start + m])))
    return Outcome(
        scenario=scenario,
        baseline_site=base,
        scenario_site=variant_site,
        replications=n,
        seed=root,
        baseline=tuple(results[:n]),
        variant=tuple(results[n : 2 * n]),
        sweep=tuple(points),
        runner=runner.description,
        elapsed_s=elapsed,
    )


def task_count(scenario: Scenario, replications: int | None = None) -> int:
    """How many replications an experiment runs in all (for limits and progress)."""
    n = replications or scenario.replications
    if scenario.sweep is None:
        return 2 * n
    points = 1
    for p in scenario.sweep.parameters:
        points *= len(p.values)
    return 2 * n + points * min(n, scenario.sweep.replications or n)
