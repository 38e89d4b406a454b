"""Pure parts of billing and calendars: billed hours, iCalendar text (vouchers:
test_billing_redemption)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pilotshare.api.ical import Event, calendar
from pilotshare.billing.statements import billed_hours, month_range

D = Decimal
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


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
