"""Monthly statements per organisation (JSON or CSV) and service vouchers."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare.api.deps import AdminKey, ClockDep, CurrentKey, Pool
from pilotshare.api.keys import Principal
from pilotshare.api.schemas import Money, Problem, Slug
from pilotshare.billing import statements as billing
from pilotshare.core.domain import Role
from pilotshare.core.errors import NotFound
from pilotshare.registry import ensure_organisation

router = APIRouter(tags=["billing"])

OrgPath = Annotated[Slug, Path(description="an organisation")]


def _own(principal: Principal, org: str) -> None:
    if principal.org != org and principal.role != Role.ADMIN:
        raise NotFound(f"no organisation {org!r}")


class StatementLine(BaseModel):
    booking: str
    instrument: str
    start: AwareDatetime
    end: AwareDatetime
    status: str
    billing: Literal["booked", "measured"]
    hours: Money
    rate: Money
    amount: Money
    final: bool = Field(description="false while the booking has not ended")


class InstrumentTotal(BaseModel):
    instrument: str
    hours: Money
    amount: Money


class Statement(BaseModel):
    """A month's charges, what vouchers paid and what is due."""

    org: str
    month: str
    lines: list[StatementLine]
    instruments: list[InstrumentTotal]
    total: Money
    vouchers: Money
    due: Money
    voucher_balance: Money = Field(description="left after this month")
    final: bool


@router.get(
    "/api/v1/statements/{org}/{month}",
    response_model=Statement,
    responses={
        200: {"content": {"text/csv": {}}},
        404: {"model": Problem},
        422: {"model": Problem},
    },
)
async def get_statement(
    org: OrgPath,
    month: Annotated[str, Path(description="YYYY-MM (UTC)", examples=["2026-01"])],
    pool: Pool,
    principal: CurrentKey,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """The monthly statement of your organisation (any organisation's, for an admin)."""
    _own(principal, org)
    body = await billing.statement(pool, org, month)
    if format == "csv":
        return Response(
            billing.as_csv(body),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{org}-{month}.csv"'},
        )
    return body


class VoucherCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    note: str = Field(default="", max_length=500)


class VoucherPublic(BaseModel):
    id: int
    org: str
    amount: Money
    note: str
    granted_at: AwareDatetime


class Vouchers(BaseModel):
    grants: list[VoucherPublic]
    balance: Money = Field(description="left after every statement up to this month")


@router.post(
    "/api/v1/organisations/{org}/vouchers",
    status_code=status.HTTP_201_CREATED,
    response_model=VoucherPublic,
)
async def grant_voucher(
    org: OrgPath, body: VoucherCreate, pool: Pool, clock: ClockDep, _: AdminKey
) -> Any:
    """Grant an organisation voucher balance that pays its statements, oldest first (admin)."""
    async with pool.acquire() as conn, conn.transaction():
        await ensure_organisation(conn, org)
        row = await conn.fetchrow(
            "INSERT INTO vouchers (org_id, amount, note, granted_at) VALUES ($1, $2, $3, $4) "
            "RETURNING id, org_id, amount, note, granted_at",
            org,
            body.amount,
            body.note,
            clock.now(),
        )
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    return {**dict(row), "org": row["org_id"]}


@router.get("/api/v1/organisations/{org}/vouchers", response_model=Vouchers)
async def list_vouchers(org: OrgPath, pool: Pool, clock: ClockDep, principal: CurrentKey) -> Any:
    """Voucher grants and the balance left after this month's statement."""
    _own(principal, org)
    rows = await pool.fetch(
        "SELECT id, org_id, amount, note, granted_at FROM vouchers WHERE org_id = $1 "
        "ORDER BY granted_at, id",
        org,
    )
    now = clock.now()
    current = await billing.statement(pool, org, f"{now.year:04d}-{now.month:02d}")
    return {
        "grants": [{**dict(r), "org": r["org_id"]} for r in rows],
        "balance": current["voucher_balance"],
    }
