"""Monthly statements per organisation (JSON or CSV) and service vouchers."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare import billing, registry
from pilotshare.api.deps import ClockDep, CurrentKey, NetworkAdminKey, Pool, own_organisation
from pilotshare.api.schemas import Money, Slug, problems

router = APIRouter(tags=["billing"])

OrgPath = Annotated[Slug, Path(description="an organisation")]


class StatementLine(BaseModel):
    """One billed booking."""

    model_config = ConfigDict(from_attributes=True)

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
    """A month's hours and charges on one instrument."""

    model_config = ConfigDict(from_attributes=True)

    instrument: str
    hours: Money
    amount: Money


class Statement(BaseModel):
    """A month's charges, what vouchers paid and what is due."""

    model_config = ConfigDict(from_attributes=True)

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
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problems(401, 403, 404, 422),
    },
)
async def get_statement(
    org: OrgPath,
    month: Annotated[
        str, Path(description="YYYY-MM (in each site's time zone)", examples=["2026-01"])
    ],
    pool: Pool,
    principal: CurrentKey,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Statement | Response:
    """The monthly statement of your organisation (any organisation's, for the network
    operator's admins)."""
    own_organisation(principal, org)
    await registry.require_organisation(pool, org)
    body = await billing.statement(pool, org, month)
    if fmt == "csv":
        return Response(
            billing.as_csv(body),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{org}-{month}.csv"'},
        )
    return Statement.model_validate(body)


class VoucherCreate(BaseModel):
    """A grant of voucher balance."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    note: str = Field(default="", max_length=500)


class VoucherPublic(BaseModel):
    """A voucher grant."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    org: str
    amount: Money
    note: str
    granted_at: AwareDatetime


class Vouchers(BaseModel):
    """An organisation's grants and what is left of them."""

    grants: list[VoucherPublic]
    balance: Money = Field(description="left after every statement up to this month")


@router.post(
    "/api/v1/organisations/{org}/vouchers",
    status_code=status.HTTP_201_CREATED,
    response_model=VoucherPublic,
    responses=problems(401, 403, 404, 422),
)
async def grant_voucher(
    org: OrgPath, body: VoucherCreate, pool: Pool, clock: ClockDep, _: NetworkAdminKey
) -> VoucherPublic:
    """Grant an organisation voucher balance that pays its statements, oldest first (the
    network operator's admins: the programme issues vouchers, platforms do not)."""
    async with pool.acquire() as conn:
        voucher = await billing.grant_voucher(conn, org, body.amount, body.note, clock.now())
    return VoucherPublic.model_validate(voucher)


@router.get(
    "/api/v1/organisations/{org}/vouchers",
    response_model=Vouchers,
    responses=problems(401, 403, 404, 422),
)
async def list_vouchers(
    org: OrgPath, pool: Pool, clock: ClockDep, principal: CurrentKey
) -> Vouchers:
    """Voucher grants and the balance left after this month's statement."""
    own_organisation(principal, org)
    await registry.require_organisation(pool, org)
    grants = await billing.vouchers(pool, org)
    balance = await billing.voucher_balance(pool, org, clock.now())
    return Vouchers(grants=[VoucherPublic.model_validate(g) for g in grants], balance=balance)
