"""What the forecast makes of history: the failure clock the telemetry supports, the lead
times requests asked for (pushed bookings are censored, not dropped), and the hours of the
week requests are made in."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pilotshare.core.domain import InstrumentState as S
from pilotshare.scheduler.forecast.inputs import (
    ForecastInputs,
    HistoryBooking,
    InstrumentInput,
    arrival_profile,
    closed_reason,
    demand_specs,
    failure_clock,
    failure_spec,
    interval_censored,
)
from pilotshare.scheduler.policy import BookingRules
from pilotshare.twin.model import closure_over
from pilotshare.twin.stats import Interval, learn
from tests.support import backtest as tb

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)


def day_and_night(days: int, *, fail_from: S, every: int) -> list[Interval]:
    """Eight hours running and sixteen idle a day; every ``every`` days a 2 h repair that
    begins at the end of a run (``fail_from`` running) or in the night (idle)."""
    ivs = []
    for d in range(days):
        t = T0 + d * 24 * H
        broken = d % every == every - 1
        if broken and fail_from is S.RUNNING:
            ivs += [
                Interval(S.RUNNING, t, t + 8 * H),
                Interval(S.DOWN, t + 8 * H, t + 10 * H),
                Interval(S.IDLE, t + 10 * H, t + 24 * H),
            ]
        elif broken:
            ivs += [
                Interval(S.RUNNING, t, t + 8 * H),
                Interval(S.IDLE, t + 8 * H, t + 12 * H),
                Interval(S.DOWN, t + 12 * H, t + 14 * H),
                Interval(S.IDLE, t + 14 * H, t + 24 * H),
            ]
        else:
            ivs += [Interval(S.RUNNING, t, t + 8 * H), Interval(S.IDLE, t + 8 * H, t + 24 * H)]
    return ivs


def test_failures_that_begin_while_running_put_the_instrument_on_the_running_clock() -> None:
    wears = learn(day_and_night(28, fail_from=S.RUNNING, every=4))
    assert wears.failures_from == {"running": 7}
    clock, note = failure_clock(wears)
    assert clock == "running", note
    spec = failure_spec(wears)
    assert spec.clock == "running"
    assert wears.running_mtbf_hours is not None
    assert spec.up.mean_s == pytest.approx(wears.running_mtbf_hours * 3600)
    # The scheduler's p_up does not depend on which clock was chosen.
    assert wears.availability is not None
    assert spec.availability == pytest.approx(wears.availability, rel=1e-9)
    assert "7 of 7 failures began while running" in spec.note


def test_failures_while_idle_keep_the_calendar_clock() -> None:
    ages = learn(day_and_night(28, fail_from=S.IDLE, every=4))
    assert ages.failures_from == {"idle": 7}
    assert failure_spec(ages).clock == "calendar"
    # Two failures from running where running is a third of the time: not enough to tell.
    few = learn(day_and_night(8, fail_from=S.RUNNING, every=4))
    assert few.failures == 2
    assert failure_spec(few).clock == "calendar"


def test_interval_censored_estimate_is_the_empirical_one_without_censoring() -> None:
    exact = interval_censored([(x, x) for x in (1.0, 2.0, 3.0, 4.0)])
    assert exact.values == (1.0, 2.0, 3.0, 4.0)
    assert exact.weights == pytest.approx((0.25,) * 4)
    # A value known only to be at most 2.5 shares itself among 1 and 2, in proportion (the
    # Kaplan–Meier answer with time reversed): 3/8, 3/8, 1/4.
    bounded = interval_censored([(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (0.0, 2.5)])
    assert bounded.values == (1.0, 2.0, 3.0)
    assert bounded.weights == pytest.approx((0.375, 0.375, 0.25), abs=1e-5)


def test_leads_of_pushed_bookings_are_censored_not_dropped() -> None:
    """The backtest's world asks for exponential leads of mean 36 h; office-hours bookings
    are mostly pushed to an opening time, and dropping them (or taking their start −
    created) overstates the lead. Three worlds pooled: about 300 bookings per kind, a
    standard error of about 6%; tolerance 15%."""
    estimates: dict[str, list[float]] = {k: [] for k in tb.KINDS}
    for seed in (1, 2, 3):
        world = tb.World.build(seed=seed)
        world.run(tb.T0, tb.NOW, random.Random(seed))
        instruments = [
            InstrumentInput(i, world.kind[i], frozenset(), world.rules[i], 0.0, None, None)
            for i in world.instruments
        ]
        history = [
            HistoryBooking(
                b.kind, b.created, b.start, b.end, "completed", None, None, None, b.instrument
            )
            for b in world.bookings
        ]
        for spec in demand_specs(history, list(tb.KINDS), 28, instruments, until=tb.NOW):
            assert spec.lead is not None
            estimates[spec.kind].append(spec.lead.mean_s / 3600)
    for kind, values in estimates.items():
        assert float(np.mean(values)) == pytest.approx(36.0, rel=0.15), (kind, values)


def booking(created: datetime) -> HistoryBooking:
    start = created + 24 * H
    return HistoryBooking("sem", created, start, start + 2 * H, "completed", None, None, None, "s")


def test_requests_made_in_office_hours_give_demand_an_hour_of_week_profile() -> None:
    rng = np.random.default_rng(3)
    office = [
        T0 + timedelta(days=int(d), hours=float(h))
        for d, h in zip(rng.integers(0, 28, 400), rng.uniform(9, 17, 400), strict=True)
        if (T0 + timedelta(days=int(d))).weekday() < 5
    ]
    until = T0 + timedelta(days=28)
    profile = arrival_profile(office, T0, until)
    assert profile is not None
    assert len(profile) == 168
    assert float(np.mean(profile)) == pytest.approx(1.0)
    assert profile[0 * 24 + 3] == 0.0  # Monday 03:00
    assert profile[5 * 24 + 12] == 0.0  # Saturday noon
    assert profile[2 * 24 + 11] > 2.0  # Wednesday 11:00
    [spec] = demand_specs([booking(c) for c in office], ["sem"], 28, until=until)
    assert spec.weekly_profile == profile
    # At all hours alike: no profile (the constant rate the model assumed before).
    anytime = [T0 + timedelta(hours=float(h)) for h in rng.uniform(0, 28 * 24, 400)]
    assert arrival_profile(anytime, T0, until) is None


def test_an_instruments_closures_are_one_list_whose_blackouts_say_so() -> None:
    maint, blackout = (T0 + H, T0 + 3 * H), (T0 + 5 * H, T0 + 6 * H)
    inst = InstrumentInput(
        "sem-1",
        "sem",
        frozenset(),
        BookingRules(),
        0.0,
        None,
        None,
        closures=((*maint, "maintenance"), (*blackout, "blackout")),
    )
    # Both close it (nothing is booked across either); the blackout is one of them.
    assert inst.maintenance == (maint, blackout)
    assert inst.blackouts == (blackout,)
    inputs = ForecastInputs(T0, (inst,), (), (), retired={"old-1": "sem"})
    assert closed_reason(inputs, ("a", "sem-1", T0 + 2 * H, T0 + 4 * H)) == "maintenance"
    assert closed_reason(inputs, ("b", "sem-1", T0 + 2 * H, T0 + 6 * H)) == "blackout"
    assert closed_reason(inputs, ("c", "sem-1", T0 + 3 * H, T0 + 5 * H)) == ""
    assert closed_reason(inputs, ("d", "old-1", T0, T0 + H)) == "instrument_retired"


def test_the_closure_rule_is_one_for_datetimes_and_seconds() -> None:
    closures = ((1.0, 3.0, "maintenance"), (5.0, 6.0, "blackout"))
    assert closure_over((2.0, 4.0), closures) == "maintenance"
    assert closure_over((2.0, 6.0), closures) == "blackout"  # a blackout says so first
    assert closure_over((3.0, 5.0), closures) == ""  # touching is not overlapping
    assert closure_over((3.0, 5.0), closures, retired=True) == "instrument_retired"
