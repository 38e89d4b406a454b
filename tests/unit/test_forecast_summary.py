"""The forecast result's weekly overload: what a week asks of a kind against what it has."""

from __future__ import annotations

from datetime import UTC, datetime

from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.scheduler.forecast.summary import summarise
from pilotshare.twin.model import BookingSpec, InstrumentSpec, SiteSpec, replicate, seeds

H = 3600.0
ORIGIN = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def _overloaded(bookings: tuple[BookingSpec, ...]) -> list[dict[str, object]]:
    # Closed for maintenance from hour 24 to hour 72 of a three-day horizon: 24 open hours.
    sem = InstrumentSpec("sem-1", "sem", maintenance=((24 * H, 72 * H),))
    site = SiteSpec(ORIGIN, 72 * H, (sem,), bookings=bookings)
    reps = [replicate(site, SchedulerDeskFactory(), s) for s in seeds(1, 4)]
    return summarise(site, reps)["overloaded_weeks"]


def test_held_hours_a_closure_covers_are_not_demand_on_the_week() -> None:
    # 20 h held in the open day and 30 h held inside the maintenance window: the model does
    # not run the closed ones, so they ask nothing of the 24 open hours.
    open_day = (BookingSpec("a", "sem-1", 2 * H, 22 * H),)
    closed = tuple(
        BookingSpec(f"c{n}", "sem-1", (26 + 10 * n) * H, (36 + 10 * n) * H, closed="maintenance")
        for n in range(3)
    )
    assert _overloaded(open_day + closed) == []
    # The same hours held where it is open would overload it.
    (week,) = _overloaded(open_day + (BookingSpec("b", "sem-1", 0.0, 2 * H),) * 3)
    assert week["kind"] == "sem"
    assert week["demand_hours"] == 26.0
