"""Simulations as jobs: the request the API stores, and the ``simulation`` job handler.

``POST /api/v1/simulations`` checks the scenario at once (a bad one is a 422 naming line and
key, never a failed job later) and stores the scenario *text*, so the job runs exactly what
was sent. The handler, run by ``core.jobs.Worker``, parses it again, resolves a live
baseline from the database at the moment the job starts, runs the experiment on a runner
(local processes, or the Dask cluster the service is configured with) in a thread so the event
loop stays free, and returns the JSON report as the job's result. Same text, same seed, same
result, whichever runner ran it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypedDict

import asyncpg
import yaml

from pilotshare.core.clock import Clock
from pilotshare.core.db import Connection
from pilotshare.core.errors import BadInput
from pilotshare.core.jobs import Handler, Job, Progress
from pilotshare.simulations import experiment, report
from pilotshare.simulations.loader import ScenarioError, parse_scenario
from pilotshare.simulations.runner import runner_for
from pilotshare.simulations.scenario import LiveSource, Scenario, Site

KIND: Final = "simulation"
#: Limits of one request: beyond them the API answers 422.
MAX_REPLICATIONS: Final = 1000
MAX_TASKS: Final = 20_000
MAX_TEXT: Final = 256 * 1024
SEED_MAX: Final = 2**63 - 1
SOURCE: Final = "scenario"


class StoredRequest(TypedDict):
    """A simulation job's ``request`` as the ``jobs`` table keeps it (JSON)."""

    scenario: str
    replications: int | None
    seed: int | None
    name: str | None  # the scenario's name, for listings (absent in jobs queued before it)


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """What a simulation job runs: scenario text and optional overrides."""

    text: str
    replications: int | None = None
    seed: int | None = None
    name: str | None = None

    @classmethod
    def parse(
        cls,
        scenario: str | Mapping[str, Any],
        replications: int | None = None,
        seed: int | None = None,
    ) -> tuple[SimulationRequest, Scenario]:
        """Check a request; ``BadInput('bad_scenario', 'scenario:LINE: KEY: why')`` if wrong."""
        text = scenario if isinstance(scenario, str) else json.dumps(scenario, indent=1)
        if len(text.encode()) > MAX_TEXT:
            raise BadInput("bad_scenario", f"scenario is larger than {MAX_TEXT // 1024} KiB")
        if replications is not None and not 2 <= replications <= MAX_REPLICATIONS:
            raise BadInput("bad_replications", f"replications must be 2..{MAX_REPLICATIONS}")
        if seed is not None and not 0 <= seed <= SEED_MAX:
            raise BadInput("bad_seed", f"seed must be 0..{SEED_MAX}")
        try:
            parsed = parse_scenario(text, source=SOURCE)
        except ScenarioError as exc:
            raise BadInput("bad_scenario", str(exc)) from None
        tasks = experiment.task_count(parsed, replications)
        if tasks > MAX_TASKS:
            raise BadInput(
                "too_many_replications",
                f"the scenario needs {tasks} replications in all; at most {MAX_TASKS}",
            )
        return cls(text, replications, seed, parsed.name), parsed

    def as_dict(self) -> StoredRequest:
        """What the job stores; ``from_stored`` reads it back."""
        return {
            "scenario": self.text,
            "replications": self.replications,
            "seed": self.seed,
            "name": self.name,
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> SimulationRequest:
        name = stored.get("name")
        return cls(
            str(stored["scenario"]),
            stored.get("replications"),
            stored.get("seed"),
            name if isinstance(name, str) else _name_of(str(stored["scenario"])),
        )


def _name_of(text: str) -> str | None:
    """The ``name`` of stored scenario text, without checking the rest (jobs queued before
    the name was stored beside it)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


async def resolve_base(conn: Connection, scenario: Scenario, clock: Clock) -> Site:
    """The baseline site: as described, or the live twin at this moment."""
    if isinstance(scenario.base, Site):
        return scenario.base
    from pilotshare.simulations.live import live_site

    assert isinstance(scenario.base, LiveSource)  # noqa: S101 - the union is closed
    return await live_site(conn, scenario.base.site, scenario, clock.now())


def simulation_handler(
    pool: asyncpg.Pool, *, clock: Clock, workers: int = 2, dask: str | None = None
) -> Handler:
    """The ``simulation`` kind for ``core.jobs.Worker``."""

    async def handle(job: Job, progress: Progress) -> dict[str, Any]:
        request = SimulationRequest.from_stored(job.request)
        try:
            scenario = parse_scenario(request.text, source=SOURCE)
        except ScenarioError as exc:
            raise BadInput("bad_scenario", str(exc)) from None
        if isinstance(scenario.base, Site):
            base = scenario.base
        else:  # only a live baseline needs the database
            async with pool.acquire() as conn:
                base = await resolve_base(conn, scenario, clock)
        loop = asyncio.get_running_loop()
        last = [0.0]
        pending: set[asyncio.Future[None]] = set()

        def tick(done: int, total: int) -> None:
            fraction = done / total
            if fraction - last[0] >= 0.02 and fraction < 1.0:
                last[0] = fraction
                loop.call_soon_threadsafe(_spawn, pending, progress(fraction))

        runner = runner_for(dask, workers)
        try:
            outcome = await asyncio.to_thread(
                experiment.run,
                scenario,
                base,
                runner,
                replications=request.replications,
                seed=request.seed,
                progress=tick,
            )
        finally:
            await asyncio.to_thread(runner.close)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return _with_owners(report.build(outcome), scenario, base, job.org)

    return handle


def _with_owners(built: dict[str, Any], scenario: Scenario, base: Site, org: str) -> dict[str, Any]:
    """The report with each booking row saying whose it is, so that the API shows each
    organisation only its own: a live baseline's bookings are their organisations' (the
    live site's customers), a described site's are the scenario author's, ``org``."""
    live = not isinstance(scenario.base, Site)
    owners = {b.id: b.customer for b in base.bookings} if live else {}
    rows = [{**row, "org": owners.get(row["booking"], org)} for row in built["bookings"]]
    return {**built, "bookings": rows}


def _spawn(pending: set[asyncio.Future[None]], update: Awaitable[None]) -> None:
    """Send a progress update without waiting for it (kept referenced until done)."""
    future = asyncio.ensure_future(update)
    pending.add(future)
    future.add_done_callback(pending.discard)
