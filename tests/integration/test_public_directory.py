"""The public directory (CONTRACT §6) over HTTP on real PostgreSQL: no key, only what
platforms mark public, nothing about clients, search in 中文 and English, live status, the
cache and the rate limit; and who may edit profiles and service items."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare import registry
from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from tests.support.api import api_client, auth, book
from tests.support.instruments import add_instrument

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Dongguan
H = timedelta(hours=1)
PUBLIC = "/api/v1/public"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


PROFILES: dict[str, dict[str, Any]] = {
    "songshan": {
        "name_zh": "松山湖材料分析中试平台",
        "name_en": "Songshan Lake Materials Analysis Pilot Platform",
        "site": "dg-a",
        "address": "东莞市松山湖大学路1号",
        "description_zh": "电子显微与成分分析",
        "description_en": "Electron microscopy and composition analysis",
        "contact": {"name": "张工", "phone": "+86 769 2288 0001"},
        "accreditations": ["CMA", "CNAS"],
        "public": True,
    },
    "binhai": {
        "name_zh": "滨海湾检测平台",
        "name_en": "Binhai Bay Testing Platform",
        "site": "dg-b",
        "description_en": "X-ray diffraction",
        "public": True,
    },
    "hidden": {"name_zh": "未公开平台", "name_en": "Unlisted Platform", "public": False},
}


async def _network(pool: asyncpg.Pool, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Three platforms (one not public) with public and private instruments and items; the
    keys of their admins and of the network operator's."""
    for org in PROFILES:
        await registry.ensure_organisation(pool, org, org, "platform")
    keys = {org: await auth(pool, org, "admin") for org in PROFILES}
    keys["network"] = await auth(pool, "platform", "admin")
    await add_instrument(pool, "sem-1", site="dg-a", kind="sem", owner_org="songshan",
                         name="扫描电镜 SEM", model="JSM-7900F", capabilities=["eds", "imaging"],
                         hourly_rate=480, public=True, site_timezone="Asia/Shanghai")  # fmt: skip
    await add_instrument(pool, "sem-2", site="dg-a", kind="sem", owner_org="songshan")
    await add_instrument(pool, "xrd-1", site="dg-b", kind="xrd", owner_org="binhai",
                         name="X-ray diffractometer 衍射仪", public=True)  # fmt: skip
    await add_instrument(pool, "oven-9", site="dg-b", kind="oven", owner_org="hidden", public=True)
    for org, body in PROFILES.items():
        r = await client.put(f"/api/v1/organisations/{org}/profile", json=body, headers=keys[org])
        assert r.status_code == 200, r.text
    items = [
        ("songshan", {"id": "sem-imaging", "name_zh": "扫描电镜成像（每样品）",
                      "name_en": "SEM imaging, per sample", "unit": "sample", "price": 350,
                      "instrument": "sem-1", "public": True}),
        ("songshan", {"id": "sem-secret", "name_zh": "内部测试", "name_en": "Internal test",
                      "unit": "hour", "price": 1, "kind": "sem"}),
        ("binhai", {"id": "xrd-scan", "name_zh": "X射线衍射（每样品）",
                    "name_en": "XRD scan, per sample", "unit": "sample", "price": "220.50",
                    "kind": "xrd", "public": True}),
        ("hidden", {"id": "oven-bake", "name_zh": "烘烤", "name_en": "Bake", "unit": "batch",
                    "price": 90, "site": "dg-b", "public": True}),
    ]  # fmt: skip
    for org, body in items:
        r = await client.post("/api/v1/service-items", json={**body, "platform": org},
                              headers=keys[org])  # fmt: skip
        assert r.status_code == 201, r.text
    return keys


async def _ids(client: httpx.AsyncClient, path: str, **params: Any) -> list[str]:
    r = await client.get(f"{PUBLIC}/{path}", params=params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()]


def _nocache() -> Settings:
    return Settings(public_cache_s=0)


