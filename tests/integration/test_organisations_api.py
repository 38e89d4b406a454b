"""Organisations are registered explicitly by the network operator (CONTRACT §6): 201, 409, 422;
what used to create a misspelt organisation silently now answers 404."""

from __future__ import annotations

import asyncpg
import pytest

from pilotshare.core.settings import Settings
from tests.support.api import api_client, auth
from tests.support.instruments import add_instrument


async def test_the_network_operator_registers_organisations(pool: asyncpg.Pool) -> None:
    operator = await auth(pool, "platform", "admin")
    async with api_client(pool) as client:
        made = await client.post(
            "/api/v1/organisations",
            json={"id": "globex", "name": "Globex Corp", "kind": "client"},
            headers=operator,
        )
        assert made.status_code == 201, made.text
        assert {k: made.json()[k] for k in ("id", "name", "kind")} == {
            "id": "globex",
            "name": "Globex Corp",
            "kind": "client",
        }
        again = await client.post(
            "/api/v1/organisations",
            json={"id": "globex", "name": "Other", "kind": "platform"},
            headers=operator,
        )
        assert (again.status_code, again.json()["reason"]) == (409, "organisation_exists")
        listed = (await client.get("/api/v1/organisations", headers=operator)).json()
        assert [(o["id"], o["name"], o["kind"]) for o in listed] == [
            ("globex", "Globex Corp", "client"),
            ("platform", "platform", "client"),
        ]
        # and the new organisation can be named at once
        quota = await client.put(
            "/api/v1/organisations/globex/quotas/week", json={"max_hours": 4}, headers=operator
        )
        assert quota.status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {"id": "Not A Slug", "name": "x", "kind": "client"},
        {"id": "x", "name": "", "kind": "client"},
        {"id": "x", "name": "x", "kind": "partner"},
        {"id": "x", "kind": "client"},
        {"id": "x", "name": "x", "kind": "client", "colour": "red"},
    ],
)
async def test_a_bad_organisation_is_422(pool: asyncpg.Pool, body: dict[str, object]) -> None:
    operator = await auth(pool, "platform", "admin")
    async with api_client(pool) as client:
        r = await client.post("/api/v1/organisations", json=body, headers=operator)
    assert (r.status_code, r.json()["reason"]) == (422, "bad_request")
    assert await pool.fetchval("SELECT count(*) FROM organisations") == 1


async def test_only_the_operator_organisations_admins_register(pool: asyncpg.Pool) -> None:
    lab_admin = await auth(pool, "lab", "admin")
    acme = await auth(pool, "acme", "planner")
    body = {"id": "globex", "name": "Globex", "kind": "client"}
    async with api_client(pool) as client:
        r = await client.post("/api/v1/organisations", json=body, headers=lab_admin)
        assert (r.status_code, r.json()["reason"]) == (403, "not_network_admin")
        r = await client.post("/api/v1/organisations", json=body, headers=acme)
        assert r.status_code == 403
        assert (await client.get("/api/v1/organisations", headers=acme)).status_code == 403
        assert (await client.get("/api/v1/organisations", headers=lab_admin)).status_code == 200
    # PILOTSHARE_OPERATOR_ORG names the network operator
    async with api_client(pool, settings=Settings(operator_org="lab")) as client:
        r = await client.post("/api/v1/organisations", json=body, headers=lab_admin)
        assert r.status_code == 201, r.text


async def test_a_misspelt_organisation_is_404_and_is_not_created(pool: asyncpg.Pool) -> None:
    admin = await auth(pool, "platform", "admin")
    await auth(pool, "acme", "operator")
    await add_instrument(pool, "fib-1", site="s1", requires_qualification=True)
    async with api_client(pool) as client:
        for method, path, body in [
            ("PUT", "/api/v1/organisations/acmee/quotas/week", {"max_hours": 5}),
            ("PUT", "/api/v1/instruments/fib-1/qualifications/acmee", None),
            ("POST", "/api/v1/organisations/acmee/vouchers", {"amount": 5}),
            ("GET", "/api/v1/statements/acmee/2026-11", None),
        ]:
            r = await client.request(method, path, json=body, headers=admin)
            assert (r.status_code, r.json()["reason"]) == (404, "no_organisation"), path
        listed = (await client.get("/api/v1/organisations", headers=admin)).json()
    assert [o["id"] for o in listed] == ["acme", "platform"]
