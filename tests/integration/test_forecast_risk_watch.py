"""An instrument going down queues a forecast of its bookings' odds, on a real database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler.forecast.risk_watch import RiskWatch
from tests.support.instruments import add_instrument

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
async def site(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO sites (id, name) VALUES ('lab', 'Lab')")
        await ensure_organisation(conn, "acme", "Acme")
        for ident in ("sem-1", "sem-2"):
            await add_instrument(conn, ident, site="lab", kind="sem", name=ident.upper())
        await conn.execute(
            """INSERT INTO bookings (instrument_id, org_id, period)
               VALUES ('sem-1', 'acme', tstzrange($1, $2))""",
            NOW + 2 * H,
            NOW + 4 * H,
        )


async def _notify(pool: asyncpg.Pool, instrument: str, state: str) -> None:
    payload = json.dumps({"instrument": instrument, "site": "lab", "state": state})
    await pool.execute("SELECT pg_notify('twin_changes', $1)", payload)


async def _forecasts(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT org_id, request FROM jobs WHERE kind = 'forecast'")


async def test_a_down_instrument_with_bookings_queues_one_forecast(
    pool: asyncpg.Pool, site: None
) -> None:
    clock = FakeClock(NOW)
    stop = asyncio.Event()
    watch = RiskWatch(pool, clock=clock, quiet_s=600)
    task = asyncio.create_task(watch.run(stop))
    try:
        await asyncio.sleep(0.3)  # listening
        await _notify(pool, "sem-2", "down")  # no bookings: nothing to forecast
        await _notify(pool, "sem-1", "running")  # not down
        await _notify(pool, "sem-1", "down")
        await _notify(pool, "sem-1", "down")  # flapping within the quiet time: no second job
        for _ in range(100):
            if await _forecasts(pool):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        jobs = await _forecasts(pool)
        assert len(jobs) == 1
        assert jobs[0]["org_id"] == "acme"  # the organisation of the affected booking
        assert jobs[0]["request"]["horizon_days"] == 7
        clock.advance(601)
        assert await watch.instrument_down("sem-1") is not None  # quiet time over
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_planners_list_their_forecasts(pool: asyncpg.Pool, site: None) -> None:
    clock = FakeClock(NOW)
    job = await RiskWatch(pool, clock=clock).instrument_down("sem-1")
    assert job is not None
    app = create_app(Settings(), pool=pool, clock=clock, registry=CollectorRegistry())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        async with pool.acquire() as conn:
            acme = {"Authorization": f"Bearer {await create_key(conn, org='acme', role='planner')}"}
            other = {
                "Authorization": f"Bearer {await create_key(conn, org='globex', role='planner')}"
            }
        listed = (await client.get("/api/v1/forecasts", headers=acme)).json()
        assert [x["id"] for x in listed] == [str(job.id)]
        assert listed[0]["status"] == "queued"
        assert (await client.get("/api/v1/forecasts", headers=other)).json() == []
        bad = await client.get("/api/v1/forecasts?limit=0", headers=acme)
        assert bad.status_code == 422


async def test_two_processes_hearing_the_same_failure_queue_one_forecast(
    pool: asyncpg.Pool, site: None
) -> None:
    clock = FakeClock(NOW)
    a, b = RiskWatch(pool, clock=clock), RiskWatch(pool, clock=clock)
    got = await asyncio.gather(a.instrument_down("sem-1"), b.instrument_down("sem-1"))
    assert sum(j is not None for j in got) == 1
    assert len(await _forecasts(pool)) == 1


async def _went_down(pool: asyncpg.Pool, instrument: str, since: datetime) -> None:
    """The twin says ``instrument`` is down since ``since`` (and nobody listened)."""
    await pool.execute(
        """INSERT INTO instrument_live (instrument_id, online, state, since, last_seen)
           VALUES ($1, true, 'down', $2, $2)
           ON CONFLICT (instrument_id) DO UPDATE
           SET online = true, state = 'down', since = $2, last_seen = $2""",
        instrument,
        since,
    )


async def test_an_instrument_that_went_down_unheard_is_forecast_on_connect(
    pool: asyncpg.Pool, site: None
) -> None:
    clock = FakeClock(NOW)
    await _went_down(pool, "sem-1", NOW - H / 6)  # while no watch was listening
    await _went_down(pool, "sem-2", NOW - H / 6)  # no bookings: nothing to forecast
    stop = asyncio.Event()
    watch = RiskWatch(pool, clock=clock, quiet_s=600)
    task = asyncio.create_task(watch.run(stop))
    try:
        for _ in range(100):
            if await _forecasts(pool):
                break
            await asyncio.sleep(0.05)
        jobs = await _forecasts(pool)
        assert [j["org_id"] for j in jobs] == ["acme"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    clock.advance(601)  # a later reconnect: still the same failure, forecast already
    await watch.catch_up()
    assert len(await _forecasts(pool)) == 1
    await _went_down(pool, "sem-1", clock.now() - H / 60)  # down again since, unheard
    await watch.catch_up()
    assert len(await _forecasts(pool)) == 2


async def test_the_forecast_is_shared_with_every_organisation_whose_booking_it_concerns(
    pool: asyncpg.Pool, site: None
) -> None:
    async with pool.acquire() as conn:
        for org, start in (("globex", NOW + 5 * H), ("initech", NOW + timedelta(days=9))):
            await ensure_organisation(conn, org, org.title())
            await conn.execute(
                """INSERT INTO bookings (instrument_id, org_id, period)
                   VALUES ('sem-1', $1, tstzrange($2, $3))""",
                org,
                start,
                start + 2 * H,
            )
    job = await RiskWatch(pool, clock=FakeClock(NOW)).instrument_down("sem-1")
    assert job is not None
    assert job.org == "acme"  # the first affected booking's
    # initech's booking starts after the watch's week, beyond the forecast's horizon: the
    # forecast gives it no odds, so it is not initech's business
    assert job.audience == ("globex",)
    assert job.viewers == ("acme", "globex")
