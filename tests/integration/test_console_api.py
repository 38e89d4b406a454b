"""What the web console asks of the public API, with two organisations: who a key is
(``GET /api/v1/me``), the bundled scenarios, the simulations listing, keys made over HTTP,
and that it needs no CORS (it is served by the same app)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from pilotshare import registry
from pilotshare.core.clock import FakeClock
from tests.support.api import api_client, auth
from tests.support.scenarios import lab_scenario

NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)
YAML = {"Content-Type": "application/yaml"}


async def _orgs(pool: asyncpg.Pool, c: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """The network operator's admin, two platforms' admins and two clients' keys."""
    net = await auth(pool, "platform", "admin")
    for org, kind in (("lab-a", "platform"), ("lab-b", "platform"), ("acme", "client")):
        body = {"id": org, "name": f"{org} 平台", "kind": kind}
        assert (await c.post("/api/v1/organisations", json=body, headers=net)).status_code == 201
    return {
        "network": net,
        "lab-a": await auth(pool, "lab-a", "admin"),
        "lab-b": await auth(pool, "lab-b", "admin"),
        "acme": await auth(pool, "acme", "operator"),
        "acme-planner": await auth(pool, "acme", "planner"),
        "globex-planner": await auth(pool, "globex", "planner"),
    }


async def test_me_says_who_each_key_is(pool: asyncpg.Pool) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        keys = await _orgs(pool, c)
        await registry.ensure_site(pool, "dg", "Asia/Shanghai")
        profile = {"name_zh": "甲平台", "name_en": "Lab A", "site": "dg", "public": True}
        put = await c.put(
            "/api/v1/organisations/lab-a/profile", json=profile, headers=keys["lab-a"]
        )
        assert put.status_code == 200, put.text

        acme = (await c.get("/api/v1/me", headers=keys["acme"])).json()
        assert acme["org"] == {"id": "acme", "name": "acme 平台", "kind": "client"}
        assert (acme["role"], acme["network_admin"]) == ("operator", False)
        assert (acme["site"], acme["site_timezone"]) == (None, None)
        assert acme["key"]["id"] == keys["acme"]["Authorization"].split("_")[1]
        assert set(acme["key"]) == {"id", "created_at", "expires_at", "last_used_at"}
        assert acme["operator_org"] == "platform"

        lab = (await c.get("/api/v1/me", headers=keys["lab-a"])).json()
        assert (lab["org"]["kind"], lab["role"], lab["network_admin"]) == (
            "platform",
            "admin",
            False,
        )
        assert (lab["site"], lab["site_timezone"]) == ("dg", "Asia/Shanghai")

        net = (await c.get("/api/v1/me", headers=keys["network"])).json()
        assert (net["org"]["id"], net["role"], net["network_admin"]) == ("platform", "admin", True)

        none = await c.get("/api/v1/me")
        assert (none.status_code, none.json()["reason"]) == (401, "no_key")


async def test_the_bundled_scenarios_are_listed_served_as_yaml_and_run(pool: asyncpg.Pool) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        keys = await _orgs(pool, c)
        planner = keys["acme-planner"]
        listed = await c.get("/api/v1/scenarios", headers=planner)
        assert listed.status_code == 200, listed.text
        by_name = {s["name"]: s for s in listed.json()}
        smt = by_name["smt-second-reflow"]
        assert smt["title"].startswith("Smart-terminal SMT pilot line")
        assert smt["description"].startswith("Smart-terminal SMT pilot line. Baseline")
        assert (smt["horizon_days"], smt["replications"]) == (91, 30)
        assert len(by_name) >= 4

        text = await c.get("/api/v1/scenarios/smt-second-reflow", headers=planner)
        assert text.status_code == 200
        assert text.headers["content-type"].startswith("application/yaml")
        assert "name: smt-second-reflow" in text.text
        queued = await c.post("/api/v1/simulations", content=text.content, headers=planner | YAML)
        assert queued.status_code == 202, queued.text

        unknown = await c.get("/api/v1/scenarios/no-such", headers=planner)
        assert (unknown.status_code, unknown.json()["reason"]) == (404, "no_scenario")
        sneaky = await c.get("/api/v1/scenarios/..%2Fjob", headers=planner)
        assert sneaky.status_code == 404
        operator = await c.get("/api/v1/scenarios", headers=keys["acme"])
        assert (operator.status_code, operator.json()["reason"]) == (403, "forbidden_role")


