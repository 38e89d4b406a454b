"""Bookings through the real API on a real database: rules, tenancy, qualifications, quotas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pilotshare.core.clock import FakeClock
from pilotshare.core.db.migrate import uses_timescale
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler.requests import RULES
from tests.support.api import api_client, book, iso
from tests.support.api import auth as key

MON = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; the fake clock starts at 08:00
H = timedelta(hours=1)
OFFICE = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(
    pool: asyncpg.Pool, clock: FakeClock, registry: CollectorRegistry
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=clock, registry=registry) as c:
        yield c


async def instrument(
    client: httpx.AsyncClient, admin: dict[str, str], ident: str, **rules: Any
) -> None:
    body = {"id": ident, "site": "lab", "kind": rules.pop("kind", "sem"), **rules}
    r = await client.post("/api/v1/instruments", json=body, headers=admin)
    assert r.status_code == 201, r.text


async def test_explicit_slot_then_the_same_slot_and_the_buffer_are_409(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await instrument(client, admin, "sem-1", setup_buffer_s=1800)
    r = await book(
        client, acme, instrument="sem-1", start=MON + 10 * H, end=MON + 12 * H, purpose="grain size"
    )
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["instrument"] == "sem-1"
    assert got["org"] == "acme"
    assert got["status"] == "confirmed"
    assert got["purpose"] == "grain size"
    assert datetime.fromisoformat(got["start"]) == MON + 10 * H
    taken = await book(client, acme, instrument="sem-1", start=MON + 11 * H, end=MON + 13 * H)
    assert taken.status_code == 409
    assert "2026-01-05T10:00:00Z" in taken.json()["detail"]
    assert "2026-01-05T12:00:00Z" in taken.json()["detail"]
    # Inside the 30-minute changeover after it: refused; after the buffer: fine.
    early = await book(client, acme, instrument="sem-1", start=MON + 12 * H, end=MON + 13 * H)
    assert early.status_code == 409
    later = MON + 12.5 * H
    ok = await book(client, acme, instrument="sem-1", start=later, end=later + H)
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"instrument": "sem-1", "start": "2026-01-05T10:00:00", "end": "2026-01-05T11:00:00Z"},
            "timezone",
        ),
        ({"instrument": "sem-1", "kind": "sem", "duration": "PT1H"}, "exactly one"),
        ({"instrument": "sem-1"}, "duration"),
        ({"instrument": "sem-1", "duration": "PT0S"}, "positive"),
        ({"instrument": "sem-1", "duration": "four hours"}, "duration"),
        (
            {"instrument": "sem-1", "start": "2026-01-05T11:00:00Z", "end": "2026-01-05T10:00:00Z"},
            "after start",
        ),
        (
            {"instrument": "sem-1", "start": "2026-01-05T19:00:00Z", "end": "2026-01-05T20:00:00Z"},
            "operating hours",
        ),
        (
            {"instrument": "sem-1", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T10:05:00Z"},
            "minimum",
        ),
        (
            {"instrument": "sem-1", "start": "2026-01-05T08:10:00Z", "end": "2026-01-05T09:10:00Z"},
            "notice",
        ),
        ({"instrument": "sem-1", "duration": "PT1H", "colour": "red"}, "colour"),
    ],
)
async def test_bad_requests_are_422_with_a_reason(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    acme: dict[str, str],
    body: dict[str, Any],
    needle: str,
) -> None:
    await instrument(client, admin, "sem-1", operating_hours=OFFICE, min_notice_s=3600)
    r = await client.post("/api/v1/bookings", json=body, headers=acme)
    assert r.status_code == 422, r.text
    assert needle in str(r.json()["detail"]).lower().replace("time zone", "timezone")
    assert "Traceback" not in r.text


T10, T11 = "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"duration": "PT1H"}, "instrument_or_kind"),
        ({"instrument": "sem-1", "kind": "sem", "duration": "PT1H"}, "instrument_or_kind"),
        ({"instrument": "sem-1", "start": T10}, "incomplete_slot"),
        ({"instrument": "sem-1", "end": T11}, "incomplete_slot"),
        ({"instrument": "sem-1"}, "slot_or_duration"),
        ({"instrument": "sem-1", "start": T10, "end": T11, "duration": "PT1H"}, "slot_or_duration"),
        ({"instrument": "sem-1", "start": T10, "end": T11, "latest": T11}, "slot_or_duration"),
        ({"kind": "sem", "start": T10, "end": T11}, "slot_needs_instrument"),
        ({"instrument": "sem-1", "start": T11, "end": T10}, "bad_period"),
        ({"instrument": "sem-1", "start": T10, "end": T10}, "bad_period"),
        ({"kind": "sem", "duration": "PT0S"}, "bad_duration"),
        ({"kind": "sem", "duration": "-PT1H"}, "bad_duration"),
        ({"kind": "sem", "duration": "PT1H", "earliest": T11, "latest": T10}, "bad_window"),
        ({"kind": "sem", "duration": "PT1H", "latest": "2026-01-05T07:00:00Z"}, "bad_window"),
        (
            {"kind": "sem", "duration": "PT1H", "earliest": T10, "latest": "2026-04-05T10:00:00Z"},
            "window_too_long",
        ),
    ],
)
async def test_each_request_rule_answers_422_with_its_one_reason_and_sentence(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    acme: dict[str, str],
    body: dict[str, Any],
    reason: str,
) -> None:
    """The rules of ``scheduler.requests`` are the API's: one code, one sentence each."""
    await instrument(client, admin, "sem-1")
    r = await client.post("/api/v1/bookings", json=body, headers=acme)
    assert r.status_code == 422, r.text
    assert r.json() == {"reason": reason, "detail": RULES[reason]}


