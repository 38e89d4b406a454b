"""Vouchers of the city's programme (中试服务券, 检验检测服务券): issued by the network
operator to a client, redeemed line by line on its statements, and the programme's report."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare import billing, registry
from pilotshare.api.deps import (
    ClockDep,
    CurrentKey,
    NetworkAdminKey,
    Pool,
    actor,
    own_organisation,
)
from pilotshare.api.schemas import Money, Slug, problems
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.core.scope import require_visible

router = APIRouter(tags=["billing"])

OrgPath = Annotated[Slug, Path(description="an organisation (the client)")]
VoucherPath = Annotated[int, Path(description="a voucher's id", ge=1)]
Month = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-01"])]
Format = Annotated[Literal["json", "csv"], Query(alias="format")]


class VoucherCreate(BaseModel):
    """A voucher to issue; ``{"amount","note"}`` alone is share 1, no expiry, any scope."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2, description="face value, CNY")
    note: str = Field(default="", max_length=500)
    programme: billing.Programme = Field(
        default="pilot", description="pilot: 中试服务券; testing: 检验检测服务券"
    )
    share: Decimal = Field(
        default=Decimal(1), gt=0, le=1, decimal_places=4, description="paid at most of each line"
    )
    cap: Decimal | None = Field(
        default=None,
        gt=0,
        max_digits=12,
        decimal_places=2,
        description="paid at most of any one line (default: the face value)",
    )
    valid_from: date | None = Field(default=None, description="first day (each site's zone)")
    valid_until: date | None = Field(default=None, description="last day (each site's zone)")
    platforms: list[Slug] = Field(default=[], max_length=100, description="empty: any")
    kinds: list[Slug] = Field(default=[], max_length=100, description="instrument kinds")
    service_items: list[Slug] = Field(default=[], max_length=100)


class VoucherEdit(BaseModel):
    """What may change of an issued voucher: its terms are fixed (statements depend on them)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(max_length=500)


class VoucherPublic(BaseModel):
    """A voucher as issued."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    org: str = Field(description="the client")
    amount: Money = Field(description="face value, CNY")
    note: str
    granted_at: AwareDatetime = Field(description="issued at")
    programme: Literal["pilot", "testing"]
    share: Money
    cap: Money | None
    valid_from: date | None
    valid_until: date | None
    platforms: list[str]
    kinds: list[str]
    service_items: list[str]
    revoked_at: AwareDatetime | None


class VoucherAccount(VoucherPublic):
    """A voucher with its figures now: amount = redeemed + lapsed + remaining."""

    status: billing.Status
    redeemed: Money
    lapsed: Money
    remaining: Money

    @classmethod
    def of(cls, account: billing.Account, **extra: object) -> Self:
        """The answer for one account (``extra``: a subclass's fields)."""
        return cls.model_validate(
            {
                **VoucherPublic.model_validate(account.voucher).model_dump(),
                "status": account.status,
                "redeemed": account.redeemed,
                "lapsed": account.lapsed,
                "remaining": account.remaining,
                **extra,
            }
        )


class Redemption(BaseModel):
    """One statement line a voucher paid of."""

    model_config = ConfigDict(from_attributes=True)

    booking: str
    instrument: str
    platform: str | None
    start: AwareDatetime
    month: str
    amount: Money


class AuditLine(BaseModel):
    """One audited change of a voucher."""

    model_config = ConfigDict(from_attributes=True)

    at: AwareDatetime
    actor_org: str | None
    actor_key: str | None
    action: str
    before: Any
    after: Any


class VoucherDetail(VoucherAccount):
    """A voucher, its figures, the lines it paid and (network operator) its audit lines."""

    redemptions: list[Redemption]
    audit: list[AuditLine] = Field(description="newest first; the network operator's only")


class Vouchers(BaseModel):
    """An organisation's vouchers and what is left of them."""

    grants: list[VoucherPublic]
    balance: Money = Field(description="left after every statement up to this month")


