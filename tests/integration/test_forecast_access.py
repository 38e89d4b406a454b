"""Forecasts book new demand as the API would for the organisation that asks: only on
instruments it is qualified for, and never past its quotas.

Each organisation's demand is fitted from its own booking history; the model's desk offers
it the instruments the scheduler's qualification rule lets it book and refuses a slot its
quota does not allow, as ``POST /api/v1/bookings`` refuses it with 409.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.jobs import Worker
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler.forecast import forecast_handler
from tests.support.api import auth as key
from tests.support.api import book
from tests.support.instruments import add_instrument

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
DAYS = 14


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


async def history(
    pool: asyncpg.Pool, org: str, instrument: str, *, per_day: int, hours: float
) -> None:
    """Four weeks of completed bookings of ``org`` on ``instrument``, made two days ahead."""
    async with pool.acquire() as conn:
        for day in range(1, 28):
            for n in range(per_day):
                start = NOW - timedelta(days=day) + (1 + n * (hours + 1)) * H
                await conn.execute(
                    """INSERT INTO bookings (instrument_id, org_id, period, status, created_at,
                                             activated_at, running_s)
                       VALUES ($1, $2, tstzrange($3, $4), 'completed', $5, $6, $7)""",
                    instrument,
                    org,
                    start,
                    start + hours * H,
                    start - timedelta(days=2),
                    start + timedelta(minutes=5),
                    hours * 3600 * 0.9,
                )


async def forecast(client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock) -> Any:
    planner = await key(pool, "acme", "planner")
    r = await client.post(
        "/api/v1/forecasts",
        json={"horizon_days": DAYS, "replications": 20, "seed": 3},
        headers=planner,
    )
    assert r.status_code == 202, r.text
    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()
    done = (await client.get(f"/api/v1/forecasts/{r.json()['id']}", headers=planner)).json()
    assert done["status"] == "done", done
    return done["result"]


async def lab(conn: asyncpg.Connection, *instruments: tuple[str, str, bool]) -> None:
    """Site ``lab`` with acme and globex and ``(id, kind, requires_qualification)``."""
    await conn.execute("INSERT INTO sites (id, name) VALUES ('lab', 'Lab')")
    for org in ("acme", "globex"):
        await ensure_organisation(conn, org, org.title())
    for ident, kind, gated in instruments:
        await add_instrument(conn, ident, site="lab", kind=kind, requires_qualification=gated)


async def test_demand_goes_only_to_instruments_its_organisation_is_qualified_for(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock, admin: dict[str, str]
) -> None:
    async with pool.acquire() as conn:
        await lab(conn, ("sem-x", "sem", True), ("sem-y", "sem", True))
    # acme may book sem-x only, globex sem-y only; only acme has booked (and will book).
    for inst, org in (("sem-x", "acme"), ("sem-y", "globex")):
        path = f"/api/v1/instruments/{inst}/qualifications/{org}"
        assert (await client.put(path, headers=admin)).status_code == 204
    await history(pool, "acme", "sem-x", per_day=3, hours=3)

    result = await forecast(client, pool, clock)
    inst = {i["instrument"]: i for i in result["instruments"]}
    assert inst["sem-x"]["utilization"]["mean"] > 0.15  # acme's demand: 9 h a day
    assert inst["sem-y"]["utilization"] == {"mean": 0.0, "p05": 0.0, "p95": 0.0}
    sem = next(k for k in result["kinds"] if k["kind"] == "sem")
    assert sem["requests_per_replication"] > 0


async def test_demand_past_an_organisations_quota_is_refused(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock, admin: dict[str, str]
) -> None:
    async with pool.acquire() as conn:
        await lab(conn, ("oven-1", "oven", False), ("sem-1", "sem", False))
        # Held this week: 6 of acme's 10 hours.
        start = NOW + 26 * H
        await conn.execute(
            """INSERT INTO bookings (instrument_id, org_id, period, status)
               VALUES ('oven-1', 'acme', tstzrange($1, $2), 'confirmed')""",
            start,
            start + 6 * H,
        )
    quota = "/api/v1/organisations/acme/quotas/week"
    assert (await client.put(quota, json={"max_hours": 10}, headers=admin)).status_code == 204
    # Both would book 8 h a day; only acme has a quota (10 h per ISO week, UTC site).
    await history(pool, "acme", "oven-1", per_day=2, hours=4)
    await history(pool, "globex", "sem-1", per_day=2, hours=4)

    result = await forecast(client, pool, clock)
    inst = {i["instrument"]: i for i in result["instruments"]}
    # The horizon touches three ISO weeks (from Monday 08:00 to Monday 08:00): at most
    # 10 h booked in each, and the oven is open around the clock.
    cap = 3 * 10 / (DAYS * 24)
    assert inst["oven-1"]["utilization"]["p95"] <= cap + 1e-9
    assert inst["sem-1"]["utilization"]["mean"] > 2 * cap  # globex has no quota
    kinds = {k["kind"]: k for k in result["kinds"]}
    assert kinds["oven"]["placed_share"] < 0.5  # the rest refused, as the API refuses them
    assert kinds["sem"]["placed_share"] > 0.9


async def test_an_admins_demand_may_go_to_instruments_it_is_not_qualified_for(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock, admin: dict[str, str]
) -> None:
    async with pool.acquire() as conn:
        await lab(conn, ("sem-x", "sem", True))
    # Nobody is qualified for sem-x; the platform's admin books it anyway, as the API lets
    # an admin key book any instrument.
    r = await book(client, admin, instrument="sem-x", start=NOW + 2 * H, end=NOW + 4 * H)
    assert r.status_code == 201, r.text
    await history(pool, "platform", "sem-x", per_day=2, hours=3)

    result = await forecast(client, pool, clock)
    (sem,) = result["instruments"]
    assert sem["utilization"]["mean"] > 0.1  # the admin's demand: 6 h a day
    (kind,) = result["kinds"]
    assert kind["placed_share"] > 0.9
