"""Pure parts of billing and calendars: voucher application, billed hours, iCalendar text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from pilotshare.api.ical import Event, calendar
from pilotshare.billing.statements import apply_vouchers, billed_hours, month_range

D = Decimal
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def test_vouchers_pay_oldest_month_first_and_only_from_their_grant_on() -> None:
    charges = [(FEB, D(100)), (MAR, D(300)), (datetime(2026, 4, 1, tzinfo=UTC), D(50))]
    grants = [(JAN + timedelta(days=3), D(150)), (FEB + timedelta(days=40), D(500))]
    # The second grant falls in March: February can use only what is left of the first.
    assert apply_vouchers(charges, grants) == [(D(100), D(50)), (D(50), D(0)), (D(50), D(450))]


money = st.decimals(min_value=0, max_value=10_000, places=2)


@given(st.lists(money, min_size=1, max_size=12), st.lists(money, max_size=6))
def test_vouchers_never_pay_more_than_charged_nor_more_than_granted(
    amounts: list[Decimal], grant_amounts: list[Decimal]
) -> None:
    # each month's end: February 2026, March, …
    months = [
        (datetime(2026 + (m + 1) // 12, (m + 1) % 12 + 1, 1, tzinfo=UTC), a)
        for m, a in enumerate(amounts)
    ]
    grants = [(JAN, g) for g in grant_amounts]
    applied = apply_vouchers(months, grants)
    assert all(
        D(0) <= paid <= charge for (paid, _), (_, charge) in zip(applied, months, strict=True)
    )
    assert sum(p for p, _ in applied) + applied[-1][1] == sum(grant_amounts, D(0))


def test_billed_hours_by_policy() -> None:
    row = {
        "status": "released",
        "billing": "booked",
        "used_s": 600.0,
        "start": JAN,
        "end": JAN + timedelta(hours=4),
        "ended_at": JAN + timedelta(hours=1),
    }
    assert billed_hours(row) == (D("1.0000"), True)
    assert billed_hours({**row, "billing": "measured"}) == (D("0.1667"), True)
    assert billed_hours({**row, "status": "confirmed"}) == (D("4.0000"), False)
    assert month_range("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_icalendar_escapes_folds_and_uses_crlf() -> None:
    long = "résumé; line, " * 12
    text = calendar("feed", [Event("u1@x", JAN, FEB, long, "two\nlines")], now=JAN)
    lines = text.split("\r\n")
    assert lines[-1] == ""
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:" + long.replace(";", "\\;").replace(",", "\\,") in unfolded
    assert "DESCRIPTION:two\\nlines" in unfolded
    assert "DTSTART:20260101T000000Z" in unfolded
    assert "\n" not in text.replace("\r\n", "")
