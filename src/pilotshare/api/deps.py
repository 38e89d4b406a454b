"""Typed dependencies: the pool, the clock, the Prometheus registry and who is calling.

Everything a route needs arrives through ``Annotated`` dependencies, built from ``app.state``
at startup; nothing is created at import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from pilotshare import registry
from pilotshare.api.keys import KeyCache, Principal
from pilotshare.core.audit import Actor
from pilotshare.core.clock import Clock
from pilotshare.core.domain import Role
from pilotshare.core.errors import Forbidden, NotFound, Unauthorized
from pilotshare.core.scope import may_administer, may_see
from pilotshare.core.settings import Settings
from pilotshare.scheduler.service import BookingService, Caller

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


async def _bookings(request: Request) -> BookingService:
    service: BookingService = request.app.state.booking_service
    return service


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
ClockDep = Annotated[Clock, Depends(_clock)]
RegistryDep = Annotated[CollectorRegistry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
BookingsDep = Annotated[BookingService, Depends(_bookings)]


async def authenticated(
    request: Request,
    pool: Pool,
    clock: ClockDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's principal (``network`` set for the network operator's admins); 401
    without a valid key."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("no_key", "missing API key: send 'Authorization: Bearer <key>'")
    cache: KeyCache = request.app.state.key_cache
    now = clock.now()
    principal = await cache.authenticate(pool, credentials.credentials, clock.monotonic(), now)
    if principal is None:
        raise Unauthorized("bad_key", "unknown or revoked API key")
    if principal.expired(now):
        raise Unauthorized("expired_key", "this API key has expired")
    if principal.admin and principal.org == settings.operator_org:
        return dataclasses.replace(principal, network=True)
    return principal


CurrentKey = Annotated[Principal, Depends(authenticated)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting keys whose role is at least ``role`` (admin ⊇ planner ⊇ operator)."""

    async def check(principal: CurrentKey) -> Principal:
        if not principal.role.at_least(role):
            raise Forbidden("forbidden_role", f"this needs a {role.value} key or higher")
        return principal

    return check


AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
PlannerKey = Annotated[Principal, Depends(require(Role.PLANNER))]
OperatorKey = Annotated[Principal, Depends(require(Role.OPERATOR))]


async def _network_admin(principal: CurrentKey, settings: SettingsDep) -> Principal:
    if not principal.network:
        raise Forbidden(
            "not_network_admin",
            f"this needs an admin key of the network operator {settings.operator_org!r}",
        )
    return principal


NetworkAdminKey = Annotated[Principal, Depends(_network_admin)]


def caller(principal: Principal) -> Caller:
    """The scheduler's view of who asks (``admin``: sees and acts for every organisation;
    ``platform_admin``: also for the bookings on its organisation's instruments)."""
    return Caller(principal.org, principal.network, principal.key_id, principal.admin)


def actor(principal: Principal) -> Actor:
    """The audit log's view of who asks."""
    return Actor(principal.org, principal.key_id)


def own_organisation(principal: Principal, org: str) -> None:
    """``NotFound`` unless ``org`` is the caller's own organisation or the caller is the
    network operator's admin: another organisation is invisible, not forbidden."""
    if not may_see(org, org=principal.org, admin=principal.network):
        raise NotFound("no_organisation", f"no organisation {org!r}")


def administers(principal: Principal, owner: str | None, what: str) -> None:
    """``Forbidden`` unless the caller may administer a thing owned by ``owner`` (``what``
    names it in the answer): the network operator's admins everything, a platform's admins
    their platform's things (``core.scope.may_administer``)."""
    if not may_administer(
        owner, org=principal.org, admin=principal.admin, network=principal.network
    ):
        raise Forbidden(
            "not_owner",
            f"{what} belongs to another platform: its admins or the network operator's may",
        )


async def administers_instrument(pool: asyncpg.Pool, principal: Principal, instrument: str) -> None:
    """``NotFound`` for an unknown instrument; ``Forbidden`` (``not_owner``) unless the caller
    administers it: the network operator's admins, or the admins of the platform owning it.
    Every route changing an instrument, its closures or qualifications asks this."""
    owner = await registry.instrument_owner(pool, instrument)
    administers(principal, owner, f"instrument {instrument!r}")


def owner_of_new(principal: Principal, owner: str | None) -> str | None:
    """The owner of an instrument ``principal`` registers: a platform's admin registers for
    its own platform (the default; another owner is ``Forbidden``), the network operator's
    admins for anyone (or no one)."""
    if principal.network:
        return owner
    administers(principal, owner or principal.org, "the new instrument")
    return principal.org
