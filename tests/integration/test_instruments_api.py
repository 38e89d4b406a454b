"""The instrument catalogue through the API on a real database: edit, retire, time zones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare import seeding
from pilotshare.api.catalog import retire_instrument
from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import InstrumentState
from pilotshare.scheduler.forecast.inputs import load_inputs
from pilotshare.twin.items import TelemetryItem
from tests.support.api import book, iso
from tests.support.twin import telemetry_writer

MON = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; the fake clock starts at 08:00
H = timedelta(hours=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


async def register(
    client: httpx.AsyncClient, admin: dict[str, str], ident: str, **fields: Any
) -> dict[str, Any]:
    body = {"id": ident, "site": "lab", "kind": "sem", **fields}
    r = await client.post("/api/v1/instruments", json=body, headers=admin)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_patch_edits_name_rates_rules_hours_and_capabilities(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await register(client, admin, "sem-1", hourly_rate=50)
    first = await book(client, acme, instrument="sem-1", start=MON + 10 * H, end=MON + 11 * H)
    assert first.status_code == 201, first.text
    change = {
        "name": "Scanning electron microscope",
        "hourly_rate": 80,
        "capabilities": ["eds", "ebsd"],
        "operating_hours": {"mon": [["09:00", "17:00"]]},
        "min_booking_s": 7200,
        "requires_qualification": False,
    }
    r = await client.patch("/api/v1/instruments/sem-1", json=change, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in change} == {**change, "hourly_rate": 80.0}
    assert (body["id"], body["site"], body["kind"], body["max_booking_s"]) == (
        "sem-1",
        "lab",
        "sem",
        86400,
    )
    assert (await client.get("/api/v1/instruments/sem-1", headers=acme)).json() == body
    # New bookings follow the new rules ...
    short = await book(client, acme, instrument="sem-1", start=MON + 12 * H, end=MON + 13 * H)
    assert (short.status_code, short.json()["reason"]) == (422, "too_short")
    late = await book(client, acme, instrument="sem-1", start=MON + 16 * H, end=MON + 18 * H)
    assert (late.status_code, late.json()["reason"]) == (422, "closed")
    ok = await book(client, acme, instrument="sem-1", start=MON + 12 * H, end=MON + 14 * H)
    assert ok.status_code == 201, ok.text
    # ... and a booking made before keeps the rate it was booked at.
    stored = dict(await client_rates(client, admin, [first.json()["id"], ok.json()["id"]]))
    assert stored == {first.json()["id"]: 50.0, ok.json()["id"]: 80.0}


async def client_rates(
    client: httpx.AsyncClient, admin: dict[str, str], ids: list[str]
) -> list[tuple[str, float]]:
    """The hourly rate each booking is billed at, from acme's statement."""
    r = await client.get("/api/v1/statements/acme/2026-01", headers=admin)
    assert r.status_code == 200, r.text
    return [(line["booking"], line["rate"]) for line in r.json()["lines"] if line["booking"] in ids]


async def test_patch_validates_like_post_and_is_admin_only(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await register(client, admin, "sem-1", min_booking_s=1800)
    path = "/api/v1/instruments/sem-1"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"max_booking_s": 900}, "bad_rules"),  # shorter than the stored minimum
        ({"hourly_rate": -1}, "bad_request"),
        ({"operating_hours": {"mon": [["25:00", "26:00"]]}}, "bad_request"),
        ({"kind": "fib"}, "bad_request"),  # id, site, kind and owner are not editable
        ({"site": "elsewhere"}, "bad_request"),
        ({"name": None}, "bad_request"),
        ({"capabilities": [""]}, "bad_request"),
        # the bounds of POST (schemathesis once stored a 20-year horizon, then failed to answer)
        ({"max_horizon_s": 20 * 365 * 86400}, "bad_request"),
        ({"min_notice_s": 20 * 365 * 86400}, "bad_request"),
        ({"public": 0}, "bad_request"),  # a boolean, not a number
    ]
    for change, reason in cases:
        r = await client.patch(path, json=change, headers=admin)
        assert (r.status_code, r.json()["reason"]) == (422, reason), (change, r.text)
    unchanged = (await client.get(path, headers=admin)).json()
    assert (unchanged["min_booking_s"], unchanged["max_booking_s"]) == (1800, 86400)
    forbidden = await client.patch(path, json={"name": "x"}, headers=acme)
    assert forbidden.status_code == 403
    missing = await client.patch("/api/v1/instruments/nope", json={"name": "x"}, headers=admin)
    assert (missing.status_code, missing.json()["reason"]) == (404, "no_instrument")
    assert (await client.patch(path, json={"name": "x"})).status_code == 401
    # null operating hours means always open again; an empty body changes nothing
    hours = {"operating_hours": {"mon": [["08:00", "18:00"]]}}
    assert (await client.patch(path, json=hours, headers=admin)).status_code == 200
    opened = await client.patch(path, json={"operating_hours": None}, headers=admin)
    assert opened.json()["operating_hours"] is None
    same = await client.patch(path, json={}, headers=admin)
    assert same.status_code == 200
    assert same.json() == opened.json()


