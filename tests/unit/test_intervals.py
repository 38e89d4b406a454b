"""Interval algebra, the same for datetimes and float seconds: union and difference are the
pointwise set operations, and their results are sorted, disjoint and never touching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.intervals import merge, subtract

T0 = datetime(2026, 1, 5, tzinfo=UTC)
points = st.integers(min_value=0, max_value=60)
pairs = st.lists(st.tuples(points, points), max_size=10)
GRID = [x / 2 for x in range(-2, 124)]  # every point and every midpoint


def covered(intervals: object, t: float) -> bool:
    return any(a <= t < b for a, b in intervals)  # type: ignore[attr-defined]


def as_datetimes(raw: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return [(T0 + timedelta(minutes=a), T0 + timedelta(minutes=b)) for a, b in raw]


def canonical(out: tuple[tuple[float, float], ...]) -> None:
    assert all(a < b for a, b in out)
    assert all(out[i][1] < out[i + 1][0] for i in range(len(out) - 1))


@given(pairs)
def test_merge_is_the_union(raw: list[tuple[int, int]]) -> None:
    out = merge([(float(a), float(b)) for a, b in raw])
    canonical(out)
    for t in GRID:
        assert covered(out, t) == covered(raw, t)
    assert merge(out) == out


@given(pairs, pairs)
def test_subtract_is_the_set_difference(
    base: list[tuple[int, int]], holes: list[tuple[int, int]]
) -> None:
    out = subtract(
        [(float(a), float(b)) for a, b in base], [(float(a), float(b)) for a, b in holes]
    )
    canonical(out)
    for t in GRID:
        assert covered(out, t) == (covered(base, t) and not covered(holes, t))


@given(pairs, pairs)
def test_datetimes_give_the_same_answer_as_numbers(
    base: list[tuple[int, int]], holes: list[tuple[int, int]]
) -> None:
    assert merge(as_datetimes(base)) == tuple(as_datetimes(list(merge(base))))
    assert subtract(as_datetimes(base), as_datetimes(holes)) == tuple(
        as_datetimes(list(subtract(base, holes)))
    )


def test_touching_intervals_join_and_empty_ones_vanish() -> None:
    assert merge([(2.0, 3.0), (0.0, 2.0), (5.0, 5.0), (4.0, 1.0)]) == ((0.0, 3.0),)
    assert subtract([(0.0, 4.0)], [(1.0, 2.0), (2.0, 3.0)]) == ((0.0, 1.0), (3.0, 4.0))
