"""Who may book what, and how much: qualifications (CONTRACT §3) and quotas (admin)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from pilotshare import registry
from pilotshare.api.deps import AdminKey, CurrentKey, Pool, own_organisation
from pilotshare.api.schemas import Money, Slug, problems
from pilotshare.scheduler import store

router = APIRouter(tags=["access"])

Period = Literal["day", "week", "month"]
OrgPath = Annotated[Slug, Path(description="an organisation")]


@router.put(
    "/api/v1/instruments/{instrument}/qualifications/{org}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def grant(instrument: str, org: OrgPath, pool: Pool, _: AdminKey) -> Response:
    """Qualify an organisation to book an instrument that requires it (idempotent)."""
    async with pool.acquire() as conn:
        await registry.grant_qualification(conn, instrument, org)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/api/v1/instruments/{instrument}/qualifications/{org}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def revoke(instrument: str, org: OrgPath, pool: Pool, _: AdminKey) -> Response:
    """Withdraw a qualification; existing bookings stay (cancel them if they must go)."""
    await registry.revoke_qualification(pool, instrument, org)
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
    """An organisation's quotas (your own, or any for an admin)."""
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
async def set_quota(org: OrgPath, period: Period, body: Quota, pool: Pool, _: AdminKey) -> Response:
    """Set an organisation's quota for a period; bookings past it are refused with 409."""
    async with pool.acquire() as conn:
        await store.set_quota(conn, org, period, body.max_hours)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/api/v1/organisations/{org}/quotas/{period}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def drop_quota(org: OrgPath, period: Period, pool: Pool, _: AdminKey) -> Response:
    """Remove a quota."""
    await registry.require_organisation(pool, org)
    await store.drop_quota(pool, org, period)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
