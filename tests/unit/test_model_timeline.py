"""Interval arithmetic of the model, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.core.intervals import merge
from pilotshare.twin.distributions import Exponential
from pilotshare.twin.timeline import amounts_per_bin, cumulative, failure_timeline

spans = st.lists(st.tuples(st.integers(0, 100), st.integers(1, 20)), max_size=12)


def _grid(intervals: list[tuple[float, float]]) -> np.ndarray:
    """A 0/1 mask per unit step on [0, 130)."""
    mask = np.zeros(130, dtype=bool)
    for a, b in intervals:
        mask[int(a) : int(b)] = True
    return mask


def _disjoint(raw: list[tuple[int, int]]) -> list[tuple[float, float]]:
    return list(merge([(float(a), float(a + n)) for a, n in raw]))


@settings(max_examples=200)
@given(spans, spans, st.lists(st.integers(0, 130), min_size=2, max_size=8, unique=True))
def test_amounts_per_bin_measures_intervals_inside_open_time(
    runs: list[tuple[int, int]], opened: list[tuple[int, int]], cuts: list[int]
) -> None:
    r, o = _disjoint(runs), _disjoint(opened)
    edges = np.array(sorted(cuts), dtype=float)
    got = amounts_per_bin([a for a, _ in r], [b for _, b in r], cumulative(tuple(o)), edges)
    both = _grid(r) & _grid(o)
    expected = [both[int(lo) : int(hi)].sum() for lo, hi in itertools.pairwise(edges)]
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_failure_timeline_has_the_availability_of_its_distributions() -> None:
    rng = np.random.default_rng(5)
    horizon = 5e7
    starts, ends = failure_timeline(rng, Exponential(9000.0), Exponential(1000.0), horizon)
    assert (starts[1:] >= ends[:-1]).all()  # sorted and disjoint
    assert ends[-1] >= horizon or starts.size > 0
    down = float(np.minimum(ends, horizon).sum() - starts.sum())
    assert abs(1 - down / horizon - 0.9) < 0.005


def test_down_at_start_begins_with_a_repair() -> None:
    starts, _ = failure_timeline(
        np.random.default_rng(1), Exponential(9000.0), Exponential(1000.0), 1e5, down_at_start=True
    )
    assert starts[0] == 0.0
