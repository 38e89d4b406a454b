"""The OpenAPI document promises what the app answers: a typed 2xx, and every error status a
route can give (401/403 for every route behind a key) with the one ``Problem`` schema."""

from __future__ import annotations

import inspect
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.deps import authenticated
from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from tests.support.api import api_client, auth

PROBLEM = "#/components/schemas/Problem"


@pytest.fixture
def app(pool: asyncpg.Pool) -> FastAPI:
    return create_app(Settings(), pool=pool, clock=FakeClock(), registry=CollectorRegistry())


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]


def _needs_key(route: APIRoute) -> bool:
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if dep.call is authenticated:
            return True
        stack.extend(dep.dependencies)
    return False


def test_every_operation_has_a_typed_success(app: FastAPI) -> None:
    missing = []
    for name, op in _operations(app.openapi()):
        ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        typed = [
            s
            for s, r in ok.items()
            if s == "204"
            or (r.get("content") and all("schema" in c for c in r["content"].values()))
        ]
        if not typed:
            missing.append(name)
    assert missing == []


def test_every_error_answer_is_the_one_schema(app: FastAPI) -> None:
    doc = app.openapi()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    wrong = []
    for name, op in _operations(doc):
        for status, answer in op["responses"].items():
            if status[0] in "45" and name != "GET /readyz":
                schema = answer["content"]["application/json"]["schema"]
                if schema != {"$ref": PROBLEM}:
                    wrong.append(f"{name} {status}")
    assert wrong == []


def test_routes_behind_a_key_declare_401_and_403(app: FastAPI) -> None:
    doc = app.openapi()
    # included routers stay nested in app.routes: iter_route_contexts walks into them
    routes = [
        r
        for r in iter_route_contexts(app.routes)
        if isinstance(r.original_route, APIRoute) and r.include_in_schema
    ]
    assert len(routes) > 30
    undeclared = []
    for route in routes:
        for method in route.methods:
            responses = doc["paths"][route.path_format][method.lower()]["responses"]
            if _needs_key(route) and not {"401", "403"} <= responses.keys():
                undeclared.append(f"{method} {route.path}")
            if (
                route.dependant.path_params
                or route.dependant.query_params
                or route.dependant.body_params
            ) and "422" not in responses:
                undeclared.append(f"{method} {route.path} 422")
    assert undeclared == []


def test_no_route_answers_any(app: FastAPI) -> None:
    loose = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            answer = inspect.signature(route.endpoint, eval_str=True).return_annotation
            if answer is Any or "Any" in str(answer) or "dict" in str(answer):
                loose.append(route.path)
    assert loose == []


async def test_errors_answer_the_documented_shape(pool: asyncpg.Pool) -> None:
    async with api_client(pool) as client:
        nobody = await client.get("/api/v1/instruments")
        assert nobody.status_code == 401
        assert nobody.json() == {
            "detail": "missing API key: send 'Authorization: Bearer <key>'",
            "reason": "no_key",
        }
        assert nobody.headers["www-authenticate"] == "Bearer"
        operator = await auth(pool, "acme", "operator")
        refused = await client.get("/api/v1/rejects", headers=operator)
        assert (refused.status_code, refused.json()["reason"]) == (403, "forbidden_role")
        missing = await client.get("/api/v1/instruments/nope", headers=operator)
        assert (missing.status_code, missing.json()["reason"]) == (404, "no_instrument")
        nowhere = await client.get("/api/v1/nowhere")
        assert (nowhere.status_code, nowhere.json()["reason"]) == (404, "no_route")
        bad = await client.get("/api/v1/rejects?limit=0", headers=await auth(pool, "p", "admin"))
        assert bad.status_code == 422
        body = bad.json()
        assert body["reason"] == "bad_request"
        assert body["errors"] == [
            {"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1"}
        ]
        assert body["detail"] == "query.limit: Input should be greater than or equal to 1"


async def test_an_unqualified_organisation_is_forbidden_by_the_app_not_the_route(
    pool: asyncpg.Pool,
) -> None:
    async with api_client(pool) as client:
        admin = await auth(pool, "platform", "admin")
        acme = await auth(pool, "acme", "operator")
        made = await client.post(
            "/api/v1/instruments",
            json={"id": "sem-q", "site": "s1", "kind": "sem", "requires_qualification": True},
            headers=admin,
        )
        assert made.status_code == 201
        r = await client.post(
            "/api/v1/bookings", json={"instrument": "sem-q", "duration": "PT1H"}, headers=acme
        )
        assert (r.status_code, r.json()["reason"]) == (403, "not_qualified")
