"""The odds of serving a request: exact where the answer is known, deterministic for a seed,
higher with more free up time, zero for an instrument that is always down."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.network.requests.matching import Candidate, match, ranked, rng_for
from pilotshare.network.requests.odds import served_odds
from pilotshare.twin.distributions import Exponential, Fixed
from pilotshare.twin.model import FailureSpec
from pilotshare.twin.stats import wilson

NOW = datetime(2026, 12, 7, 8, tzinfo=UTC)
H = timedelta(hours=1)


def windows(*spans: tuple[float, float]) -> list[tuple[datetime, datetime]]:
    return [(NOW + a * H, NOW + b * H) for a, b in spans]


def odds(
    spec: FailureSpec,
    w: list[tuple[datetime, datetime]],
    need_h: float,
    *,
    seed: int = 1,
    n: int = 4000,
    down: bool = False,
) -> float:
    return served_odds(
        spec,
        w,
        need_h * H,
        now=NOW,
        rng=np.random.default_rng(seed),
        down_now=down,
        replications=n,
    ).p


def calendar(mtbf_h: float, mttr_h: float) -> FailureSpec:
    return FailureSpec(Exponential(mtbf_h * 3600), Exponential(mttr_h * 3600))


def test_one_window_of_exactly_the_need_is_served_with_the_survival_probability() -> None:
    p = odds(calendar(20, 3), windows((0, 8)), 8)
    se = math.sqrt(math.exp(-0.4) * (1 - math.exp(-0.4)) / 4000)
    assert abs(p - math.exp(-8 / 20)) < 4 * se


def test_on_the_running_clock_the_wait_wears_at_the_running_share() -> None:
    """Failures only in runs: waiting 10 h at a running share of 0.5 wears 5 h; the run 4 h;
    a failure costs the slot (the repair outlasts it)."""
    spec = FailureSpec(Exponential(30 * 3600), Fixed(1e9), clock="running", running_share=0.5)
    p = odds(spec, windows((10, 14)), 4)
    expected = math.exp(-(5 + 4) / 30)
    assert abs(p - expected) < 4 * math.sqrt(expected * (1 - expected) / 4000)


def test_an_instrument_that_is_always_down_has_no_chance() -> None:
    always_down = FailureSpec(Fixed(0.0), Fixed(3600.0))
    assert odds(always_down, windows((0, 48), (50, 100)), 2, n=500) == 0.0
    down_until_after = FailureSpec(Exponential(1e9), Fixed(200 * 3600.0))
    assert odds(down_until_after, windows((0, 100)), 2, n=500, down=True) == 0.0


def test_one_that_never_fails_is_served_when_a_window_fits_and_not_when_none_does() -> None:
    sturdy = FailureSpec(Fixed(1e12), Fixed(60.0))
    assert odds(sturdy, windows((0, 1), (5, 9)), 3) == 1.0
    assert odds(sturdy, windows((0, 1), (5, 7)), 3) == 0.0
    assert odds(sturdy, [], 3) == 0.0


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=20, deadline=None)
def test_the_same_seed_gives_the_same_odds(seed: int) -> None:
    spec, w = calendar(10, 4), windows((1, 9), (20, 30), (40, 70))
    assert odds(spec, w, 6, seed=seed, n=300) == odds(spec, w, 6, seed=seed, n=300)


@given(
    mtbf=st.floats(2, 60),
    mttr=st.floats(0.5, 10),
    need=st.floats(1, 8),
    extra=st.floats(5, 100),
)
@settings(max_examples=25, deadline=None)
def test_more_free_up_time_never_lowers_the_odds(
    mtbf: float, mttr: float, need: float, extra: float
) -> None:
    """A later window added, or failures rarer: the odds rise (up to Monte Carlo noise)."""
    base = windows((0, need + 1))
    more = windows((0, need + 1), (need + 5, need + 5 + extra))
    n = 3000
    tol = 3 * math.sqrt(0.25 / n) * 2
    assert (
        odds(calendar(mtbf, mttr), more, need, n=n)
        >= odds(calendar(mtbf, mttr), base, need, n=n) - tol
    )
    assert (
        odds(calendar(mtbf * 3, mttr), more, need, n=n)
        >= odds(calendar(mtbf, mttr), more, need, n=n) - tol
    )


def test_the_wilson_interval_holds_the_share() -> None:
    lo, hi = wilson(30, 100)
    assert lo < 0.3 < hi
    assert wilson(0, 100)[0] == 0.0
    assert wilson(100, 100)[1] == 1.0


def test_matches_rank_best_odds_first_and_those_without_a_twin_last() -> None:
    w = windows((0, 30))
    good = Candidate("a-good", "p1", "s", "sem", calendar(200, 1), None)
    poor = Candidate("b-poor", "p2", "s", "sem", calendar(3, 6), None)
    blind = Candidate("c-blind", "p2", "s", "sem", None, "no_telemetry")
    found = ranked(
        match(c, need=8 * H, windows=w, now=NOW, rng=rng_for(7, c.instrument))
        for c in (blind, poor, good)
    )
    assert [m.instrument for m in found] == ["a-good", "b-poor", "c-blind"]
    assert found[2].odds is None
    assert not found[2].twin
    assert found[2].reason == "no_telemetry"
    assert found[2].first_slot == (NOW, NOW + 8 * H)
    assert found[0].odds is not None
    assert found[1].odds is not None
    assert found[0].odds.p > found[1].odds.p


def test_matching_is_fast() -> None:
    """A thousand replications over a month of windows of a flaky instrument: milliseconds."""
    w = windows(*[(24 * d, 24 * d + 10) for d in range(30)])
    started = time.perf_counter()
    odds(calendar(3, 2), w, 8, n=1000)
    assert time.perf_counter() - started < 0.5
