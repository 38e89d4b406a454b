"""The API as tests drive it: the real app on the test's pool, and key headers.

Also a plugin of the suite (``tests/conftest.py``): the fixtures ``client`` (the app on the
module's ``clock`` fixture) and ``admin``, ``acme``, ``globex`` (a platform admin and the two
operator organisations of the tenancy tests); a module defining its own of the same name keeps
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import Clock, FakeClock
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import Settings


@contextlib.asynccontextmanager
async def api_client(
    pool: asyncpg.Pool,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    settings: Settings | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests the app answers in-process (no socket)."""
    app = create_app(
        settings or Settings(),
        pool=pool,
        clock=clock or FakeClock(),
        registry=registry or CollectorRegistry(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=timeout) as c:
        yield c


@contextlib.asynccontextmanager
async def served(pool: asyncpg.Pool, clock: Clock) -> AsyncIterator[str]:
    """The app on a real socket (an event stream needs one): its base URL while it runs."""
    import uvicorn

    app = create_app(Settings(), pool=pool, clock=clock, registry=CollectorRegistry())
    port = free_port()
    config = uvicorn.Config(
        app, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
    )
    running = uvicorn.Server(config)
    serving = asyncio.create_task(running.serve())
    try:
        while not running.started:
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        await serving


async def auth(pool: asyncpg.Pool, org: str, role: str) -> dict[str, str]:
    """Headers carrying a new key of ``role`` for ``org`` (created if new)."""
    async with pool.acquire() as conn:
        return {"Authorization": f"Bearer {await create_key(conn, org=org, role=role)}"}


def iso(t: datetime) -> str:
    """``t`` as the API writes it (UTC with ``Z``)."""
    return t.isoformat().replace("+00:00", "Z")


async def book(client: httpx.AsyncClient, who: dict[str, str], **body: Any) -> httpx.Response:
    """POST a booking as ``who``; ``start``, ``end``, ``earliest``, ``latest`` may be datetimes."""
    for name in ("start", "end", "earliest", "latest"):
        if isinstance(body.get(name), datetime):
            body[name] = iso(body[name])
    return await client.post("/api/v1/bookings", json=body, headers=who)


@pytest.fixture
async def client(pool: asyncpg.Pool, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the module's ``clock``."""
    async with api_client(pool, clock=clock) as c:
        yield c


@pytest.fixture
async def admin(pool: asyncpg.Pool) -> dict[str, str]:
    """A platform admin's key headers."""
    return await auth(pool, "platform", "admin")


@pytest.fixture
async def acme(pool: asyncpg.Pool) -> dict[str, str]:
    """An operator key of ``acme``, one of the two tenants."""
    return await auth(pool, "acme", "operator")


@pytest.fixture
async def globex(pool: asyncpg.Pool) -> dict[str, str]:
    """An operator key of ``globex``, the other tenant."""
    return await auth(pool, "globex", "operator")


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """The events of an open ``GET /api/v1/events`` stream as ``(kind, data)``, data parsed."""
    kind = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])
