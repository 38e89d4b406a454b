"""A month's open statistics: load the rows, compute each platform's figures, rank them.

The figures are ``figures``' (pure), the ranking ``ranking``'s (pure); here they meet the
database: ``store`` for instruments, bookings and request responses, the scheduler's
``store.busy`` for the closures (maintenance windows and blackouts, which close the
instrument: out of its open hours and its free time), ``twin.history`` for the hourly
telemetry buckets (the ``/telemetry`` endpoint's own reading), ``billing`` for billed
hours and what vouchers paid (``billing.redeemed_by_platform``). Nothing is stored: the same
month and clock give the same answer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import asyncpg

from pilotshare import billing
from pilotshare.core.db import Executor
from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.core.periods import month_bounds, month_of
from pilotshare.core.settings import Settings
from pilotshare.network.statistics import store
from pilotshare.network.statistics.figures import (
    HOUR,
    WAIT_HORIZON,
    BookingRow,
    InstrumentRow,
    Span,
    Window,
    booking_figures,
    due,
    in_month,
    median,
    open_spans,
    typical_durations,
    usage,
    waits,
)
from pilotshare.network.statistics.ranking import Candidate, Method, Ranking, rank
from pilotshare.scheduler.policy import BookingRules
from pilotshare.scheduler.states import BILLABLE
from pilotshare.scheduler.store import busy
from pilotshare.twin.history import EARLIEST, LATEST, BucketQuery, buckets

_DAY: Final = timedelta(days=1)
_PLACES: Final = 4


@dataclass(frozen=True, slots=True)
class InstrumentFigures:
    """One instrument's month."""

    instrument: str
    kind: str
    utilisation: float | None
    in_use_hours: float
    open_hours: float
    bookings: int
    hours_served: Decimal
    no_shows: int
    cancellations: int


@dataclass(frozen=True, slots=True)
class PlatformFigures:
    """One platform's month: the published figures and the counts behind them."""

    platform: str
    name_zh: str
    name_en: str
    public: bool
    instruments: int
    utilisation: float | None
    hours_served: Decimal
    clients_served: int
    bookings: int
    on_time_share: float | None
    no_show_share: float | None
    cancellation_share: float | None
    median_wait_hours: float | None
    response_hours: float | None
    voucher_redemptions: Decimal | None
    per_instrument: list[InstrumentFigures] = field(default_factory=list)

    def ranked_figures(self) -> dict[str, float | None]:
        """The figures the ranking weighs, as floats."""
        return {
            "utilisation": self.utilisation,
            "hours_served": float(self.hours_served),
            "clients_served": float(self.clients_served),
            "on_time_share": self.on_time_share,
            "no_show_share": self.no_show_share,
            "cancellation_share": self.cancellation_share,
            "median_wait_hours": self.median_wait_hours,
            "response_hours": self.response_hours,
            "voucher_redemptions": None
            if self.voucher_redemptions is None
            else float(self.voucher_redemptions),
        }


@dataclass(frozen=True, slots=True)
class MonthStatistics:
    """Every platform's figures of a month and the ranking over them."""

    month: str
    platforms: list[PlatformFigures]
    ranking: Ranking


def _instrument(row: asyncpg.Record) -> InstrumentRow:
    return InstrumentRow(
        row["id"], row["platform"], row["kind"], row["timezone"],
        BookingRules.from_row(row, row["timezone"]),
    )  # fmt: skip


def _booking(row: asyncpg.Record) -> BookingRow:
    status = BookingStatus(row["status"])
    hours = billing.billed_hours(row)[0] if status in BILLABLE else Decimal(0)
    return BookingRow(
        str(row["id"]), row["instrument_id"], row["org_id"], row["start"], row["end"],
        status, row["activated_at"], hours,
    )  # fmt: skip


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, _PLACES)