async def test_availability_meets_the_same_rules(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await instrument(client, admin, "sem-1")
    for params, reason in [
        ({"duration": "PT1H"}, "instrument_or_kind"),
        ({"kind": "sem", "instrument": "sem-1"}, "instrument_or_kind"),
        ({"kind": "sem", "duration": "PT0S"}, "bad_duration"),
        ({"kind": "sem", "earliest": T11, "latest": T10}, "bad_window"),
    ]:
        r = await client.get("/api/v1/availability", params=params, headers=acme)
        assert r.status_code == 422, r.text
        assert r.json() == {"reason": reason, "detail": RULES[reason]}


async def test_scheduler_picks_the_earliest_finish_across_a_kind(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], pool: asyncpg.Pool
) -> None:
    await instrument(client, admin, "sem-1", operating_hours=OFFICE)
    await instrument(client, admin, "sem-2", operating_hours=OFFICE)
    await instrument(client, admin, "xrd-1", kind="xrd")
    await pool.execute(
        "INSERT INTO maintenance_windows (instrument_id, period) VALUES ('sem-2', $1)",
        asyncpg.Range(MON + 8 * H, MON + 11 * H),
    )
    assert (
        await book(client, acme, instrument="sem-1", start=MON + 9 * H, end=MON + 12 * H)
    ).status_code == 201
    r = await book(
        client, acme, kind="sem", duration="PT2H", earliest=MON + 9 * H, latest=MON + 30 * H
    )
    assert r.status_code == 201, r.text
    got = r.json()
    # sem-1 is busy until 12:00, sem-2 in maintenance until 11:00: sem-2 finishes first.
    assert (got["instrument"], got["start"]) == ("sem-2", "2026-01-05T11:00:00Z")
    none = await book(client, acme, kind="sem", duration="PT11H")  # longer than a day's hours
    assert none.status_code == 409
    assert "no free slot" in none.json()["detail"]