async def test_no_key_is_needed_and_only_what_is_public_is_shown(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        await _network(pool, client)
        assert await _ids(client, "platforms") == ["binhai", "songshan"]
        assert await _ids(client, "instruments") == ["sem-1", "xrd-1"]
        assert await _ids(client, "service-items") == ["sem-imaging", "xrd-scan"]
        (songshan,) = (await client.get(f"{PUBLIC}/platforms", params={"q": "CNAS"})).json()
        assert songshan == {
            "id": "songshan",
            **{k: v for k, v in PROFILES["songshan"].items() if k not in {"site", "public"}},
            "site": "dg-a",
            "instruments": 1,
            "service_items": 1,
        }
        (sem,) = [
            e for e in (await client.get(f"{PUBLIC}/instruments")).json() if e["id"] == "sem-1"
        ]
        assert (sem["model"], sem["hourly_rate"], sem["platform_name_zh"]) == (
            "JSM-7900F",
            480.0,
            "松山湖材料分析中试平台",
        )
        (xrd,) = (await client.get(f"{PUBLIC}/service-items", params={"q": "XRD"})).json()
        assert (xrd["price"], xrd["site"], xrd["platform_name_en"]) == (
            220.5,
            "dg-b",
            "Binhai Bay Testing Platform",
        )
        # a platform that hides its profile hides everything it has
        network = await auth(pool, "platform", "admin")
        hide = {**PROFILES["binhai"], "public": False}
        r = await client.put("/api/v1/organisations/binhai/profile", json=hide, headers=network)
        assert r.status_code == 200
        assert await _ids(client, "platforms") == ["songshan"]
        assert await _ids(client, "instruments") == ["sem-1"]
        assert await _ids(client, "service-items") == ["sem-imaging"]
    changes = await pool.fetch(
        "SELECT action, actor_org, owners FROM audit_events WHERE object_id = 'binhai' ORDER BY id"
    )
    assert [(c["action"], c["actor_org"], c["owners"]) for c in changes] == [
        ("organisation.profile", "binhai", ["binhai"]),
        ("organisation.profile", "platform", ["binhai"]),
    ]


def _strings(value: Any) -> set[str]:
    """Every key and string anywhere in a JSON value."""
    if isinstance(value, dict):
        return {str(k) for k in value} | {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return {value} if isinstance(value, str) else set()


async def test_no_public_answer_says_anything_about_clients(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        await _network(pool, client)
        acme = await auth(pool, "acme", "operator")
        secret = {"purpose": "confidential battery cathode", "service_item": "sem-imaging"}
        made = await book(client, acme, instrument="sem-1", start=NOW, end=NOW + H, **secret)
        assert made.status_code == 201, made.text
        booking = made.json()["id"]
        answers = [
            (await client.get(f"{PUBLIC}/{path}")).json()
            for path in ("platforms", "instruments", "service-items")
        ]
    seen = set().union(*(_strings(a) for a in answers))
    text = json.dumps(answers, ensure_ascii=False)
    for secret in ("acme", booking, "confidential battery cathode", "org", "purpose", "booking"):
        assert secret not in seen
        assert secret not in text
    assert {k for e in answers[1] for k in e} == {
        "id", "name", "kind", "model", "capabilities", "hourly_rate", "billing",
        "requires_qualification", "operating_hours", "site", "site_timezone", "platform",
        "platform_name_zh", "platform_name_en", "status", "status_since", "next_free",
    }  # fmt: skip


async def test_text_search_finds_chinese_and_english(pool: asyncpg.Pool, clock: FakeClock) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        await _network(pool, client)
        assert await _ids(client, "instruments", q="电镜") == ["sem-1"]
        assert await _ids(client, "instruments", q="diffractometer") == ["xrd-1"]
        assert await _ids(client, "instruments", q="jsm-7900") == ["sem-1"]
        assert await _ids(client, "instruments", q="松山湖") == ["sem-1"]  # its platform's name
        assert await _ids(client, "service-items", q="扫描电镜成像") == ["sem-imaging"]
        assert await _ids(client, "service-items", q="per sample") == ["sem-imaging", "xrd-scan"]
        assert await _ids(client, "service-items", q="sample 衍射") == ["xrd-scan"]  # every word
        assert await _ids(client, "service-items", q="内部") == []  # not public
        assert await _ids(client, "platforms", q="材料分析") == ["songshan"]
        assert await _ids(client, "platforms", q="binhai bay") == ["binhai"]
        assert await _ids(client, "platforms", q="100%_") == []  # wildcards are literal
        assert await _ids(client, "platforms", q="未公开") == []


async def test_filters_by_capability_kind_site_and_platform(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        await _network(pool, client)
        assert await _ids(client, "instruments", capability="eds") == ["sem-1"]
        assert await _ids(client, "instruments", capability=["eds", "imaging"]) == ["sem-1"]
        assert await _ids(client, "instruments", capability=["eds", "xrd"]) == []
        assert await _ids(client, "instruments", kind="xrd") == ["xrd-1"]
        assert await _ids(client, "instruments", site="dg-b") == ["xrd-1"]
        assert await _ids(client, "instruments", site="dg-b", kind="sem") == []
        assert await _ids(client, "platforms", site="dg-b") == ["binhai"]
        assert await _ids(client, "service-items", platform="songshan") == ["sem-imaging"]
        assert await _ids(client, "service-items", site="dg-b") == ["xrd-scan"]
        bad = await client.get(f"{PUBLIC}/instruments", params={"site": "Not A Slug"})
        assert (bad.status_code, bad.json()["reason"]) == (422, "bad_request")


async def _sem(client: httpx.AsyncClient) -> dict[str, Any]:
    (sem,) = (await client.get(f"{PUBLIC}/instruments", params={"kind": "sem"})).json()
    return dict(sem)


async def _live(pool: asyncpg.Pool, *, online: bool, state: str | None) -> None:
    await pool.execute(
        "UPDATE instrument_live SET online = $1, state = $2, since = $3, last_seen = $3 "
        "WHERE instrument_id = 'sem-1'",
        online,
        state,
        NOW - H,
    )


async def test_live_status_follows_the_twin_and_the_bookings_now(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        await _network(pool, client)
        acme = await auth(pool, "acme", "operator")
        sem = await _sem(client)
        assert (sem["status"], sem["status_since"]) == ("offline", None)  # never heard of
        assert sem["next_free"] == {"start": "2026-12-07T02:00:00Z", "end": "2026-12-14T02:00:00Z"}
        await _live(pool, online=True, state="idle")
        sem = await _sem(client)
        assert (sem["status"], sem["status_since"]) == ("online", "2026-12-07T01:00:00Z")
        # a booking holding it now: busy until it ends, an hour away
        made = await book(client, acme, instrument="sem-1", start=NOW, end=NOW + H)
        assert made.status_code == 201, made.text
        sem = await _sem(client)
        assert sem["status"] == "busy"
        assert sem["next_free"]["start"] == "2026-12-07T03:00:00Z"
        # twenty minutes before it ends, it is free soon
        clock.advance(40 * 60)
        assert (await _sem(client))["status"] == "free-soon"
        await _live(pool, online=True, state="down")
        assert (await _sem(client))["status"] == "offline"
        await _live(pool, online=False, state="running")
        assert (await _sem(client))["status"] == "offline"


async def test_a_burst_of_identical_requests_makes_one_database_query(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    metrics = CollectorRegistry()
    async with api_client(pool, clock=clock, registry=metrics) as client:
        await _network(pool, client)
        route = {"route": "/api/v1/public/instruments"}

        def count(name: str) -> float:
            return metrics.get_sample_value(f"pilotshare_public_cache_{name}_total", route) or 0.0

        burst = await asyncio.gather(
            *(client.get(f"{PUBLIC}/instruments", params={"q": "sem"}) for _ in range(40))
        )
        assert {r.status_code for r in burst} == {200}
        assert len({r.content for r in burst}) == 1
        assert (count("misses"), count("hits")) == (1, 39)
        assert burst[0].headers["cache-control"] == "public, max-age=5"
        # the same query in another order is the same answer; another query is not
        await client.get(f"{PUBLIC}/instruments", params={"q": "sem"})
        await client.get(f"{PUBLIC}/instruments", params={"q": "xrd"})
        assert (count("misses"), count("hits")) == (2, 40)
        # once the answer is older than PILOTSHARE_PUBLIC_CACHE_S, the next asks again
        clock.advance(5)
        await client.get(f"{PUBLIC}/instruments", params={"q": "sem"})
        assert count("misses") == 3


async def test_a_client_sending_too_fast_is_answered_429_with_retry_after(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    metrics = CollectorRegistry()
    settings = Settings(public_burst=3, public_rate_per_min=6)
    async with api_client(pool, clock=clock, registry=metrics, settings=settings) as client:
        answers = [await client.get(f"{PUBLIC}/platforms") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["reason"] == "rate_limited"
        assert refused.headers["retry-after"] == "10"  # one token every 10 s
        other = await client.get(f"{PUBLIC}/service-items")  # the bucket is the address's
        assert other.status_code == 429
        limited = metrics.get_sample_value(
            "pilotshare_public_rate_limited_total", {"route": "/api/v1/public/platforms"}
        )
        assert limited == 1
        clock.advance(10)
        assert (await client.get(f"{PUBLIC}/platforms")).status_code == 200
        assert (await client.get(f"{PUBLIC}/platforms")).status_code == 429


async def test_a_platform_admin_edits_only_its_own_profile_and_items(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        keys = await _network(pool, client)
        songshan, network = keys["songshan"], keys["network"]
        acme_admin = await auth(pool, "acme", "admin")
        operator = await auth(pool, "acme", "operator")
        body = PROFILES["binhai"]
        for who in (songshan, acme_admin):
            r = await client.put("/api/v1/organisations/binhai/profile", json=body, headers=who)
            assert (r.status_code, r.json()["reason"]) == (403, "not_owner")
        r = await client.put("/api/v1/organisations/binhai/profile", json=body, headers=operator)
        assert (r.status_code, r.json()["reason"]) == (403, "forbidden_role")
        item = {"id": "x", "platform": "binhai", "name_zh": "x", "name_en": "x", "unit": "hour",
                "price": 1, "site": "dg-b"}  # fmt: skip
        r = await client.post("/api/v1/service-items", json=item, headers=songshan)
        assert (r.status_code, r.json()["reason"]) == (403, "not_owner")
        r = await client.patch(
            "/api/v1/service-items/xrd-scan", json={"price": 1}, headers=songshan
        )
        assert (r.status_code, r.json()["reason"]) == (403, "not_owner")
        r = await client.delete("/api/v1/service-items/xrd-scan", headers=songshan)
        assert (r.status_code, r.json()["reason"]) == (403, "not_owner")
        # nor may it offer an item on another platform's instrument
        mine = {**item, "platform": "songshan", "instrument": "xrd-1", "site": None}
        r = await client.post("/api/v1/service-items", json=mine, headers=songshan)
        assert (r.status_code, r.json()["reason"]) == (422, "service_item_mismatch")
        # the platform's own admin and the network operator's may
        r = await client.patch("/api/v1/service-items/xrd-scan", json={"price": 199},
                               headers=keys["binhai"])  # fmt: skip
        assert (r.status_code, r.json()["price"]) == (200, 199.0)
        r = await client.put("/api/v1/organisations/binhai/profile", json=body, headers=network)
        assert r.status_code == 200
        r = await client.delete("/api/v1/service-items/xrd-scan", headers=network)
        assert r.status_code == 204
        r = await client.get("/api/v1/service-items/xrd-scan", headers=operator)
        assert (r.status_code, r.json()["reason"]) == (404, "no_service_item")
        listed = await client.get("/api/v1/service-items", headers=operator)
        assert [i["id"] for i in listed.json()] == ["oven-bake", "sem-imaging", "sem-secret"]
    actions = await pool.fetch(
        "SELECT action, actor_org FROM audit_events WHERE object_id = 'xrd-scan' ORDER BY id"
    )
    assert [(a["action"], a["actor_org"]) for a in actions] == [
        ("service_item.create", "binhai"),
        ("service_item.update", "binhai"),
        ("service_item.delete", "platform"),
    ]


async def test_a_booking_names_only_a_service_item_of_its_instruments_platform(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        keys = await _network(pool, client)
        acme = await auth(pool, "acme", "operator")
        slot = {"start": NOW + H, "end": NOW + 2 * H}
        r = await book(client, acme, instrument="sem-1", service_item="xrd-scan", **slot)
        assert (r.status_code, r.json()["reason"]) == (422, "service_item_mismatch")
        assert "binhai" in r.json()["detail"]
        r = await book(client, acme, instrument="sem-2", service_item="sem-imaging", **slot)
        assert (r.status_code, r.json()["reason"]) == (422, "service_item_mismatch")  # sem-1 only
        r = await book(client, acme, instrument="sem-1", service_item="nope", **slot)
        assert (r.status_code, r.json()["reason"]) == (404, "no_service_item")
        r = await book(client, acme, kind="xrd", duration="PT1H", service_item="sem-imaging")
        assert (r.status_code, r.json()["reason"]) == (422, "service_item_mismatch")
        assert await pool.fetchval("SELECT count(*) FROM bookings") == 0
        r = await book(client, acme, instrument="sem-1", service_item="sem-imaging", **slot)
        assert (r.status_code, r.json()["service_item"]) == (201, "sem-imaging"), r.text
        got = await client.get(f"/api/v1/bookings/{r.json()['id']}", headers=acme)
        assert got.json()["service_item"] == "sem-imaging"
        # a booking by kind for an item is allocated among the instruments the item is on
        r = await book(client, acme, kind="sem", duration="PT1H", service_item="sem-secret",
                       earliest=NOW + H, latest=NOW + 3 * H)  # fmt: skip
        assert r.status_code == 201, r.text
        assert (r.json()["instrument"], r.json()["service_item"]) == ("sem-2", "sem-secret")
        plain = await book(client, acme, instrument="sem-1", start=NOW + 3 * H, end=NOW + 4 * H)
        assert plain.json()["service_item"] is None
        # an item bookings name is kept: hide it instead
        r = await client.delete("/api/v1/service-items/sem-imaging", headers=keys["songshan"])
        assert (r.status_code, r.json()["reason"]) == (409, "service_item_in_use")


async def test_instruments_carry_public_and_model(pool: asyncpg.Pool, clock: FakeClock) -> None:
    async with api_client(pool, clock=clock) as client:
        admin = await auth(pool, "platform", "admin")
        body = {"id": "tem-1", "site": "dg-a", "kind": "tem", "model": "Talos F200X"}
        made = await client.post("/api/v1/instruments", json=body, headers=admin)
        assert (made.status_code, made.json()["model"], made.json()["public"]) == (
            201,
            "Talos F200X",
            False,
        )
        changed = await client.patch(
            "/api/v1/instruments/tem-1", json={"public": True, "model": None}, headers=admin
        )
        assert (changed.json()["public"], changed.json()["model"]) == (True, None)
        got = await client.get("/api/v1/instruments/tem-1", headers=admin)
        assert (got.json()["public"], got.json()["model"]) == (True, None)
        bad = await client.patch("/api/v1/instruments/tem-1", json={"public": None}, headers=admin)
        assert bad.status_code == 422


async def test_profiles_read_with_any_key_and_the_contract_declares_429(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as client:
        await _network(pool, client)
        acme = await auth(pool, "acme", "operator")
        got = await client.get("/api/v1/organisations/songshan/profile", headers=acme)
        assert (got.json()["accreditations"], got.json()["kind"]) == (["CMA", "CNAS"], "platform")
        assert (await client.get("/api/v1/organisations/songshan/profile")).status_code == 401
        r = await client.get("/api/v1/organisations/nobody/profile", headers=acme)
        assert (r.status_code, r.json()["reason"]) == (404, "no_organisation")
        network = await auth(pool, "platform", "admin")
        r = await client.put(
            "/api/v1/organisations/binhai/profile",
            json={**PROFILES["binhai"], "site": "nowhere"},
            headers=network,
        )
        assert (r.status_code, r.json()["reason"]) == (404, "no_site")
        doc = (await client.get("/openapi.json")).json()
    for path in ("platforms", "instruments", "service-items"):
        answers = doc["paths"][f"{PUBLIC}/{path}"]["get"]["responses"]
        assert {"200", "422", "429"} <= set(answers)
        assert not {"401", "403"} & set(answers)  # no key needed
        assert "Retry-After" in answers["429"]["headers"]


async def test_only_platforms_publish_and_a_clients_profile_is_its_own(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    """A client's admin administers its own organisation, yet it is no platform: it neither
    publishes a profile nor offers service items; and its profile (its name, its kind) is
    nobody else's to read but the network operator's."""
    async with api_client(pool, clock=clock, settings=_nocache()) as client:
        keys = await _network(pool, client)
        acme_admin = await auth(pool, "acme", "admin")
        globex = await auth(pool, "globex", "operator")
        r = await client.put(
            "/api/v1/organisations/acme/profile", json=PROFILES["binhai"], headers=acme_admin
        )
        assert (r.status_code, r.json()["reason"]) == (422, "not_a_platform")
        item = {"id": "acme-x", "platform": "acme", "name_zh": "x", "name_en": "x",
                "unit": "hour", "price": 1, "site": "dg-b"}  # fmt: skip
        r = await client.post("/api/v1/service-items", json=item, headers=acme_admin)
        assert (r.status_code, r.json()["reason"]) == (422, "not_a_platform")
        r = await client.get("/api/v1/organisations/acme/profile", headers=globex)
        assert (r.status_code, r.json()["reason"]) == (404, "no_organisation")
        for who in (acme_admin, keys["network"]):
            r = await client.get("/api/v1/organisations/acme/profile", headers=who)
            assert (r.status_code, r.json()["kind"]) == (200, "client")
        r = await client.get("/api/v1/organisations/songshan/profile", headers=globex)
        assert r.status_code == 200  # a platform's is everyone's
        r = await client.put(
            "/api/v1/organisations/songshan/profile",
            json={**PROFILES["songshan"], "public": 0},
            headers=keys["network"],
        )
        assert (r.status_code, r.json()["reason"]) == (422, "bad_request")  # a boolean
    assert await pool.fetchval("SELECT count(*) FROM service_items WHERE id = 'acme-x'") == 0