async def _usage(
    conn: Executor, inst: InstrumentRow, window: Window, closed: Sequence[Span]
) -> tuple[float, float]:
    if window.cut <= window.start:
        return 0.0, 0.0
    rows = await buckets(conn, BucketQuery(inst.id, window.start, window.cut, HOUR))
    spans = open_spans(inst.rules, window, closed)
    return usage([(b.bucket, b.state_seconds) for b in rows], spans, window)


async def _response_hours(
    conn: Executor, month: str, wide: tuple[datetime, datetime]
) -> Mapping[str, list[float]]:
    found = await store.responses(conn, *wide)
    out: dict[str, list[float]] = {}
    for r in found:
        if month_of(r.asked, r.timezone) == month:
            out.setdefault(r.platform, []).append((r.offered - r.asked).total_seconds() / 3600)
    return out


def method_of(settings: Settings) -> Method:
    """The ranking method the settings configure."""
    return Method(
        weights=dict(settings.ranking_weights),
        min_bookings=settings.ranking_min_bookings,
        top=settings.ranking_top,
        threshold=settings.ranking_threshold,
        utilisation_target=settings.ranking_utilisation_target,
    )


@dataclass(frozen=True, slots=True)
class _Month:
    """What every platform's figures of one month read: the month, the clock, the grace,
    each instrument's stored bookings, held slots and closures, and the response times."""

    month: str
    now: datetime
    grace: timedelta
    bookings: Mapping[str, list[BookingRow]]
    held: Mapping[str, list[Span]]
    closed: Mapping[str, list[Span]]
    responses: Mapping[str, list[float]]
    redeemed: Mapping[str, Decimal]


async def _instrument_figures(
    conn: Executor, inst: InstrumentRow, m: _Month
) -> tuple[InstrumentFigures, list[BookingRow], float, float]:
    """One instrument's figures, its due bookings, its seconds in use and open."""
    window = Window.of(m.month, inst.timezone, m.now)
    used, opened = await _usage(conn, inst, window, m.closed.get(inst.id, ()))
    mine = (b for b in m.bookings.get(inst.id, ()) if in_month(b, m.month, inst.timezone))
    ds = due(mine, m.now, m.grace)
    f = booking_figures(ds, m.grace)
    figures = InstrumentFigures(
        inst.id, inst.kind, _rounded(used / opened) if opened else None,
        round(used / 3600, _PLACES), round(opened / 3600, _PLACES),
        f.bookings, f.hours_served, f.no_shows, f.cancellations,
    )  # fmt: skip
    return figures, ds, used, opened


async def _platform_figures(
    conn: Executor, platform: tuple[str, str, str, bool], mine: Sequence[InstrumentRow], m: _Month
) -> PlatformFigures:
    """One platform's figures (``platform``: its id, names in 中文 and English, public flag)."""
    platform_id, name_zh, name_en, public = platform
    per: list[InstrumentFigures] = []
    month_due: list[BookingRow] = []
    used = opened = 0.0
    for inst in mine:
        figures, ds, u, o = await _instrument_figures(conn, inst, m)
        per.append(figures)
        month_due.extend(ds)
        used, opened = used + u, opened + o
    f = booking_figures(month_due, m.grace)
    waited = waits(
        mine, m.held, typical_durations(mine, month_due), m.month, m.now, closed=m.closed
    )
    return PlatformFigures(
        platform=platform_id,
        name_zh=name_zh,
        name_en=name_en,
        public=public,
        instruments=len(mine),
        utilisation=_rounded(used / opened) if opened else None,
        hours_served=f.hours_served,
        clients_served=f.clients_served,
        bookings=f.bookings,
        on_time_share=_rounded(f.on_time_share),
        no_show_share=_rounded(f.no_show_share),
        cancellation_share=_rounded(f.cancellation_share),
        median_wait_hours=_rounded(median(waited)),
        response_hours=_rounded(median(m.responses.get(platform_id, []))),
        voucher_redemptions=m.redeemed.get(platform_id, Decimal(0)),
        per_instrument=per,
    )


