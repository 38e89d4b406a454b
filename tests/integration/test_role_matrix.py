"""The role matrix: every route of the app × five callers, against ``role_matrix.ROWS``.

Two platforms each own an instrument (``lab-a``: ``sem-a``, ``lab-b``: ``sem-b``), two clients
book (``acme``, ``globex``); lab-a has a service item, acme a voucher and a request only sem-a
can serve, with offers of lab-a. The routes are taken from the app itself (its API routes and its
OpenAPI document), so a route added without a row fails here with a message saying where to
add it. One database, one app, no sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from tests.integration.role_matrix import (
    CALLERS,
    ITEM,
    MON,
    REQUEST,
    ROWS,
    SCENARIO,
    VOUCHER,
    H,
    Req,
    World,
    iso,
)
from tests.support.api import api_client, auth, served

Headers = dict[str, str]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.16x)
            yield from _api_routes(route.original_router.routes)
        elif hasattr(route, "routes") and not hasattr(route, "app"):
            yield from _api_routes(route.routes)


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers: its API routes and its OpenAPI paths."""
    found = {
        (m, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path))  # {feed_id:feed_id}: a convertor
        for r in _api_routes(app.routes)
        for m in r.methods or ()
        if m != "HEAD"
    }
    for path, ops in app.openapi()["paths"].items():
        found |= {(m.upper(), path) for m in ops}
    return found


def test_every_route_has_a_row() -> None:
    app = create_app(Settings(), pool=None, clock=FakeClock(MON), registry=CollectorRegistry())  # type: ignore[arg-type]
    routes = app_routes(app)
    assert len(routes) > 40  # the enumeration itself works
    missing = sorted(routes - ROWS.keys())
    assert not missing, (
        f"routes without a row in tests/integration/role_matrix.py ROWS: {missing}; add one "
        "saying what each of the five callers gets"
    )
    stale = sorted(ROWS.keys() - routes)
    assert not stale, f"rows of routes the app no longer has: {stale}"


async def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


async def _world(pool: asyncpg.Pool, c: httpx.AsyncClient, keys: dict[str, Headers]) -> World:
    net = keys["network"] = await auth(pool, "platform", "admin")
    for org, kind in (
        ("lab-a", "platform"),
        ("lab-b", "platform"),
        ("acme", "client"),
        ("globex", "client"),
    ):
        body = {"id": org, "name": f"{org} 平台", "kind": kind}
        await _ok(await c.post("/api/v1/organisations", json=body, headers=net))
    keys["other"] = await auth(pool, "lab-b", "admin")
    keys["own"] = await auth(pool, "lab-a", "admin")
    keys["client"] = await auth(pool, "acme", "operator")
    for ident, owner, caps in (("sem-a", "lab-a", ["eds"]), ("sem-b", "lab-b", [])):
        body = {"id": ident, "site": "lab", "kind": "sem", "owner_org": owner, "capabilities": caps}
        await _ok(await c.post("/api/v1/instruments", json=body, headers=net))
    acme = keys["client"]
    w = World(slots=[MON + (30 + 2 * n) * H for n in range(40)])
    free = iter(w.slots[len(CALLERS) * 2 :])

    async def booking() -> str:
        start = next(free)
        body = {"instrument": "sem-a", "start": iso(start), "end": iso(start + H)}
        return str((await _ok(await c.post("/api/v1/bookings", json=body, headers=acme)))["id"])

    async def item(ident: str) -> str:
        body = {**ITEM, "id": ident}
        return str((await _ok(await c.post("/api/v1/service-items", json=body, headers=net)))["id"])

    async def request() -> str:
        return str((await _ok(await c.post("/api/v1/requests", json=REQUEST, headers=acme)))["id"])

    async def offer(rid: str, start: datetime) -> str:
        body = {"instrument": "sem-a", "start": iso(start), "end": iso(start + H), "price": "1"}
        made = await c.post(f"/api/v1/requests/{rid}/offers", json=body, headers=keys["own"])
        return str((await _ok(made))["id"])

    async def voucher() -> str:
        made = await c.post("/api/v1/organisations/acme/vouchers", json=VOUCHER, headers=net)
        return str((await _ok(made))["id"])

    w.booking = await booking()
    w.item = await item("item-a")
    w.request = await request()
    w.voucher = await voucher()
    for who in CALLERS:
        key = (await auth(pool, "lab-a", "operator"))["Authorization"]
        old = {"id": f"old-{who}", "site": "lab", "kind": "sem", "owner_org": "lab-a"}
        await _ok(await c.post("/api/v1/instruments", json=old, headers=net))
        closure = {"start": iso(MON + 500 * H), "end": iso(MON + 501 * H)}
        made = await _ok(
            await c.post("/api/v1/instruments/sem-a/closures", json=closure, headers=net)
        )
        feed = await _ok(await c.post("/api/v1/calendars", json={"org": "acme"}, headers=acme))
        w.per_caller[who] = {
            "key": key.split("_")[1],
            "closure": str(made["id"]),
            "booking": await booking(),
            "cancel": await booking(),
            "feed": feed["id"],
            "item": await item(f"item-{who}"),
            "cancel-request": await request(),
            "voucher": await voucher(),
        }
        accept = w.per_caller[who]["accept"] = await request()
        w.per_caller[who]["offer"] = await offer(accept, next(free))  # free: it books
        for name in ("decline", "withdraw"):
            w.per_caller[who][name] = await offer(w.request, MON + 40 * H)
    feed = await _ok(await c.post("/api/v1/calendars", json={"org": "acme"}, headers=acme))
    w.feed_token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    planner = await auth(pool, "globex", "planner")
    job = await c.post("/api/v1/forecasts", json={"horizon_days": 7}, headers=planner)
    w.forecast = (await _ok(job, 202))["id"]
    job = await c.post("/api/v1/simulations", json={"scenario": SCENARIO}, headers=planner)
    w.simulation = (await _ok(job, 202))["id"]
    return w


async def _status(c: httpx.AsyncClient, base: str, method: str, req: Req, who: Headers) -> int:
    if req.stream:
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as s,
            s.stream(method, req.path, headers=who) as r,
        ):
            return r.status_code
    r = await c.request(method, req.path, json=req.body, headers=who)
    return r.status_code


async def test_role_matrix(pool: asyncpg.Pool, clock: FakeClock) -> None:
    keys: dict[str, Headers] = {"none": {}}
    async with api_client(pool, clock=clock) as c, served(pool, clock) as base:
        world = await _world(pool, c, keys)
        wrong = []
        for (method, path), row in sorted(ROWS.items()):
            for who, expected in zip(CALLERS, row.expect, strict=True):
                req = row.make(world, who)
                got = await _status(c, base, method, req, keys[who])
                if got != expected:
                    wrong.append(f"{method} {path} as {who}: {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)
