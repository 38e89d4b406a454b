"""Monthly statements per organisation (JSON or CSV), with what vouchers paid of each line."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare import billing, registry
from pilotshare.api.deps import CurrentKey, Pool, own_organisation
from pilotshare.api.schemas import Money, Slug, problems

router = APIRouter(tags=["billing"])

OrgPath = Annotated[Slug, Path(description="an organisation")]


class LinePaid(BaseModel):
    """What one voucher paid of a line."""

    model_config = ConfigDict(from_attributes=True)

    voucher: int
    amount: Money


class StatementLine(BaseModel):
    """One billed booking, and what vouchers paid of it."""

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
    platform: str | None = Field(description="the organisation owning the instrument")
    paid: list[LinePaid] = Field(description="what each voucher paid, in the order they paid")
    vouchers: Money = Field(description="paid by vouchers of this line")
    due: Money = Field(description="left to pay of this line")


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
    """The monthly statement of your organisation (any organisation's, for an admin)."""
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