async def test_retire_refuses_while_future_bookings_are_held_then_hides_the_instrument(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    admin: dict[str, str],
    acme: dict[str, str],
    globex: dict[str, str],
) -> None:
    await register(client, admin, "sem-1", hourly_rate=100)
    await register(client, admin, "sem-2")
    # History: a completed booking of last week stays billed after retirement.
    await pool.execute(
        "INSERT INTO bookings (instrument_id, org_id, period, status) "
        "VALUES ('sem-1', 'globex', $1, 'completed')",
        asyncpg.Range(MON - 48 * H, MON - 46 * H),
    )
    held = await book(client, acme, instrument="sem-1", start=MON + 30 * H, end=MON + 31 * H)
    assert held.status_code == 201, held.text

    refused = await client.delete("/api/v1/instruments/sem-1", headers=admin)
    assert (refused.status_code, refused.json()["reason"]) == (409, "future_bookings")
    assert "1 booking" in refused.json()["detail"]
    assert (await client.delete("/api/v1/instruments/sem-1", headers=acme)).status_code == 403
    gone = await client.delete("/api/v1/instruments/nope", headers=admin)
    assert (gone.status_code, gone.json()["reason"]) == (404, "no_instrument")

    cancelled = await client.delete(f"/api/v1/bookings/{held.json()['id']}", headers=acme)
    assert cancelled.status_code == 204
    retired = await client.delete("/api/v1/instruments/sem-1", headers=admin)
    assert retired.status_code == 204, retired.text
    assert (await client.delete("/api/v1/instruments/sem-1", headers=admin)).status_code == 204

    listed = (await client.get("/api/v1/instruments", headers=acme)).json()
    assert [i["id"] for i in listed] == ["sem-2"]
    assert listed[0]["retired_at"] is None
    everything = await client.get(
        "/api/v1/instruments", params={"include_retired": "true"}, headers=acme
    )
    by_id = {i["id"]: i for i in everything.json()}
    assert sorted(by_id) == ["sem-1", "sem-2"]
    assert by_id["sem-1"]["retired_at"] == "2026-01-05T08:00:00Z"
    one = (await client.get("/api/v1/instruments/sem-1", headers=acme)).json()
    assert one["retired_at"] == "2026-01-05T08:00:00Z"

    # No new bookings: by id a clear refusal, by kind never chosen, never offered.
    direct = await book(client, acme, instrument="sem-1", start=MON + 30 * H, end=MON + 31 * H)
    assert (direct.status_code, direct.json()["reason"]) == (409, "instrument_retired")
    search = await book(client, acme, instrument="sem-1", duration="PT1H")
    assert (search.status_code, search.json()["reason"]) == (409, "instrument_retired")
    offered = await client.get(
        "/api/v1/availability", params={"instrument": "sem-1", "duration": "PT1H"}, headers=acme
    )
    assert (offered.status_code, offered.json()["reason"]) == (409, "instrument_retired")
    free = await client.get(
        "/api/v1/availability", params={"kind": "sem", "duration": "PT1H"}, headers=acme
    )
    assert free.status_code == 200
    assert {s["instrument"] for s in free.json()} == {"sem-2"}
    # sem-2 is busy all morning: the scheduler waits for it rather than pick the retired sem-1.
    busy = await book(client, globex, instrument="sem-2", start=MON + 9 * H, end=MON + 12 * H)
    assert busy.status_code == 201, busy.text
    by_kind = await book(
        client, acme, kind="sem", duration="PT1H", earliest=MON + 9 * H, latest=MON + 13 * H
    )
    assert by_kind.status_code == 201, by_kind.text
    assert (by_kind.json()["instrument"], by_kind.json()["start"]) == (
        "sem-2",
        "2026-01-05T12:00:00Z",
    )
    squeezed = await book(
        client, acme, kind="sem", duration="PT1H", earliest=MON + 9 * H, latest=MON + 12 * H
    )
    assert (squeezed.status_code, squeezed.json()["reason"]) == (409, "no_free_slot")

    # History stays: globex's statement still bills the completed booking; the twin answers.
    statement = await client.get("/api/v1/statements/globex/2026-01", headers=globex)
    assert [line["instrument"] for line in statement.json()["lines"]][:1] == ["sem-1"]
    assert (await client.get("/api/v1/instruments/sem-1/twin", headers=acme)).status_code == 200
    # The database refuses a booking of a retired instrument whatever the application does.
    with pytest.raises(asyncpg.RaiseError, match="retired"):
        await pool.execute(
            "INSERT INTO bookings (instrument_id, org_id, period) VALUES ('sem-1', 'acme', $1)",
            asyncpg.Range(MON + 50 * H, MON + 51 * H),
        )