class Figures(BaseModel):
    """issued = redeemed + lapsed + remaining; redeemed_in_period: of the period's lines."""

    issued: Money
    redeemed: Money
    redeemed_in_period: Money
    lapsed: Money
    remaining: Money

    @classmethod
    def of(cls, f: billing.Figures) -> Figures:
        """From billing's figures."""
        return cls(
            issued=f.issued,
            redeemed=f.redeemed,
            redeemed_in_period=f.in_period,
            lapsed=f.lapsed,
            remaining=f.remaining,
        )


class ReportVoucher(Figures):
    """One voucher's figures in the report."""

    id: int
    client: str
    programme: str
    status: str


class ReportClient(Figures):
    """One client's vouchers together."""

    client: str


class ReportPlatform(BaseModel):
    """What vouchers paid of one platform's lines."""

    platform: str
    redeemed: Money
    redeemed_in_period: Money


class VoucherReport(BaseModel):
    """The programme's accounts of its vouchers for the months ``from``..``to``."""

    model_config = ConfigDict(populate_by_name=True)

    first: str = Field(alias="from")
    last: str = Field(alias="to")
    as_of: AwareDatetime
    vouchers: list[ReportVoucher]
    clients: list[ReportClient]
    platforms: list[ReportPlatform]
    total: Figures


def _report(body: billing.Report) -> VoucherReport:
    return VoucherReport(
        first=body.first,
        last=body.last,
        as_of=body.as_of,
        vouchers=[
            ReportVoucher(
                id=r.voucher.id,
                client=r.voucher.org,
                programme=r.voucher.programme,
                status=r.status,
                **Figures.of(r.figures).model_dump(),
            )
            for r in body.vouchers
        ],
        clients=[
            ReportClient(client=c, **Figures.of(f).model_dump()) for c, f in body.clients.items()
        ],
        platforms=[
            ReportPlatform(platform=p, redeemed=f.redeemed, redeemed_in_period=f.in_period)
            for p, f in body.platforms.items()
        ],
        total=Figures.of(body.total),
    )


@router.post(
    "/api/v1/organisations/{org}/vouchers",
    status_code=status.HTTP_201_CREATED,
    response_model=VoucherPublic,
    responses=problems(401, 403, 404, 422),
)
async def grant_voucher(
    org: OrgPath, body: VoucherCreate, pool: Pool, clock: ClockDep, principal: NetworkAdminKey
) -> VoucherPublic:
    """Issue a client a voucher that pays its statements' lines (the network operator's
    admins)."""
    async with pool.acquire() as conn:
        voucher = await billing.grant_voucher(
            conn,
            org,
            body.amount,
            body.note,
            clock.now(),
            actor=actor(principal),
            programme=body.programme,
            share=body.share,
            cap=body.cap,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
            platforms=body.platforms,
            kinds=body.kinds,
            service_items=body.service_items,
        )
    return VoucherPublic.model_validate(voucher)


@router.get(
    "/api/v1/organisations/{org}/vouchers",
    response_model=Vouchers,
    responses=problems(401, 403, 404, 422),
)
async def list_vouchers(
    org: OrgPath, pool: Pool, clock: ClockDep, principal: CurrentKey
) -> Vouchers:
    """An organisation's vouchers and the balance left after this month's statement."""
    own_organisation(principal, org)
    await registry.require_organisation(pool, org)
    grants = await billing.vouchers(pool, org)
    balance = await billing.voucher_balance(pool, org, clock.now())
    return Vouchers(grants=[VoucherPublic.model_validate(g) for g in grants], balance=balance)


