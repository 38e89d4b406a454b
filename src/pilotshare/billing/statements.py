"""Monthly statements: what each booking costs, and what vouchers pay of it.

A booking is billed in the UTC month it starts in, at the hourly rate its instrument had
when it was booked (kept on the booking), by the instrument's policy at that time:

- ``booked``: the booked time; a no-show pays its slot (it kept others out until the grace
  ran out), a released booking pays until its release; cancelled bookings cost nothing;
- ``measured``: the time the instrument was measured in use (running or setup) within the
  slot, known once the booking has ended.

Vouchers are balance granted to an organisation. They pay statements oldest month first: a
month's charges take what is left of every grant made before that month ends. Recomputing is
deterministic, so reading a statement never changes anything.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import asyncpg

from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput
from pilotshare.scheduler.states import BILLABLE_SQL, FINAL

CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)

_LINES: Final = f"""
SELECT b.id, b.instrument_id, lower(b.period) AS start, upper(b.period) AS "end", b.status,
       b.billing, b.hourly_rate, b.used_s, b.ended_at
FROM bookings b
WHERE b.org_id = $1 AND lower(b.period) >= $2 AND lower(b.period) < $3
  AND b.status IN {BILLABLE_SQL}
ORDER BY lower(b.period), b.instrument_id, b.id"""


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


def month_range(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as a UTC interval; ``BadInput`` otherwise."""
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadInput("bad_month", f"{month!r} is not a month (YYYY-MM)") from None
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


def billed_hours(row: asyncpg.Record | dict[str, Any]) -> tuple[Decimal, bool]:
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


def line_of(row: asyncpg.Record | dict[str, Any]) -> Line:
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
    )


def apply_vouchers(
    charges: list[tuple[datetime, Decimal]], grants: list[tuple[datetime, Decimal]]
) -> list[tuple[Decimal, Decimal]]:
    """For each (month start, charges), oldest first: (paid by vouchers, balance after).

    A grant counts from its time on; a month may use grants made before the month ends.
    """
    grants = sorted(grants)
    out: list[tuple[Decimal, Decimal]] = []
    balance, g = _ZERO, 0
    for start, amount in charges:
        end = (start + timedelta(days=32)).replace(day=1)
        while g < len(grants) and grants[g][0] < end:
            balance += grants[g][1]
            g += 1
        paid = min(balance, amount)
        balance -= paid
        out.append((paid, balance))
    return out


async def _charges_by_month(
    conn: asyncpg.Connection | asyncpg.Pool, org: str, until: datetime
) -> list[tuple[datetime, Decimal]]:
    rows = await conn.fetch(
        f"""SELECT b.id, lower(b.period) AS start, upper(b.period) AS "end", b.status,
                   b.billing, b.hourly_rate, b.used_s, b.ended_at, b.instrument_id
            FROM bookings b WHERE b.org_id = $1 AND lower(b.period) < $2
              AND b.status IN {BILLABLE_SQL}""",
        org,
        until,
    )
    totals: dict[datetime, Decimal] = {}
    for r in rows:
        month = r["start"].astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        totals[month] = totals.get(month, _ZERO) + line_of(r).amount
    return sorted(totals.items())


async def statement(
    conn: asyncpg.Connection | asyncpg.Pool, org: str, month: str
) -> dict[str, Any]:
    """The statement of ``org`` for ``month`` (``YYYY-MM``), JSON-ready."""
    lo, hi = month_range(month)
    lines = [line_of(r) for r in await conn.fetch(_LINES, org, lo, hi)]
    total = sum((line.amount for line in lines), _ZERO)
    grants = [
        (r["granted_at"], Decimal(r["amount"]))
        for r in await conn.fetch(
            "SELECT granted_at, amount FROM vouchers WHERE org_id = $1 AND granted_at < $2",
            org,
            hi,
        )
    ]
    months = [(m, c) for m, c in await _charges_by_month(conn, org, hi) if m < lo]
    months.append((lo, total))
    paid, balance = apply_vouchers(months, grants)[-1]
    per_instrument: dict[str, tuple[Decimal, Decimal]] = {}
    for line in lines:
        h, a = per_instrument.get(line.instrument, (_ZERO, _ZERO))
        per_instrument[line.instrument] = (h + line.hours, a + line.amount)
    return {
        "org": org,
        "month": month,
        "lines": [
            {
                "booking": line.booking,
                "instrument": line.instrument,
                "start": line.start,
                "end": line.end,
                "status": line.status,
                "billing": line.billing,
                "hours": line.hours,
                "rate": line.rate,
                "amount": line.amount,
                "final": line.final,
            }
            for line in lines
        ],
        "instruments": [
            {"instrument": k, "hours": h, "amount": a}
            for k, (h, a) in sorted(per_instrument.items())
        ],
        "total": total,
        "vouchers": paid,
        "due": total - paid,
        "voucher_balance": balance,
        "final": all(line.final for line in lines),
    }


def as_csv(body: dict[str, Any]) -> str:
    """The statement's lines as CSV, with the totals as the last rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [
        "booking",
        "instrument",
        "start",
        "end",
        "status",
        "billing",
        "hours",
        "rate",
        "amount",
    ]
    writer.writerow(columns)
    for line in body["lines"]:
        row = dict(line)
        row["start"] = row["start"].isoformat()
        row["end"] = row["end"].isoformat()
        writer.writerow([row[c] for c in columns])
    for label in ("total", "vouchers", "due"):
        writer.writerow([label, "", "", "", "", "", "", "", body[label]])
    return out.getvalue()
