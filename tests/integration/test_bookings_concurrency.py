"""Races through the real API and database: the exclusion constraint decides, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import FakeClock
from pilotshare.core.db.pool import create_pool
from pilotshare.core.settings import Settings

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
async def wide_pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, min_size=4, max_size=20)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def client(wide_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(), pool=wide_pool, clock=FakeClock(MON + 8 * H), registry=CollectorRegistry()
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
        yield c


async def keys(pool: asyncpg.Pool, n: int) -> list[dict[str, str]]:
    out = []
    async with pool.acquire() as conn:
        admin = await create_key(conn, org="platform", role="admin")
        out.append({"Authorization": f"Bearer {admin}"})
        for i in range(n):
            secret = await create_key(conn, org=f"org-{i}", role="operator")
            out.append({"Authorization": f"Bearer {secret}"})
    return out


async def test_200_concurrent_requests_for_one_slot_exactly_one_wins(
    client: httpx.AsyncClient, wide_pool: asyncpg.Pool
) -> None:
    admin, *orgs = await keys(wide_pool, 10)
    r = await client.post(
        "/api/v1/instruments", json={"id": "sem-1", "site": "lab", "kind": "sem"}, headers=admin
    )
    assert r.status_code == 201
    body = {"instrument": "sem-1", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T12:00:00Z"}
    start = asyncio.Event()

    async def one(i: int) -> httpx.Response:
        await start.wait()
        return await client.post("/api/v1/bookings", json=body, headers=orgs[i % len(orgs)])

    tasks = [asyncio.create_task(one(i)) for i in range(200)]
    start.set()
    answers = await asyncio.gather(*tasks)
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 1, 409: 199}, codes
    winner = next(a.json() for a in answers if a.status_code == 201)
    for a in answers:
        if a.status_code == 409:
            assert "10:00:00Z to 2026-01-05T12:00:00Z" in a.json()["detail"]
    rows = await wide_pool.fetch("SELECT id::text, status FROM bookings")
    assert [(r["id"], r["status"]) for r in rows] == [(winner["id"], "confirmed")]


async def test_concurrent_scheduler_picked_bookings_never_overlap(
    client: httpx.AsyncClient, wide_pool: asyncpg.Pool
) -> None:
    admin, *orgs = await keys(wide_pool, 5)
    for n in range(3):
        r = await client.post(
            "/api/v1/instruments",
            json={"id": f"oven-{n}", "site": "lab", "kind": "oven", "setup_buffer_s": 600},
            headers=admin,
        )
        assert r.status_code == 201
    # 3 ovens × 8 hours, 1-hour bookings with 10-minute buffers: at most 7 per oven fit.
    body = {
        "kind": "oven",
        "duration": "PT1H",
        "earliest": "2026-01-05T09:00:00Z",
        "latest": "2026-01-05T17:00:00Z",
    }
    answers = await asyncio.gather(
        *(client.post("/api/v1/bookings", json=body, headers=orgs[i % 5]) for i in range(60))
    )
    codes = Counter(a.status_code for a in answers)
    assert set(codes) <= {201, 409}
    assert codes[201] == 21, codes
    overlaps = await wide_pool.fetchval(
        """SELECT count(*) FROM bookings a JOIN bookings b
           ON a.instrument_id = b.instrument_id AND a.id < b.id
           AND tstzrange(lower(a.period), upper(a.period) + interval '10 minutes')
               && tstzrange(lower(b.period), upper(b.period) + interval '10 minutes')"""
    )
    assert overlaps == 0


async def test_concurrent_bookings_never_exceed_a_quota(
    client: httpx.AsyncClient, wide_pool: asyncpg.Pool
) -> None:
    admin, acme = await keys(wide_pool, 1)
    for n in range(10):
        r = await client.post(
            "/api/v1/instruments",
            json={"id": f"sem-{n}", "site": "lab", "kind": "sem"},
            headers=admin,
        )
        assert r.status_code == 201
    quota = "/api/v1/organisations/org-0/quotas/week"
    assert (await client.put(quota, json={"max_hours": 3}, headers=admin)).status_code == 204
    # Ten one-hour bookings on ten instruments at once: slots never collide, the quota decides.
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/v1/bookings",
                json={
                    "instrument": f"sem-{n}",
                    "start": "2026-01-05T10:00:00Z",
                    "end": "2026-01-05T11:00:00Z",
                },
                headers=acme,
            )
            for n in range(10)
        )
    )
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 3, 409: 7}, codes
    assert all("quota" in a.json()["detail"] for a in answers if a.status_code == 409)


async def test_serializable_databases_retry_serialisation_failures(db_url: str) -> None:
    """On a database whose default isolation is SERIALIZABLE, concurrent bookings under a
    quota hit serialisation failures; the service retries them and the quota still holds."""
    admin_conn = await asyncpg.connect(db_url)
    name = await admin_conn.fetchval("SELECT current_database()")
    await admin_conn.execute(
        f'ALTER DATABASE "{name}" SET default_transaction_isolation TO serializable'
    )
    await admin_conn.close()
    pool = await create_pool(db_url, min_size=4, max_size=20)
    try:
        assert await pool.fetchval("SHOW transaction_isolation") == "serializable"
        app = create_app(
            Settings(), pool=pool, clock=FakeClock(MON + 8 * H), registry=CollectorRegistry()
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
            admin, acme = await keys(pool, 1)
            for n in range(12):
                r = await c.post(
                    "/api/v1/instruments",
                    json={"id": f"x-{n}", "site": "lab", "kind": "x"},
                    headers=admin,
                )
                assert r.status_code == 201
            await c.put(
                "/api/v1/organisations/org-0/quotas/day", json={"max_hours": 5}, headers=admin
            )
            answers = await asyncio.gather(
                *(
                    c.post(
                        "/api/v1/bookings",
                        json={
                            "instrument": f"x-{n}",
                            "start": "2026-01-05T10:00:00Z",
                            "end": "2026-01-05T11:00:00Z",
                        },
                        headers=acme,
                    )
                    for n in range(12)
                )
            )
        codes = Counter(a.status_code for a in answers)
        assert codes == {201: 5, 409: 7}, [a.text for a in answers if a.status_code != 201]
    finally:
        await pool.close()
