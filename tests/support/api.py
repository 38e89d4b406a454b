"""The API as tests drive it: the real app on the test's pool, and key headers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import Clock, FakeClock
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


async def auth(pool: asyncpg.Pool, org: str, role: str) -> dict[str, str]:
    """Headers carrying a new key of ``role`` for ``org`` (created if new)."""
    async with pool.acquire() as conn:
        return {"Authorization": f"Bearer {await create_key(conn, org=org, role=role)}"}
