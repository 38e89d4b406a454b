"""How booked sessions go in the model, against what the rules say they must give, and the
summary's statistics."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.scheduler.forecast import run_replications
from pilotshare.scheduler.forecast.desk import SchedulerDeskFactory
from pilotshare.scheduler.forecast.summary import summarise
from pilotshare.twin.model import (
    BookingSpec,
    Exponential,
    Fixed,
    InstrumentSpec,
    SiteSpec,
    UsageSpec,
    replicate,
    seeds,
)
from pilotshare.twin.stats import wilson

H = 3600.0
ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)


def two_bookings(usage: UsageSpec, gap_s: float) -> SiteSpec:
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=86400.0,
        instruments=(InstrumentSpec("a", "k", setup_buffer_s=gap_s),),
        bookings=(BookingSpec("A", "a", 2 * H, 5 * H), BookingSpec("B", "a", 5 * H + gap_s, 8 * H)),
        usage=(usage,),
    )


def test_the_next_booking_is_blocked_only_by_an_overrun_longer_than_the_gap() -> None:
    """P(B served) = 1 - (1 - no-show) * p_overrun * P(overrun > gap): late starts and run
    ratios never push a session past its slot."""
    use = UsageSpec(
        "k",
        no_show_p=0.1,
        late_start=Exponential(1800),
        run_ratio=Fixed(0.9),
        overrun_p=0.3,
        overrun=Exponential(1800),
    )
    site = two_bookings(use, gap_s=900.0)
    n = 2000
    served = np.array([replicate(site, SchedulerDeskFactory(), s).served[1] for s in seeds(8, n)])
    expected = 1 - 0.9 * 0.3 * math.exp(-0.5)
    lo, hi = wilson(int(served.sum()), n, z=3.3)
    assert lo <= expected <= hi


def test_sessions_run_their_share_of_the_slot_left() -> None:
    use = UsageSpec("k", late_start=Fixed(1800), run_ratio=Fixed(0.5))
    rep = replicate(two_bookings(use, gap_s=0.0), SchedulerDeskFactory(), seeds(1, 1)[0])
    # A: starts 30 min late, runs half of the 2.5 h left; B the same on its 3 h.
    assert rep.run_s.sum() == pytest.approx(0.5 * 2.5 * H + 0.5 * 2.5 * H)
    assert rep.sessions.tolist() == [2]


def test_summary_intervals_are_ordered_and_cover_the_share() -> None:
    use = UsageSpec("k", no_show_p=0.2, overrun_p=0.5, overrun=Exponential(3600))
    site = two_bookings(use, gap_s=600.0)
    result = summarise(site, run_replications(site, 50, seed=2, workers=1))
    for b in result["bookings"]:
        lo, hi = b["interval"]
        assert 0 <= lo <= b["p_served"] <= hi <= 1
    u = result["instruments"][0]["utilization"]
    assert 0 <= u["p05"] <= u["mean"] <= u["p95"] <= 1
    assert [d["date"] for d in result["instruments"][0]["daily"]] == ["2026-03-02"]


@given(st.integers(0, 200), st.integers(1, 200))
def test_wilson_interval_contains_the_share(k: int, n: int) -> None:
    k = min(k, n)
    lo, hi = wilson(k, n)
    assert 0 <= lo <= k / n <= hi <= 1
    assert hi - lo <= wilson(n // 2, n)[1] - wilson(n // 2, n)[0] + 1e-12  # widest at 1/2
