"""Statements (JSON, CSV), vouchers and iCalendar feeds through the API on a real database."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import api_client
from tests.support.api import auth as key
from tests.support.instruments import add_instrument

JAN = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=FakeClock(JAN + 20 * 24 * H)) as c:
        yield c


async def seed(pool: asyncpg.Pool) -> None:
    """sem-1 bills booked time at 100/h, oven-1 measured time at 60/h."""
    await add_instrument(pool, "sem-1", site="lab", kind="sem", name="SEM", hourly_rate=100)
    await add_instrument(
        pool, "oven-1", site="lab", name="Oven", hourly_rate=60, billing="measured"
    )
    rows = [
        # instrument, start (h after JAN), hours, status, used_s, ended (h after start)
        ("sem-1", 0, 2, "completed", 3600.0, None),  # booked: 2 h = 200
        ("sem-1", 24, 3, "no_show", 0.0, None),  # a no-show pays its slot: 300
        ("sem-1", 48, 4, "released", 3600.0, 1.5),  # released after 1.5 h: 150
        ("sem-1", 72, 5, "cancelled", None, None),  # nothing
        ("oven-1", 0, 8, "completed", 5400.0, None),  # measured 1.5 h × 60 = 90
        ("sem-1", -10 * 24, 1, "completed", 3600.0, None),  # December: 100
    ]
    for inst, start_h, hours, status, used, ended in rows:
        start = JAN + start_h * H
        await pool.execute(
            "INSERT INTO bookings (instrument_id, org_id, period, status, used_s, ended_at) "
            "VALUES ($1, 'acme', $2, $3, $4, $5)",
            inst,
            asyncpg.Range(start, start + hours * H),
            status,
            used,
            start + ended * H if ended is not None else None,
        )


async def test_statement_bills_booked_and_measured_time_and_vouchers_pay_oldest_first(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    admin = await key(pool, "platform", "admin")
    acme = await key(pool, "acme", "operator")
    globex = await key(pool, "globex", "operator")
    await seed(pool)
    await pool.execute(
        "INSERT INTO vouchers (org_id, amount, granted_at) VALUES ('acme', 250, $1)",
        JAN - 30 * 24 * H,
    )
    r = await client.get("/api/v1/statements/acme/2026-01", headers=acme)
    assert r.status_code == 200, r.text
    body = r.json()
    amounts = [(line["instrument"], line["status"], line["amount"]) for line in body["lines"]]
    assert amounts == [
        ("oven-1", "completed", 90.0),
        ("sem-1", "completed", 200.0),
        ("sem-1", "no_show", 300.0),
        ("sem-1", "released", 150.0),
    ]
    assert body["instruments"] == [
        {"instrument": "oven-1", "hours": 1.5, "amount": 90.0},
        {"instrument": "sem-1", "hours": 6.5, "amount": 650.0},
    ]
    # December's 100 took 100 of the 250 voucher; January gets the remaining 150.
    assert (body["total"], body["vouchers"], body["due"]) == (740.0, 150.0, 590.0)
    assert body["voucher_balance"] == 0.0
    assert body["final"] is True
    december = (await client.get("/api/v1/statements/acme/2025-12", headers=acme)).json()
    assert (december["total"], december["vouchers"], december["due"]) == (100.0, 100.0, 0.0)

    grant = await client.post(
        "/api/v1/organisations/acme/vouchers",
        json={"amount": 1000, "note": "grant"},
        headers=admin,
    )
    assert grant.status_code == 201, grant.text
    assert grant.json()["amount"] == 1000.0
    forbidden = await client.post(
        "/api/v1/organisations/acme/vouchers", json={"amount": 5}, headers=acme
    )
    assert forbidden.status_code == 403
    bad = await client.post(
        "/api/v1/organisations/acme/vouchers", json={"amount": 0}, headers=admin
    )
    assert bad.status_code == 422
    after = (await client.get("/api/v1/statements/acme/2026-01", headers=acme)).json()
    assert (after["vouchers"], after["due"], after["voucher_balance"]) == (740.0, 0.0, 410.0)
    listed = (await client.get("/api/v1/organisations/acme/vouchers", headers=acme)).json()
    assert [g["amount"] for g in listed["grants"]] == [250.0, 1000.0]
    assert listed["balance"] == 410.0

    csv_r = await client.get(
        "/api/v1/statements/acme/2026-01", params={"format": "csv"}, headers=acme
    )
    assert csv_r.status_code == 200
    assert csv_r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(csv_r.text)))
    assert table[0][:2] == ["booking", "instrument"]
    assert len(table) == 1 + 4 + 3
    assert table[-1][0] == "due"

    assert (await client.get("/api/v1/statements/acme/2026-01", headers=globex)).status_code == 404
    assert (await client.get("/api/v1/statements/acme/2026-01", headers=admin)).status_code == 200
    assert (await client.get("/api/v1/statements/acme/2026-13", headers=acme)).status_code == 422
    assert (await client.get("/api/v1/statements/acme/2026-01")).status_code == 401


async def test_calendar_feeds_behind_a_token_hide_other_orgs(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await key(pool, "acme", "operator")
    globex = await key(pool, "globex", "operator")
    await seed(pool)
    await pool.execute(
        "INSERT INTO bookings (instrument_id, org_id, period, purpose) "
        "VALUES ('sem-1', 'globex', $1, 'secret alloy, batch 7')",
        asyncpg.Range(JAN + 21 * 24 * H, JAN + 21 * 24 * H + 2 * H),
    )
    r = await client.post("/api/v1/calendars", json={"instrument": "sem-1"}, headers=acme)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    ics = await client.get(url)  # no API key: the token is the credential
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    text = ics.text
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert "SUMMARY:sem-1: acme" in text
    assert "SUMMARY:sem-1: booked" in text  # globex's booking, as busy time only
    assert "secret alloy" not in text
    assert "DTSTART:20260126T000000Z" in text

    own = await client.post("/api/v1/calendars", json={"org": "globex"}, headers=globex)
    org_text = (await client.get(own.json()["url"])).text
    assert "DESCRIPTION:secret alloy\\, batch 7" in org_text
    assert "acme" not in org_text

    assert (
        await client.post("/api/v1/calendars", json={"org": "globex"}, headers=acme)
    ).status_code == 404
    assert (await client.post("/api/v1/calendars", json={}, headers=acme)).status_code == 422
    feed_id = r.json()["id"]
    assert (await client.delete(f"/api/v1/calendars/{feed_id}", headers=globex)).status_code == 404
    assert (await client.delete(f"/api/v1/calendars/{feed_id}", headers=acme)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get("/api/v1/calendars/psf_x_guess.ics")).status_code == 404
