"""Liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pilotshare.api.deps import Pool, RegistryDep
from pilotshare.core.probe import reachable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


async def _broker_reachable(request: Request) -> bool:
    endpoint = request.app.state.mqtt
    return endpoint is None or await reachable(endpoint.host, endpoint.port)


@router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
async def readyz(request: Request, pool: Pool) -> JSONResponse:
    """200 when the database and the broker are reachable, else 503 naming what is not."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), timeout=2)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"unreachable: {type(exc).__name__}"
    checks["broker"] = "ok" if await _broker_reachable(request) else "unreachable"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, 200 if ok else 503)


@router.get("/metrics", response_class=Response)
async def metrics(registry: RegistryDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
