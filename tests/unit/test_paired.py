"""Paired comparison statistics: intervals that cover, and pairing that pays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from pilotshare.simulations.paired import band, estimate, paired, wilson

finite = st.floats(-1e6, 1e6, allow_nan=False)
samples = st.lists(finite, min_size=2, max_size=40)


def test_estimate_is_the_student_t_interval() -> None:
    x = np.array([1.0, 2.0, 4.0, 7.0])
    e = estimate(x, 0.9)
    half = stats.t.ppf(0.95, 3) * x.std(ddof=1) / 2
    assert (e.mean, e.n) == (3.5, 4)
    assert e.lo == pytest.approx(3.5 - half)
    assert e.hi == pytest.approx(3.5 + half)


def test_paired_interval_is_that_of_the_differences() -> None:
    a = np.array([10.0, 12.0, 9.0, 15.0, 11.0])
    b = a + np.array([1.0, 1.5, 0.5, 1.2, 0.8])
    d = paired(a, b)
    assert d.difference.mean == pytest.approx(1.0)
    direct = estimate(b - a)
    assert (d.difference.lo, d.difference.hi) == pytest.approx((direct.lo, direct.hi))
    assert d.significant
    assert d.variance_reduction is not None
    assert d.variance_reduction > 10
    assert d.relative == pytest.approx(1.0 / a.mean())


def test_undefined_replications_are_dropped_pairwise() -> None:
    d = paired([1.0, math.nan, 3.0, 4.0], [2.0, 5.0, math.nan, 6.0])
    assert d.difference.n == 2
    assert d.difference.mean == pytest.approx(1.5)
    assert d.as_dict()["baseline"]["n"] == 3  # type: ignore[index]
    assert d.scenario.mean == pytest.approx(13 / 3)


def test_nothing_defined_is_null_not_nan() -> None:
    d = paired([math.nan, math.nan], [math.nan, math.nan]).as_dict()
    assert d["difference"] == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert d["significant"] is False


@given(samples, finite)
def test_identical_arms_differ_by_nothing(xs: list[float], shift: float) -> None:
    d = paired(xs, xs)
    assert d.difference.mean == 0
    assert not d.significant
    moved = paired([x + shift for x in xs], [x + shift for x in xs])
    assert moved.difference.mean == 0


@given(samples, st.floats(-100, 100, allow_nan=False))
def test_a_constant_effect_is_found_exactly(xs: list[float], effect: float) -> None:
    d = paired(xs, [x + effect for x in xs])
    assert d.difference.mean == pytest.approx(effect, abs=1e-6 * (1 + max(map(abs, xs))))
    assert d.difference.lo <= d.difference.mean <= d.difference.hi


def test_the_interval_covers_the_true_difference_at_its_level() -> None:
    """Common random numbers: both arms share the noise of each replication."""
    rng = np.random.default_rng(2026)
    covered = 0
    trials = 2000
    for _ in range(trials):
        common = rng.normal(0, 5, 10)
        a = 20 + common + rng.normal(0, 0.5, 10)
        b = 21 + common + rng.normal(0, 0.5, 10)
        d = paired(a, b, 0.9)
        covered += d.difference.lo <= 1.0 <= d.difference.hi
    assert 0.88 <= covered / trials <= 0.92


def test_pairing_detects_what_independent_intervals_cannot() -> None:
    rng = np.random.default_rng(1)
    common = rng.normal(0, 5, 20)
    a, b = 20 + common, 20.5 + common + rng.normal(0, 0.2, 20)
    d = paired(a, b)
    assert d.significant
    assert d.baseline.hi > d.scenario.lo  # the arms' own intervals overlap


@given(st.integers(0, 200), st.integers(1, 200))
def test_wilson_contains_the_proportion(k: int, n: int) -> None:
    k = min(k, n)
    lo, hi = wilson(k, n)
    assert 0 <= lo <= k / n <= hi <= 1


def test_wilson_known_value() -> None:
    lo, hi = wilson(8, 10, 0.95)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_band_per_period() -> None:
    rows = np.array([[0.1, 0.5], [0.3, np.nan], [0.2, 0.7]])
    mean, lo, hi = band(rows, 0.0, 1.0)
    assert mean.tolist() == pytest.approx([0.2, 0.6])
    assert lo.tolist() == pytest.approx([0.1, 0.5])
    assert hi.tolist() == pytest.approx([0.3, 0.7])


def test_shares_are_clipped_to_their_range_but_differences_are_not() -> None:
    a = [1.0, 1.0, 0.98, 1.0]
    b = [0.5, 0.9, 0.2, 0.7]
    d = paired(a, b, bounds=(0.0, 1.0))
    assert d.baseline.hi == 1.0
    assert d.scenario.lo >= 0.0
    assert d.difference.lo < -0.5  # a difference of shares lies in [-1, 1], not [0, 1]
    assert estimate(a).hi > 1.0  # unclipped, a t-interval would promise more than everything
