"""The API's keys and roles on a real database (CONTRACT §3: 401, 403, 201, 409)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from pilotshare.api.keys import KeyCache, create_key
from pilotshare.core.clock import FakeClock
from pilotshare.core.domain import Role
from tests.support.api import api_client
from tests.support.api import auth as _key


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=FakeClock()) as c:
        yield c


OVEN = {"id": "oven-1", "site": "s1", "kind": "reflow-oven", "hourly_rate": 120}


async def test_no_key_is_401_and_bad_key_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/instruments")).status_code == 401
    r = await client.get("/api/v1/instruments", headers={"Authorization": "Bearer ps_x_nope"})
    assert r.status_code == 401
    assert r.json()["detail"]
    assert (await client.post("/api/v1/instruments", json=OVEN)).status_code == 401


async def test_operator_may_not_create_instruments(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    operator = await _key(pool, "acme", "operator")
    r = await client.post("/api/v1/instruments", json=OVEN, headers=operator)
    assert r.status_code == 403
    assert (await client.get("/api/v1/instruments", headers=operator)).json() == []


async def test_admin_creates_then_conflicts(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    admin = await _key(pool, "platform", "admin")
    r = await client.post("/api/v1/instruments", json=OVEN, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "oven-1"
    assert body["name"] == "oven-1"
    assert body["hourly_rate"] == 120
    assert (await client.post("/api/v1/instruments", json=OVEN, headers=admin)).status_code == 409
    listed = (await client.get("/api/v1/instruments", headers=admin)).json()
    assert [i["id"] for i in listed] == ["oven-1"]
    assert {"id", "site", "name", "kind", "capabilities", "hourly_rate"} <= set(listed[0])


@pytest.mark.parametrize(
    "body",
    [
        {"site": "s1", "kind": "sem"},
        {"id": "Bad Id", "site": "s1", "kind": "sem"},
        {"id": "x", "site": "s1", "kind": "sem", "hourly_rate": -1},
        {"id": "x", "site": "s1", "kind": "sem", "operating_hours": {"funday": []}},
        {"id": "x", "site": "s1", "kind": "sem", "operating_hours": {"mon": [["25:00", "08:00"]]}},
        {"id": "x", "site": "s1", "kind": "sem", "operating_hours": {"exceptions": {"xmas": []}}},
        {"id": "x", "site": "s1", "kind": "sem", "colour": "red"},
    ],
)
async def test_bad_bodies_are_422_with_a_reason(
    client: httpx.AsyncClient, pool: asyncpg.Pool, body: dict[str, object]
) -> None:
    admin = await _key(pool, "platform", "admin")
    r = await client.post("/api/v1/instruments", json=body, headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"]


async def test_health_ready_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    await client.get("/api/v1/instruments")
    text = (await client.get("/metrics")).text
    assert (
        'pilotshare_http_requests_total{method="GET",route="/api/v1/instruments",status="401"}'
        in text
    )


async def test_overnight_spans_and_exceptions_are_accepted(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    admin = await _key(pool, "platform", "admin")
    hours = {"sat": [["22:00", "06:00"]], "exceptions": {"2026-12-25": []}}
    body = {"id": "night-oven", "site": "s1", "kind": "oven", "operating_hours": hours}
    r = await client.post("/api/v1/instruments", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["operating_hours"] == hours


async def test_a_revoked_key_stops_working_within_the_cache_ttl(pool: asyncpg.Pool) -> None:
    cache = KeyCache(ttl_s=10)
    wall = datetime(2026, 12, 1, tzinfo=UTC)
    async with pool.acquire() as conn:
        key = await create_key(conn, org="acme", role="planner")
    first = await cache.authenticate(pool, key, 0.0, wall)
    assert first is not None
    assert (first.org, first.role) == ("acme", Role.PLANNER)
    await pool.execute("UPDATE api_keys SET revoked_at = now()")
    assert await cache.authenticate(pool, key, 9.0, wall) == first  # still within the TTL
    assert await cache.authenticate(pool, key, 10.5, wall) is None
    assert await cache.authenticate(pool, key, 10.6, wall) is None  # and not cached as valid
    assert await cache.authenticate(pool, "ps_nope_x", 11.0, wall) is None