async def test_availability_shows_free_intervals_earliest_first(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], pool: asyncpg.Pool
) -> None:
    await instrument(client, admin, "sem-1", operating_hours=OFFICE, setup_buffer_s=900)
    await instrument(client, admin, "sem-2", operating_hours=OFFICE)
    await pool.execute(
        "INSERT INTO maintenance_windows (instrument_id, period, kind) VALUES ('sem-2', $1, "
        "'blackout')",
        asyncpg.Range(MON + 24 * H, MON + 48 * H),
    )
    assert (
        await book(client, acme, instrument="sem-1", start=MON + 10 * H, end=MON + 12 * H)
    ).status_code == 201
    params = {
        "kind": "sem",
        "duration": "PT1H30M",
        "earliest": iso(MON + 8 * H),
        "latest": iso(MON + 48 * H),
    }
    r = await client.get("/api/v1/availability", params=params, headers=acme)
    assert r.status_code == 200, r.text
    slots = [(s["instrument"], s["start"][11:16], s["end"][:16]) for s in r.json()]
    assert slots == [
        ("sem-1", "08:00", "2026-01-05T09:45"),  # until the booking minus its buffer
        ("sem-2", "08:00", "2026-01-05T18:00"),
        ("sem-1", "12:15", "2026-01-05T18:00"),  # after the booking and its buffer
        ("sem-1", "08:00", "2026-01-06T18:00"),  # sem-2 is blacked out on Tuesday
    ]
    short = await client.get(
        "/api/v1/availability", params={**params, "duration": "PT9H"}, headers=acme
    )
    assert [s["instrument"] for s in short.json()] == ["sem-2", "sem-1"]
    bad = await client.get("/api/v1/availability", params={"duration": "PT1H"}, headers=acme)
    assert bad.status_code == 422
    assert (await client.get("/api/v1/availability", params=params)).status_code == 401


async def test_tenancy_other_orgs_bookings_are_404_and_admin_sees_all(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], globex: dict[str, str]
) -> None:
    await instrument(client, admin, "sem-1")
    mine = (
        await book(client, acme, instrument="sem-1", start=MON + 10 * H, end=MON + 11 * H)
    ).json()["id"]
    theirs = (
        await book(client, globex, instrument="sem-1", start=MON + 12 * H, end=MON + 13 * H)
    ).json()["id"]
    assert (await client.get(f"/api/v1/bookings/{mine}", headers=acme)).status_code == 200
    for path in (f"/api/v1/bookings/{theirs}", f"/api/v1/bookings/{theirs}/usage"):
        r = await client.get(path, headers=acme)
        assert r.status_code == 404
        assert theirs in r.json()["detail"]
    assert (await client.delete(f"/api/v1/bookings/{theirs}", headers=acme)).status_code == 404
    assert [b["id"] for b in (await client.get("/api/v1/bookings", headers=acme)).json()] == [mine]
    everyone = (await client.get("/api/v1/bookings", headers=admin)).json()
    assert [b["id"] for b in everyone] == [mine, theirs]
    assert (await client.get(f"/api/v1/bookings/{mine}")).status_code == 401
    assert (await client.get("/api/v1/bookings/not-a-uuid", headers=acme)).status_code == 422


async def test_qualification_gates_booking_403_until_granted(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], pool: asyncpg.Pool
) -> None:
    await instrument(client, admin, "fib-1", kind="fib", requires_qualification=True)
    slot = {"instrument": "fib-1", "start": MON + 10 * H, "end": MON + 11 * H}
    r = await book(client, acme, **slot)
    assert r.status_code == 403
    assert "qualified" in r.json()["detail"]
    assert (await book(client, acme, kind="fib", duration="PT1H")).status_code == 403
    path = "/api/v1/instruments/fib-1/qualifications/acme"
    assert (await client.put(path, headers=acme)).status_code == 403  # operators may not
    assert (await client.put(path, headers=admin)).status_code == 204
    assert (await client.put(path, headers=admin)).status_code == 204  # idempotent
    assert (await book(client, acme, **slot)).status_code == 201
    assert (await client.delete(path, headers=admin)).status_code == 204
    later = {"instrument": "fib-1", "start": MON + 12 * H, "end": MON + 13 * H}
    assert (await book(client, acme, **later)).status_code == 403
    missing = "/api/v1/instruments/nope/qualifications/acme"
    assert (await client.put(missing, headers=admin)).status_code == 404
    planner = await key(pool, "acme", "planner")
    assert (await client.put(path, headers=planner)).status_code == 403


