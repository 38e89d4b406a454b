"""``pilotshare simulate SCENARIO.yaml``: run a scenario here or on Dask, write the reports.

The command line (``pilotshare.cli``) parses arguments and hands over; this module loads the
scenario (a bad file is one ``ConfigError`` line, exit 2), resolves a live baseline through the
database the caller opens, runs the experiment with a progress bar on standard error, and writes
``report.json``, ``report.html`` and the PNGs. Standard output gets the path of the HTML report
alone, so ``open "$(pilotshare simulate s.yaml)"`` works.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pilotshare.core.errors import ConfigError
from pilotshare.simulations import experiment, output, report
from pilotshare.simulations.loader import load_scenario
from pilotshare.simulations.runner import DaskTls, Progress, runner_for
from pilotshare.simulations.scenario import LiveSource, Scenario, Site

#: Opens the database and yields its URL (the composition root decides embedded or not).
DatabaseOpener = Callable[[], AbstractAsyncContextManager[tuple[str, bool]]]


async def _live(scenario: Scenario, database: DatabaseOpener | None) -> Site:
    from pilotshare.core.db import connect
    from pilotshare.simulations.live import live_site

    assert isinstance(scenario.base, LiveSource)  # noqa: S101 - the caller checked
    if database is None:
        raise ConfigError(f"{scenario.source}: live: needs a database (PILOTSHARE_DATABASE_URL)")
    async with database() as (url, _):
        conn = await connect(url)
        try:
            return await live_site(conn, scenario.base.site, scenario, datetime.now(UTC))
        finally:
            await conn.close()


def _bar(total: int) -> tuple[Progress, Callable[[], None]]:
    """A progress bar on standard error (plain lines when it is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        step = max(1, total // 10)

        def plain(done: int, total_: int) -> None:
            if done == total_ or done % step == 0:
                print(f"replications {done}/{total_}", file=sys.stderr, flush=True)

        return plain, lambda: None
    bar = Progress(
        "replications", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
    task = bar.add_task("run", total=total)
    bar.start()

    def update(done: int, total_: int) -> None:
        bar.update(task, completed=done, total=total_)

    return update, bar.stop


def simulate(
    path: Path,
    *,
    dask: str | None = None,
    tls: tuple[Path, Path, Path] | None = None,
    out: Path | None = None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    database: DatabaseOpener | None = None,
) -> dict[str, Any]:
    """Run the scenario in ``path``; returns the JSON report (also written to ``out``)."""
    scenario = load_scenario(path)
    # mutual TLS to the cluster: (CA file, certificate, key), as the settings give them
    runner = runner_for(dask, workers, tls=DaskTls(*tls) if tls else None)
    base = (
        asyncio.run(_live(scenario, database))
        if isinstance(scenario.base, LiveSource)
        else scenario.base
    )
    total = experiment.task_count(scenario, replications)
    print(f"{scenario.name}: {total} replications on {runner.description}", file=sys.stderr)
    progress, done = _bar(total)
    try:
        outcome = experiment.run(
            scenario, base, runner, replications=replications, seed=seed, progress=progress
        )
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        done()
        runner.close()
    data = report.build(outcome)
    directory = out or Path("simulations") / scenario.name
    paths = output.write(outcome, directory, data)
    for line in report.headline(data) + report.sweep_lines(data):
        print(line, file=sys.stderr)
    print(f"report: {paths['html']} ({outcome.elapsed_s:.1f} s)", file=sys.stderr)
    print(paths["html"])
    return data
