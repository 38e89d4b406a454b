"""``job`` events on ``GET /api/v1/events``: two organisations' planners each watch their own
what-if run from queued to done, and never see the other's; the network operator's admin sees
both. A real uvicorn server, a real job worker, notifications from the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from pilotshare.core.clock import FakeClock
from pilotshare.core.jobs import Worker
from pilotshare.simulations.job import KIND, simulation_handler
from tests.support.api import auth, served, sse_events
from tests.support.scenarios import lab_scenario

NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)
SCENARIO = lab_scenario("watched", horizon_days=14, replications=4, seed=3, per_week=20)

Event = dict[str, Any]


async def _watch(
    base: str, headers: dict[str, str], ready: asyncio.Event, until: Callable[[Event], bool]
) -> list[Event]:
    """The ``job`` events of one stream, up to the first for which ``until`` holds."""
    seen: list[Event] = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        client.stream("GET", "/api/v1/events", headers=headers) as stream,
    ):
        assert stream.status_code == 200
        ready.set()  # subscribed before the answer began
        async for kind, data in sse_events(stream):
            if kind == "job":
                seen.append(data)
                if until(seen[-1]):
                    return seen
    raise AssertionError(f"the stream ended after {seen}")


async def _queue(base: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        r = await client.post("/api/v1/simulations", json={"scenario": SCENARIO}, headers=headers)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _is(ids: dict[str, str], name: str, status: str) -> Callable[[Event], bool]:
    """Whether an event is of the job ``ids[name]`` (once it is known) in ``status``."""
    return lambda e: e["id"] == ids.get(name) and e["status"] == status


async def test_each_planner_sees_only_its_own_jobs_progress_to_done(pool: asyncpg.Pool) -> None:
    acme = await auth(pool, "acme", "planner")
    globex = await auth(pool, "globex", "planner")
    network = await auth(pool, "platform", "admin")
    operator = await auth(pool, "acme", "operator")
    worker = Worker(
        pool, {KIND: simulation_handler(pool, clock=FakeClock(NOW), workers=1)}, progress_every_s=0
    )
    async with served(pool, FakeClock(NOW)) as base:
        ids: dict[str, str] = {}
        ready = {who: asyncio.Event() for who in ("acme", "globex", "network")}

        watchers = {
            "acme": asyncio.create_task(
                _watch(base, acme, ready["acme"], _is(ids, "acme", "done"))
            ),
            "globex": asyncio.create_task(
                _watch(base, globex, ready["globex"], _is(ids, "later", "queued"))
            ),
            "network": asyncio.create_task(
                _watch(base, network, ready["network"], _is(ids, "acme", "done"))
            ),
        }
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready.values())), 10)
        # globex's job is queued first and runs first: acme's stream would see it first
        ids["globex"] = await _queue(base, globex)
        ids["acme"] = await _queue(base, acme)
        assert await worker.run_once()
        assert await worker.run_once()
        # globex's stream reads on until a job of its own queued after acme's ran
        ids["later"] = await _queue(base, globex)
        seen = {who: await asyncio.wait_for(task, 60) for who, task in watchers.items()}
        # an operator may not see jobs at all: its stream opens, and says nothing of them
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as client,
            client.stream("GET", "/api/v1/events", headers=operator) as stream,
        ):
            assert stream.status_code == 200

    assert {e["id"] for e in seen["acme"]} == {ids["acme"]}
    assert {e["id"] for e in seen["globex"]} == {ids["globex"], ids["later"]}
    assert {e["id"] for e in seen["network"]} == {ids["globex"], ids["acme"]}
    for who in ("acme", "globex"):
        own = [e for e in seen[who] if e["id"] == ids[who]]
        assert {e["kind"] for e in own} == {"simulation"}
        statuses = [e["status"] for e in own]
        assert statuses[0] == "queued"
        assert statuses[1] == "running"
        assert statuses[-1] == "done"
        progress = [e["progress"] for e in own if e["status"] == "running"]
        assert progress == sorted(progress)
        assert len(progress) >= 2  # the claim at 0, then at least one step
        assert progress[-1] > 0
        assert own[-1]["progress"] == 1
