"""The same scenario on a Dask cluster and on the local process pool: identical results.

A replication is a pure function of its task (site, horizon, one child of the scenario's
``SeedSequence``), so where it runs must not matter, bit for bit. The cluster is a real
``distributed.LocalCluster`` with two worker processes, reached by its TCP address exactly as
``pilotshare simulate --dask tcp://host:8786`` reaches a remote one.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from distributed import LocalCluster

from pilotshare.core.errors import ConfigError
from pilotshare.simulations import experiment, report
from pilotshare.simulations.loader import load_scenario
from pilotshare.simulations.runner import DaskRunner, InlineRunner, LocalRunner, runner_for
from pilotshare.simulations.scenario import Site

SCENARIO = Path(
    str(resources.files("pilotshare.simulations") / "scenarios/materials-lab-extended-hours.yaml")
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as c:
        yield c


def test_dask_and_local_pool_give_identical_results(cluster: LocalCluster) -> None:
    scenario = load_scenario(SCENARIO)
    assert isinstance(scenario.base, Site)
    seen: list[tuple[int, int]] = []
    on_dask = experiment.run(
        scenario,
        scenario.base,
        DaskRunner(cluster.scheduler_address),
        replications=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    with LocalRunner(2) as pool:
        local = experiment.run(scenario, scenario.base, pool, replications=3)
    inline = experiment.run(scenario, scenario.base, InlineRunner(), replications=3)

    total = experiment.task_count(scenario, 3)
    assert seen[-1] == (total, total)
    counts = [d for d, _ in seen]
    assert counts == sorted(counts)
    assert len(counts) > 1  # chunks report as they finish, not only at the end
    assert on_dask.baseline == local.baseline == inline.baseline
    assert on_dask.variant == local.variant == inline.variant
    assert [p.results for p in on_dask.sweep] == [p.results for p in local.sweep]
    a, b = report.build(on_dask), report.build(local)
    assert a["comparison"] == b["comparison"]
    assert a["sweep"] == b["sweep"]
    assert on_dask.runner.startswith("Dask cluster tcp://127.0.0.1:")


def test_a_different_seed_gives_different_results_on_both(cluster: LocalCluster) -> None:
    scenario = load_scenario(SCENARIO)
    assert isinstance(scenario.base, Site)
    one = experiment.run(
        scenario, scenario.base, DaskRunner(cluster.scheduler_address), replications=2, seed=1
    )
    with LocalRunner(2) as pool:
        two = experiment.run(scenario, scenario.base, pool, replications=2, seed=2)
    assert one.baseline != two.baseline


def test_an_unreachable_scheduler_is_a_one_line_config_error() -> None:
    runner = DaskRunner("tcp://127.0.0.1:9", timeout_s=1)
    with pytest.raises(ConfigError, match="cannot reach the scheduler"):
        runner.map(abs, [1])
    with pytest.raises(ConfigError, match="tls://host:8786"):
        runner_for("localhost:8786")
