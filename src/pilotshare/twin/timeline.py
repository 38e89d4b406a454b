"""Measuring float-second timelines for the site model (pure numpy, no events).

The model spends no SimPy events on failures or on bookkeeping: an instrument's failures
are one numpy draw per replication (``failure_timeline``), and time running or up inside
open hours is measured at the end from sorted disjoint intervals with a cumulative
open-time function (``cumulative`` and ``amounts_per_bin``), in O(intervals + bins).
Union and difference of intervals are ``core.intervals``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

DAY: Final = 86_400.0
WEEK: Final = 7 * DAY

#: Sorted, disjoint ``(start, end)`` pairs of seconds.
Intervals = tuple[tuple[float, float], ...]
FloatArray = npt.NDArray[np.float64]


class _Sampler(Protocol):
    @property
    def mean_s(self) -> float: ...

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]: ...


def cumulative(intervals: Intervals) -> Callable[[FloatArray], FloatArray]:
    """``C(t)``: seconds of ``intervals`` before ``t``, vectorised (piecewise linear)."""
    if not intervals:
        return lambda t: np.zeros_like(np.asarray(t, dtype=float))
    arr = np.asarray(intervals, dtype=float)
    lengths = arr[:, 1] - arr[:, 0]
    before = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    xp = arr.reshape(-1)
    fp = np.column_stack([before, before + lengths]).reshape(-1)

    def c(t: FloatArray) -> FloatArray:
        out: FloatArray = np.interp(t, xp, fp, left=0.0, right=float(fp[-1]))
        return out

    return c


def amounts_per_bin(
    starts: Sequence[float] | FloatArray,
    ends: Sequence[float] | FloatArray,
    weight: Callable[[FloatArray], FloatArray],
    edges: FloatArray,
) -> FloatArray:
    """Per bin ``[edges[k], edges[k+1])``, the ``weight`` measure of sorted disjoint intervals.

    ``weight`` is a cumulative function such as ``cumulative(open_intervals)``: the result is
    then the open seconds covered by the intervals in each bin.
    """
    s = np.asarray(starts, dtype=float)
    e = np.asarray(ends, dtype=float)
    if s.size == 0:
        return np.zeros(edges.size - 1)
    ws, we = weight(s), weight(e)
    total = np.concatenate([[0.0], np.cumsum(we - ws)])
    # Intervals wholly before edge k: those with end <= edge; one may straddle the edge.
    m = np.searchsorted(e, edges, side="right")
    acc = total[m]
    straddle = m < s.size
    idx = np.minimum(m, s.size - 1)
    partial = np.where(
        straddle & (s[idx] < edges), weight(np.minimum(edges, e[idx])) - ws[idx], 0.0
    )
    return np.diff(acc + partial)


def failure_timeline(
    rng: np.random.Generator,
    up: _Sampler,
    repair: _Sampler,
    horizon: float,
    *,
    down_at_start: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Down intervals ``(starts, ends)`` covering at least ``[0, horizon)``.

    Up and repair durations alternate, drawn in blocks; the instrument starts up (or, with
    ``down_at_start``, in a repair whose remaining length is a fresh repair draw).
    """
    cycle = max(up.mean_s + repair.mean_s, 1e-9)
    block = int(horizon / cycle * 1.2) + 8
    ups: list[FloatArray] = []
    reps: list[FloatArray] = []
    total = 0.0
    while total <= horizon:
        u = up.sample(rng, block)
        r = repair.sample(rng, block)
        ups.append(u)
        reps.append(r)
        total += float(u.sum() + r.sum())
    uu = np.maximum(np.concatenate(ups), 0.0)
    rr = np.maximum(np.concatenate(reps), 0.0)
    if down_at_start:
        uu = np.concatenate([[0.0], uu[:-1]])
    starts = np.cumsum(uu) + np.concatenate([[0.0], np.cumsum(rr)[:-1]])
    ends = starts + rr
    keep = starts < horizon
    return starts[keep], ends[keep]
