"""Monthly statements: what each booking costs, and what vouchers pay of it.

A booking is billed in the month it starts in, in its site's time zone (``core.periods``: in
Asia/Shanghai 02:00 on 1 December is December, though it is still November in UTC), at the
hourly rate its instrument had when it was booked (kept on the booking), by the instrument's
policy at that time:

- ``booked``: the booked time; a no-show pays its slot (it kept others out until the grace
  ran out), a released booking pays until its release; cancelled bookings cost nothing;
- ``measured``: the time the instrument was measured in use (running or setup) within the
  slot, known once the booking has ended.

A statement lists every billable booking of its month, also those still ahead (``final``
false: their figure may change, or they may be cancelled). Vouchers pay only final lines, line
by line, each line showing what each voucher paid of it (``billing.redemption`` has the
rules). Recomputing is deterministic, so reading a statement never changes anything.

This module is pure: ``billing.store`` loads the rows and hands them to ``compute``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from pilotshare.billing.redemption import Paid, Terms, lapses_at, redeem
from pilotshare.core.domain import BookingStatus, Row
from pilotshare.core.periods import month_bounds, month_of
from pilotshare.scheduler.states import FINAL

CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class Line:
    """One billed booking."""

    booking: str
    instrument: str
    start: datetime
    end: datetime
    status: BookingStatus
    billing: str
    hours: Decimal
    rate: Decimal
    amount: Decimal
    final: bool  # false while the booking has not ended: the figure may still change
    timezone: str = "UTC"  # of the instrument's site: the line's month and voucher dates
    platform: str | None = None  # the organisation owning the instrument
    kind: str = ""
    service_item: str | None = None
    paid: tuple[Paid, ...] = ()  # what each voucher paid of it

    @property
    def vouchers(self) -> Decimal:
        """What vouchers paid of this line."""
        return sum((p.amount for p in self.paid), _ZERO)

    @property
    def due(self) -> Decimal:
        """What is left to pay of this line."""
        return self.amount - self.vouchers


@dataclass(frozen=True, slots=True)
class InstrumentTotal:
    """A month's hours and charges on one instrument."""

    instrument: str
    hours: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Statement:
    """A month's charges of one organisation, what vouchers paid and what is due."""

    org: str
    month: str
    lines: list[Line]
    instruments: list[InstrumentTotal]
    total: Decimal
    vouchers: Decimal
    due: Decimal
    voucher_balance: Decimal  # left after this month
    final: bool


def month_range(month: str, timezone: str = "UTC") -> tuple[datetime, datetime]:
    """``YYYY-MM`` as the UTC interval it spans in ``timezone``; ``BadInput`` otherwise."""
    return month_bounds(month, timezone)


def month_of_row(row: Row) -> str:
    """The month a booking row is billed in: that of its start, in its site's zone."""
    return month_of(row["start"], row["timezone"])


def billed_hours(row: Row) -> tuple[Decimal, bool]:
    """Hours to bill for one booking row, and whether the figure is final."""
    status = BookingStatus(row["status"])
    final = status in FINAL
    if row["billing"] == "measured":
        seconds = row["used_s"] or 0.0
    elif status is BookingStatus.RELEASED and row["ended_at"] is not None:
        seconds = max((min(row["ended_at"], row["end"]) - row["start"]).total_seconds(), 0.0)
    else:
        seconds = (row["end"] - row["start"]).total_seconds()
    hours = (Decimal(str(seconds)) / Decimal(3600)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    return hours, final


def line_of(row: Row) -> Line:
    """The billed line of one booking row."""
    hours, final = billed_hours(row)
    rate = Decimal(row["hourly_rate"])
    amount = (hours * rate).quantize(CENT, ROUND_HALF_UP)
    return Line(
        str(row["id"]),
        row["instrument_id"],
        row["start"],
        row["end"],
        BookingStatus(row["status"]),
        row["billing"],
        hours,
        rate,
        amount,
        final,
        row["timezone"],
        row["platform"],
        row["kind"],
        row["service_item_id"],
    )


def _zones(rows: Sequence[Row], month: str) -> set[str]:
    """The zones of the sites billed up to ``month``: the month ends when it ends in all."""
    return {r["timezone"] for r in rows if month_of_row(r) <= month} or {"UTC"}


def current_month(rows: Sequence[Row], now: datetime) -> str:
    """The month ``now`` is in, on the organisation's sites (the latest, if zones differ)."""
    return max(month_of(now, z) for z in {r["timezone"] for r in rows} or {"UTC"})


def lines_until(rows: Sequence[Row], month: str) -> list[Line]:
    """The billed lines of ``rows`` up to and including ``month``."""
    return [line_of(r) for r in rows if month_of_row(r) <= month]


def compute(org: str, month: str, rows: Sequence[Row], vouchers: Sequence[Terms]) -> Statement:
    """The statement of ``month`` from the organisation's billable booking ``rows`` (at least
    those up to the month's end; later ones are ignored) and its ``vouchers``.

    Vouchers pay the final lines of every month up to this one, oldest line first."""
    zones = _zones(rows, month)
    end = max(month_range(month, z)[1] for z in zones)  # also refuses a bad month
    every = lines_until(rows, month)
    redeemed = redeem(every, vouchers)
    lines = [
        replace(line, paid=redeemed.by_line.get(line.booking, ()))
        for line in every
        if month_of(line.start, line.timezone) == month
    ]
    total = sum((line.amount for line in lines), _ZERO)
    paid = sum((line.vouchers for line in lines), _ZERO)
    per_instrument: dict[str, tuple[Decimal, Decimal]] = {}
    for line in lines:
        h, a = per_instrument.get(line.instrument, (_ZERO, _ZERO))
        per_instrument[line.instrument] = (h + line.hours, a + line.amount)
    balance = sum(
        (
            redeemed.left[v.id]
            for v in vouchers
            if (v.issued_at is None or v.issued_at < end)
            and ((lapse := lapses_at(v, zones)) is None or lapse > end)
        ),
        _ZERO,
    )
    return Statement(
        org=org,
        month=month,
        lines=lines,
        instruments=[InstrumentTotal(k, h, a) for k, (h, a) in sorted(per_instrument.items())],
        total=total,
        vouchers=paid,
        due=total - paid,
        voucher_balance=balance,
        final=all(line.final for line in lines),
    )


def as_csv(body: Statement) -> str:
    """The statement's lines as CSV, with what vouchers paid of each (``paid_by``: voucher id
    and amount, ``;``-separated, in the order they paid) and the totals as the last rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "booking",
            "instrument",
            "start",
            "end",
            "status",
            "billing",
            "hours",
            "rate",
            "amount",
            "platform",
            "vouchers",
            "due",
            "paid_by",
        ]
    )
    for line in body.lines:
        writer.writerow(
            [
                line.booking,
                line.instrument,
                line.start.isoformat(),
                line.end.isoformat(),
                line.status,
                line.billing,
                line.hours,
                line.rate,
                line.amount,
                line.platform or "",
                line.vouchers,
                line.due,
                ";".join(f"{p.voucher}:{p.amount}" for p in line.paid),
            ]
        )
    for label, value in (("total", body.total), ("vouchers", body.vouchers), ("due", body.due)):
        writer.writerow([label, "", "", "", "", "", "", "", value, "", "", "", ""])
    return out.getvalue()