@router.get(
    "/api/v1/vouchers",
    response_model=list[VoucherAccount],
    responses=problems(401, 403, 404, 422),
)
async def find_vouchers(
    *,
    pool: Pool,
    clock: ClockDep,
    principal: CurrentKey,
    client: Annotated[Slug | None, Query(description="one client's")] = None,
    platform: Annotated[Slug | None, Query(description="that may pay its lines")] = None,
    voucher_status: Annotated[billing.Status | None, Query(alias="status")] = None,
) -> list[VoucherAccount]:
    """Vouchers with their figures, oldest first: every one for the network operator, your
    organisation's for anyone else."""
    if not principal.network:
        own_organisation(principal, client or principal.org)
        client = principal.org
    for named in (client, platform):
        if named is not None:
            await registry.require_organisation(pool, named)
    found = await billing.voucher_accounts(
        pool, clock.now(), client=client, platform=platform, status=voucher_status
    )
    return [VoucherAccount.of(a) for a in found]


@router.get(
    "/api/v1/vouchers/report",
    response_model=VoucherReport,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problems(401, 403, 422),
    },
)
async def voucher_report(
    *,
    pool: Pool,
    clock: ClockDep,
    _: NetworkAdminKey,
    period: Annotated[str | None, Query(description="one month, YYYY-MM")] = None,
    first: Annotated[str | None, Query(alias="from", description="first month")] = None,
    last: Annotated[str | None, Query(alias="to", description="last month")] = None,
    fmt: Format = "json",
) -> VoucherReport | Response:
    """Issued, redeemed, lapsed and remaining per voucher, by client and by platform, for the
    programme's accounts (the network operator's admins; ``?format=csv`` for CSV)."""
    if period is not None and (first or last):
        raise BadInput("bad_query", "give either 'period' or 'from' and 'to'")
    first, last = (period, period) if period is not None else (first, last or first)
    if first is None or last is None:
        raise BadInput("bad_query", "give 'period' (YYYY-MM) or 'from' and 'to'")
    body = await billing.voucher_report(pool, first, last, clock.now())
    if fmt == "csv":
        return Response(
            billing.report_csv(body),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="vouchers-{first}-{last}.csv"'},
        )
    return _report(body)


@router.get(
    "/api/v1/vouchers/{voucher_id:int}",
    response_model=VoucherDetail,
    responses=problems(401, 404, 422),
)
async def get_voucher(
    voucher_id: VoucherPath, pool: Pool, clock: ClockDep, principal: CurrentKey
) -> VoucherDetail:
    """One voucher, its figures and the lines it paid (its client's, or the network
    operator's, who also sees its audit lines)."""
    voucher = await billing.voucher(pool, voucher_id)
    require_visible(
        voucher,
        voucher.org,
        org=principal.org,
        admin=principal.network,
        missing=NotFound("no_voucher", f"no voucher {voucher_id}"),
    )
    account = await billing.voucher_account(pool, voucher_id, clock.now())
    audit = await billing.voucher_audit(pool, voucher_id) if principal.network else []
    return VoucherDetail.of(
        account,
        redemptions=[Redemption.model_validate(u) for u in account.uses],
        audit=[AuditLine.model_validate(e) for e in audit],
    )


@router.patch(
    "/api/v1/vouchers/{voucher_id:int}",
    response_model=VoucherPublic,
    responses=problems(401, 403, 404, 422),
)
async def edit_voucher(
    voucher_id: VoucherPath,
    body: VoucherEdit,
    pool: Pool,
    clock: ClockDep,
    principal: NetworkAdminKey,
) -> VoucherPublic:
    """Change a voucher's note (the network operator's admins); its terms stay."""
    async with pool.acquire() as conn:
        voucher = await billing.edit_voucher(
            conn, voucher_id, body.note, actor(principal), clock.now()
        )
    return VoucherPublic.model_validate(voucher)


@router.post(
    "/api/v1/vouchers/{voucher_id:int}/revoke",
    response_model=VoucherPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def revoke_voucher(
    voucher_id: VoucherPath, pool: Pool, clock: ClockDep, principal: NetworkAdminKey
) -> VoucherPublic:
    """Revoke a voucher (the network operator's admins): it pays nothing of bookings starting
    from now on; what it paid stays."""
    async with pool.acquire() as conn:
        voucher = await billing.revoke_voucher(conn, voucher_id, actor(principal), clock.now())
    return VoucherPublic.model_validate(voucher)
