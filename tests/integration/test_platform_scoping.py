"""Platforms as tenants, through HTTP: two platforms (``lab-a`` owns ``sem-a``, ``lab-b`` owns
``sem-b``), two clients (``acme``, ``globex``) and the network operator (``platform``).

A platform's admins administer only their own instruments, closures, qualifications and rejects,
see and act on the bookings made on their instruments (and no other booking of their clients),
and the network operator's admins everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import api_client, auth, book, iso, served

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
Headers = dict[str, str]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


@dataclass
class Net:
    network: Headers
    lab_a: Headers
    lab_b: Headers
    acme: Headers
    globex: Headers


async def network(pool: asyncpg.Pool, c: httpx.AsyncClient, site: str = "lab") -> Net:
    """Two platforms with an instrument each, two clients, and their keys."""
    net = await auth(pool, "platform", "admin")
    for org, kind in (
        ("lab-a", "platform"),
        ("lab-b", "platform"),
        ("acme", "client"),
        ("globex", "client"),
    ):
        body = {"id": org, "name": f"{org} 名", "kind": kind}
        r = await c.post("/api/v1/organisations", json=body, headers=net)
        assert r.status_code == 201, r.text
    for ident, owner in ((f"{site}-sem-a", "lab-a"), (f"{site}-sem-b", "lab-b")):
        body = {"id": ident, "site": site, "kind": "sem", "owner_org": owner}
        r = await c.post("/api/v1/instruments", json=body, headers=net)
        assert r.status_code == 201, r.text
    return Net(
        net,
        await auth(pool, "lab-a", "admin"),
        await auth(pool, "lab-b", "admin"),
        await auth(pool, "acme", "operator"),
        await auth(pool, "globex", "operator"),
    )


def _reason(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json().get("reason", "")


async def test_a_platform_administers_only_its_own_instruments(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as c:
        n = await network(pool, c)
        # a platform registers for itself: owner_org defaults to it, another is refused
        r = await c.post(
            "/api/v1/instruments",
            json={"id": "xrd-a", "site": "lab", "kind": "xrd"},
            headers=n.lab_a,
        )
        assert r.status_code == 201, r.text
        assert r.json()["owner_org"] == "lab-a"
        body = {"id": "xrd-x", "site": "lab", "kind": "xrd", "owner_org": "lab-b"}
        r = await c.post("/api/v1/instruments", json=body, headers=n.lab_a)
        assert _reason(r) == (403, "not_owner")
        r = await c.post("/api/v1/instruments", json=body, headers=n.network)
        assert r.status_code == 201, r.text
        # edits and retirements
        for method, path, payload in [
            ("PATCH", "/api/v1/instruments/lab-sem-b", {"name": "mine now"}),
            ("DELETE", "/api/v1/instruments/lab-sem-b", None),
            ("PUT", "/api/v1/instruments/lab-sem-b/qualifications/acme", None),
            ("DELETE", "/api/v1/instruments/lab-sem-b/qualifications/acme", None),
            (
                "POST",
                "/api/v1/instruments/lab-sem-b/closures",
                {"start": iso(MON + 30 * H), "end": iso(MON + 31 * H)},
            ),
        ]:
            r = await c.request(method, path, json=payload, headers=n.lab_a)
            assert _reason(r) == (403, "not_owner"), (method, path)
            mine = path.replace("lab-sem-b", "lab-sem-a")
            if method == "DELETE" and path.endswith("sem-b"):
                mine = "/api/v1/instruments/xrd-a"
            r = await c.request(method, mine, json=payload, headers=n.lab_a)
            assert r.status_code in {200, 201, 204}, (method, mine, r.text)
        name = (await c.get("/api/v1/instruments/lab-sem-b", headers=n.acme)).json()["name"]
        assert name == "lab-sem-b"  # untouched
        # a closure of sem-b cannot be removed by lab-a; by lab-b it can
        closure = {"start": iso(MON + 30 * H), "end": iso(MON + 31 * H)}
        made = await c.post("/api/v1/instruments/lab-sem-b/closures", json=closure, headers=n.lab_b)
        assert made.status_code == 201, made.text
        path = f"/api/v1/instruments/lab-sem-b/closures/{made.json()['id']}"
        assert _reason(await c.delete(path, headers=n.lab_a)) == (403, "not_owner")
        assert (await c.delete(path, headers=n.lab_b)).status_code == 204
        # an unknown instrument is 404 before anything else
        r = await c.patch("/api/v1/instruments/nope", json={"name": "x"}, headers=n.lab_a)
        assert _reason(r) == (404, "no_instrument")
        # quotas and vouchers are the network's
        quota = "/api/v1/organisations/acme/quotas/week"
        r = await c.put(quota, json={"max_hours": 10}, headers=n.lab_a)
        assert _reason(r) == (403, "not_network_admin")
        assert (await c.put(quota, json={"max_hours": 10}, headers=n.network)).status_code == 204
        assert _reason(await c.delete(quota, headers=n.lab_a)) == (403, "not_network_admin")
        r = await c.post(
            "/api/v1/organisations/acme/vouchers", json={"amount": "50.00"}, headers=n.lab_a
        )
        assert _reason(r) == (403, "not_network_admin")
        # organisations: a platform lists its own, the network all
        listed = (await c.get("/api/v1/organisations", headers=n.lab_a)).json()
        assert [o["id"] for o in listed] == ["lab-a"]
        listed = (await c.get("/api/v1/organisations", headers=n.network)).json()
        assert {"lab-a", "lab-b", "acme", "globex", "platform"} <= {o["id"] for o in listed}


async def test_a_platform_lists_who_is_qualified_for_its_instrument_only(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as c:
        n = await network(pool, c)
        path = "/api/v1/instruments/lab-sem-a/qualifications"
        assert (await c.get(path, headers=n.lab_a)).json() == []
        for org in ("globex", "acme"):
            r = await c.put(f"{path}/{org}", headers=n.lab_a)
            assert r.status_code == 204, r.text
        listed = (await c.get(path, headers=n.lab_a)).json()
        assert [(q["org"], q["name"]) for q in listed] == [
            ("acme", "acme 名"),
            ("globex", "globex 名"),
        ]
        assert all(q["granted_at"] for q in listed)
        # the network sees it too; the other platform and the client are refused
        assert len((await c.get(path, headers=n.network)).json()) == 2
        assert _reason(await c.get(path, headers=n.lab_b)) == (403, "not_owner")
        assert (await c.get(path, headers=n.acme)).status_code == 403
        assert (await c.delete(f"{path}/acme", headers=n.lab_a)).status_code == 204
        assert [q["org"] for q in (await c.get(path, headers=n.lab_a)).json()] == ["globex"]
        r = await c.get("/api/v1/instruments/nope/qualifications", headers=n.network)
        assert _reason(r) == (404, "no_instrument")


async def test_a_platform_sees_and_runs_the_bookings_on_its_line_only(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as c:
        n = await network(pool, c)
        slot = {"start": MON + 30 * H, "end": MON + 31 * H}
        on_a = (await book(c, n.acme, instrument="lab-sem-a", **slot)).json()["id"]
        on_b = (await book(c, n.acme, instrument="lab-sem-b", **slot)).json()["id"]
        globex_b = (
            await book(c, n.globex, instrument="lab-sem-b", start=MON + 32 * H, end=MON + 33 * H)
        ).json()["id"]
        own = (
            await book(c, n.lab_a, instrument="lab-sem-b", start=MON + 34 * H, end=MON + 35 * H)
        ).json()["id"]

        def ids(r: httpx.Response) -> set[str]:
            assert r.status_code == 200, r.text
            return {b["id"] for b in r.json()}

        # lab-a: the bookings on sem-a, and its own as a client elsewhere
        assert ids(await c.get("/api/v1/bookings", headers=n.lab_a)) == {on_a, own}
        assert ids(await c.get("/api/v1/bookings", headers=n.lab_b)) == {on_b, globex_b, own}
        assert ids(await c.get("/api/v1/bookings", headers=n.acme)) == {on_a, on_b}
        assert ids(await c.get("/api/v1/bookings", headers=n.network)) == {
            on_a,
            on_b,
            globex_b,
            own,
        }
        page = await c.get("/api/v1/bookings", params={"limit": 1}, headers=n.lab_a)
        assert len(page.json()) == 1
        assert "next" in page.headers["link"]
        for path in (f"/api/v1/bookings/{on_a}", f"/api/v1/bookings/{on_a}/usage"):
            assert (await c.get(path, headers=n.lab_a)).status_code == 200
            assert _reason(await c.get(path, headers=n.lab_b)) == (404, "no_booking")
        assert _reason(await c.get(f"/api/v1/bookings/{on_b}", headers=n.lab_a)) == (
            404,
            "no_booking",
        )
        # the platform moves and cancels a booking on its line; the other cannot
        moved = {"start": iso(MON + 40 * H), "end": iso(MON + 41 * H)}
        r = await c.patch(f"/api/v1/bookings/{on_a}", json=moved, headers=n.lab_b)
        assert _reason(r) == (404, "no_booking")
        r = await c.patch(f"/api/v1/bookings/{on_a}", json=moved, headers=n.lab_a)
        assert r.status_code == 200, r.text
        assert r.json()["org"] == "acme"
        assert _reason(await c.delete(f"/api/v1/bookings/{on_a}", headers=n.lab_b)) == (
            404,
            "no_booking",
        )
        assert (await c.delete(f"/api/v1/bookings/{on_a}", headers=n.lab_a)).status_code == 204
        got = await c.get(f"/api/v1/bookings/{on_a}", headers=n.acme)
        assert got.json()["status"] == "cancelled"
        # a platform operator key (not an admin) sees only its organisation's bookings
        lab_a_operator = await auth(pool, "lab-a", "operator")
        assert ids(await c.get("/api/v1/bookings", headers=lab_a_operator)) == {own}


async def test_a_platform_sees_the_rejects_of_its_instruments(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as c:
        n = await network(pool, c)
        for instrument in ("lab-sem-a", "lab-sem-b", "ghost-1"):
            await pool.execute(
                "INSERT INTO rejects (topic, reason, detail, payload) VALUES ($1, $2, $3, $4)",
                f"pilotshare/v1/lab/{instrument}/telemetry",
                "malformed",
                "not JSON",
                b"{",
            )

        async def topics(who: Headers) -> set[str]:
            r = await c.get("/api/v1/rejects", headers=who)
            assert r.status_code == 200, r.text
            return {x["topic"].split("/")[3] for x in r.json()}

        assert await topics(n.lab_a) == {"lab-sem-a"}
        assert await topics(n.lab_b) == {"lab-sem-b"}
        assert await topics(n.network) == {"lab-sem-a", "lab-sem-b", "ghost-1"}
        assert (await c.get("/api/v1/rejects", headers=n.acme)).status_code == 403
        replay = "/api/v1/rejects/replay"
        r = await c.post(replay, json={"instrument": "lab-sem-b"}, headers=n.lab_a)
        assert _reason(r) == (403, "not_owner")
        r = await c.post(replay, json={"instrument": "lab-sem-a"}, headers=n.lab_a)
        assert r.status_code == 200, r.text


async def _booking_events(base: str, who: Headers, site: str, then: Any) -> list[str]:
    """The booking ids of the ``booking`` events a stream of ``site`` gets once ``then()`` ran,
    until the ``times``-th event of the booking it answers ``(id, times)``."""
    seen: list[str] = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        client.stream("GET", "/api/v1/events", params={"site": site}, headers=who) as stream,
    ):
        assert stream.status_code == 200
        kind, last, times = "", None, 0
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith(": pilotshare") and last is None:
                last, times = await then()
            elif line.startswith("data: ") and kind == "booking":
                seen.append(json.loads(line[6:])["booking"])
                if seen.count(str(last)) == times:
                    return seen
    raise AssertionError("the stream ended")


async def test_booking_events_reach_the_platform_of_the_instrument(
    pool: asyncpg.Pool, site: str
) -> None:
    now = datetime.now(UTC)
    async with (
        api_client(pool, clock=FakeClock(now)) as c,
        served(pool, FakeClock(now)) as base,
    ):
        n = await network(pool, c, site)
        soon = now + timedelta(minutes=2)  # the database tells of bookings starting soon
        made: dict[str, str] = {}
        shorter = {"start": iso(soon), "end": iso(soon + H / 2)}  # a change the stream tells of

        async def make(name: str, who: Headers, instrument: str) -> None:
            r = await book(c, who, instrument=instrument, start=soon, end=soon + H, purpose="x")
            assert r.status_code == 201, r.text
            made[name] = r.json()["id"]

        async def book_b_and_a_cancel_b() -> tuple[str, int]:
            await make("b", n.globex, f"{site}-sem-b")
            await make("a", n.acme, f"{site}-sem-a")
            r = await c.patch(f"/api/v1/bookings/{made['b']}", json=shorter, headers=n.globex)
            assert r.status_code == 200, r.text
            return made["b"], 2

        seen = await _booking_events(base, n.lab_b, site, book_b_and_a_cancel_b)
        assert made["a"] not in seen  # acme's booking on lab-a's instrument: not lab-b's
        assert seen == [made["b"], made["b"]]  # globex's on lab-b's: made, then shortened

        async def shorten_a() -> tuple[str, int]:
            r = await c.patch(f"/api/v1/bookings/{made['a']}", json=shorter, headers=n.acme)
            assert r.status_code == 200, r.text
            return made["a"], 1

        # lab-a's stream shows acme's booking on lab-a's instrument, though neither is lab-a's
        assert await _booking_events(base, n.lab_a, site, shorten_a) == [made["a"]]