async def test_a_kind_with_only_retired_instruments_matches_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await register(client, admin, "fib-1", kind="fib")
    assert (await client.delete("/api/v1/instruments/fib-1", headers=admin)).status_code == 204
    r = await book(client, acme, kind="fib", duration="PT1H")
    assert (r.status_code, r.json()["reason"]) == (409, "no_match")


async def test_instruments_answer_their_sites_time_zone(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    made = await register(client, admin, "oven-1", site="sh", site_timezone="Asia/Shanghai")
    assert made["site_timezone"] == "Asia/Shanghai"
    await register(client, admin, "oven-2", site="sh")  # an existing site keeps its zone
    await register(client, admin, "sem-1")  # a new site without a zone is UTC
    listed = (await client.get("/api/v1/instruments", headers=acme)).json()
    assert {i["id"]: i["site_timezone"] for i in listed} == {
        "oven-1": "Asia/Shanghai",
        "oven-2": "Asia/Shanghai",
        "sem-1": "UTC",
    }
    one = await client.get("/api/v1/instruments/oven-2", headers=acme)
    assert one.json()["site_timezone"] == "Asia/Shanghai"
    bad = await client.post(
        "/api/v1/instruments",
        json={"id": "x-1", "site": "mars", "kind": "sem", "site_timezone": "Mars/Olympus"},
        headers=admin,
    )
    assert bad.status_code == 422, bad.text


async def test_a_retired_instruments_telemetry_is_still_stored_and_answered(
    client: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str], acme: dict[str, str]
) -> None:
    await register(client, admin, "oven-1", kind="oven")
    assert (await client.delete("/api/v1/instruments/oven-1", headers=admin)).status_code == 204
    t0 = MON + 7 * H
    samples = tuple(
        Sample(ts=t0 + timedelta(seconds=s), state=InstrumentState.RUNNING, utilization=0.5)
        for s in range(60)
    )
    batch = TelemetryBatch(agent="oven-1-agent", batch=1, samples=samples)
    item = TelemetryItem(Topic("lab", "oven-1", Channel.TELEMETRY), batch, encode(batch), t0, 0.0)
    writer = await telemetry_writer(pool, timedelta(seconds=30))
    await writer.write([item], t0 + H)
    r = await client.get(
        "/api/v1/instruments/oven-1/telemetry",
        params={"start": iso(t0), "end": iso(t0 + H), "bucket": "PT1H"},
        headers=acme,
    )
    assert r.status_code == 200, r.text
    assert [b["samples"] for b in r.json()] == [60]


async def test_forecasts_leave_a_retired_instrument_out_of_the_site(
    client: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]
) -> None:
    await register(client, admin, "sem-1")
    await register(client, admin, "sem-2")
    assert (await client.delete("/api/v1/instruments/sem-1", headers=admin)).status_code == 204
    async with pool.acquire() as conn:
        inputs = await load_inputs(conn, MON + 8 * H, timedelta(days=7))
    assert [i.id for i in inputs.instruments] == ["sem-2"]


async def test_the_demo_is_not_seeded_again_over_its_retired_instruments(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        assert await seeding.seed_network(conn, operator="platform", now=MON) is not None
        for spec in seeding.DEMO_INSTRUMENTS:
            await retire_instrument(conn, spec.id, MON)
        assert await seeding.seed_network(conn, operator="platform", now=MON) is None


async def test_a_booking_racing_the_retirement_never_both_succeed(
    client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
) -> None:
    for n in range(12):  # which one wins depends on the timing; never both
        await register(client, admin, f"sem-{n}")
        booked, retired = await asyncio.gather(
            book(client, acme, instrument=f"sem-{n}", start=MON + 30 * H, end=MON + 31 * H),
            client.delete(f"/api/v1/instruments/sem-{n}", headers=admin),
        )
        pair = (booked.status_code, retired.status_code)
        assert pair in {(201, 409), (409, 204)}, (booked.text, retired.text)