async def test_cancel_keeps_history_frees_the_slot_and_only_once(
    *,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    acme: dict[str, str],
    globex: dict[str, str],
    pool: asyncpg.Pool,
    registry: CollectorRegistry,
) -> None:
    await instrument(client, admin, "sem-1")
    slot = {"instrument": "sem-1", "start": MON + 10 * H, "end": MON + 11 * H}
    first = (await book(client, acme, **slot)).json()["id"]
    assert (await client.delete(f"/api/v1/bookings/{first}", headers=acme)).status_code == 204
    kept = (await client.get(f"/api/v1/bookings/{first}", headers=acme)).json()
    assert kept["status"] == "cancelled"
    again = await client.delete(f"/api/v1/bookings/{first}", headers=acme)
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    assert (await book(client, globex, **slot)).status_code == 201
    history = await pool.fetch(
        "SELECT status FROM booking_events WHERE booking_id = $1 ORDER BY id", kept["id"]
    )
    assert [r["status"] for r in history] == ["confirmed", "cancelled"]
    text = generate_latest(registry).decode()
    assert 'pilotshare_booking_transitions_total{status="cancelled"} 1.0' in text
    assert 'pilotshare_booking_transitions_total{status="confirmed"} 2.0' in text


async def test_quota_per_week_is_409_past_the_limit(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await instrument(client, admin, "sem-1")
    quota = "/api/v1/organisations/acme/quotas/week"
    assert (await client.put(quota, json={"max_hours": 3}, headers=acme)).status_code == 403
    assert (await client.put(quota, json={"max_hours": -1}, headers=admin)).status_code == 422
    assert (await client.put(quota, json={"max_hours": 3}, headers=admin)).status_code == 204
    listed = await client.get("/api/v1/organisations/acme/quotas", headers=acme)
    assert listed.json() == [{"period": "week", "max_hours": 3.0}]
    assert (
        await book(client, acme, instrument="sem-1", start=MON + 10 * H, end=MON + 12 * H)
    ).status_code == 201
    over = await book(client, acme, instrument="sem-1", start=MON + 13 * H, end=MON + 15 * H)
    assert over.status_code == 409
    assert "quota" in over.json()["detail"]
    # The next week is a new period.
    week2 = MON + timedelta(days=7)
    assert (
        await book(client, acme, instrument="sem-1", start=week2 + 10 * H, end=week2 + 12 * H)
    ).status_code == 201


async def test_closures_block_booking_and_list_affected_bookings(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await instrument(client, admin, "sem-1")
    held = await book(client, acme, instrument="sem-1", start=MON + 10 * H, end=MON + 11 * H)
    window = {
        "start": iso(MON + 9 * H),
        "end": iso(MON + 13 * H),
        "kind": "blackout",
        "reason": "vacuum upgrade",
    }
    assert (
        await client.post("/api/v1/instruments/sem-1/closures", json=window, headers=acme)
    ).status_code == 403
    r = await client.post("/api/v1/instruments/sem-1/closures", json=window, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["affected"] == [held.json()["id"]]
    refused = await book(client, acme, instrument="sem-1", start=MON + 12 * H, end=MON + 14 * H)
    assert refused.status_code == 409
    assert "blackout" in refused.json()["detail"]
    assert "vacuum upgrade" in refused.json()["detail"]
    listed = (await client.get("/api/v1/instruments/sem-1/closures", headers=acme)).json()
    assert [(c["kind"], c["reason"]) for c in listed] == [("blackout", "vacuum upgrade")]
    backwards = {**window, "end": window["start"]}
    assert (
        await client.post("/api/v1/instruments/sem-1/closures", json=backwards, headers=admin)
    ).status_code == 422
    gone = f"/api/v1/instruments/sem-1/closures/{r.json()['id']}"
    assert (await client.delete(gone, headers=admin)).status_code == 204
    assert (await client.delete(gone, headers=admin)).status_code == 404
    assert (
        await book(client, acme, instrument="sem-1", start=MON + 12 * H, end=MON + 14 * H)
    ).status_code == 201


async def test_among_equal_finishes_the_instrument_more_likely_up_wins(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], pool: asyncpg.Pool
) -> None:
    await instrument(client, admin, "sem-1")
    await instrument(client, admin, "sem-2")
    # sem-1 was down a third of the last day, sem-2 never: telemetry as the ingest stores it.
    start = MON - 24 * H
    rows = [
        (name, start + timedelta(minutes=m), "down" if name == "sem-1" and m % 3 == 0 else "idle")
        for name in ("sem-1", "sem-2")
        for m in range(0, 24 * 60, 10)
    ]
    await pool.executemany(
        "INSERT INTO telemetry (instrument_id, ts, state, batch) VALUES ($1, $2, $3, 1)", rows
    )
    if await uses_timescale(pool):
        await pool.execute("CALL refresh_continuous_aggregate('telemetry_hourly', NULL, NULL)")
    else:
        await pool.execute(
            """INSERT INTO telemetry_hourly (instrument_id, bucket, samples, n_down, n_idle)
               SELECT instrument_id, date_trunc('hour', ts), count(*),
                      count(*) FILTER (WHERE state = 'down'), count(*) FILTER (WHERE state = 'idle')
               FROM telemetry GROUP BY 1, 2"""
        )
    r = await book(client, acme, kind="sem", duration="PT1H", earliest=MON + 9 * H)
    assert r.status_code == 201, r.text
    assert r.json()["instrument"] == "sem-2"
    # With sem-2 taken at that time, sem-1 finishes first and wins despite its record.
    again = await book(client, acme, kind="sem", duration="PT1H", earliest=MON + 9 * H)
    assert again.json()["instrument"] == "sem-1"


async def test_the_search_widens_past_busy_days(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], pool: asyncpg.Pool
) -> None:
    await instrument(client, admin, "sem-1")
    await instrument(client, admin, "sem-2")
    await ensure_organisation(pool, "lab")
    for name, days in (("sem-1", 3), ("sem-2", 9)):
        await pool.execute(
            "INSERT INTO bookings (instrument_id, org_id, period) VALUES ($1, 'lab', $2)",
            name,
            asyncpg.Range(MON + 8 * H, MON + 8 * H + days * 24 * H),
        )
    r = await book(client, acme, kind="sem", duration="PT2H", latest=MON + 20 * 24 * H)
    assert r.status_code == 201, r.text
    assert (r.json()["instrument"], r.json()["start"]) == ("sem-1", "2026-01-08T08:00:00Z")
    r = await book(
        client,
        acme,
        kind="sem",
        duration="PT2H",
        earliest=MON + 4 * 24 * H,
        latest=MON + 12 * 24 * H,
    )
    assert (r.json()["instrument"], r.json()["start"]) == ("sem-1", "2026-01-09T00:00:00Z")
    full = await book(client, acme, instrument="sem-2", duration="PT2H", latest=MON + 20 * 24 * H)
    assert full.json()["start"] == "2026-01-14T08:00:00Z"


async def test_closures_that_ended_are_listed_since_a_time(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], clock: FakeClock
) -> None:
    """A past month's closures stay readable (the open statistics take them out of that
    month's open hours): by default only those not ended yet, with ``since`` those ending
    after it."""
    await instrument(client, admin, "sem-1")
    window = {"start": iso(MON + 9 * H), "end": iso(MON + 13 * H), "reason": "annual service"}
    r = await client.post("/api/v1/instruments/sem-1/closures", json=window, headers=admin)
    assert r.status_code == 201, r.text
    clock.advance(86400)  # a day later: it has ended
    path = "/api/v1/instruments/sem-1/closures"
    assert (await client.get(path, headers=acme)).json() == []
    past = await client.get(path, params={"since": iso(MON)}, headers=acme)
    assert [c["reason"] for c in past.json()] == ["annual service"]
    bad = await client.get(path, params={"since": "2026-01-05T08:00:00"}, headers=acme)
    assert bad.status_code == 422  # a time without an offset
