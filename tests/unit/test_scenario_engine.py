"""The bridge to the twin model: conversions, determinism and common random numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pilotshare.simulations import engine
from pilotshare.simulations.changes import apply_changes
from pilotshare.simulations.metrics import value
from pilotshare.simulations.scenario import (
    AddInstruments,
    Booking,
    Change,
    Demand,
    DemandGrowth,
    Durations,
    ImproveMtbf,
    Instrument,
    MaintenancePlan,
    NewCustomer,
    Policy,
    RemoveInstruments,
    Selector,
    SetMaintenance,
    SetOperatingHours,
    Site,
)
from pilotshare.twin import model
from pilotshare.twin.distributions import Empirical, Exponential

H = 3600.0
SITE = Site(
    id="lab",
    instruments=(
        Instrument("sem-1", "sem", hourly_rate=100, mtbf_hours=200, mttr_hours=5),
        Instrument("sem-2", "sem", hourly_rate=100, mtbf_hours=200, mttr_hours=5),
        Instrument("xrd-1", "xrd", hourly_rate=50),
    ),
    demand=(
        Demand("sem", 30, Durations(3.0, "exponential")),
        Demand("xrd", 15, Durations(2.0, "lognormal", 0.5)),
    ),
    bookings=(Booking("b1", "sem-1", 30, 4),),
)


def test_weekly_hours_become_open_intervals_from_a_monday() -> None:
    hours = (("mon", (("08:00", "18:00"),)), ("wed", (("22:00", "06:00"),)))
    spans = engine.calendar(hours, engine.ORIGIN, 14 * 24 * H)
    assert spans is not None
    assert spans[:2] == ((8 * H, 18 * H), ((48 + 22) * H, (72 + 6) * H))
    assert spans[2] == ((168 + 8) * H, (168 + 18) * H)
    assert engine.calendar(None, engine.ORIGIN, H) is None


def test_maintenance_plans_repeat_within_the_horizon() -> None:
    windows = engine.maintenance_windows(MaintenancePlan(7, 4, start_hour=10), 21 * 24 * H)
    assert windows == (
        (10 * H, 14 * H),
        ((168 + 10) * H, (168 + 14) * H),
        ((336 + 10) * H, (336 + 14) * H),
    )
    assert engine.maintenance_windows(None, H) == ()


def test_site_spec_carries_rates_failures_and_bookings() -> None:
    spec = engine.site_spec(SITE, 28 * 24, 24)
    sem = spec.instruments[0]
    assert sem.failures is not None
    assert sem.failures.up.mean_s == 200 * H
    assert sem.p_up == pytest.approx(200 / 205)
    assert spec.instruments[2].failures is None
    assert spec.instruments[2].p_up == 1.0
    assert spec.bookings[0].start == 30 * H
    assert spec.bookings[0].end == 34 * H
    assert [d.name for d in spec.demand] == ["platform/sem", "platform/xrd"]
    assert spec.warmup_s == 24 * H


def test_a_replication_is_a_function_of_its_seed() -> None:
    seed = np.random.SeedSequence(5).spawn(2)
    a = engine.run_replication(SITE, 28 * 24, 48, seed[0])
    b = engine.run_replication(SITE, 28 * 24, 48, seed[0])
    c = engine.run_replication(SITE, 28 * 24, 48, seed[1])
    assert a == b
    assert a != c
    assert a.kinds["sem"].requests > 0
    assert a.events > 0
    assert 0 < value(a, "utilisation") < 1
    assert len(a.kinds["sem"].weekly_open) == 4  # 26 measured days: 3 full weeks and a part
    assert a.kinds["sem"].revenue == pytest.approx(a.kinds["sem"].busy_hours * 100)


def test_a_new_customer_leaves_everyone_elses_random_numbers_alone() -> None:
    """Common random numbers per stream: xrd demand and the xrd instrument see the same
    draws when a customer adds sem demand, so xrd's outcome does not move at all."""
    seed = np.random.SeedSequence(9)
    more = apply_changes(
        SITE, [Change(NewCustomer("acme", (Demand("sem", 10, Durations(2.0), "acme"),)))]
    )
    a = engine.run_replication(SITE, 28 * 24, 48, seed)
    b = engine.run_replication(more, 28 * 24, 48, seed)
    assert a.kinds["xrd"] == b.kinds["xrd"]
    assert b.kinds["sem"].requests > a.kinds["sem"].requests


def test_demand_for_a_removed_kind_arrives_and_is_not_served() -> None:
    gone = apply_changes(SITE, [Change(RemoveInstruments(ids=("xrd-1",)))])
    result = engine.run_replication(gone, 28 * 24, 48, np.random.SeedSequence(3))
    assert result.kinds["xrd"].requests > 0
    assert result.kinds["xrd"].served == 0
    assert value(result, "served_share", "xrd") == 0.0


