"""``POST /api/v1/simulations`` → job worker → ``GET``: end to end on a real database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.jobs import Worker
from pilotshare.registry import ensure_organisation
from pilotshare.simulations import experiment, report
from pilotshare.simulations.job import KIND, simulation_handler
from pilotshare.simulations.loader import parse_scenario
from pilotshare.simulations.runner import InlineRunner
from pilotshare.simulations.scenario import Site
from tests.support.api import api_client
from tests.support.api import auth as _key
from tests.support.instruments import add_instrument
from tests.support.scenarios import lab_scenario

NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)
SCENARIO = lab_scenario(
    "api-check", horizon_days=14, warmup_days=2, replications=3, seed=5, per_week=30, hours=3
)


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        yield c


def _worker(pool: asyncpg.Pool) -> Worker:
    return Worker(pool, {KIND: simulation_handler(pool, clock=FakeClock(NOW), workers=1)})


async def _simulate(
    client: httpx.AsyncClient, pool: asyncpg.Pool, scenario: str, headers: dict[str, str]
) -> dict[str, Any]:
    """Queue ``scenario`` through the API, let one worker run it, and read the job back."""
    job = (
        await client.post("/api/v1/simulations", json={"scenario": scenario}, headers=headers)
    ).json()
    assert await _worker(pool).run_once()
    got: dict[str, Any] = (
        await client.get(f"/api/v1/simulations/{job['id']}", headers=headers)
    ).json()
    return got


async def test_a_planner_queues_a_scenario_and_reads_the_report(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    planner = await _key(pool, "acme", "planner")
    r = await client.post("/api/v1/simulations", json={"scenario": SCENARIO}, headers=planner)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued"
    got = (await client.get(f"/api/v1/simulations/{job['id']}", headers=planner)).json()
    assert (got["status"], got["progress"], got["result"]) == ("queued", 0, None)

    assert await _worker(pool).run_once()
    got = (await client.get(f"/api/v1/simulations/{job['id']}", headers=planner)).json()
    assert got["status"] == "done", got
    assert got["progress"] == 1
    result = got["result"]
    assert result["scenario"]["name"] == "api-check"
    assert result["sites"]["scenario"]["instruments"] == 2

    # The same scenario run here gives the same figures: the API runs exactly what was sent.
    scenario = parse_scenario(SCENARIO)
    assert isinstance(scenario.base, Site)
    here = report.build(experiment.run(scenario, scenario.base, InlineRunner()))
    assert result["comparison"] == json.loads(json.dumps(here["comparison"]))
    waits = {(r["metric"], r["kind"]): r for r in result["comparison"]}[("wait_hours", "sem")]
    assert waits["difference"]["mean"] < 0


async def test_yaml_bodies_and_overrides(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    planner = await _key(pool, "acme", "planner")
    r = await client.post(
        "/api/v1/simulations",
        content=SCENARIO.encode(),
        headers={**planner, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 202, r.text
    r = await client.post(
        "/api/v1/simulations",
        json={"scenario": SCENARIO, "replications": 2, "seed": 9},
        headers=planner,
    )
    assert r.status_code == 202
    assert await _worker(pool).run_once()
    assert await _worker(pool).run_once()
    done = (await client.get(f"/api/v1/simulations/{r.json()['id']}", headers=planner)).json()
    assert done["result"]["scenario"]["replications"] == 2
    assert done["result"]["scenario"]["seed"] == 9


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"scenario": SCENARIO.replace("hourly_rate", "hourly_rat")},
            "scenario:9: site.instruments[0].hourly_rat: unknown key",
        ),
        (
            {"scenario": SCENARIO.replace("count: 1}\n", "count: -2}\n")},
            "scenario:13: changes[0].add_instruments.count",
        ),
        ({"scenario": "name: [unclosed\n"}, "not valid YAML"),
        ({"scenario": SCENARIO, "replications": 1}, "replications"),
        ({"scenario": SCENARIO, "colour": "red"}, "colour"),
        (
            {
                "scenario": SCENARIO.replace("replications: 3", "replications: 10000")
                + "sweep:\n  parameters:\n    - {change: x, field: count, values: [1]}\n"
            },
            "no change is named 'x'",
        ),
    ],
)
async def test_a_bad_scenario_is_422_naming_line_and_key(
    client: httpx.AsyncClient, pool: asyncpg.Pool, body: dict[str, object], needle: str
) -> None:
    planner = await _key(pool, "acme", "planner")
    r = await client.post("/api/v1/simulations", json=body, headers=planner)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0


async def test_too_many_replications_in_all_is_422(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    planner = await _key(pool, "acme", "planner")
    big = SCENARIO.replace("  - add_instruments", "  - name: more\n    add_instruments") + (
        f"sweep:\n  parameters:\n    - {{change: more, field: count, values: {list(range(20))}}}\n"
    )
    r = await client.post(
        "/api/v1/simulations", json={"scenario": big, "replications": 1000}, headers=planner
    )
    assert r.status_code == 422
    assert "needs 22000 replications in all; at most 20000" in r.json()["detail"]


async def test_roles_and_tenancy(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    operator = await _key(pool, "acme", "operator")
    planner = await _key(pool, "acme", "planner")
    other = await _key(pool, "rival", "planner")
    admin = await _key(pool, "platform", "admin")
    body = {"scenario": SCENARIO}
    assert (await client.post("/api/v1/simulations", json=body)).status_code == 401
    assert (
        await client.post("/api/v1/simulations", json=body, headers=operator)
    ).status_code == 403
    job = (await client.post("/api/v1/simulations", json=body, headers=planner)).json()
    url = f"/api/v1/simulations/{job['id']}"
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.get(url, headers=admin)).status_code == 200
    assert (
        await client.get(url.replace("simulations", "forecasts"), headers=planner)
    ).status_code == 404
    r = await client.post(
        "/api/v1/simulations", content=b"x", headers={**planner, "Content-Type": "image/png"}
    )
    assert r.status_code == 415


async def test_a_live_scenario_starts_from_the_database(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    admin = await _key(pool, "platform", "admin")
    for n in (1, 2):
        r = await client.post(
            "/api/v1/instruments",
            headers=admin,
            json={"id": f"oven-{n}", "site": "line", "kind": "reflow-oven", "hourly_rate": 120},
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/instruments",
        headers=admin,
        json={"id": "elsewhere", "site": "other", "kind": "reflow-oven"},
    )
    assert r.status_code == 201
    live = (
        "name: live-check\nhorizon_days: 7\nwarmup_days: 0\nreplications: 2\n"
        "live: {site: line}\n"
        "changes:\n"
        "  - add_instruments: {kind: reflow-oven, count: 1}\n"
        "  - new_customer:\n"
        "      name: acme\n"
        "      demand: [{kind: reflow-oven, per_week: 20, duration_hours: {mean: 3}}]\n"
    )
    planner = await _key(pool, "acme", "planner")
    done = await _simulate(client, pool, live, planner)
    assert done["status"] == "done", done
    sites = done["result"]["sites"]
    assert (sites["baseline"]["id"], sites["baseline"]["instruments"]) == ("line", 2)
    assert sites["scenario"]["instruments"] == 3
    rows = {(r["metric"], r["kind"]): r for r in done["result"]["comparison"]}
    assert rows[("revenue", "site")]["scenario"]["mean"] > 0

    missing = live.replace("site: line", "site: nowhere")
    failed = await _simulate(client, pool, missing, planner)
    assert failed["status"] == "failed"
    assert "site 'nowhere' has no instruments" in failed["detail"]


async def test_a_live_scenario_books_as_the_api_would_qualified_or_admin(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    admin = await _key(pool, "platform", "admin")
    async with pool.acquire() as conn:
        await add_instrument(conn, "sem-x", site="lab", kind="sem", requires_qualification=True)
        await ensure_organisation(conn, "acme", "Acme")
    path = "/api/v1/instruments/sem-x/qualifications/acme"
    assert (await client.put(path, headers=admin)).status_code == 204
    # Four weeks of history: acme (qualified) and the platform (an admin, not qualified)
    # each booked 3 h a day on the gated instrument.
    async with pool.acquire() as conn:
        for day in range(1, 28):
            for n, org in enumerate(("acme", "platform")):
                start = NOW - timedelta(days=day) + (1 + 4 * n) * timedelta(hours=1)
                await conn.execute(
                    """INSERT INTO bookings (instrument_id, org_id, period, status, created_at)
                       VALUES ('sem-x', $1, tstzrange($2, $3), 'completed', $4)""",
                    org,
                    start,
                    start + timedelta(hours=3),
                    start - timedelta(days=2),
                )
    live = (
        "name: live-access\nhorizon_days: 7\nwarmup_days: 0\nreplications: 2\n"
        "live: {site: lab}\n"
        "changes:\n"
        "  - demand_growth: {factor: 1.0}\n"
    )
    planner = await _key(pool, "acme", "planner")
    done = await _simulate(client, pool, live, planner)
    assert done["status"] == "done", done
    rows = {(r["metric"], r["kind"]): r for r in done["result"]["comparison"]}
    # Both organisations' demand finds slots, as both may book sem-x through the API.
    assert rows[("served_share", "sem")]["baseline"]["mean"] > 0.9
