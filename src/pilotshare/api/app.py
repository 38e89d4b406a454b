"""The FastAPI application: ``create_app(settings, *, pool, clock, registry, …)``.

Everything the routes need is passed in and kept on ``app.state``; the composition root
(``pilotshare.services``, ``pilotshare.demo``) opens the pool and the MQTT connection and hands
them over, so tests can build the same app on a test database.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import pilotshare
from pilotshare.api.deps import authenticated
from pilotshare.api.gate import PublicGate
from pilotshare.api.keys import KeyCache
from pilotshare.api.routes import (
    audit,
    availability,
    bookings,
    calendars,
    console,
    events,
    forecasts,
    health,
    instruments,
    keys,
    me,
    organisations,
    profiles,
    public,
    qualifications,
    rejects,
    requests,
    scenarios,
    service_items,
    simulations,
    statements,
    statistics,
    telemetry,
    twin,
    vouchers,
)
from pilotshare.api.schemas import Problem, problem_response
from pilotshare.core.clock import Clock
from pilotshare.core.db import TRANSIENT
from pilotshare.core.errors import Refusal, TooManyRequests, Unauthorized
from pilotshare.core.messaging import Publisher
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.scheduler.metrics import booking_metrics
from pilotshare.scheduler.service import BookingService

#: One line per area; each module exposes ``router``.
ROUTERS = [
    health.router,
    organisations.router,
    keys.router,
    me.router,
    instruments.router,
    twin.router,
    telemetry.router,
    rejects.router,
    events.router,
    bookings.router,
    availability.router,
    availability.closures,
    availability.site_closures,
    qualifications.router,
    statements.router,
    statistics.router,
    vouchers.router,
    requests.router,
    calendars.router,
    forecasts.router,
    simulations.router,
    scenarios.router,
    console.router,
    profiles.router,
    service_items.router,
    public.router,
    audit.router,
]


def _answer(
    status: int, reason: str, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    """The one shape of every error answer (``schemas.Problem``)."""
    return JSONResponse({"detail": detail, "reason": reason, **extra}, status, headers=headers)


#: Refusals of the HTTP layer itself (no route, wrong method), by status.
_FRAMEWORK: Final = {404: "no_route", 405: "method_not_allowed"}


def _field(error: Mapping[str, Any]) -> dict[str, Any]:
    return {"loc": list(error["loc"]), "msg": error["msg"]}


def _allowed(request: Request) -> list[str]:
    """Every method some route answers on this request's path (for ``Allow`` on a 405)."""
    path = request.url.path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex, verbs = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and verbs and regex.match(path):
            methods |= verbs
    return sorted(methods)


def declare_problems(app: FastAPI) -> None:
    """Declare in OpenAPI the error answers every route can give, whoever wrote it.

    A route behind a key can answer 401 and 403, and one with a parameter or a body 422, all as
    the one ``Problem``; a route's own ``responses=problems(…)`` adds the rest (404, 409 …).
    FastAPI builds the document once and keeps it (``app.openapi_schema``); it is completed
    then, not again on every ``/openapi.json``.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        _complete(doc, app)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(doc: dict[str, Any], app: FastAPI) -> None:
    """Add the missing error answers to ``doc`` (idempotent) and drop FastAPI's own 422."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI keeps included routers nested: their routes come out of iter_route_contexts
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        statuses = [401, 403] if _needs_key(route.dependant) else []
        dependant = route.dependant
        if dependant.path_params or dependant.query_params or dependant.body_params:
            statuses.append(422)
        for method in route.methods or ():
            operation = doc["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            for status in statuses:
                if "HTTPValidationError" in str(answers.get(str(status), "HTTPValidationError")):
                    answers[str(status)] = problem_response(status)
    if "Problem" not in schemas:
        schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas["Problem"] = schema
    text = str(doc["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"/{unused}'" not in text:
            schemas.pop(unused, None)


def _needs_key(dependant: Dependant) -> bool:
    stack = [dependant]
    while stack:
        dep = stack.pop()
        if dep.call is authenticated:
            return True
        stack.extend(dep.dependencies)
    return False


def _errors(app: FastAPI) -> None:
    """Map every refusal to its answer, once: the type gives the status, ``reason`` the code."""

    async def refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)  # noqa: S101 - registered for Refusal only
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return _answer(exc.status, exc.reason, exc.detail, headers=headers)

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [_field(e) for e in exc.errors()]
        detail = (
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
            or "the request is invalid"
        )
        return _answer(422, "bad_request", detail, errors=errors)

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        if exc.status_code == 400:
            # a body that is not even text: invalid like any other body, so the declared 422
            detail = f"body: {exc.detail}"
            return _answer(422, "bad_request", detail, errors=[{"loc": ["body"], "msg": detail}])
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names the methods of the first route with this path only
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        reason = _FRAMEWORK.get(exc.status_code, "http_error")
        return _answer(exc.status_code, reason, str(exc.detail), headers=headers)

    async def unavailable(_: Request, exc: Exception) -> Response:
        return _answer(503, "database_unavailable", f"database unavailable: {type(exc).__name__}")

    async def unstorable(_: Request, __: Exception) -> Response:
        # PostgreSQL text cannot hold U+0000; whatever route tried to store one, the request
        # is what is wrong (its transaction rolled back, nothing was stored)
        detail = "a text field holds a NUL character (U+0000), which cannot be stored"
        return _answer(422, "bad_request", detail, errors=[{"loc": ["body"], "msg": detail}])

    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, unstorable)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, unstorable)
    app.add_exception_handler(Refusal, refused)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http)
    for transient in TRANSIENT:  # the database's trouble, not the request's: try again
        app.add_exception_handler(transient, unavailable)


class _HttpMetrics:
    """Counts requests and times them by route, as plain ASGI.

    Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) re-wraps every request and
    response in tasks and streams; measured, it cost more per booking than the route itself.
    """

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "pilotshare_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "pilotshare_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            if not path.endswith("/events"):  # streams would skew the latency histogram
                self.latency.labels(scope["method"], path).observe(time.perf_counter() - start)
            self.requests.labels(scope["method"], path, str(status)).inc()


def create_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool,
    clock: Clock,
    registry: CollectorRegistry,
    publisher: Publisher | None = None,
    mqtt: MqttEndpoint | None = None,
) -> FastAPI:
    """Build the API on an open pool; ``mqtt`` is the broker ``/readyz`` checks."""
    app = FastAPI(
        title="pilotshare",
        version=pilotshare.__version__,
        description="Shared pilot-line instruments: telemetry, live twin, bookings, forecasts.",
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.clock = clock
    app.state.registry = registry
    app.state.publisher = publisher
    app.state.mqtt = mqtt
    app.state.key_cache = KeyCache()
    app.state.booking_service = BookingService(
        pool,
        clock,
        booking_metrics(registry),
        max_gap=timedelta(seconds=settings.offline_after_s),
        grace=timedelta(seconds=settings.booking_grace_s),
        early=timedelta(seconds=settings.booking_early_s),
    )
    app.state.twin_events = events.TwinEvents(pool)
    app.state.public_gate = PublicGate(settings, clock, registry)
    _errors(app)
    app.add_middleware(_HttpMetrics, registry=registry)
    for router in ROUTERS:
        app.include_router(router)
    declare_problems(app)
    console.mount(app)
    return app