async def month_statistics(
    conn: Executor,
    month: str,
    now: datetime,
    *,
    grace: timedelta,
    method: Method,
    public_only: bool = False,
    platform: str | None = None,
) -> MonthStatistics:
    """Every platform's figures of ``month`` (``YYYY-MM``, each site's zone) as of ``now``;
    ``public_only``: only the platforms whose profile is public, ranked among themselves;
    ``platform``: only that one, ranked among all (``NotFound`` if it owns no instruments)."""
    utc = month_bounds(month, "UTC")  # refuses a malformed month
    if not EARLIEST + _DAY <= utc[0] < utc[1] <= LATEST - WAIT_HORIZON - _DAY:
        raise BadInput("bad_month", f"{month!r} is outside the months with statistics")
    wide = (utc[0] - _DAY, utc[1] + _DAY)  # every zone's month lies inside
    rows = [r for r in await store.platform_instruments(conn) if r["retired_at"] is None
            or r["retired_at"] > month_bounds(month, r["timezone"])[0]]  # fmt: skip
    if public_only:
        rows = [r for r in rows if r["public"]]
    insts = [_instrument(r) for r in rows]
    names = {r["platform"]: (r["name_zh"], r["name_en"], bool(r["public"])) for r in rows}
    bookings: dict[str, list[BookingRow]] = {}
    held: dict[str, list[Span]] = {}
    ids = [i.id for i in insts]
    _, closed = await busy(conn, ids, (wide[0], wide[1] + WAIT_HORIZON))
    for row in await store.bookings_between(conn, ids, wide[0], wide[1] + WAIT_HORIZON):
        b = _booking(row)
        bookings.setdefault(b.instrument, []).append(b)
        if b.status in BILLABLE:
            held.setdefault(b.instrument, []).append((b.start, b.end))
    m = _Month(
        month, now, grace, bookings, held, closed,
        await _response_hours(conn, month, wide),
        await billing.redeemed_by_platform(conn, month),
    )  # fmt: skip
    platforms = [
        await _platform_figures(conn, (p, *names[p]), [i for i in insts if i.platform == p], m)
        for p in sorted(names)
    ]
    ranking = rank(
        [Candidate(p.platform, p.ranked_figures(), p.bookings) for p in platforms], method
    )
    stats = MonthStatistics(month, platforms, ranking)
    if platform is None:
        return stats
    if platform not in names:
        raise NotFound("no_platform", f"{platform!r} owns no instruments")
    return only(stats, [platform])


_COLUMNS: Final = (
    "period", "platform", "name_zh", "name_en", "instruments", "utilisation", "hours_served",
    "clients_served", "bookings", "on_time_share", "no_show_share", "cancellation_share",
    "median_wait_hours", "response_hours", "voucher_redemptions", "score", "rank",
    "outstanding", "unranked_reason",
)  # fmt: skip


def as_csv(stats: MonthStatistics) -> str:
    """One row per platform, in ranking order (the statements' CSV dialect: CRLF, empty for
    unknown); the weights are the JSON answer's."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_COLUMNS)
    by_id = {p.platform: p for p in stats.platforms}
    for placed in stats.ranking.placed:
        p = by_id[placed.platform]
        values = (
            stats.month, p.platform, p.name_zh, p.name_en, p.instruments, p.utilisation,
            p.hours_served, p.clients_served, p.bookings, p.on_time_share, p.no_show_share,
            p.cancellation_share, p.median_wait_hours, p.response_hours,
            p.voucher_redemptions, placed.score, placed.rank, placed.outstanding,
            placed.reason,
        )  # fmt: skip
        writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v
                         for v in values])  # fmt: skip
    return out.getvalue()


def only(stats: MonthStatistics, keep: Sequence[str]) -> MonthStatistics:
    """The statistics of the platforms in ``keep``, ranked as they were among all."""
    chosen = set(keep)
    placed = [p for p in stats.ranking.placed if p.platform in chosen]
    return MonthStatistics(
        stats.month,
        [p for p in stats.platforms if p.platform in chosen],
        Ranking(placed, stats.ranking.weights, stats.ranking.dropped),
    )
