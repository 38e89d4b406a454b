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
from pilotshare.seeding import DEMO_INSTRUMENTS, HISTORY, KEYS
from tests.support.api import api_client, iso

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
