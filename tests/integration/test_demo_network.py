"""The network the demo seeds, read back through the HTTP API: the operator, three platforms at
two sites with names in both languages, instruments owned by platforms, eight weeks of past
bookings of every outcome and the telemetry the twin learned MTBF from; a second seeding does
nothing."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from pilotshare.demo import seed
from pilotshare.seeding import DEMO_INSTRUMENTS, HISTORY, KEYS, SERVICE_ITEMS
from tests.support.api import api_client, auth, iso

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Dongguan
HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{3}")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def seeded(
    pool: asyncpg.Pool, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, dict[str, str]], float]]:
    began = time.perf_counter()
    keys = await seed(pool, clock, Settings())
    took = time.perf_counter() - began
    assert keys is not None
    headers = {label: {"Authorization": f"Bearer {key}"} for label, key in keys.items()}
    async with api_client(pool, clock=clock) as client:
        yield client, headers, took


async def test_the_network_has_platforms_at_two_sites_named_in_both_languages(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, keys, _ = seeded
    orgs = (await client.get("/api/v1/organisations", headers=keys["network-admin"])).json()
    kinds = {o["id"]: o["kind"] for o in orgs}
    platforms = [o for o in orgs if o["kind"] == "platform"]
    assert len(platforms) >= 3
    assert [o["kind"] for o in orgs if o["id"] == "platform"] == ["operator"]
    assert sum(k == "client" for k in kinds.values()) >= 4
    for o in platforms + [o for o in orgs if o["kind"] == "operator"]:
        assert HAN.search(o["name"]), o
        assert LATIN.search(o["name"]), o
    instruments = (await client.get("/api/v1/instruments", headers=keys["planner"])).json()
    assert {i["id"] for i in instruments} == {s.id for s in DEMO_INSTRUMENTS}
    assert {i["site"] for i in instruments} == {"songshan-lake", "binhaiwan"}
    assert {i["site_timezone"] for i in instruments} == {"Asia/Shanghai"}
    owners = {i["owner_org"] for i in instruments}
    assert owners == {o["id"] for o in platforms}  # every platform owns some, nobody else
    for site in ("songshan-lake", "binhaiwan"):
        assert {i["owner_org"] for i in instruments if i["site"] == site} <= owners
    assert all(HAN.search(i["name"]) for i in instruments)
    assert all(LATIN.search(i["name"]) for i in instruments)


async def test_the_banner_keys_have_their_roles(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, keys, _ = seeded
    assert set(keys) == {label for label, *_ in KEYS}
    # the network admin sees every organisation's keys; a platform admin only its own
    everyone = (await client.get("/api/v1/keys", headers=keys["network-admin"])).json()
    own = (await client.get("/api/v1/keys", headers=keys["platform-admin"])).json()
    assert {k["org"] for k in own} == {"ssl-materials"}
    assert {k["org"] for k in everyone} > {"ssl-materials", "acme-electronics", "greenbio"}
    refused = await client.get("/api/v1/keys", headers=keys["planner"])
    assert refused.status_code == 403


async def test_weeks_of_past_bookings_of_every_outcome(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, keys, took = seeded
    r = await client.get(
        "/api/v1/bookings",
        params={"start": iso(NOW - HISTORY), "end": iso(NOW), "limit": 10000},
        headers=keys["network-admin"],
    )
    assert r.status_code == 200, r.text
    past = [b for b in r.json() if b["end"] <= iso(NOW)]
    statuses = {b["status"] for b in past}
    assert statuses >= {"completed", "no_show", "cancelled", "released"}
    counts = {s: sum(b["status"] == s for b in past) for s in statuses}
    assert counts["completed"] > counts["no_show"] > 0  # mostly served
    assert {b["org"] for b in past} >= {"acme-electronics", "greenbio", "dg-newenergy"}
    oldest = min(b["start"] for b in past)
    assert oldest < iso(NOW - timedelta(weeks=7))
    # a client sees its own only
    mine = await client.get(
        "/api/v1/bookings",
        params={"start": iso(NOW - HISTORY), "end": iso(NOW), "limit": 10000},
        headers=keys["operator"],
    )
    assert {b["org"] for b in mine.json()} == {"greenbio"}
    assert took < 30  # seconds, on a shared test machine (a few on a quiet one)


async def test_telemetry_history_and_learned_mtbf(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, keys, _ = seeded
    for spec in DEMO_INSTRUMENTS:
        r = await client.get(
            f"/api/v1/instruments/{spec.id}/telemetry",
            params={"start": iso(NOW - timedelta(weeks=7)), "end": iso(NOW), "bucket": "P1D"},
            headers=keys["planner"],
        )
        assert r.status_code == 200, r.text
        days = r.json()
        assert len(days) >= 49
        assert all(d["samples"] > 0 for d in days)
        running = sum(d["state_seconds"]["running"] for d in days)
        assert 0 < running < 7 * 7 * 86400 * 0.8
    down = 0
    for spec in DEMO_INSTRUMENTS:
        twin = (
            await client.get(f"/api/v1/instruments/{spec.id}/twin", headers=keys["planner"])
        ).json()
        if twin["mtbf_hours"] is not None:
            down += 1
            assert twin["mtbf_hours"] > 0
    assert down >= len(DEMO_INSTRUMENTS) // 2  # failures happened on most instruments


async def test_a_second_seeding_does_nothing(pool: asyncpg.Pool, clock: FakeClock) -> None:
    assert await seed(pool, clock, Settings()) is not None
    before = await pool.fetchval("SELECT count(*) FROM bookings")
    assert await seed(pool, clock, Settings()) is None
    assert await pool.fetchval("SELECT count(*) FROM bookings") == before


async def test_the_public_directory_shows_the_platforms_without_a_key(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, _, _ = seeded
    platforms = (await client.get("/api/v1/public/platforms")).json()
    assert len(platforms) >= 3
    for p in platforms:
        assert HAN.search(p["name_zh"]), p
        assert LATIN.search(p["name_en"]), p
        assert HAN.search(p["description_zh"]), p
        assert "东莞" in p["address"], p
        assert p["accreditations"], p
        assert p["contact"]["phone"], p
    assert {p["site"] for p in platforms} == {"songshan-lake", "binhaiwan"}
    instruments = (await client.get("/api/v1/public/instruments")).json()
    shown = {i["id"] for i in instruments}
    private = {s.id for s in DEMO_INSTRUMENTS if not s.public}
    assert private  # the flag is shown at work
    assert shown == {s.id for s in DEMO_INSTRUMENTS} - private
    assert all(i["model"] for i in instruments)
    assert "ZEISS GeminiSEM 460" in {i["model"] for i in instruments}
    items = (await client.get("/api/v1/public/service-items")).json()
    public = {i.id for i in SERVICE_ITEMS if i.public}
    assert {i["id"] for i in items} == public
    assert {i["platform"] for i in items} == {"ssl-materials", "ssl-electronics", "bhw-biopharma"}
    assert all(HAN.search(i["platform_name_zh"]) for i in items)
    found = (await client.get("/api/v1/public/service-items", params={"q": "电镜"})).json()
    assert "sem-imaging" in {i["id"] for i in found}


async def test_service_items_are_listed_with_prices(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, keys, _ = seeded
    items = (await client.get("/api/v1/service-items", headers=keys["planner"])).json()
    assert {i["id"] for i in items} == {i.id for i in SERVICE_ITEMS}  # the private ones too
    assert all(i["price"] > 0 and HAN.search(i["name_zh"]) for i in items)
    assert not all(i["public"] for i in items)
    reflow = next(i for i in items if i["id"] == "reflow-validation")
    assert (reflow["unit"], reflow["platform"]) == ("batch", "ssl-electronics")


async def test_requests_have_offers_for_the_client_and_the_offering_platform(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float], pool: asyncpg.Pool
) -> None:
    client, keys, _ = seeded
    everyone = (await client.get("/api/v1/requests", headers=keys["network-admin"])).json()
    assert {r["status"] for r in everyone} == {"offered", "accepted", "open"}
    assert all(iso(NOW) < r["deadline"] <= iso(NOW + timedelta(weeks=4)) for r in everyone)
    acme = await auth(pool, "acme-electronics", "operator")
    mine = (await client.get("/api/v1/requests", headers=acme)).json()
    assert [len(r["offers"]) for r in mine] == [2]
    assert {o["platform"] for o in mine[0]["offers"]} == {"ssl-materials"}
    assert {o["status"] for o in mine[0]["offers"]} == {"open"}
    # the offering platform's admin sees the request and its own offers
    platform = (await client.get("/api/v1/requests", headers=keys["platform-admin"])).json()
    assert mine[0]["id"] in {r["id"] for r in platform}
    ours = next(r for r in platform if r["id"] == mine[0]["id"])
    assert len(ours["offers"]) == 2
    # greenbio accepted an offer: a booking of its own came from it
    green = (await client.get("/api/v1/requests", headers=keys["operator"])).json()
    accepted = next(r for r in green if r["status"] == "accepted")
    offer = next(o for o in accepted["offers"] if o["status"] == "accepted")
    booking = await client.get(f"/api/v1/bookings/{offer['booking']}", headers=keys["operator"])
    assert booking.status_code == 200, booking.text
    assert booking.json()["instrument"] == offer["instrument"]
    # the open one waits with none
    open_ = next(r for r in everyone if r["status"] == "open")
    assert open_["offers"] == []


async def test_vouchers_paid_last_months_statements(
    seeded: tuple[httpx.AsyncClient, dict[str, dict[str, str]], float],
) -> None:
    client, keys, _ = seeded
    vouchers = (await client.get("/api/v1/vouchers", headers=keys["network-admin"])).json()
    assert {v["org"] for v in vouchers} >= {"acme-electronics", "greenbio"}
    assert {v["programme"] for v in vouchers} == {"pilot", "testing"}
    assert all(v["redeemed"] > 0 for v in vouchers)  # each paid some of the seeded past
    assert all(v["remaining"] > 0 for v in vouchers)  # and lasts through it
    last_month = "2026-10"  # NOW is in November (Dongguan)
    for org in ("acme-electronics", "greenbio"):
        r = await client.get(
            f"/api/v1/statements/{org}/{last_month}", headers=keys["network-admin"]
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["vouchers"] > 0, org
        assert body["due"] < body["total"], org
    green = (
        await client.get(f"/api/v1/statements/greenbio/{last_month}", headers=keys["operator"])
    ).json()
    paid = [x for x in green["lines"] if x["vouchers"] > 0]
    assert paid
    assert {x["instrument"] for x in paid} <= {"sem-1", "sem-2"}  # SEM only
