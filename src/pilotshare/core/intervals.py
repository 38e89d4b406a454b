"""Half-open interval algebra over any ordered type (pure).

One home for union and difference of ``(start, end)`` pairs: the scheduler works on UTC
datetimes, the site model on float seconds, and both call these. An interval ``(a, b)``
covers ``a <= t < b``; one with ``a >= b`` is empty and dropped; touching intervals are
joined. Results are sorted and disjoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=_Ordered)


def merge(intervals: Iterable[tuple[T, T]]) -> tuple[tuple[T, T], ...]:
    """Sorted union; touching intervals are joined; empty ones dropped."""
    out: list[tuple[T, T]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            if out[-1][1] < b:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def subtract(base: Iterable[tuple[T, T]], holes: Iterable[tuple[T, T]]) -> tuple[tuple[T, T], ...]:
    """The union of ``base`` minus the union of ``holes`` (either may be unsorted).

    One pass over both merged lists: O((n + m) log(n + m)).
    """
    cut = merge(holes)
    out: list[tuple[T, T]] = []
    j = 0
    for a, b in merge(base):
        cur = a
        while j < len(cut) and cut[j][1] <= cur:
            j += 1
        k = j
        while k < len(cut) and cut[k][0] < b:
            h0, h1 = cut[k]
            if cur < h0:
                out.append((cur, h0))
            cur = max(cur, h1)
            if b <= cur:
                break
            k += 1
        if cur < b:
            out.append((cur, b))
    return tuple(out)