def test_by_name_spreads_requests_and_pooling_cuts_the_wait() -> None:
    seed = np.random.SeedSequence(11)
    pooled = engine.run_replication(SITE, 28 * 24, 0, seed)
    named = engine.run_replication(SITE.with_(policy=Policy("by_name")), 28 * 24, 0, seed)
    busy = [named.instrument_busy["sem-1"], named.instrument_busy["sem-2"]]
    assert min(busy) > 0.6 * max(busy)
    assert named.kinds["sem"].requests == pooled.kinds["sem"].requests
    assert value(named, "wait_hours", "sem") > value(pooled, "wait_hours", "sem")
    assert named.kinds["xrd"] == pooled.kinds["xrd"]  # one instrument: nothing to choose
    with pytest.raises(ValueError, match="earliest_finish"):
        engine.desk_factory("lottery")


def test_an_added_instrument_takes_work() -> None:
    seed = np.random.SeedSequence(4)
    more = apply_changes(SITE, [Change(AddInstruments("sem", 1))])
    result = engine.run_replication(more, 28 * 24, 48, seed)
    assert result.instrument_busy["sem-3"] > 0
    assert value(result, "wait_hours", "sem") <= value(
        engine.run_replication(SITE, 28 * 24, 48, seed), "wait_hours", "sem"
    )


def _live_site() -> Site:
    """A site as ``simulations.live`` builds it: each value keeps the twin's own spec."""
    learned = model.InstrumentSpec(
        id="oven-1",
        kind="oven",
        calendar=((0.0, 10 * H), (24 * H, 34 * H)),
        maintenance=((5 * H, 6 * H),),
        failures=model.FailureSpec(Empirical((100 * H, 300 * H)), Exponential(4 * H)),
        min_booking_s=900.0,
        hourly_rate=80,
    )
    stream = model.DemandSpec("oven", 0.2, Empirical((2 * H, 4 * H)), window_s=7 * 24 * H)
    hours = (("mon", (("00:00", "10:00"),)),)
    return Site(
        id="line",
        instruments=(
            Instrument(
                "oven-1",
                "oven",
                hourly_rate=80,
                mtbf_hours=200.0,
                operating_hours=hours,
                model=learned,
                learned_mtbf_hours=200.0,
                learned_hours=hours,
            ),
        ),
        demand=(Demand("oven", 0.2 * 168, Durations(3.0), "history", model=stream),),
        model=model.SiteSpec(engine.ORIGIN, 48 * H, (learned,), demand=(stream,)),
    )


def test_a_live_site_keeps_what_the_twin_learned_where_no_change_touches_it() -> None:
    site = _live_site()
    spec = engine.site_spec(site, 48, 0)
    oven = spec.instruments[0]
    assert oven.calendar == ((0.0, 10 * H), (24 * H, 34 * H))
    assert oven.maintenance == ((5 * H, 6 * H),)
    assert oven.min_booking_s == 900.0
    assert oven.failures is site.instruments[0].model.failures  # type: ignore[union-attr]
    assert spec.demand[0].duration == Empirical((2 * H, 4 * H))
    assert spec.demand[0].window_s == 7 * 24 * H


def test_changes_on_a_live_site_replace_only_what_they_name() -> None:
    site = apply_changes(
        _live_site(),
        [
            Change(ImproveMtbf(Selector(), factor=2.0)),
            Change(SetOperatingHours(Selector(), None)),
            Change(SetMaintenance(Selector(), None)),
            Change(DemandGrowth((), 1.5)),
            Change(AddInstruments("oven", 1)),
        ],
    )
    spec = engine.site_spec(site, 48, 0)
    first, added = spec.instruments
    assert first.calendar is None
    assert first.maintenance == ()
    assert first.failures is not None
    assert first.failures.up.mean_s == pytest.approx(2 * 200 * H)
    rng = np.random.default_rng(1)
    assert set(first.failures.up.sample(rng, 50)) <= {200 * H, 600 * H}
    assert (added.id, added.min_booking_s, added.hourly_rate) == ("oven-2", 900.0, 80)
    assert spec.demand[0].rate_per_hour == pytest.approx(0.3)
    assert spec.demand[0].duration == Empirical((2 * H, 4 * H))
    result = engine.run_replication(site, 48, 0, np.random.SeedSequence(2))
    assert result.kinds["oven"].open_hours == pytest.approx(2 * 48)


def test_a_booking_inside_a_maintenance_window_is_not_served_in_a_what_if() -> None:
    # sem-1 is closed for maintenance from hour 24 to 48 of each week; b1 (30-34 h) lies
    # inside, b2 (60-64 h) does not.
    maintained = dataclasses.replace(
        SITE.instruments[0], mtbf_hours=None, maintenance=MaintenancePlan(7, 24, start_hour=24)
    )
    site = SITE.with_(
        instruments=(maintained, *SITE.instruments[1:]),
        bookings=(Booking("b1", "sem-1", 30, 4), Booking("b2", "sem-1", 60, 4)),
    )
    spec = engine.site_spec(site, 7 * 24, 0)
    assert [b.closed for b in spec.bookings] == ["maintenance", ""]
    result = engine.run_replication(site, 7 * 24, 0, model.seeds(1, 1)[0])
    assert result.bookings_served[0] is False
    # Without the plan, the same booking is open again.
    reopened = apply_changes(site, (Change(SetMaintenance(Selector(ids=("sem-1",)), None)),))
    assert [b.closed for b in engine.site_spec(reopened, 7 * 24, 0).bookings] == ["", ""]
