"""The API as an ASGI factory for benchmarks that drive uvicorn worker processes.

BENCH_DATABASE_URL=postgresql://… uvicorn --factory benchmarks.booking_app:app --workers 2
(or ``serve(url, workers=2, port=…)`` from a benchmark).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.core.clock import SystemClock
from pilotshare.core.db.pool import create_pool
from pilotshare.core.settings import Settings


def app() -> FastAPI:
    """An app whose pool opens in the worker's own event loop."""
    holder: dict[str, FastAPI] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(os.environ["BENCH_DATABASE_URL"], min_size=4, max_size=20)
        inner = create_app(Settings(), pool=pool, clock=SystemClock(), registry=CollectorRegistry())
        holder["app"] = inner
        try:
            yield
        finally:
            await pool.close()

    outer = FastAPI(lifespan=lifespan)
    outer.mount("/", _Lazy(holder))
    return outer


class _Lazy:
    """Forwards to the app built at startup."""

    def __init__(self, holder: dict[str, FastAPI]) -> None:
        self._holder = holder

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        await self._holder["app"](scope, receive, send)


def serve(url: str, *, workers: int, port: int) -> subprocess.Popen[bytes]:
    """Start ``workers`` uvicorn processes serving the API on ``url``'s database."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.booking_app:app",
            "--workers",
            str(workers),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, "BENCH_DATABASE_URL": url},
        cwd=Path(__file__).parent.parent,
    )
