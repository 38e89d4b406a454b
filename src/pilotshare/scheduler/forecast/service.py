"""Capacity forecast: the live site, as the database knows it, replayed many times in SimPy.

``inputs.load_inputs`` reads what a forecast starts from at one moment (instruments,
calendars, maintenance, held bookings, live state, learned behaviour, booking history) and
``inputs.build_site`` turns it into the model's ``SiteSpec``; ``run_replications`` runs
``twin.model.replicate`` with independent streams of one ``SeedSequence`` on a process pool
(both cores); ``summary.summarise`` turns the arrays into the result of CONTRACT §3.

``SchedulerDeskFactory`` passes the API's own ``allocation.allocate`` to the model, so the
forecast books new demand with the same function that books real requests.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

from pilotshare.core.clock import Clock
from pilotshare.core.db import Connection, connect
from pilotshare.core.errors import BadInput
from pilotshare.core.jobs import Handler, Job, Progress
from pilotshare.scheduler.allocation import Candidate, candidate
from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.scheduler.forecast.inputs import (
    ForecastInputs,
    build_site,
    closed_reason,
    failure_spec,
    load_inputs,
)
from pilotshare.scheduler.forecast.summary import (
    ALTERNATIVE_WINDOW,
    AT_RISK_BELOW,
    Summary,
    alternatives,
    summarise,
)
from pilotshare.twin import replications as replications_pool
from pilotshare.twin.model import DeskFactory, Replication, SiteSpec

#: Request limits (CONTRACT §3: documented defaults and limits; beyond them: 422).
HORIZON_DAYS: Final = (1, 92, 14)  # min, max, default
REPLICATIONS: Final = (2, 1000, 100)
SEED_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ForecastParams:
    """What a forecast was asked for; ``seed`` is drawn (and reported) when not given."""

    horizon_days: int = HORIZON_DAYS[2]
    replications: int = REPLICATIONS[2]
    seed: int = 0

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ForecastParams:
        """Validate a request body; ``BadInput`` names the field and its limits."""
        unknown = set(body) - {"horizon_days", "replications", "seed"}
        if unknown:
            raise BadInput("bad_request", f"unknown fields {sorted(unknown)}")

        def integer(name: str, lo: int, hi: int, default: int) -> int:
            value = body.get(name, default)
            if value is None:
                value = default
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise BadInput("bad_request", f"{name} must be an integer in [{lo}, {hi}]")
            return value

        seed = body.get("seed")
        return cls(
            horizon_days=integer("horizon_days", *HORIZON_DAYS),
            replications=integer("replications", *REPLICATIONS),
            seed=integer("seed", 0, SEED_MAX, 0) if seed is not None else secrets.randbelow(2**31),
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "horizon_days": self.horizon_days,
            "replications": self.replications,
            "seed": self.seed,
        }


# -- running replications ------------------------------------------------------------------


def run_replications(
    site: SiteSpec,
    replications: int,
    seed: int,
    *,
    factory: DeskFactory | None = None,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> list[Replication]:
    """``twin.replications.run_replications`` with the scheduler's desk (the API's own
    ``allocate``) unless another ``factory`` is given; same seed, same result, whatever
    ``workers``."""
    return replications_pool.run_replications(
        site,
        factory or SchedulerDeskFactory(),
        replications,
        seed,
        workers=workers,
        progress=progress,
        preload=("pilotshare.scheduler.forecast.desk",),
    )


# -- at-risk bookings ----------------------------------------------------------------------


def _candidates(inputs: ForecastInputs, until: datetime) -> dict[str, list[Candidate]]:
    """Each kind's instruments as ``allocate`` sees them now (from the database state)."""
    held: dict[str, list[tuple[datetime, datetime]]] = {}
    for _, inst, a, b in inputs.bookings:
        held.setdefault(inst, []).append((a, b))
    out: dict[str, list[Candidate]] = {}
    for i in inputs.instruments:
        if i.state == "down":
            continue  # an alternative should not be on a broken instrument either
        out.setdefault(i.kind, []).append(
            candidate(
                i.rules,
                instrument=i.id,
                kind=i.kind,
                capabilities=i.capabilities,
                window=(inputs.now, until),
                now=inputs.now,
                bookings=held.get(i.id, ()),
                closures=i.maintenance,
                p_up=failure_spec(i.behaviour).availability,
            )
        )
    return out


#: The ``cause`` of an at-risk booking its instrument cannot serve as booked, by ``reason``.
CLOSED_CAUSES: Final = {
    "maintenance": "maintenance window",
    "blackout": "blackout",
    "instrument_retired": "instrument retired",
}


def _cause(row: Mapping[str, Any], down: set[str]) -> str:
    reason = row.get("reason")
    if isinstance(reason, str) and reason in CLOSED_CAUSES:
        return CLOSED_CAUSES[reason]
    return "instrument down now" if row["instrument"] in down else "failure or overrun risk"