async def test_each_organisation_lists_its_own_simulations_newest_first(pool: asyncpg.Pool) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        keys = await _orgs(pool, c)
        made: dict[str, list[str]] = {"acme-planner": [], "globex-planner": []}
        for n, who in enumerate(["acme-planner", "globex-planner", "acme-planner"]):
            body = {"scenario": lab_scenario(f"{who}-{n}"), "seed": n}
            r = await c.post("/api/v1/simulations", json=body, headers=keys[who])
            assert r.status_code == 202, r.text
            made[who].append(r.json()["id"])

        acme = (await c.get("/api/v1/simulations", headers=keys["acme-planner"])).json()
        assert [j["id"] for j in acme] == made["acme-planner"][::-1]  # newest first
        assert [j["scenario"] for j in acme] == ["acme-planner-2", "acme-planner-0"]
        first = acme[0]
        assert set(first) == {
            "id", "status", "progress", "created_at", "scenario", "replications", "seed"
        }  # fmt: skip
        assert (first["status"], first["progress"], first["seed"]) == ("queued", 0, 2)

        globex = (await c.get("/api/v1/simulations", headers=keys["globex-planner"])).json()
        assert [j["id"] for j in globex] == made["globex-planner"]
        every = (await c.get("/api/v1/simulations?limit=2", headers=keys["network"])).json()
        assert [j["id"] for j in every] == [made["acme-planner"][1], made["globex-planner"][0]]
        # a platform's admin is its organisation's planner: none of the clients' jobs
        assert (await c.get("/api/v1/simulations", headers=keys["lab-a"])).json() == []
        refused = await c.get("/api/v1/simulations", headers=keys["acme"])
        assert (refused.status_code, refused.json()["reason"]) == (403, "forbidden_role")


async def test_an_admin_makes_keys_of_its_own_organisation_the_network_of_any(
    pool: asyncpg.Pool,
) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        keys = await _orgs(pool, c)
        later = (NOW + timedelta(days=30)).isoformat()
        made = await c.post(
            "/api/v1/keys", json={"role": "planner", "expires_at": later}, headers=keys["lab-a"]
        )
        assert made.status_code == 201, made.text
        key = made.json()
        assert set(key) == {"id", "org", "role", "key", "created_at", "expires_at"}
        assert (key["org"], key["role"]) == ("lab-a", "planner")
        assert datetime.fromisoformat(key["expires_at"]) == NOW + timedelta(days=30)
        assert key["key"].startswith(f"ps_{key['id']}_")
        fresh = {"Authorization": f"Bearer {key['key']}"}
        me = (await c.get("/api/v1/me", headers=fresh)).json()
        assert (me["org"]["id"], me["role"], me["key"]["id"]) == ("lab-a", "planner", key["id"])
        # listed, never with its secret
        listed = (await c.get("/api/v1/keys", headers=keys["lab-a"])).json()
        assert key["id"] in {k["id"] for k in listed}
        assert all("key" not in k for k in listed)
        # audited like a revocation, with the key that made it
        lines = await c.get(f"/api/v1/audit?kind=key&object={key['id']}", headers=keys["lab-a"])
        assert [(x["action"], x["actor_org"]) for x in lines.json()] == [("key.create", "lab-a")]
        assert lines.json()[0]["actor_key"] == keys["lab-a"]["Authorization"].split("_")[1]

        other = await c.post(
            "/api/v1/keys", json={"role": "admin", "org": "lab-b"}, headers=keys["lab-a"]
        )
        assert (other.status_code, other.json()["reason"]) == (403, "not_owner")
        assert (await c.post("/api/v1/keys", json={"role": "admin"}, headers=keys["acme"])).json()[
            "reason"
        ] == "forbidden_role"

        for_lab_b = await c.post(
            "/api/v1/keys", json={"role": "admin", "org": "lab-b"}, headers=keys["network"]
        )
        assert (for_lab_b.status_code, for_lab_b.json()["org"]) == (201, "lab-b")
        unknown = await c.post(
            "/api/v1/keys", json={"role": "operator", "org": "nobody"}, headers=keys["network"]
        )
        assert (unknown.status_code, unknown.json()["reason"]) == (404, "no_organisation")
        orgs = (await c.get("/api/v1/organisations", headers=keys["network"])).json()
        assert "nobody" not in {o["id"] for o in orgs}  # nothing created implicitly

        past = (NOW - timedelta(minutes=1)).isoformat()
        expired = await c.post(
            "/api/v1/keys", json={"role": "operator", "expires_at": past}, headers=keys["lab-a"]
        )
        assert (expired.status_code, expired.json()["reason"]) == (422, "bad_expiry")
        naive = await c.post(
            "/api/v1/keys",
            json={"role": "operator", "expires_at": "2027-01-01T00:00:00"},
            headers=keys["lab-a"],
        )
        assert (naive.status_code, naive.json()["reason"]) == (422, "bad_request")
        role = await c.post("/api/v1/keys", json={"role": "root"}, headers=keys["lab-a"])
        assert (role.status_code, role.json()["reason"]) == (422, "bad_request")


async def test_the_console_needs_no_cors_it_is_served_by_the_same_app(pool: asyncpg.Pool) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        keys = await _orgs(pool, c)
        origin = {"Origin": "https://elsewhere.example"}
        r = await c.get("/api/v1/me", headers=keys["acme"] | origin)
        assert r.status_code == 200
        assert not any(h.lower().startswith("access-control-") for h in r.headers)
        preflight = await c.options(
            "/api/v1/me", headers=origin | {"Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 405
        assert preflight.json()["reason"] == "method_not_allowed"
        assert "access-control-allow-origin" not in preflight.headers


async def test_the_front_door_and_the_old_boards_address_lead_to_the_console(
    pool: asyncpg.Pool,
) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as c:
        assert (await c.get("/")).headers["location"] == "/console/"
        assert (await c.get("/console")).headers["location"] == "/console/"
        for old in ("/dashboard", "/dashboard/", "/dashboard/index.html"):
            r = await c.get(old)
            assert r.status_code == 301, old
            assert r.headers["location"] == "/console/#/board"
