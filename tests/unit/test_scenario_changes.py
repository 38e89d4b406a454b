"""Changes applied to a site, and sweep values applied to changes (pure)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.simulations.changes import apply_changes, with_values
from pilotshare.simulations.loader import ScenarioError
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
    SetPolicy,
    Site,
)

SITE = Site(
    id="lab",
    instruments=(
        Instrument("oven-1", "oven", hourly_rate=120, mtbf_hours=500, mttr_hours=8),
        Instrument("sem-1", "sem", hourly_rate=150, mtbf_hours=300),
        Instrument("sem-2", "sem", hourly_rate=150, mtbf_hours=300),
    ),
    demand=(
        Demand("oven", 20, Durations(3.0)),
        Demand("sem", 10, Durations(2.0), customer="uni"),
    ),
    bookings=(Booking("b1", "sem-2", 10, 2),),
)


def test_added_instruments_copy_their_kind_and_get_fresh_ids() -> None:
    site = apply_changes(SITE, [Change(AddInstruments("oven", 2, hourly_rate=99))])
    new = [i for i in site.instruments if i.kind == "oven"][1:]
    assert [i.id for i in new] == ["oven-2", "oven-3"]
    assert all(i.hourly_rate == 99 and i.mtbf_hours == 500 and i.mttr_hours == 8 for i in new)


def test_removing_by_kind_takes_the_last_and_drops_their_bookings() -> None:
    site = apply_changes(SITE, [Change(RemoveInstruments(kind="sem", count=1))])
    assert [i.id for i in site.instruments] == ["oven-1", "sem-1"]
    assert site.bookings == ()


def test_removing_too_many_names_the_change_line() -> None:
    change = Change(RemoveInstruments(kind="sem", count=3), name="cut", line=17)
    with pytest.raises(ScenarioError) as info:
        apply_changes(SITE, [change], source="s.yaml")
    assert str(info.value).startswith("s.yaml:17: changes[0] (cut): cannot remove 3")


def test_selected_changes_touch_only_their_instruments() -> None:
    hours = (("mon", (("08:00", "20:00"),)),)
    plan = MaintenancePlan(14, 4)
    site = apply_changes(
        SITE,
        [
            Change(SetOperatingHours(Selector(kinds=("sem",)), hours)),
            Change(SetMaintenance(Selector(ids=("oven-1",)), plan)),
            Change(ImproveMtbf(Selector(kinds=("sem",)), factor=2.0)),
        ],
    )
    oven, sem1, sem2 = site.instruments
    assert oven.operating_hours is None
    assert oven.maintenance == plan
    assert oven.mtbf_hours == 500
    assert sem1.operating_hours == hours
    assert sem1.mtbf_hours == 600
    assert sem2.mtbf_hours == 600


def test_growth_new_customer_and_policy() -> None:
    site = apply_changes(
        SITE,
        [
            Change(DemandGrowth(("oven",), 1.5)),
            Change(NewCustomer("acme", (Demand("sem", 4, Durations(1.0), "acme"),))),
            Change(SetPolicy(allocation="by_name", window_hours=48)),
        ],
    )
    assert [d.per_week for d in site.demand] == [30, 10, 4]
    assert site.policy == Policy("by_name", 48)
    cleared = apply_changes(site, [Change(SetPolicy(clear_window=True))])
    assert cleared.policy.window_hours is None


def test_the_baseline_is_never_modified() -> None:
    before = dataclasses.replace(SITE)
    apply_changes(SITE, [Change(AddInstruments("sem", 3)), Change(DemandGrowth((), 3.0))])
    assert before == SITE


def test_sweep_values_replace_the_named_change_only() -> None:
    changes = (
        Change(AddInstruments("oven", 1), name="ovens"),
        Change(DemandGrowth((), 1.0), name="growth"),
        Change(
            NewCustomer(
                "acme", (Demand("sem", 3, Durations(1.0)), Demand("oven", 1, Durations(1.0)))
            ),
            name="acme",
        ),
    )
    out = with_values(
        changes, {("ovens", "count"): 3.0, ("growth", "factor"): 1.4, ("acme", "per_week"): 8.0}
    )
    assert isinstance(out[0].action, AddInstruments)
    assert out[0].action.count == 3
    assert isinstance(out[1].action, DemandGrowth)
    assert out[1].action.factor == 1.4
    assert isinstance(out[2].action, NewCustomer)
    assert [d.per_week for d in out[2].action.demand] == [6.0, 2.0]


@given(add=st.integers(0, 6), remove=st.integers(0, 8), growth=st.floats(0, 5))
def test_instrument_counts_and_demand_follow_the_changes(
    add: int, remove: int, growth: float
) -> None:
    changes = [Change(AddInstruments("sem", add)), Change(DemandGrowth(("sem",), growth))]
    site = apply_changes(SITE, changes)
    sems = [i for i in site.instruments if i.kind == "sem"]
    assert len(sems) == 2 + add
    assert len({i.id for i in site.instruments}) == len(site.instruments)
    assert site.demand[1].per_week == pytest.approx(10 * growth)
    assert site.demand[0].per_week == 20
    if remove <= len(sems):
        after = apply_changes(site, [Change(RemoveInstruments(kind="sem", count=remove))])
        assert sum(i.kind == "sem" for i in after.instruments) == len(sems) - remove
    else:
        with pytest.raises(ScenarioError):
            apply_changes(site, [Change(RemoveInstruments(kind="sem", count=remove))])
