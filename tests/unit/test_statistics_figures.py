"""A platform's figures from rows: each definition of docs/network.md on small known worlds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.core.domain import BookingStatus as S
from pilotshare.network.statistics.figures import (
    WAIT_HORIZON,
    BookingRow,
    InstrumentRow,
    Window,
    booking_figures,
    first_fit,
    in_month,
    on_time,
    open_spans,
    sample_times,
    served,
    typical_durations,
    usage,
    waits,
)
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar

H = timedelta(hours=1)
GRACE = timedelta(minutes=15)
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
ALWAYS = BookingRules(min_length=timedelta(minutes=1))


def booking(
    status: S,
    *,
    start: datetime = T0,
    hours: float = 1.0,
    org: str = "acme",
    checked_in: datetime | None = None,
    instrument: str = "sem-1",
) -> BookingRow:
    return BookingRow(
        f"{status}-{start.isoformat()}-{org}",
        instrument,
        org,
        start,
        start + hours * H,
        status,
        checked_in,
        Decimal(0) if status is S.CANCELLED else Decimal(str(hours)),
    )


def test_every_outcome_counts_where_the_definitions_say() -> None:
    rows = [
        booking(S.COMPLETED, checked_in=T0 + timedelta(minutes=5)),  # served, on time
        booking(S.COMPLETED, org="globex", checked_in=T0 + timedelta(minutes=20)),  # late
        booking(S.COMPLETED, org="initech"),  # settled from telemetry: its own run, on time
        booking(S.NO_SHOW),
        booking(S.CANCELLED, org="hooli"),
        booking(S.RELEASED, org="umbrella", checked_in=T0),  # started, given back: served
        booking(S.RELEASED, org="wayne"),  # delayed, given back before it ran: not served
    ]
    f = booking_figures(rows, GRACE)
    assert f.bookings == 7
    assert f.cancellations == 1
    assert f.no_shows == 1
    assert f.cancellation_share == 1 / 7
    assert f.no_show_share == 1 / 7
    assert f.on_time_share == 3 / 6  # of the six not cancelled
    assert f.clients_served == 4  # acme, globex, initech, umbrella
    assert f.hours_served == Decimal(6)  # the cancelled one bills nothing
    assert served(rows[2])
    assert on_time(rows[2], GRACE)
    assert served(rows[1])
    assert not on_time(rows[1], GRACE)
    assert not served(rows[6])


def test_nothing_due_has_no_shares() -> None:
    f = booking_figures([], GRACE)
    assert (f.on_time_share, f.no_show_share, f.cancellation_share) == (None, None, None)
    assert f.clients_served == 0
    assert f.hours_served == 0


def test_a_booking_at_half_past_midnight_on_the_first_counts_in_its_local_month() -> None:
    b = booking(S.COMPLETED, start=datetime(2026, 11, 30, 16, 30, tzinfo=UTC))  # 1 Dec 00:30
    assert in_month(b, "2026-12", "Asia/Shanghai")
    assert not in_month(b, "2026-11", "Asia/Shanghai")
    assert in_month(b, "2026-11", "UTC")


def test_utilisation_counts_use_only_within_open_hours() -> None:
    """Open 09:00-12:30 Shanghai on one Monday: the 12:00 bucket is half open, the 13:00 one
    closed; running there counts by the open share of its hour."""
    cal = OperatingCalendar.parse({"mon": [["09:00", "12:30"]]}, "Asia/Shanghai")
    rules = BookingRules(calendar=cal)
    window = Window(T0, T0 + 5 * H, T0 + 5 * H)
    spans = open_spans(rules, window)
    assert spans == [(T0, T0 + 3.5 * H)]
    hourly = [
        (T0, {"running": 1800.0, "setup": 600.0, "idle": 1200.0}),
        (T0 + 3 * H, {"running": 3600.0}),  # 12:00-13:00: half of it open
        (T0 + 4 * H, {"running": 3600.0}),  # 13:00-14:00: closed
    ]
    used, opened = usage(hourly, spans, window)
    assert opened == 3.5 * 3600
    assert used == 2400.0 + 1800.0


def test_a_window_cut_at_now_weighs_its_last_bucket_by_what_has_passed() -> None:
    window = Window(T0, T0 + 24 * H, T0 + 1.5 * H)
    spans = open_spans(ALWAYS, window)
    used, opened = usage([(T0, {"running": 3600.0}), (T0 + H, {"running": 1800.0})], spans, window)
    assert (used, opened) == (5400.0, 5400.0)


def test_a_closure_halves_the_open_hours_and_doubles_the_utilisation() -> None:
    """Open 09:00-12:30 Shanghai; a maintenance window over the second half of it (and a
    blackout outside the opening) leaves half the open time for the same use."""
    cal = OperatingCalendar.parse({"mon": [["09:00", "12:30"]]}, "Asia/Shanghai")
    rules = BookingRules(calendar=cal)
    window = Window(T0, T0 + 5 * H, T0 + 5 * H)
    hourly = [(T0, {"running": 1800.0, "setup": 900.0})]  # the hour before the closure
    used, opened = usage(hourly, open_spans(rules, window), window)
    closures = [(T0 + 1.75 * H, T0 + 3.5 * H), (T0 + 4 * H, T0 + 9 * H)]
    spans = open_spans(rules, window, closures)
    assert spans == [(T0, T0 + 1.75 * H)]
    used_closed, opened_closed = usage(hourly, spans, window)
    assert opened_closed == opened / 2
    assert used_closed == used
    assert used_closed / opened_closed == 2 * (used / opened)


def test_use_inside_a_closure_is_not_counted() -> None:
    window = Window(T0, T0 + 4 * H, T0 + 4 * H)
    spans = open_spans(ALWAYS, window, [(T0 + H, T0 + 2 * H)])
    hourly = [(T0 + k * H, {"running": 3600.0}) for k in range(4)]
    assert usage(hourly, spans, window) == (3 * 3600.0, 3 * 3600.0)


def test_samples_are_ten_oclock_local_every_day_until_now() -> None:
    now = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # 11:00 on 3 December in Shanghai
    ts = sample_times("2026-12", "Asia/Shanghai", now)
    assert ts == [datetime(2026, 12, d, 2, 0, tzinfo=UTC) for d in (1, 2, 3)]
    assert len(sample_times("2026-11", "Asia/Shanghai", now)) == 30


def test_the_wait_is_to_the_first_gap_long_enough() -> None:
    held = [(T0, T0 + 2 * H), (T0 + 2.5 * H, T0 + 4 * H)]
    assert first_fit(ALWAYS, held, T0, H) == 4 * H  # the half hour between is too short
    assert first_fit(ALWAYS, held, T0, timedelta(minutes=30)) == 2 * H
    assert first_fit(ALWAYS, [], T0, H) == timedelta(0)
    full = [(T0, T0 + WAIT_HORIZON + H)]
    assert first_fit(ALWAYS, full, T0, H) == WAIT_HORIZON


def test_a_kind_waits_for_its_first_free_instrument() -> None:
    insts = [
        InstrumentRow("sem-1", "lab", "sem", "UTC", ALWAYS),
        InstrumentRow("sem-2", "lab", "sem", "UTC", ALWAYS),
    ]
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    held = {"sem-1": [(at, at + 5 * H)], "sem-2": [(at, at + 2 * H)]}
    now = at + H  # one sample, 1 November 10:00
    assert waits(insts, held, {"sem": H}, "2026-11", now) == [2.0]
    assert waits(insts, held, {}, "2026-11", now) == []


def test_the_wait_does_not_start_inside_a_closure() -> None:
    held = [(T0, T0 + 2 * H)]
    closed = [(T0 + 2.5 * H, T0 + 6 * H)]
    assert first_fit(ALWAYS, held, T0, H) == 2 * H
    assert first_fit(ALWAYS, held, T0, H, closed) == 6 * H  # the half hour before is short
    insts = [InstrumentRow("sem-1", "lab", "sem", "UTC", ALWAYS)]
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    now = at + H
    blackout = {"sem-1": [(at, at + 3 * H)]}
    assert waits(insts, {}, {"sem": H}, "2026-11", now) == [0.0]
    assert waits(insts, {}, {"sem": H}, "2026-11", now, closed=blackout) == [3.0]


@given(st.lists(st.floats(0.25, 48), min_size=1, max_size=9))
@settings(max_examples=50, deadline=None)
def test_the_typical_duration_is_the_median_of_those_not_cancelled(hours: list[float]) -> None:
    insts = [InstrumentRow("sem-1", "lab", "sem", "UTC", ALWAYS)]
    rows = [booking(S.COMPLETED, hours=h) for h in hours] + [booking(S.CANCELLED, hours=500)]
    got = typical_durations(insts, rows)["sem"].total_seconds() / 3600
    ordered = sorted(hours)
    n = len(ordered)
    want = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    assert abs(got - want) < 1e-6


@st.composite
def outcomes(draw: st.DrawFn) -> list[BookingRow]:
    rows = []
    for i in range(draw(st.integers(0, 12))):
        status = draw(st.sampled_from(list(S)))
        late = draw(st.sampled_from([None, 0, 10, 20, 40]))
        checked = None if late is None else T0 + timedelta(minutes=late)
        rows.append(
            booking(status, start=T0 + i * H, org=draw(st.sampled_from("abc")), checked_in=checked)
        )
    return rows


@given(outcomes())
@settings(max_examples=150, deadline=None)
def test_shares_are_shares_and_counts_agree(rows: list[BookingRow]) -> None:
    f = booking_figures(rows, GRACE)
    assert f.bookings == len(rows)
    for share in (f.on_time_share, f.no_show_share, f.cancellation_share):
        assert share is None or 0.0 <= share <= 1.0
    if rows:
        assert f.no_show_share is not None
        assert f.cancellation_share is not None
        assert f.no_show_share + f.cancellation_share <= 1.0 + 1e-12
    assert f.clients_served <= len({b.org for b in rows})
    assert all(served(b) for b in rows if on_time(b, GRACE))
    assert f.hours_served == sum((b.hours for b in rows), Decimal(0))
