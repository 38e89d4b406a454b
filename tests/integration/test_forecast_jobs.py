"""The job queue under the forecasts (and simulations), on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import asyncpg
import pytest

from pilotshare.api.job_views import job_public
from pilotshare.api.keys import Principal
from pilotshare.core import jobs
from pilotshare.core.domain import Role
from pilotshare.core.errors import BadInput
from pilotshare.core.jobs import Job, Progress, Worker
from pilotshare.registry import ensure_organisation


@pytest.fixture
async def org(pool: asyncpg.Pool) -> str:
    await ensure_organisation(pool, "acme", "Acme")
    return "acme"


ADMIN = Principal("platform", Role.ADMIN, "k", network=True)  # sees a result as stored


async def test_concurrent_claims_never_take_the_same_job(pool: asyncpg.Pool, org: str) -> None:
    queued = [
        await jobs.enqueue(pool, kind="forecast", org=org, request={"n": n}) for n in range(6)
    ]
    claimed = await asyncio.gather(*(jobs.claim(pool, ["forecast"], f"w{n}") for n in range(8)))
    got = [j.id for j in claimed if j is not None]
    assert sorted(got) == sorted(j.id for j in queued)  # each once, and the extra claims none
    assert await jobs.claim(pool, ["forecast"], "late") is None


async def test_claim_takes_only_the_kinds_a_worker_serves(pool: asyncpg.Pool, org: str) -> None:
    sim = await jobs.enqueue(pool, kind="simulation", org=org, request={})
    assert await jobs.claim(pool, ["forecast"], "w") is None
    got = await jobs.claim(pool, ["forecast", "simulation"], "w")
    assert got is not None
    assert got.id == sim.id


async def test_a_silent_worker_loses_its_job_then_the_job_fails(
    pool: asyncpg.Pool, org: str
) -> None:
    job = await jobs.enqueue(pool, kind="forecast", org=org, request={})
    for attempt in (1, 2):
        claimed = await jobs.claim(pool, ["forecast"], f"w{attempt}")
        assert claimed is not None
        assert claimed.attempts == attempt
        await pool.execute("UPDATE jobs SET heartbeat_at = now() - interval '5 minutes'")
        assert await jobs.requeue_stale(pool, stale_after_s=60, max_attempts=2) == 1
    after = await jobs.get(pool, job.id)
    assert after is not None
    assert after.status == "failed"
    assert after.detail == "the worker running it stopped 2 times"


async def test_a_beating_job_is_not_requeued(pool: asyncpg.Pool, org: str) -> None:
    await jobs.enqueue(pool, kind="forecast", org=org, request={})
    claimed = await jobs.claim(pool, ["forecast"], "w")
    assert claimed is not None
    assert await jobs.requeue_stale(pool, stale_after_s=60, max_attempts=3) == 0


async def _ok(job: Job, progress: Progress) -> Mapping[str, Any]:
    await progress(0.5)
    return {"echo": job.request}


async def _bad(job: Job, progress: Progress) -> Mapping[str, Any]:
    raise BadInput("bad_request", "horizon_days must be an integer in [1, 92]")


async def _bug(job: Job, progress: Progress) -> Mapping[str, Any]:
    raise ValueError("secret internals")


@pytest.mark.parametrize(
    ("handler", "status", "detail"),
    [
        (_ok, "done", None),
        (_bad, "failed", "horizon_days must be an integer in [1, 92]"),
        (_bug, "failed", "internal error: ValueError"),
    ],
)
async def test_handlers_finish_or_fail_with_a_reason(
    pool: asyncpg.Pool, org: str, handler: Any, status: str, detail: str | None
) -> None:
    job = await jobs.enqueue(pool, kind="forecast", org=org, request={"x": 1})
    assert await Worker(pool, {"forecast": handler}).run_once()
    after = await jobs.get(pool, job.id)
    assert after is not None
    assert after.status == status
    assert after.detail == detail
    if status == "done":
        assert after.result == {"echo": {"x": 1}}
        assert after.progress == 1.0
        assert job_public(after, ADMIN).model_dump(mode="json", exclude_unset=True) == {
            "id": str(job.id),
            "status": "done",
            "progress": 1.0,
            "result": {"echo": {"x": 1}},
        }
    else:
        assert (
            job_public(after, ADMIN).model_dump(mode="json", exclude_unset=True)["detail"] == detail
        )


async def test_a_stopping_worker_puts_its_job_back(pool: asyncpg.Pool, org: str) -> None:
    started = asyncio.Event()

    async def slow(job: Job, progress: Progress) -> Mapping[str, Any]:
        await progress(0.3)
        started.set()
        await asyncio.sleep(60)
        return {}

    job = await jobs.enqueue(pool, kind="forecast", org=org, request={})
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(pool, {"forecast": slow}, poll_s=0.1).run(stop))
    await asyncio.wait_for(started.wait(), 10)
    running = await jobs.get(pool, job.id)
    assert running is not None
    assert running.status == "running"
    assert running.progress == pytest.approx(0.3)
    stop.set()
    await asyncio.wait_for(task, 10)
    back = await jobs.get(pool, job.id)
    assert back is not None
    assert back.status == "queued"
    assert back.attempts == 0


async def test_a_notification_wakes_an_idle_worker(pool: asyncpg.Pool, org: str) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(pool, {"forecast": _ok}, poll_s=30).run(stop))
    try:
        await asyncio.sleep(0.3)  # the worker is idle, waiting up to 30 s
        job = await jobs.enqueue(pool, kind="forecast", org=org, request={})
        for _ in range(100):
            done = await jobs.get(pool, job.id)
            if done is not None and done.status == "done":
                break
            await asyncio.sleep(0.05)
        assert done is not None
        assert done.status == "done"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
