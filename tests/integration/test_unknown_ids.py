"""Every path or body that names an unknown organisation, instrument, booking, closure (or key,
feed, job) answers 404 with the concept's own reason, and creates nothing (CONTRACT §6)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from tests.support.api import api_client, auth
from tests.support.instruments import add_instrument

GONE = "00000000-0000-4000-8000-000000000000"
SLOT = {"start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:00:00Z"}

#: (method, path, body, reason); "oven-1" and "acme" exist, "nope" and "acne" do not.
CASES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/v1/instruments/nope", None, "no_instrument"),
    ("GET", "/api/v1/instruments/nope/twin", None, "no_instrument"),
    ("GET", "/api/v1/instruments/nope/telemetry", None, "no_instrument"),
    ("POST", "/api/v1/instruments/nope/closures", SLOT, "no_instrument"),
    ("GET", "/api/v1/instruments/nope/closures", None, "no_instrument"),
    ("DELETE", "/api/v1/instruments/nope/closures/1", None, "no_instrument"),
    ("DELETE", "/api/v1/instruments/oven-1/closures/999", None, "no_closure"),
    ("PUT", "/api/v1/instruments/nope/qualifications/acme", None, "no_instrument"),
    ("PUT", "/api/v1/instruments/oven-1/qualifications/acne", None, "no_organisation"),
    ("DELETE", "/api/v1/instruments/nope/qualifications/acme", None, "no_instrument"),
    ("DELETE", "/api/v1/instruments/oven-1/qualifications/acne", None, "no_organisation"),
    (
        "POST",
        "/api/v1/instruments",
        {"id": "new-1", "site": "s1", "kind": "oven", "owner_org": "acne"},
        "no_organisation",
    ),
    ("POST", "/api/v1/bookings", {"instrument": "nope", "duration": "PT1H"}, "no_instrument"),
    ("POST", "/api/v1/bookings", {"instrument": "nope", **SLOT}, "no_instrument"),
    ("GET", "/api/v1/availability?instrument=nope", None, "no_instrument"),
    ("GET", f"/api/v1/bookings/{GONE}", None, "no_booking"),
    ("DELETE", f"/api/v1/bookings/{GONE}", None, "no_booking"),
    ("GET", f"/api/v1/bookings/{GONE}/usage", None, "no_booking"),
    ("GET", "/api/v1/organisations/acne/quotas", None, "no_organisation"),
    ("PUT", "/api/v1/organisations/acne/quotas/week", {"max_hours": 5}, "no_organisation"),
    ("DELETE", "/api/v1/organisations/acne/quotas/week", None, "no_organisation"),
    ("GET", "/api/v1/organisations/acne/vouchers", None, "no_organisation"),
    ("POST", "/api/v1/organisations/acne/vouchers", {"amount": 5}, "no_organisation"),
    ("GET", "/api/v1/statements/acne/2026-01", None, "no_organisation"),
    ("GET", "/api/v1/vouchers/999", None, "no_voucher"),
    ("PATCH", "/api/v1/vouchers/999", {"note": "x"}, "no_voucher"),
    ("POST", "/api/v1/vouchers/999/revoke", None, "no_voucher"),
    ("GET", "/api/v1/vouchers?client=acne", None, "no_organisation"),
    ("GET", "/api/v1/vouchers?platform=acne", None, "no_organisation"),
    (
        "POST",
        "/api/v1/organisations/acme/vouchers",
        {"amount": 5, "platforms": ["acne"]},
        "no_organisation",
    ),
    ("POST", "/api/v1/calendars", {"org": "acne"}, "no_organisation"),
    ("POST", "/api/v1/calendars", {"instrument": "nope"}, "no_instrument"),
    ("DELETE", "/api/v1/calendars/0badfeed", None, "no_feed"),
    ("GET", "/api/v1/calendars/psf_00000000_nope.ics", None, "no_feed"),
    ("DELETE", "/api/v1/keys/nope", None, "no_such_key"),
    ("GET", f"/api/v1/forecasts/{GONE}", None, "no_job"),
    ("GET", f"/api/v1/simulations/{GONE}", None, "no_job"),
]


async def _world(pool: asyncpg.Pool) -> tuple[dict[str, str], set[str]]:
    admin = await auth(pool, "platform", "admin")  # the network operator (default)
    await auth(pool, "acme", "operator")
    await add_instrument(pool, "oven-1", site="s1")
    orgs = {r["id"] for r in await pool.fetch("SELECT id FROM organisations")}
    return admin, orgs


@pytest.mark.parametrize(("method", "path", "body", "reason"), CASES, ids=str)
async def test_an_unknown_id_is_404_with_its_reason_and_creates_nothing(
    pool: asyncpg.Pool, method: str, path: str, body: dict[str, Any] | None, reason: str
) -> None:
    admin, orgs = await _world(pool)
    async with api_client(pool) as client:
        r = await client.request(method, path, json=body, headers=admin)
    assert (r.status_code, r.json()["reason"]) == (404, reason), r.text
    assert {r["id"] for r in await pool.fetch("SELECT id FROM organisations")} == orgs
    assert await pool.fetchval("SELECT count(*) FROM instruments") == 1


async def test_the_table_covers_every_route_that_names_something(pool: asyncpg.Pool) -> None:
    """A new route with a path parameter must be added to ``CASES``."""
    app = create_app(Settings(), pool=pool, clock=FakeClock(), registry=CollectorRegistry())
    covered = {(m, p.split("?")[0]) for m, p, _, _ in CASES}
    templates = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.dependant.path_params:
            for method in route.methods:
                templates[(method, route.path_format)] = route.path_regex
    missing = [
        f"{method} {template}"
        for (method, template), regex in templates.items()
        if not any(m == method and regex.match(p) for m, p in covered)
    ]
    assert missing == []
