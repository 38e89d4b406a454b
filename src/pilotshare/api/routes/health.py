"""Liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from pilotshare.api.deps import Pool, RegistryDep
from pilotshare.core.db import ping
from pilotshare.core.probe import reachable

router = APIRouter(tags=["health"])


class Alive(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the database and the broker are reachable (each ``ok`` or why not)."""

    status: Literal["ok", "unavailable"]
    database: str = Field(examples=["ok", "unreachable: ConnectionRefusedError"])
    broker: str = Field(examples=["ok", "unreachable"])


@router.get("/healthz", response_model=Alive)
async def healthz() -> Alive:
    """The process answers."""
    return Alive(status="ok")


async def _broker_reachable(request: Request) -> bool:
    endpoint = request.app.state.mqtt
    return endpoint is None or await reachable(endpoint.host, endpoint.port)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is unreachable"}},
)
async def readyz(request: Request, pool: Pool) -> JSONResponse:
    """200 when the database and the broker are reachable, else 503 naming what is not."""
    try:
        await asyncio.wait_for(ping(pool), timeout=2)
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        database = f"unreachable: {type(exc).__name__}"
    broker = "ok" if await _broker_reachable(request) else "unreachable"
    ok = database == broker == "ok"
    body = Readiness(status="ok" if ok else "unavailable", database=database, broker=broker)
    return JSONResponse(body.model_dump(), 200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(registry: RegistryDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
