"""Statements, quotas and vouchers through the API, cut in the site's time zone and drawn
only by what has been billed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import api_client

H = timedelta(hours=1)
NOV30 = datetime(2026, 11, 30, 10, tzinfo=UTC)  # 18:00 on Monday 30 November in Shanghai
MON = datetime(2026, 1, 5, 8, tzinfo=UTC)


async def book(client: httpx.AsyncClient, who: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/bookings", json=body, headers=who)


@pytest.fixture
async def shanghai(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=FakeClock(NOV30)) as c:
        yield c


@pytest.fixture
async def january(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=FakeClock(MON)) as c:
        yield c


async def test_a_booking_early_on_the_first_local_day_is_in_that_months_statement_and_quota(
    shanghai: httpx.AsyncClient,
    pool: asyncpg.Pool,
    admin: dict[str, str],
    acme: dict[str, str],
    globex: dict[str, str],
) -> None:
    client = shanghai
    inst = {
        "id": "oven-1",
        "site": "sh",
        "kind": "oven",
        "hourly_rate": 10,
        "site_timezone": "Asia/Shanghai",
    }
    assert (await client.post("/api/v1/instruments", json=inst, headers=admin)).status_code == 201
    quota = "/api/v1/organisations/acme/quotas/month"
    assert (await client.put(quota, json={"max_hours": 2}, headers=admin)).status_code == 204

    # 02:00-04:00 on 1 December in Shanghai is 18:00-20:00 on 30 November in UTC.
    december = await book(
        client,
        acme,
        instrument="oven-1",
        start="2026-12-01T02:00:00+08:00",
        end="2026-12-01T04:00:00+08:00",
    )
    assert december.status_code == 201, december.text
    # November (local) still has its 2 hours: the December booking is not counted in it.
    for start, end in (("20:00", "21:00"), ("22:00", "23:00")):
        november = await book(
            client,
            acme,
            instrument="oven-1",
            start=f"2026-11-30T{start}:00+08:00",
            end=f"2026-11-30T{end}:00+08:00",
        )
        assert november.status_code == 201, november.text
    # December (local) is full.
    over = await book(
        client,
        acme,
        instrument="oven-1",
        start="2026-12-05T10:00:00+08:00",
        end="2026-12-05T11:00:00+08:00",
    )
    assert (over.status_code, over.json()["reason"]) == (409, "quota_exceeded")
    # globex has no quota: its booking is refused by nothing.
    other = await book(
        client,
        globex,
        instrument="oven-1",
        start="2026-12-05T10:00:00+08:00",
        end="2026-12-05T11:00:00+08:00",
    )
    assert other.status_code == 201, other.text

    dec = (await client.get("/api/v1/statements/acme/2026-12", headers=acme)).json()
    assert [line["booking"] for line in dec["lines"]] == [december.json()["id"]]
    assert dec["total"] == 20.0
    nov = (await client.get("/api/v1/statements/acme/2026-11", headers=acme)).json()
    assert len(nov["lines"]) == 2
    assert nov["total"] == 20.0
    theirs = (await client.get("/api/v1/statements/globex/2026-12", headers=globex)).json()
    assert [line["booking"] for line in theirs["lines"]] == [other.json()["id"]]

    # A voucher granted at 04:00 on 1 December local time counts for December, not November.
    await pool.execute(
        "INSERT INTO vouchers (org_id, amount, granted_at) VALUES ('acme', 100, $1)",
        datetime(2026, 11, 30, 20, tzinfo=UTC),
    )
    await pool.execute("UPDATE bookings SET status = 'completed' WHERE org_id = 'acme'")
    nov = (await client.get("/api/v1/statements/acme/2026-11", headers=acme)).json()
    assert (nov["vouchers"], nov["due"], nov["voucher_balance"]) == (0.0, 20.0, 0.0)
    dec = (await client.get("/api/v1/statements/acme/2026-12", headers=acme)).json()
    assert (dec["vouchers"], dec["due"], dec["voucher_balance"]) == (20.0, 0.0, 80.0)


async def test_vouchers_are_drawn_only_by_billed_bookings_not_by_future_ones(
    january: httpx.AsyncClient,
    pool: asyncpg.Pool,
    admin: dict[str, str],
    acme: dict[str, str],
    globex: dict[str, str],
) -> None:
    client = january
    inst = {"id": "sem-1", "site": "lab", "kind": "sem", "hourly_rate": 100}
    assert (await client.post("/api/v1/instruments", json=inst, headers=admin)).status_code == 201
    for org, amount in (("acme", 500), ("globex", 300)):
        r = await client.post(
            f"/api/v1/organisations/{org}/vouchers", json={"amount": amount}, headers=admin
        )
        assert r.status_code == 201, r.text
    # acme used sem-1 for 2 h earlier today (completed: billed) ...
    await pool.execute(
        "INSERT INTO bookings (instrument_id, org_id, period, status) "
        "VALUES ('sem-1', 'acme', $1, 'completed')",
        asyncpg.Range(MON - 4 * H, MON - 2 * H),
    )
    # ... and has 3 h confirmed next week; globex 1 h tomorrow.
    ahead = await book(
        client, acme, instrument="sem-1", start="2026-01-12T09:00:00Z", end="2026-01-12T12:00:00Z"
    )
    assert ahead.status_code == 201, ahead.text
    tomorrow = await book(
        client, globex, instrument="sem-1", start="2026-01-06T09:00:00Z", end="2026-01-06T10:00:00Z"
    )
    assert tomorrow.status_code == 201, tomorrow.text

    body = (await client.get("/api/v1/statements/acme/2026-01", headers=acme)).json()
    assert (body["total"], body["vouchers"], body["due"]) == (500.0, 200.0, 300.0)
    assert body["voucher_balance"] == 300.0
    assert body["final"] is False
    listed = (await client.get("/api/v1/organisations/acme/vouchers", headers=acme)).json()
    assert listed["balance"] == 300.0
    theirs = (await client.get("/api/v1/organisations/globex/vouchers", headers=globex)).json()
    assert theirs["balance"] == 300.0
    statement = (await client.get("/api/v1/statements/globex/2026-01", headers=globex)).json()
    assert (statement["total"], statement["vouchers"], statement["due"]) == (100.0, 0.0, 100.0)

    # Once globex's booking is settled (completed), it is billed and draws its voucher.
    await pool.execute(
        "UPDATE bookings SET status = 'completed' WHERE id = $1", tomorrow.json()["id"]
    )
    theirs = (await client.get("/api/v1/organisations/globex/vouchers", headers=globex)).json()
    assert theirs["balance"] == 200.0
    listed = (await client.get("/api/v1/organisations/acme/vouchers", headers=acme)).json()
    assert listed["balance"] == 300.0
    # A cancelled booking is never billed.
    gone = await client.delete(f"/api/v1/bookings/{ahead.json()['id']}", headers=acme)
    assert gone.status_code == 204
    body = (await client.get("/api/v1/statements/acme/2026-01", headers=acme)).json()
    assert (body["total"], body["vouchers"], body["due"], body["final"]) == (
        200.0,
        200.0,
        0.0,
        True,
    )