def unsimulated(
    inputs: ForecastInputs, horizon: timedelta
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The held bookings the replications do not run, as result rows: those left on a
    retired instrument that start within the horizon (``bookings`` rows: ``p_served`` 0, and
    the reason), and every one that starts at or after the horizon's end (``out_of_range``:
    no odds; a forecast with a longer horizon gives them)."""
    end = inputs.now + horizon
    site = {i.id for i in inputs.instruments}
    retired, later = [], []
    for held in inputs.bookings:
        bid, inst, a, b = held
        if b <= inputs.now:
            continue
        row = {"booking": bid, "instrument": inst, "start": a.isoformat(), "end": b.isoformat()}
        if a >= end:
            later.append({**row, "reason": "after_horizon"})
        elif inst not in site:
            reason = closed_reason(inputs, held) or "instrument_retired"
            retired.append({**row, "p_served": 0.0, "interval": [0.0, 0.0], "reason": reason})
    return retired, later


def at_risk(
    inputs: ForecastInputs, result: Summary, *, threshold: float = AT_RISK_BELOW
) -> list[dict[str, Any]]:
    """Bookings whose ``p_served`` is below ``threshold``, with the scheduler's alternatives
    (same kind and length, another instrument, within a week of the original start)."""
    kind_of = {**inputs.retired, **{i.id: i.kind for i in inputs.instruments}}
    down = {i.id for i in inputs.instruments if i.state == "down"}
    by_id = {b[0]: b for b in inputs.bookings}
    risky = [
        r
        for r in result["bookings"]
        if r["p_served"] is not None and r["p_served"] < threshold and r["booking"] in by_id
    ]
    if not risky:
        return []
    latest = max(by_id[r["booking"]][3] for r in risky)
    cands = _candidates(inputs, latest + ALTERNATIVE_WINDOW * 2)
    return [
        {
            **r,
            "cause": _cause(r, down),
            "alternatives": alternatives(
                by_id[r["booking"]], cands.get(kind_of[r["instrument"]], []), inputs.now
            ),
        }
        for r in risky
    ]


# -- the job -------------------------------------------------------------------------------


class ForecastResult(Summary):
    """A forecast job's result (JSON): the summary, what was asked for, the bookings at
    risk with their alternatives, and how long the replications took."""

    params: dict[str, int]
    at_risk: list[dict[str, Any]]
    #: Held bookings that start at or after the horizon's end: no odds (``unsimulated``).
    out_of_range: list[dict[str, Any]]
    elapsed_s: float
    events_per_s: int | None


async def compute(
    conn: Connection,
    params: ForecastParams,
    now: datetime,
    *,
    workers: int = 2,
    progress: Callable[[float], None] | None = None,
) -> ForecastResult:
    """Load, build, run and summarise one forecast (the CPU part runs in a thread, which
    drives the process pool, so the event loop stays free)."""
    horizon = timedelta(days=params.horizon_days)
    inputs = await load_inputs(conn, now, horizon)

    def tick(done: int) -> None:
        if progress is not None:
            progress(done / params.replications)

    def work() -> ForecastResult:
        """Everything CPU-bound, off the event loop: build, simulate, summarise."""
        site = build_site(inputs, horizon)
        if not site.instruments:
            raise BadInput("no_instruments", "there are no instruments to forecast")
        started = time.perf_counter()
        reps = run_replications(
            site, params.replications, params.seed, workers=workers, progress=tick
        )
        elapsed = time.perf_counter() - started
        summary = summarise(site, reps)
        retired, later = unsimulated(inputs, horizon)
        # Stored in full, with each booking's organisation: who sees which rows is decided
        # when the result is served (``api.job_views``), per caller.
        summary["bookings"] = [
            {**r, "org": inputs.owners.get(r["booking"])} for r in summary["bookings"] + retired
        ]
        return {
            **summary,
            "params": params.as_dict(),
            "at_risk": at_risk(inputs, summary),
            "out_of_range": [{**r, "org": inputs.owners.get(r["booking"])} for r in later],
            "elapsed_s": round(elapsed, 3),
            "events_per_s": round(summary["events"] / elapsed) if elapsed > 0 else None,
        }

    return await asyncio.to_thread(work)


def forecast_handler(pool: asyncpg.Pool, *, clock: Clock, workers: int = 2) -> Handler:
    """The ``forecast`` kind for ``core.jobs.Worker``: the job's request is the API
    body (validated again here), ``now`` is when the job starts."""

    async def handle(job: Job, report: Progress) -> ForecastResult:
        params = ForecastParams.parse(job.request)
        loop = asyncio.get_running_loop()
        last = [0.0]

        def progress(fraction: float) -> None:
            if fraction - last[0] >= 0.05 or fraction >= 1.0:
                last[0] = fraction
                loop.call_soon_threadsafe(_spawn, report(min(fraction, 0.99)))

        async with pool.acquire() as conn:
            return await compute(conn, params, clock.now(), workers=workers, progress=progress)

    return handle


_background: set[asyncio.Task[None]] = set()


def _spawn(coro: Awaitable[None]) -> None:
    """Run a progress update without waiting for it (kept referenced until done)."""
    task: asyncio.Task[None] = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def run_once(
    url: str,
    params: ForecastParams,
    now: datetime,
    *,
    workers: int = 2,
    progress: Callable[[float], None] | None = None,
) -> ForecastResult:
    """One forecast outside the job queue (``pilotshare forecast``), on its own connection."""
    conn = await connect(url)
    try:
        return await compute(conn, params, now, workers=workers, progress=progress)
    finally:
        await conn.close()
