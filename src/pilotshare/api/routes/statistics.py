"""Open service statistics and the ranking: public per platform, in detail for admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from pilotshare import registry
from pilotshare.api.deps import AdminKey, ClockDep, Pool, SettingsDep, administers
from pilotshare.api.gate import Public
from pilotshare.api.routes.public import LIMITED
from pilotshare.api.schemas import Money, Slug, problems
from pilotshare.core.settings import Settings
from pilotshare.network.statistics.ranking import Placed
from pilotshare.network.statistics.service import (
    MonthStatistics,
    PlatformFigures,
    as_csv,
    method_of,
    month_statistics,
)

router = APIRouter(tags=["statistics"])

Period = Annotated[
    str, Query(description="YYYY-MM, cut in each site's time zone", examples=["2026-11"])
]
Format = Annotated[Literal["json", "csv"], Query(alias="format")]
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


class PlatformStatistics(BaseModel):
    """One platform's month (docs/network.md defines each figure); counts only, no clients."""

    platform: str
    name_zh: str
    name_en: str
    instruments: int
    utilisation: float | None = Field(
        description="running + setup hours over open hours, from the hourly telemetry"
    )
    hours_served: Money = Field(description="billed hours of its due bookings")
    clients_served: int = Field(description="distinct organisations served")
    bookings: int = Field(description="bookings whose start + grace passed in the month")
    on_time_share: float | None
    no_show_share: float | None
    cancellation_share: float | None
    median_wait_hours: float | None = Field(
        description="to the first free slot of a typical request, sampled daily at 10:00"
    )
    response_hours: float | None = Field(
        description="median time from a request to the platform's first offer"
    )
    voucher_redemptions: Money | None = Field(description="what vouchers paid (CNY)")
    score: float | None = Field(description="0-1; null: not ranked")
    rank: int | None
    outstanding: bool = Field(description="on the published list (服务能力突出的平台名单)")
    unranked_reason: str | None = Field(description="too_few_bookings, or null when ranked")


class InstrumentStatistics(BaseModel):
    """One instrument's month (admins)."""

    instrument: str
    kind: str
    utilisation: float | None
    in_use_hours: float
    open_hours: float
    bookings: int
    hours_served: Money
    no_shows: int
    cancellations: int


class PlatformDetail(PlatformStatistics):
    """A platform's month with its instruments."""

    per_instrument: list[InstrumentStatistics]


class Method(BaseModel):
    """How the ranking was made (configured: ``PILOTSHARE_RANKING_*``)."""

    weights: dict[str, float] = Field(description="the figures weighed and their weights")
    dropped: list[str] = Field(description="figures not weighed: weight 0 or never measured")
    min_bookings: int
    top: int
    threshold: float
    utilisation_target: float
    outstanding: list[str] = Field(description="the published list, best first")


class StatisticsPublic(BaseModel):
    """A month's open statistics and ranking."""

    period: str
    platforms: list[PlatformStatistics]
    ranking: Method


class StatisticsDetail(BaseModel):
    """A month's statistics as an admin sees them."""

    period: str
    platforms: list[PlatformDetail]
    ranking: Method


def _row(p: PlatformFigures, placed: Placed) -> dict[str, object]:
    return {
        "platform": p.platform,
        "name_zh": p.name_zh,
        "name_en": p.name_en,
        "instruments": p.instruments,
        "utilisation": p.utilisation,
        "hours_served": p.hours_served,
        "clients_served": p.clients_served,
        "bookings": p.bookings,
        "on_time_share": p.on_time_share,
        "no_show_share": p.no_show_share,
        "cancellation_share": p.cancellation_share,
        "median_wait_hours": p.median_wait_hours,
        "response_hours": p.response_hours,
        "voucher_redemptions": p.voucher_redemptions,
        "score": placed.score,
        "rank": placed.rank,
        "outstanding": placed.outstanding,
        "unranked_reason": placed.reason,
    }


def _method(stats: MonthStatistics, settings: Settings) -> Method:
    m = method_of(settings)
    return Method(
        weights=stats.ranking.weights,
        dropped=stats.ranking.dropped,
        min_bookings=m.min_bookings,
        top=m.top,
        threshold=m.threshold,
        utilisation_target=m.utilisation_target,
        outstanding=stats.ranking.outstanding,
    )


def _ordered(stats: MonthStatistics) -> list[tuple[PlatformFigures, Placed]]:
    by_id = {p.platform: p for p in stats.platforms}
    return [(by_id[x.platform], x) for x in stats.ranking.placed]


def _csv(stats: MonthStatistics, name: str) -> Response:
    return Response(
        as_csv(stats),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stats.month}.csv"'},
    )


@router.get(
    "/api/v1/public/statistics",
    response_model=StatisticsPublic,
    responses={**_CSV, **LIMITED},
)
async def public_statistics(
    period: Period,
    *,
    public: Public,
    pool: Pool,
    clock: ClockDep,
    settings: SettingsDep,
    fmt: Format = "json",
) -> Response:
    """Every public platform's figures of the month and the published ranking (no key;
    rate-limited and cached as every public route)."""

    async def stats() -> MonthStatistics:
        return await month_statistics(
            pool,
            period,
            clock.now(),
            grace=_grace(settings),
            method=method_of(settings),
            public_only=True,
        )

    if fmt == "csv":

        async def csv() -> bytes:
            return as_csv(await stats()).encode()

        answer = await public.body(csv, "text/csv")
        answer.headers["Content-Disposition"] = f'attachment; filename="statistics-{period}.csv"'
        return answer

    async def body() -> StatisticsPublic:
        found = await stats()
        return StatisticsPublic(
            period=found.month,
            platforms=[PlatformStatistics.model_validate(_row(p, x)) for p, x in _ordered(found)],
            ranking=_method(found, settings),
        )

    return await public.answer(body)


@router.get(
    "/api/v1/statistics",
    response_model=StatisticsDetail,
    responses={**_CSV, **problems(401, 403, 404, 422)},
)
async def statistics(
    period: Period,
    *,
    pool: Pool,
    clock: ClockDep,
    settings: SettingsDep,
    principal: AdminKey,
    platform: Annotated[
        Slug | None, Query(description="one platform; default: your own (network admin: all)")
    ] = None,
    fmt: Format = "json",
) -> StatisticsDetail | Response:
    """The month's statistics with each instrument's, for a platform's admins (their own
    platform) and the network operator's (any, or all); ranks are among all platforms."""
    chosen = platform or (None if principal.network else principal.org)
    if chosen is not None:
        await registry.require_organisation(pool, chosen)
        administers(principal, chosen, "this platform's statistics")
    stats = await month_statistics(
        pool,
        period,
        clock.now(),
        grace=_grace(settings),
        method=method_of(settings),
        platform=chosen,
    )
    if fmt == "csv":
        return _csv(stats, chosen or "statistics")
    return StatisticsDetail(
        period=stats.month,
        platforms=[
            PlatformDetail.model_validate(
                {
                    **_row(p, x),
                    "per_instrument": [
                        InstrumentStatistics.model_validate(i, from_attributes=True)
                        for i in p.per_instrument
                    ],
                }
            )
            for p, x in _ordered(stats)
        ],
        ranking=_method(stats, settings),
    )


def _grace(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.booking_grace_s)
