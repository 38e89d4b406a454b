"""``PATCH /api/v1/bookings/{id}``: move, extend or shorten a booking, atomically.

The rules themselves (notice, length, buffer, hours, closures, quotas) are the table of
``test_booking_rules_table``; this file covers what is particular to a change: who may,
in which status, its history, and a change racing a new booking for the same slot.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.db.pool import create_pool
from tests.support.api import api_client, iso
from tests.support.api import auth as key

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


def span(a: float, b: float) -> dict[str, str]:
    return {"start": iso(MON + a * H), "end": iso(MON + b * H)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


async def setup(client: httpx.AsyncClient, pool: asyncpg.Pool) -> tuple[dict[str, str], ...]:
    admin = await key(pool, "platform", "admin")
    acme = await key(pool, "acme", "operator")
    globex = await key(pool, "globex", "operator")
    body = {"id": "sem-1", "site": "lab", "kind": "sem"}
    assert (await client.post("/api/v1/instruments", json=body, headers=admin)).status_code == 201
    return admin, acme, globex


async def book(client: httpx.AsyncClient, who: dict[str, str], a: float, b: float) -> str:
    r = await client.post(
        "/api/v1/bookings", json={"instrument": "sem-1", **span(a, b)}, headers=who
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_move_answers_the_booking_frees_the_old_slot_and_is_kept_in_history(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    _, acme, globex = await setup(client, pool)
    ident = await book(client, acme, 10, 11)
    r = await client.patch(f"/api/v1/bookings/{ident}", json=span(13, 15), headers=acme)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["id"], got["start"], got["end"], got["status"]) == (
        ident,
        "2026-01-05T13:00:00Z",
        "2026-01-05T15:00:00Z",
        "confirmed",
    )
    again = (await client.get(f"/api/v1/bookings/{ident}", headers=acme)).json()
    assert (again["start"], again["end"]) == (got["start"], got["end"])
    await book(client, globex, 10, 11)  # the old slot is free again
    taken = await client.post(
        "/api/v1/bookings", json={"instrument": "sem-1", **span(14, 16)}, headers=globex
    )
    assert taken.status_code == 409
    events = await pool.fetch("SELECT status FROM booking_events WHERE booking_id = $1", got["id"])
    assert [e["status"] for e in events] == ["confirmed", "confirmed"]


async def test_another_organisations_or_an_unknown_booking_is_404(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    admin, acme, globex = await setup(client, pool)
    theirs = await book(client, globex, 10, 11)
    r = await client.patch(f"/api/v1/bookings/{theirs}", json=span(12, 13), headers=acme)
    assert (r.status_code, r.json()["reason"]) == (404, "no_booking")
    unknown = "00000000-0000-0000-0000-000000000000"
    r = await client.patch(f"/api/v1/bookings/{unknown}", json=span(12, 13), headers=acme)
    assert (r.status_code, r.json()["reason"]) == (404, "no_booking")
    assert (await client.get(f"/api/v1/bookings/{theirs}", headers=globex)).json()["start"] == iso(
        MON + 10 * H
    )
    # An admin may move anyone's booking; planners and operators of the org too, not others.
    r = await client.patch(f"/api/v1/bookings/{theirs}", json=span(12, 13), headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["org"] == "globex"
    assert (await client.patch(f"/api/v1/bookings/{theirs}", json=span(12, 13))).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"start": "2026-01-05T12:00:00Z"},
        {"start": "2026-01-05T12:00:00", "end": "2026-01-05T13:00:00Z"},
        {"start": "2026-01-05T12:00:00Z", "end": "2026-01-05T13:00:00Z", "purpose": "x"},
        {"start": "2026-01-05T12:00:00Z", "end": "2026-01-05T11:00:00Z"},
        {"start": 1767614400, "end": "2026-01-05T13:00:00Z"},  # a number is not a time
    ],
)
async def test_a_bad_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, body: dict[str, object]
) -> None:
    _, acme, _ = await setup(client, pool)
    ident = await book(client, acme, 10, 11)
    r = await client.patch(f"/api/v1/bookings/{ident}", json=body, headers=acme)
    assert r.status_code == 422, r.text
    assert (await client.get(f"/api/v1/bookings/{ident}", headers=acme)).json()["start"] == iso(
        MON + 10 * H
    )


@pytest.mark.parametrize("status", ["cancelled", "completed", "no_show", "released"])
async def test_a_booking_that_ended_cannot_change(
    client: httpx.AsyncClient, pool: asyncpg.Pool, status: str
) -> None:
    _, acme, _ = await setup(client, pool)
    ident = await book(client, acme, 10, 11)
    await pool.execute("UPDATE bookings SET status = $2 WHERE id = $1", ident, status)
    r = await client.patch(f"/api/v1/bookings/{ident}", json=span(12, 13), headers=acme)
    assert (r.status_code, r.json()["reason"]) == (409, "not_changeable")
    assert status in r.json()["detail"]


async def test_an_active_booking_may_change_its_end_only(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    _, acme, globex = await setup(client, pool)
    ident = await book(client, acme, 9, 11)
    await book(client, globex, 13, 14)
    clock.advance(3600 * 1.5)  # 09:30, and the booking was checked in
    await pool.execute("UPDATE bookings SET status = 'active' WHERE id = $1", ident)
    moved = await client.patch(f"/api/v1/bookings/{ident}", json=span(9.5, 11), headers=acme)
    assert (moved.status_code, moved.json()["reason"]) == (409, "already_started")
    longer = await client.patch(f"/api/v1/bookings/{ident}", json=span(9, 13), headers=acme)
    assert longer.status_code == 200, longer.text
    assert (longer.json()["end"], longer.json()["status"]) == ("2026-01-05T13:00:00Z", "active")
    into = await client.patch(f"/api/v1/bookings/{ident}", json=span(9, 13.5), headers=acme)
    assert (into.status_code, into.json()["reason"]) == (409, "slot_taken")
    assert "13:00:00Z to 2026-01-05T14:00:00Z" in into.json()["detail"]
    past = await client.patch(f"/api/v1/bookings/{ident}", json=span(9, 9.25), headers=acme)
    assert (past.status_code, past.json()["reason"]) == (422, "ends_in_past")
    shorter = await client.patch(f"/api/v1/bookings/{ident}", json=span(9, 10), headers=acme)
    assert shorter.status_code == 200, shorter.text
    assert shorter.json()["end"] == "2026-01-05T10:00:00Z"


@pytest.fixture
async def wide_pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, min_size=4, max_size=12)
    try:
        yield p
    finally:
        await p.close()


async def test_a_move_racing_a_new_booking_for_the_same_slot_exactly_one_wins(
    wide_pool: asyncpg.Pool,
) -> None:
    async with api_client(wide_pool, clock=FakeClock(MON + 8 * H), timeout=60) as client:
        _, acme, globex = await setup(client, wide_pool)
        outcomes: Counter[tuple[int, int]] = Counter()
        for day in range(1, 21):
            base = day * 24
            ident = await book(client, acme, base + 9, base + 10)
            target = span(base + 14, base + 16)
            go = asyncio.Event()

            async def move(
                ident: str = ident, target: dict[str, str] = target, go: asyncio.Event = go
            ) -> httpx.Response:
                await go.wait()
                return await client.patch(f"/api/v1/bookings/{ident}", json=target, headers=acme)

            async def new(
                target: dict[str, str] = target, go: asyncio.Event = go
            ) -> httpx.Response:
                await go.wait()
                body = {"instrument": "sem-1", **target}
                return await client.post("/api/v1/bookings", json=body, headers=globex)

            tasks = [asyncio.create_task(move()), asyncio.create_task(new())]
            go.set()
            moved, created = await asyncio.gather(*tasks)
            outcomes[moved.status_code, created.status_code] += 1
            assert {moved.status_code, created.status_code} in ({200, 409}, {201, 409}), (
                moved.text,
                created.text,
            )
            assert (moved.status_code == 200) != (created.status_code == 201)
            loser = created if moved.status_code == 200 else moved
            assert loser.json()["reason"] == "slot_taken"
        overlaps = await wide_pool.fetchval(
            """SELECT count(*) FROM bookings a JOIN bookings b
               ON a.instrument_id = b.instrument_id AND a.id < b.id AND a.period && b.period
               WHERE a.status IN ('confirmed', 'active') AND b.status IN ('confirmed', 'active')"""
        )
        assert overlaps == 0
        assert sum(outcomes.values()) == 20
