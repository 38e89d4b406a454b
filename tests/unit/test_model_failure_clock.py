"""Failures on the running clock: an instrument that wears only while running fails only in
the middle of a run, the run resumes after the repair, and the repair is seen by what comes
next (the next booking's start, up time)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.twin.model import (
    BookingSpec,
    DemandSpec,
    Exponential,
    FailureSpec,
    Fixed,
    InstrumentSpec,
    SiteSpec,
    UsageSpec,
    replicate,
    seeds,
)

H = 3600.0
DAY = 24 * H
ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)


def one_instrument(failures: FailureSpec, bookings: tuple[BookingSpec, ...]) -> SiteSpec:
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=2 * DAY,
        instruments=(InstrumentSpec("m1", "m", failures=failures),),
        bookings=bookings,
        usage=(UsageSpec("m"),),  # no no-shows, no late starts: every booking runs its slot
        rebook=False,
    )


#: Wears out within a minute of running on average, then is down for exactly 10 hours.
FRAGILE = FailureSpec(Exponential(60.0), Fixed(10 * H), clock="running")


def test_an_instrument_that_never_runs_never_fails_on_the_running_clock() -> None:
    idle = replicate(one_instrument(FRAGILE, ()), SchedulerDeskFactory(), seeds(1, 1)[0])
    assert idle.up_s.sum() == pytest.approx(2 * DAY)
    calendar = FailureSpec(Exponential(60.0), Fixed(10 * H))
    worn = replicate(one_instrument(calendar, ()), SchedulerDeskFactory(), seeds(1, 1)[0])
    assert worn.up_s.sum() < DAY  # the same MTBF on calendar time: down most of the time


def test_a_failure_during_a_session_delays_the_next_booking() -> None:
    later = BookingSpec("b", "m1", 3 * H, 4 * H)
    alone = replicate(one_instrument(FRAGILE, (later,)), SchedulerDeskFactory(), seeds(1, 1)[0])
    assert alone.served.tolist() == [True]  # nothing ran before it: nothing wore it
    first = BookingSpec("a", "m1", 0.0, 2 * H)
    for seq in seeds(2, 5):
        rep = replicate(one_instrument(FRAGILE, (first, later)), SchedulerDeskFactory(), seq)
        # "a" starts up, fails within minutes and is repaired for 10 h: "b" finds it down.
        assert rep.served.tolist() == [True, False]
        # Down 10 h (from the failure in "a"), running only before the failure and then
        # "b"'s hour, since the repair outlasts "a"'s slot.
        assert rep.up_s.sum() == pytest.approx(2 * DAY - 10 * H)
        assert rep.run_s.sum() < 2 * H


def test_sessions_resume_after_a_repair_and_keep_the_running_share() -> None:
    """A queue on one instrument: the work done is the work asked (preemptive resume), and
    the time down is the running time times repair/MTBF."""
    mtbf, mttr = 5 * H, 0.5 * H
    site = SiteSpec(
        origin=ORIGIN,
        horizon_s=200 * DAY,
        instruments=(
            InstrumentSpec(
                "m1",
                "m",
                failures=FailureSpec(Exponential(mtbf), Exponential(mttr), clock="running"),
            ),
        ),
        demand=(DemandSpec("m", 0.4, Exponential(H), window_s=30 * DAY),),
        usage=(UsageSpec("m", ends_with_slot=False, max_delay_s=math.inf),),
    )
    a, b = (replicate(site, SchedulerDeskFactory(), s) for s in (seeds(3, 1)[0],) * 2)
    assert np.array_equal(a.run_s, b.run_s)  # same seed, same result
    running = a.run_s.sum() / site.horizon_s
    down = 1 - a.up_s.sum() / site.horizon_s
    assert running == pytest.approx(0.4, rel=0.03)
    assert down == pytest.approx(running * mttr / mtbf, rel=0.1)
    delays = a.req_delay[np.isfinite(a.req_delay)]
    assert delays.size > 0.99 * a.req_delay.size
    assert (delays >= 0).all()


def test_the_running_clock_tells_the_scheduler_the_same_availability() -> None:
    """``p_up`` from the running clock: the running MTBF over the running share is the
    operating MTBF, so the availability is the one the calendar clock gives."""
    running = FailureSpec(
        Exponential(40 * H), Exponential(3 * H), clock="running", running_share=0.4
    )
    calendar = FailureSpec(Exponential(100 * H), Exponential(3 * H))
    assert running.availability == pytest.approx(calendar.availability)
