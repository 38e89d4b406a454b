"""Who may book what, and how much: qualifications (CONTRACT §3) and quotas (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from pilotshare.api.deps import AdminKey, CurrentKey, Pool
from pilotshare.api.schemas import Money, Problem, Slug
from pilotshare.core.domain import Role
from pilotshare.core.errors import NotFound
from pilotshare.registry import ensure_organisation, grant_qualification, require_instrument

router = APIRouter(tags=["access"])

Period = Literal["day", "week", "month"]
OrgPath = Annotated[Slug, Path(description="an organisation")]


@router.put(
    "/api/v1/instruments/{instrument}/qualifications/{org}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def grant(instrument: str, org: OrgPath, pool: Pool, _: AdminKey) -> Response:
    """Qualify an organisation to book an instrument that requires it (idempotent)."""
    async with pool.acquire() as conn, conn.transaction():
        await require_instrument(conn, instrument)
        await ensure_organisation(conn, org)
        await grant_qualification(conn, instrument, org)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/api/v1/instruments/{instrument}/qualifications/{org}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def revoke(instrument: str, org: OrgPath, pool: Pool, _: AdminKey) -> Response:
    """Withdraw a qualification; existing bookings stay (cancel them if they must go)."""
    await require_instrument(pool, instrument)
    await pool.execute(
        "DELETE FROM qualifications WHERE instrument_id = $1 AND org_id = $2", instrument, org
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class Quota(BaseModel):
    """At most ``max_hours`` of bookings starting in one UTC day, ISO week or month."""

    model_config = ConfigDict(extra="forbid")

    max_hours: Money = Field(ge=0, max_digits=10, decimal_places=2)


class QuotaPublic(Quota):
    period: Period


@router.get("/api/v1/organisations/{org}/quotas", response_model=list[QuotaPublic])
async def list_quotas(org: OrgPath, pool: Pool, principal: CurrentKey) -> Any:
    """An organisation's quotas (your own, or any for an admin)."""
    if principal.org != org and principal.role != Role.ADMIN:
        raise NotFound(f"no organisation {org!r}")
    rows = await pool.fetch(
        "SELECT period, max_hours FROM booking_quotas WHERE org_id = $1 ORDER BY period", org
    )
    return [{"period": r["period"], "max_hours": r["max_hours"]} for r in rows]


@router.put("/api/v1/organisations/{org}/quotas/{period}", status_code=status.HTTP_204_NO_CONTENT)
async def set_quota(org: OrgPath, period: Period, body: Quota, pool: Pool, _: AdminKey) -> Response:
    """Set an organisation's quota for a period; bookings past it are refused with 409."""
    async with pool.acquire() as conn, conn.transaction():
        await ensure_organisation(conn, org)
        await conn.execute(
            """INSERT INTO booking_quotas (org_id, period, max_hours) VALUES ($1, $2, $3)
               ON CONFLICT (org_id, period) DO UPDATE SET max_hours = EXCLUDED.max_hours""",
            org,
            period,
            body.max_hours,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/api/v1/organisations/{org}/quotas/{period}", status_code=status.HTTP_204_NO_CONTENT
)
async def drop_quota(org: OrgPath, period: Period, pool: Pool, _: AdminKey) -> Response:
    """Remove a quota."""
    await pool.execute("DELETE FROM booking_quotas WHERE org_id = $1 AND period = $2", org, period)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
