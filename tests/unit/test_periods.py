"""Local calendar periods (day, ISO week, month) as UTC intervals, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.errors import BadInput
from pilotshare.core.periods import PERIODS, month_bounds, month_of, period_of

ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


def test_the_first_hours_of_a_local_month_belong_to_it() -> None:
    early = datetime.fromisoformat("2026-12-01T02:00:00+08:00")  # 30 November, 18:00 UTC
    assert month_of(early, "Asia/Shanghai") == "2026-12"
    assert month_of(early, "UTC") == "2026-11"
    assert month_bounds("2026-12", "Asia/Shanghai") == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 31, 16, tzinfo=UTC),
    )
    assert period_of("month", early, "Asia/Shanghai")[0] == datetime(2026, 11, 30, 16, tzinfo=UTC)
    # 30 November 2026 is a Monday: the local week starts at its midnight.
    assert period_of("week", early, "Asia/Shanghai") == (
        datetime(2026, 11, 29, 16, tzinfo=UTC),
        datetime(2026, 12, 6, 16, tzinfo=UTC),
    )


def test_days_across_a_dst_change_are_23_and_25_hours_long() -> None:
    spring = datetime(2026, 3, 29, 12, tzinfo=UTC)  # Berlin springs forward that night
    lo, hi = period_of("day", spring, "Europe/Berlin")
    assert (lo, hi - lo) == (datetime(2026, 3, 28, 23, tzinfo=UTC), timedelta(hours=23))
    autumn = datetime(2026, 10, 25, 12, tzinfo=UTC)
    lo, hi = period_of("day", autumn, "Europe/Berlin")
    assert (lo, hi - lo) == (datetime(2026, 10, 24, 22, tzinfo=UTC), timedelta(hours=25))
    march = month_bounds("2026-03", "Europe/Berlin")
    assert march[1] - march[0] == timedelta(days=31) - timedelta(hours=1)


def test_a_bad_month_or_zone_is_refused() -> None:
    with pytest.raises(BadInput) as month:
        month_bounds("2026-13", "UTC")
    assert month.value.reason == "bad_month"
    for edge in ("9999-12", "0001-01"):  # no UTC interval: the calendar ends there
        with pytest.raises(BadInput) as end:
            month_bounds(edge, "Asia/Shanghai" if edge == "0001-01" else "UTC")
        assert end.value.reason == "bad_month"
    with pytest.raises(BadInput) as zone:
        month_of(datetime(2026, 1, 1, tzinfo=UTC), "Mars/Olympus")
    assert zone.value.reason == "bad_timezone"


@given(instants, st.sampled_from(ZONES), st.sampled_from(PERIODS))
def test_a_period_contains_its_instant_and_starts_at_a_local_midnight(
    at: datetime, name: str, period: str
) -> None:
    lo, hi = period_of(period, at, name)
    assert lo <= at < hi
    assert lo.tzinfo is UTC
    assert hi.tzinfo is UTC
    local = lo.astimezone(ZoneInfo(name))
    assert (local.hour, local.minute) == (0, 0)
    if period == "week":
        assert local.weekday() == 0
    if period == "month":
        assert local.day == 1
    # The next period starts where this one ends: periods tile time without gaps.
    assert period_of(period, hi, name)[0] == hi
    assert period_of(period, hi - timedelta(microseconds=1), name) == (lo, hi)


@given(instants, st.sampled_from(ZONES))
def test_the_month_of_an_instant_is_the_month_whose_bounds_contain_it(
    at: datetime, name: str
) -> None:
    month = month_of(at, name)
    lo, hi = month_bounds(month, name)
    assert lo <= at < hi
    assert (lo, hi) == period_of("month", at, name)
    assert month == at.astimezone(ZoneInfo(name)).strftime("%Y-%m")
