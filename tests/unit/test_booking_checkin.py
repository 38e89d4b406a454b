"""The check-in window: only a run that starts inside it is a booking's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.domain import BookingStatus
from pilotshare.scheduler.checkin import (
    Arrival,
    CheckInWindow,
    arrival,
    carried_until,
    check_in_window,
    on_run,
    own_run,
)
from pilotshare.scheduler.states import UNSTARTED, Event

START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
EARLY = timedelta(seconds=600)
GRACE = timedelta(seconds=900)
MIN = timedelta(minutes=1)

offsets = st.integers(min_value=-4 * 3600, max_value=3 * 3600).map(lambda s: timedelta(seconds=s))
unstarted = st.sampled_from(sorted(UNSTARTED))


def window(
    status: BookingStatus = BookingStatus.CONFIRMED, freed: datetime | None = None
) -> CheckInWindow:
    return check_in_window(
        START,
        END,
        early=EARLY,
        grace=GRACE,
        delayed=status is BookingStatus.DELAYED,
        freed=freed,
    )


def test_the_window_runs_from_early_before_the_start_until_the_grace_ends() -> None:
    w = window()
    assert (w.opens, w.closes) == (START - EARLY, START + GRACE)
    assert START - EARLY in w
    assert START + GRACE not in w


def test_a_run_five_minutes_before_the_start_checks_in_one_twenty_minutes_before_delays() -> None:
    assert on_run(BookingStatus.CONFIRMED, START - 5 * MIN, window()) is Event.CHECK_IN
    assert on_run(BookingStatus.CONFIRMED, START - 20 * MIN, window()) is Event.DELAY
    assert on_run(BookingStatus.CONFIRMED, None, window()) is None


def test_a_run_begun_before_an_overrunning_booking_ended_is_that_bookings() -> None:
    w = window()
    assert arrival(START - 2 * MIN, w, taken_until=START) is Arrival.CARRIED
    assert arrival(START + 1 * MIN, w, taken_until=START) is Arrival.OWN


def test_a_delayed_bookings_grace_counts_from_when_it_was_freed() -> None:
    assert window(BookingStatus.DELAYED).closes == END  # the carried run goes on
    freed = START + 40 * MIN
    assert window(BookingStatus.DELAYED, freed).closes == freed + GRACE
    late = START + 45 * MIN
    assert (
        on_run(BookingStatus.DELAYED, late, window(BookingStatus.DELAYED, freed)) is Event.CHECK_IN
    )
    # still carried: a delayed booking stays delayed
    assert (
        on_run(BookingStatus.DELAYED, START - 11 * MIN, window(BookingStatus.DELAYED, freed))
        is None
    )
    assert on_run(BookingStatus.DELAYED, START - 30 * MIN, window(BookingStatus.DELAYED)) is None


def test_the_window_never_passes_the_bookings_end() -> None:
    short = check_in_window(START, START + 5 * MIN, early=EARLY, grace=GRACE)
    assert short.closes == START + 5 * MIN


@given(offsets, unstarted, st.one_of(st.none(), offsets))
def test_only_a_run_that_starts_inside_the_window_checks_in(
    run: timedelta, status: BookingStatus, freed_after: timedelta | None
) -> None:
    freed = None if freed_after is None else START + abs(freed_after)
    w = window(status, freed)
    event = on_run(status, START + run, w)
    assert (event is Event.CHECK_IN) == (START + run in w)
    if event is Event.CHECK_IN:
        assert w.opens <= START + run < w.closes


@given(offsets, unstarted, st.one_of(st.none(), offsets))
def test_a_run_from_before_the_window_delays_a_confirmed_booking_and_never_checks_in(
    before: timedelta, status: BookingStatus, freed_after: timedelta | None
) -> None:
    freed = None if freed_after is None else START + abs(freed_after)
    w = window(status, freed)
    run_start = w.opens - abs(before) - timedelta(microseconds=1)
    expected = Event.DELAY if status is BookingStatus.CONFIRMED else None
    assert on_run(status, run_start, w) is expected


@given(offsets, offsets)
def test_an_overrun_makes_every_run_begun_before_it_ended_carried(
    run: timedelta, overrun_end: timedelta
) -> None:
    w = window()
    taken = START - abs(overrun_end) / 10
    got = arrival(START + run, w, taken_until=taken)
    if START + run < max(w.opens, taken):
        assert got is Arrival.CARRIED
    else:
        assert got is (Arrival.OWN if START + run in w else Arrival.LATE)


@given(st.lists(st.tuples(offsets, st.integers(1, 3600)), max_size=6))
def test_own_run_finds_the_first_run_of_its_own_still_going_at_the_start(
    raw: list[tuple[timedelta, int]],
) -> None:
    runs = [(START + a, START + a + timedelta(seconds=n)) for a, n in raw]
    w = window()
    found = own_run(runs, START, w)
    mine = sorted(a for a, b in runs if b > START and a in w)
    assert found == (mine[0] if mine else None)


def test_a_run_of_its_own_that_ended_before_the_start_does_not_count() -> None:
    runs = [(START - 8 * MIN, START - 2 * MIN)]
    assert own_run(runs, START, window()) is None
    assert own_run([*runs, (START + 3 * MIN, START + 9 * MIN)], START, window()) == START + 3 * MIN


def test_carried_until_is_the_end_of_the_run_from_before_the_window_going_at_the_start() -> None:
    w = window()
    carried = (START - 30 * MIN, START + 12 * MIN)
    assert carried_until([carried, (START + 20 * MIN, END)], START, w) == START + 12 * MIN
    assert carried_until([(START - 30 * MIN, START - 1 * MIN)], START, w) is None  # ended before
    assert carried_until([(START - 5 * MIN, START + 12 * MIN)], START, w) is None  # its own
    overrun = (START - 5 * MIN, START + 12 * MIN)
    assert carried_until([overrun], START, w, taken_until=START) == START + 12 * MIN


@given(st.lists(st.tuples(offsets, st.integers(1, 3600)), max_size=6))
def test_a_run_is_never_both_carried_over_the_start_and_the_bookings_own(
    raw: list[tuple[timedelta, int]],
) -> None:
    runs = [(START + a, START + a + timedelta(seconds=n)) for a, n in raw]
    w = window()
    until = carried_until(runs, START, w)
    own = own_run(runs, START, w)
    if until is not None:
        assert any(a < w.opens and b == until for a, b in runs)
    if own is not None:
        assert own >= w.opens
