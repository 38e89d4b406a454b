"""Typed dependencies: the pool, the clock, the registry and who is calling.

Everything a route needs arrives through ``Annotated`` dependencies, built from ``app.state``
at startup; nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from pilotshare.api.keys import KeyCache, Principal
from pilotshare.core.clock import Clock
from pilotshare.core.domain import Role
from pilotshare.core.messaging import Publisher
from pilotshare.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="an API key from `pilotshare keys create`")

# Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def``
# dependencies in a thread pool, a thread hop per dependency per request.


async def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def _registry(request: Request) -> CollectorRegistry:
    registry: CollectorRegistry = request.app.state.registry
    return registry


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _publisher(request: Request) -> Publisher | None:
    publisher: Publisher | None = request.app.state.publisher
    return publisher


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
ClockDep = Annotated[Clock, Depends(_clock)]
RegistryDep = Annotated[CollectorRegistry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PublisherDep = Annotated[Publisher | None, Depends(_publisher)]


async def authenticated(
    request: Request,
    pool: Pool,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's principal; 401 without a valid key."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    cache: KeyCache = request.app.state.key_cache
    principal = await cache.authenticate(pool, credentials.credentials, clock.monotonic())
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentKey = Annotated[Principal, Depends(authenticated)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting keys whose role is at least ``role`` (admin ⊇ planner ⊇ operator)."""

    async def check(principal: CurrentKey) -> Principal:
        if not principal.role.at_least(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs a {role.value} key or higher"
            )
        return principal

    return check


AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
PlannerKey = Annotated[Principal, Depends(require(Role.PLANNER))]
OperatorKey = Annotated[Principal, Depends(require(Role.OPERATOR))]
