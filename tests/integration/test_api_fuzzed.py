"""What an API fuzzer (schemathesis, run by .ci/outside-checks) found, each pinned down.

Huge numbers and durations were 500s, a body that is not text was an undeclared 400, a number
passed as a time or a boolean as a seed was accepted, a 405 named only one route's methods in
``Allow``, and a new route behind a key had to remember to declare 401/403/422 by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
import pytest
from fastapi import APIRouter, FastAPI, Query
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.deps import CurrentKey
from pilotshare.core.clock import FakeClock
from pilotshare.core.settings import Settings
from tests.support.api import api_client, auth

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(body: dict[str, object], reason: str = "bad_request") -> None:
    assert set(body) <= {"detail", "reason", "errors"}
    assert body["reason"] == reason
    assert isinstance(body["detail"], str)


@pytest.mark.parametrize(
    "field", ["min_notice_s", "max_horizon_s", "min_booking_s", "max_booking_s", "setup_buffer_s"]
)
async def test_huge_booking_rules_are_422_not_500(pool: asyncpg.Pool, field: str) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as client:
        admin = await auth(pool, "platform", "admin")
        body = {"id": "oven-9", "site": "fz", "kind": "oven", field: 102679753104977}
        answer = await client.post("/api/v1/instruments", json=body, headers=admin)
        assert answer.status_code == 422, answer.text
        _problem(answer.json())
        assert answer.json()["errors"][0]["loc"] == ["body", field]
        # ten years is still a valid rule
        body[field] = 10 * 365 * 86400
        if field == "max_booking_s":
            body["min_booking_s"] = 900
        ok = await client.post("/api/v1/instruments", json=body, headers=admin)
        assert ok.status_code in (201, 422), ok.text
        if ok.status_code == 422:  # a cross-field rule, never a 500
            _problem(ok.json(), ok.json()["reason"])


@pytest.mark.parametrize(
    "query",
    [
        "bucket=P999999D",
        "bucket=P99999999D",
        "start=0001-01-01T00:00:00Z",
        "end=0001-01-01T00:00:00Z",
        "end=9999-12-31T23:59:59Z&start=0001-01-01T00:00:00Z&bucket=P3000D",
    ],
)
async def test_huge_telemetry_queries_are_422_not_500(pool: asyncpg.Pool, query: str) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as client:
        admin = await auth(pool, "platform", "admin")
        made = await client.post(
            "/api/v1/instruments",
            json={"id": "oven-1", "site": "fz", "kind": "oven"},
            headers=admin,
        )
        assert made.status_code == 201
        answer = await client.get(f"/api/v1/instruments/oven-1/telemetry?{query}", headers=admin)
        assert answer.status_code == 422, answer.text
        _problem(answer.json(), answer.json()["reason"])


async def test_a_body_that_is_not_text_is_a_declared_422(pool: asyncpg.Pool) -> None:
    async with api_client(pool) as client:
        admin = await auth(pool, "platform", "admin")
        answer = await client.post(
            "/api/v1/instruments",
            content=b"\xb5%\xe7\xc4\x8b)!",
            headers={**admin, "Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        _problem(answer.json())
        assert answer.json()["errors"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/instruments/oven-1/closures", {"start": 0, "end": "2030-01-01T00:00Z"}),
        ("POST", "/api/v1/forecasts", {"horizon_days": 14, "replications": 100, "seed": False}),
        ("GET", "/api/v1/instruments/oven-1/telemetry?end=0.5", None),
        ("GET", "/api/v1/bookings?start=0&end=1", None),
    ],
)
async def test_numbers_are_not_times_and_booleans_not_seeds(
    pool: asyncpg.Pool, method: str, path: str, body: object
) -> None:
    async with api_client(pool, clock=FakeClock(NOW)) as client:
        admin = await auth(pool, "platform", "admin")
        made = await client.post(
            "/api/v1/instruments",
            json={"id": "oven-1", "site": "fz", "kind": "oven"},
            headers=admin,
        )
        assert made.status_code == 201
        answer = await client.request(method, path, json=body, headers=admin)
        assert answer.status_code == 422, answer.text
        _problem(answer.json())


async def test_405_allows_every_method_of_the_path(pool: asyncpg.Pool) -> None:
    async with api_client(pool) as client:
        for path, methods in (
            ("/api/v1/bookings", "GET, POST"),
            ("/api/v1/instruments", "GET, POST"),
            ("/api/v1/instruments/x/qualifications/y", "DELETE, PUT"),
            ("/api/v1/calendars/psf_0a1b2c3d_secret.ics", "GET"),
            ("/api/v1/calendars/0a1b2c3d", "DELETE"),
        ):
            answer = await client.options(path)
            assert answer.status_code == 405
            assert answer.headers["allow"] == methods, path
            _problem(answer.json(), "method_not_allowed")


def test_routes_added_later_inherit_their_error_answers(pool: asyncpg.Pool) -> None:
    """A route with a key and a parameter declares 401, 403 and 422 without saying so."""
    app: FastAPI = create_app(
        Settings(), pool=pool, clock=FakeClock(NOW), registry=CollectorRegistry()
    )
    router = APIRouter()

    @router.get("/api/v1/later/{thing}")
    async def later(
        thing: str, _: CurrentKey, limit: Annotated[int, Query(ge=1)] = 1
    ) -> dict[str, str]:
        return {"thing": thing, "limit": str(limit)}

    @router.get("/api/v1/open")
    async def open_route() -> dict[str, str]:
        return {}

    app.include_router(router)  # after the app was built, as a plugin would
    doc = app.openapi()
    responses = doc["paths"]["/api/v1/later/{thing}"]["get"]["responses"]
    assert {"401", "403", "422"} <= set(responses)
    for status in ("401", "403", "422"):
        assert responses[status]["content"]["application/json"]["schema"] == PROBLEM
    assert set(doc["paths"]["/api/v1/open"]["get"]["responses"]) == {"200"}
    problem = doc["components"]["schemas"]["Problem"]
    assert "errors" in problem["properties"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]


async def test_the_last_hour_still_answers(pool: asyncpg.Pool) -> None:
    """The bounds leave ordinary queries alone."""
    async with api_client(pool, clock=FakeClock(NOW)) as client:
        admin = await auth(pool, "platform", "admin")
        await client.post(
            "/api/v1/instruments",
            json={"id": "oven-1", "site": "fz", "kind": "oven"},
            headers=admin,
        )
        start = (NOW - timedelta(hours=2)).isoformat()
        answer = await client.get(
            "/api/v1/instruments/oven-1/telemetry",
            params={"start": start, "bucket": "PT1H"},
            headers=admin,
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) == 2


@pytest.mark.parametrize("field", ["name", "capabilities"])
async def test_a_nul_character_is_422_not_500(pool: asyncpg.Pool, field: str) -> None:
    """PostgreSQL cannot store U+0000 in text: any route that would store one answers 422."""
    async with api_client(pool) as client:
        admin = await auth(pool, "platform", "admin")
        value: object = "oven\x00one" if field == "name" else ["nitrogen", "a\x00b"]
        body = {"id": "oven-7", "site": "fz", "kind": "oven", field: value}
        answer = await client.post("/api/v1/instruments", json=body, headers=admin)
        assert answer.status_code == 422, answer.text
        _problem(answer.json())
        assert "U+0000" in answer.json()["detail"]
        gone = await client.get("/api/v1/instruments/oven-7", headers=admin)
        assert gone.status_code == 404  # nothing half-stored
