"""What a forecast says of bookings it cannot simulate as booked, through the API and the job
worker on a real database: a booking after the horizon is left out of the odds and listed as
out of range; a booking that overlaps a maintenance window or a blackout, or holds a retired
instrument, has ``p_served`` 0 and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.jobs import Worker
from pilotshare.scheduler.forecast import forecast_handler
from tests.support.api import auth, book, iso
from tests.support.instruments import add_instrument

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


async def _booked(
    client: httpx.AsyncClient, who: dict[str, str], instrument: str, start: datetime
) -> str:
    r = await book(client, who, instrument=instrument, start=start, end=start + 2 * H)
    assert r.status_code == 201, r.text
    booking: str = r.json()["id"]
    return booking


async def _close(
    client: httpx.AsyncClient, admin: dict[str, str], instrument: str, kind: str, start: datetime
) -> list[str]:
    r = await client.post(
        f"/api/v1/instruments/{instrument}/closures",
        json={"start": iso(start), "end": iso(start + 8 * H), "kind": kind},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    affected: list[str] = r.json()["affected"]
    return affected


async def _forecast(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock, who: dict[str, str]
) -> str:
    r = await client.post(
        "/api/v1/forecasts", json={"horizon_days": 3, "replications": 20, "seed": 3}, headers=who
    )
    assert r.status_code == 202, r.text
    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()
    job: str = r.json()["id"]
    return job


async def _result(client: httpx.AsyncClient, job: str, who: dict[str, str]) -> dict[str, Any]:
    body = (await client.get(f"/api/v1/forecasts/{job}", headers=who)).json()
    assert body["status"] == "done", body
    result: dict[str, Any] = body["result"]
    return result


async def test_a_booking_after_the_horizon_is_out_of_range_not_at_risk(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    clock: FakeClock,
    acme: dict[str, str],
    globex: dict[str, str],
) -> None:
    for ident in ("sem-1", "sem-2"):
        await add_instrument(pool, ident, site="lab", kind="sem")
    ids = {
        "inside": await _booked(client, acme, "sem-1", NOW + DAY),
        "across-the-end": await _booked(client, acme, "sem-2", NOW + 3 * DAY - H),
        "after-horizon": await _booked(client, acme, "sem-1", NOW + 5 * DAY),
        "globex-later": await _booked(client, globex, "sem-2", NOW + 6 * DAY),
    }
    planner = await auth(pool, "acme", "planner")
    job = await _forecast(pool, client, clock, planner)  # 3 days
    result = await _result(client, job, planner)
    assert datetime.fromisoformat(result["horizon_end"]) == NOW + 3 * DAY
    rows = {b["booking"]: b for b in result["bookings"]}
    # It starts inside the horizon: simulated, with odds (the run stops at the horizon).
    assert set(rows) == {ids["inside"], ids["across-the-end"]}
    assert rows[ids["across-the-end"]]["p_served"] >= 0.8
    # After the horizon: no odds, not at risk, listed as out of range with the reason.
    assert result["at_risk"] == []
    out = {r["booking"]: r for r in result["out_of_range"]}
    assert set(out) == {ids["after-horizon"]}  # globex's is not acme's to see
    assert out[ids["after-horizon"]]["reason"] == "after_horizon"
    assert out[ids["after-horizon"]]["instrument"] == "sem-1"
    assert datetime.fromisoformat(out[ids["after-horizon"]]["start"]) == NOW + 5 * DAY
    admin = await auth(pool, "platform", "admin")
    everything = (await client.get(f"/api/v1/forecasts/{job}", headers=admin)).json()["result"]
    assert {r["booking"] for r in everything["out_of_range"]} == {
        ids["after-horizon"],
        ids["globex-later"],
    }


async def test_a_booking_inside_a_maintenance_window_or_a_blackout_is_not_served(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    clock: FakeClock,
    acme: dict[str, str],
) -> None:
    admin = await auth(pool, "platform", "admin")
    for ident in ("sem-1", "sem-2"):
        await add_instrument(pool, ident, site="lab", kind="sem")
    ids = {
        "plain": await _booked(client, acme, "sem-2", NOW + DAY + 2 * H),
        "in-maintenance": await _booked(client, acme, "sem-1", NOW + DAY + 2 * H),
        "in-blackout": await _booked(client, acme, "sem-2", NOW + 2 * DAY + 2 * H),
        "half-in": await _booked(client, acme, "sem-1", NOW + 2 * DAY - H),
    }
    # Closed after the bookings were made: the bookings stay, listed as affected.
    assert await _close(client, admin, "sem-1", "maintenance", NOW + DAY) == [ids["in-maintenance"]]
    assert await _close(client, admin, "sem-2", "blackout", NOW + 2 * DAY) == [ids["in-blackout"]]
    assert await _close(client, admin, "sem-1", "maintenance", NOW + 2 * DAY) == [ids["half-in"]]

    planner = await auth(pool, "acme", "planner")
    result = await _result(client, await _forecast(pool, client, clock, planner), planner)
    rows = {b["booking"]: b for b in result["bookings"]}
    # Inside a closure: it cannot be served as booked, certainly, and the row says why.
    closed = rows[ids["in-maintenance"]]
    assert closed["p_served"] == 0.0
    assert closed["interval"] == [0.0, 0.0]
    assert closed["reason"] == "maintenance"
    assert rows[ids["in-blackout"]]["p_served"] == 0.0
    assert rows[ids["in-blackout"]]["reason"] == "blackout"
    assert rows[ids["half-in"]]["p_served"] == 0.0  # its second hour is closed
    assert rows[ids["plain"]]["p_served"] >= 0.8
    assert "reason" not in rows[ids["plain"]]
    risky = {r["booking"]: r for r in result["at_risk"]}
    assert set(risky) == {ids["in-maintenance"], ids["in-blackout"], ids["half-in"]}
    assert risky[ids["in-maintenance"]]["cause"] == "maintenance window"
    assert risky[ids["in-blackout"]]["cause"] == "blackout"
    # another instrument of the kind, outside the closures
    assert {a["instrument"] for a in risky[ids["in-maintenance"]]["alternatives"]} == {"sem-2"}


async def test_a_booking_left_on_a_retired_instrument_is_not_served(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    clock: FakeClock,
    acme: dict[str, str],
) -> None:
    for ident in ("sem-1", "sem-2"):
        await add_instrument(pool, ident, site="lab", kind="sem")
    kept = await _booked(client, acme, "sem-1", NOW + DAY)
    # Retirement refuses an instrument that holds bookings; one left behind anyway (retired
    # in the database by hand) must not break the forecast.
    await pool.execute("UPDATE instruments SET retired_at = $1 WHERE id = 'sem-1'", NOW - H)
    planner = await auth(pool, "acme", "planner")
    result = await _result(client, await _forecast(pool, client, clock, planner), planner)
    assert [i["instrument"] for i in result["instruments"]] == ["sem-2"]
    row = {b["booking"]: b for b in result["bookings"]}[kept]
    assert row["p_served"] == 0.0
    assert row["reason"] == "instrument_retired"
    risky = {r["booking"]: r for r in result["at_risk"]}
    assert risky[kept]["cause"] == "instrument retired"
    assert {a["instrument"] for a in risky[kept]["alternatives"]} == {"sem-2"}


async def test_hours_held_inside_a_closure_do_not_overload_the_week(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    clock: FakeClock,
    acme: dict[str, str],
) -> None:
    admin = await auth(pool, "platform", "admin")
    await add_instrument(pool, "sem-1", site="lab", kind="sem")
    held = [await _booked(client, acme, "sem-1", NOW + DAY + n * 3 * H) for n in range(3)]
    # Closed for the whole horizon after the bookings were made: nothing can run, and the
    # bookings it covers ask nothing of it.
    r = await client.post(
        "/api/v1/instruments/sem-1/closures",
        json={"start": iso(NOW), "end": iso(NOW + 3 * DAY), "kind": "maintenance"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert sorted(r.json()["affected"]) == sorted(held)
    planner = await auth(pool, "acme", "planner")
    result = await _result(client, await _forecast(pool, client, clock, planner), planner)
    assert {b["reason"] for b in result["bookings"]} == {"maintenance"}
    assert result["overloaded_weeks"] == []
