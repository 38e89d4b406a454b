"""Reproducibility and the model's bookkeeping: same seed, same result; streams that do not
shift when the site changes elsewhere; bookings served or not as the timeline says."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import simpy

from pilotshare.scheduler.forecast import run_replications
from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.twin.model import (
    BookingSpec,
    DemandSpec,
    Exponential,
    FailureSpec,
    Fixed,
    InstrumentSpec,
    Lognormal,
    Replication,
    SiteSpec,
    UsageSpec,
    replicate,
    scheduled_events,
    seeds,
)

H = 3600.0
DAY = 24 * H
ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)
OFFICE = tuple((d * DAY + 8 * H, d * DAY + 18 * H) for d in range(60) if d % 7 < 5)


def small_site(*, extra_demand: bool = False) -> SiteSpec:
    failures = FailureSpec(Exponential(60 * H), Lognormal(3 * H, 0.8))
    instruments = (
        InstrumentSpec("sem-1", "sem", calendar=OFFICE, failures=failures, setup_buffer_s=900),
        InstrumentSpec("sem-2", "sem", failures=failures, p_up=0.95),
        InstrumentSpec(
            "xrd-1",
            "xrd",
            calendar=OFFICE,
            failures=failures,
            maintenance=((2 * DAY + 8 * H, 2 * DAY + 12 * H),),
        ),
    )
    demand = [
        DemandSpec("sem", 0.3, Lognormal(3 * H, 0.5), lead=Exponential(DAY)),
        DemandSpec("xrd", 0.1, Fixed(2 * H)),
    ]
    if extra_demand:
        demand.append(DemandSpec("xrd", 0.05, Fixed(H), name="new-customer"))
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=21 * DAY,
        instruments=instruments,
        bookings=(
            BookingSpec("b1", "sem-1", 8 * H, 12 * H),
            BookingSpec("b2", "xrd-1", DAY + 9 * H, DAY + 11 * H),
        ),
        demand=tuple(demand),
        usage=(
            UsageSpec(
                "sem", no_show_p=0.1, late_start=Exponential(600), run_ratio=Lognormal(1.0, 0.2)
            ),
        ),
    )


def _same(a: Replication, b: Replication) -> None:
    np.testing.assert_array_equal(a.run_s, b.run_s)
    np.testing.assert_array_equal(a.up_s, b.up_s)
    np.testing.assert_array_equal(a.served, b.served)
    np.testing.assert_array_equal(a.req_wait, b.req_wait)
    assert a.events == b.events


def test_same_seed_same_replication() -> None:
    site = small_site()
    seq = seeds(42, 3)[2]
    _same(
        replicate(site, SchedulerDeskFactory(), seq), replicate(site, SchedulerDeskFactory(), seq)
    )


def test_different_seeds_differ() -> None:
    site = small_site()
    a, b = (replicate(site, SchedulerDeskFactory(), s) for s in seeds(42, 2))
    assert not np.array_equal(a.run_s, b.run_s)


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    site = small_site()
    alone = run_replications(site, 6, seed=3, workers=1)
    pooled = run_replications(site, 6, seed=3, workers=2)
    for a, b in zip(alone, pooled, strict=True):
        _same(a, b)


def test_a_new_demand_stream_leaves_the_failure_streams_alone() -> None:
    """Common random numbers: each stream is keyed by its name, not by its position."""
    seq = seeds(9, 1)[0]
    base = replicate(small_site(), SchedulerDeskFactory(), seq)
    more = replicate(small_site(extra_demand=True), SchedulerDeskFactory(), seq)
    np.testing.assert_array_equal(base.up_s, more.up_s)
    assert more.req_wait.size > base.req_wait.size


def test_utilisation_counts_only_open_time_and_never_exceeds_it() -> None:
    site = small_site()
    for rep in run_replications(site, 4, seed=11, workers=1):
        assert (rep.run_s <= rep.up_s + 1e-6).all()
        assert (rep.run_s >= 0).all()
        # xrd-1 is closed at weekends: nothing runs on day 5 and 6 inside open time.
        assert rep.run_s[2, 5] == 0.0
        assert rep.up_s[2, 5] == 0.0


def test_a_booking_on_an_instrument_down_for_longer_than_its_slot_is_not_served() -> None:
    down_long = FailureSpec(Exponential(1e9), Fixed(10 * H))
    site = SiteSpec(
        origin=ORIGIN,
        horizon_s=2 * DAY,
        instruments=(
            InstrumentSpec("a", "k", failures=down_long, down_at_start=True),
            InstrumentSpec("b", "k"),
        ),
        bookings=(
            BookingSpec("early", "a", 2 * H, 4 * H),
            BookingSpec("late", "a", 12 * H, 14 * H),
            BookingSpec("other", "b", 2 * H, 4 * H),
        ),
        avoid_down=True,  # the rebooked request goes to b, not back to the broken a
    )
    rep = replicate(site, SchedulerDeskFactory(), seeds(1, 1)[0])
    assert rep.served.tolist() == [False, True, True]
    assert rep.rebooked.tolist() == [1]  # "early" was lost and asked again
    assert rep.run_s[0].sum() == pytest.approx(2 * H)  # only "late" ran on a
    assert rep.run_s[1].sum() == pytest.approx(4 * H)  # "other", then "early" rebooked on b


def test_simpy_still_numbers_its_scheduled_events_where_the_model_reads_them() -> None:
    env = simpy.Environment()
    for delay in (1, 2, 3):
        env.timeout(delay)
    assert scheduled_events(env) == 3  # SimPy's private Environment._eid, read once
