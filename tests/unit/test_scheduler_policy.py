"""Booking rules: operating calendars, buffers, closures and the free intervals they leave."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.errors import BadInput
from pilotshare.scheduler.policy import (
    BookingRules,
    OperatingCalendar,
    check_slot,
    free_intervals,
    zone,
)

MON = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
OFFICE = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_weekly_hours_are_local_to_the_site() -> None:
    cal = OperatingCalendar.parse({"mon": [["08:00", "18:00"]]}, "Europe/Berlin")
    assert cal is not None
    # Berlin is UTC+1 in January: 08:00 local is 07:00 UTC.
    assert cal.open_intervals(MON, MON + 24 * H) == [(MON + 7 * H, MON + 17 * H)]


def test_daylight_saving_shifts_the_utc_hours() -> None:
    cal = OperatingCalendar.parse({"mon": [["08:00", "18:00"]]}, "Europe/Berlin")
    assert cal is not None
    summer = datetime(2026, 7, 6, tzinfo=UTC)  # a Monday in summer time (UTC+2)
    assert cal.open_intervals(summer, summer + 24 * H) == [(summer + 6 * H, summer + 16 * H)]


def test_exceptions_replace_a_dates_hours() -> None:
    spec = {**OFFICE, "exceptions": {"2026-01-06": [], "2026-01-07": [["08:00", "12:00"]]}}
    cal = OperatingCalendar.parse(spec)
    assert cal is not None
    got = cal.open_intervals(MON, MON + 72 * H)
    assert got == [(MON + 8 * H, MON + 18 * H), (MON + 56 * H, MON + 60 * H)]
    assert cal.hours_on(date(2026, 1, 6)) == ()


def test_overnight_spans_and_24_00_join_across_midnight() -> None:
    cal = OperatingCalendar.parse({"mon": [["22:00", "06:00"]], "tue": [["06:00", "24:00"]]})
    assert cal is not None
    assert cal.open_intervals(MON, MON + 48 * H) == [(MON + 22 * H, MON + 48 * H)]


@pytest.mark.parametrize(
    "spec",
    [
        {"mon": [["8:00", "18:00"]]},
        {"mon": [["08:00"]]},
        {"funday": []},
        {"mon": "08:00-18:00"},
        {"exceptions": {"not-a-date": []}},
        {"mon": [["24:00", "06:00"]]},
    ],
)
def test_malformed_hours_are_bad_input(spec: dict[str, object]) -> None:
    with pytest.raises(BadInput) as err:
        OperatingCalendar.parse(spec)
    assert err.value.reason == "bad_operating_hours"


def test_unknown_time_zone_is_bad_input() -> None:
    with pytest.raises(BadInput) as err:
        OperatingCalendar.parse(None, "Mars/Olympus")
    assert err.value.reason == "bad_timezone"


def test_free_intervals_apply_buffer_closures_notice_and_horizon() -> None:
    rules = BookingRules(
        calendar=OperatingCalendar.parse(OFFICE),
        setup_buffer=timedelta(minutes=30),
        min_notice=2 * H,
        max_horizon=48 * H,
    )
    now = MON + 7 * H
    free = free_intervals(
        rules,
        window=(MON, MON + 7 * 24 * H),
        now=now,
        bookings=[(MON + 12 * H, MON + 13 * H)],
        closures=[(MON + 24 * H + 9 * H, MON + 24 * H + 10 * H)],
    )
    assert free == (
        (MON + 9 * H, MON + 11 * H + timedelta(minutes=30)),  # notice; buffer before
        (MON + 13 * H + timedelta(minutes=30), MON + 18 * H),  # buffer after
        (MON + 32 * H, MON + 33 * H),  # Tuesday until maintenance
        (MON + 34 * H, MON + 42 * H),  # after it, until closing
    )


def test_check_slot_names_the_broken_rule() -> None:
    rules = BookingRules(calendar=OperatingCalendar.parse(OFFICE), min_notice=H)
    now = MON
    check_slot(rules, MON + 9 * H, MON + 10 * H, now=now)
    cases = {
        "bad_period": (MON + 10 * H, MON + 9 * H),
        "too_short": (MON + 9 * H, MON + 9 * H + timedelta(minutes=5)),
        "too_long": (MON + 9 * H, MON + 9 * H + timedelta(days=2)),
        "too_soon": (MON + timedelta(minutes=30), MON + 2 * H),
        "too_far": (MON + timedelta(days=100), MON + timedelta(days=100, hours=1)),
        "closed": (MON + 17 * H, MON + 19 * H),
    }
    for reason, (start, end) in cases.items():
        with pytest.raises(BadInput) as err:
            check_slot(rules, start, end, now=now)
        assert err.value.reason == reason


minutes = st.integers(min_value=0, max_value=7 * 24 * 60)
spans = st.lists(st.tuples(minutes, minutes), max_size=12).map(
    lambda xs: [
        (MON + timedelta(minutes=min(a, b)), MON + timedelta(minutes=max(a, b))) for a, b in xs
    ]
)


@given(spans, st.integers(min_value=0, max_value=120))
def test_free_intervals_never_touch_a_buffered_booking_or_a_closed_hour(
    booked: list[tuple[datetime, datetime]], buffer_min: int
) -> None:
    buffer = timedelta(minutes=buffer_min)
    rules = BookingRules(
        calendar=OperatingCalendar.parse(OFFICE, "America/New_York"), setup_buffer=buffer
    )
    window = (MON, MON + timedelta(days=7))
    free = free_intervals(rules, window=window, now=MON, bookings=booked)
    for a, b in free:
        check_slot(BookingRules(calendar=rules.calendar, min_length=timedelta(0)), a, b, now=MON)
        for x, y in booked:
            if x < y:
                assert b + buffer <= x or y + buffer <= a


SPRING = datetime(2026, 3, 23, tzinfo=UTC)  # the week Europe/Berlin moves to summer time
BERLIN_HOURS = {
    "mon": [["08:00", "18:00"]],
    "wed": [["00:00", "24:00"]],
    "sat": [["22:00", "03:00"]],
    "sun": [["01:00", "04:00"], ["12:00", "13:30"]],
}


@given(st.integers(min_value=0, max_value=8 * 24 * 60 - 1))
def test_open_intervals_agree_with_the_local_wall_clock(minute: int) -> None:
    cal = OperatingCalendar.parse(BERLIN_HOURS, "Europe/Berlin")
    assert cal is not None
    t = SPRING + timedelta(minutes=minute)
    spans = cal.open_intervals(SPRING, SPRING + timedelta(days=8))
    local = t.astimezone(zone("Europe/Berlin"))
    hhmm = local.strftime("%H:%M")

    def open_on(day: date, at: str, *, carried: bool) -> bool:
        for a, b in BERLIN_HOURS.get(
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()], []
        ):
            overnight = b <= a and b != "24:00"
            if carried:
                if overnight and at < b:
                    return True
            elif a <= at and (at < b or b == "24:00" or overnight):
                return True
        return False

    expected = open_on(local.date(), hhmm, carried=False) or open_on(
        local.date() - timedelta(days=1), hhmm, carried=True
    )
    assert any(a <= t < b for a, b in spans) == expected


def test_the_short_night_of_summer_time_is_an_hour_shorter() -> None:
    cal = OperatingCalendar.parse({"sun": [["00:00", "24:00"]]}, "Europe/Berlin")
    assert cal is not None
    [(a, b)] = cal.open_intervals(SPRING, SPRING + timedelta(days=7))
    assert b - a == timedelta(hours=23)
