"""Who may book what, and how much: qualifications (CONTRACT §3) and quotas.

Qualifications are the instrument's platform's to grant and revoke (its admins, or the network
operator's). Quotas limit an organisation's hours on every instrument of the network, so only
the network operator's admins set and drop them; an organisation reads its own."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from pilotshare import registry
from pilotshare.api.deps import (
    AdminKey,
    ClockDep,
    CurrentKey,
    NetworkAdminKey,
    Pool,
    actor,
    administers_instrument,
    own_organisation,
)
from pilotshare.api.schemas import Money, Slug, problems
from pilotshare.scheduler import store

router = APIRouter(tags=["access"])

Period = Literal["day", "week", "month"]
OrgPath = Annotated[Slug, Path(description="an organisation")]


class QualificationPublic(BaseModel):
    """An organisation qualified to book the instrument, since when."""

    org: str
    name: str
    granted_at: datetime


@router.get(
    "/api/v1/instruments/{instrument}/qualifications",
    response_model=list[QualificationPublic],
    responses=problems(401, 403, 404, 422),
)
async def list_qualifications(
    instrument: str, pool: Pool, principal: AdminKey
) -> list[QualificationPublic]:
    """The organisations qualified for an instrument (its platform's admins, or the
    network's): who its clients are is the platform's to know, not another's."""
    await administers_instrument(pool, principal, instrument)
    return [
        QualificationPublic(org=q.org, name=q.name, granted_at=q.granted_at)
        for q in await registry.qualifications(pool, instrument)
    ]


@router.put(
    "/api/v1/instruments/{instrument}/qualifications/{org}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def grant(
    instrument: str, org: OrgPath, pool: Pool, clock: ClockDep, principal: AdminKey
) -> Response:
    """Qualify an organisation to book an instrument that requires it (idempotent)."""
    await administers_instrument(pool, principal, instrument)
    async with pool.acquire() as conn:
        await registry.grant_qualification(
            conn, instrument, org, actor=actor(principal), at=clock.now()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/api/v1/instruments/{instrument}/qualifications/{org}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def revoke(
    instrument: str, org: OrgPath, pool: Pool, clock: ClockDep, principal: AdminKey
) -> Response:
    """Withdraw a qualification; existing bookings stay (cancel them if they must go)."""
    await administers_instrument(pool, principal, instrument)
    async with pool.acquire() as conn:
        await registry.revoke_qualification(
            conn, instrument, org, actor=actor(principal), at=clock.now()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class Quota(BaseModel):
    """At most ``max_hours`` of bookings starting in one UTC day, ISO week or month."""

    model_config = ConfigDict(extra="forbid")

    max_hours: Money = Field(ge=0, max_digits=10, decimal_places=2)


class QuotaPublic(Quota):
    """A quota and its period."""

    period: Period


@router.get(
    "/api/v1/organisations/{org}/quotas",
    response_model=list[QuotaPublic],
    responses=problems(401, 403, 404, 422),
)
async def list_quotas(org: OrgPath, pool: Pool, principal: CurrentKey) -> list[QuotaPublic]:
    """An organisation's quotas (your own, or any for the network operator's admins)."""
    own_organisation(principal, org)
    await registry.require_organisation(pool, org)
    limits = await store.quotas(pool, org)
    # stored with two decimals: the float's shortest text is the stored value
    return [
        QuotaPublic.model_validate({"period": period, "max_hours": Decimal(str(hours))})
        for period, hours in sorted(limits.items())
    ]


@router.put(
    "/api/v1/organisations/{org}/quotas/{period}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def set_quota(
    *,
    org: OrgPath,
    period: Period,
    body: Quota,
    pool: Pool,
    clock: ClockDep,
    principal: NetworkAdminKey,
) -> Response:
    """Set an organisation's quota for a period (network operator's admins); bookings past
    it are refused with 409."""
    async with pool.acquire() as conn:
        await store.set_quota(
            conn, org, period, body.max_hours, actor=actor(principal), at=clock.now()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/api/v1/organisations/{org}/quotas/{period}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def drop_quota(
    org: OrgPath, period: Period, pool: Pool, clock: ClockDep, principal: NetworkAdminKey
) -> Response:
    """Remove a quota (network operator's admins)."""
    await registry.require_organisation(pool, org)
    async with pool.acquire() as conn:
        await store.drop_quota(conn, org, period, actor=actor(principal), at=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
