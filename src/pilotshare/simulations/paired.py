"""Paired comparison of baseline and scenario under common random numbers.

Replication ``i`` of the baseline and replication ``i`` of the scenario draw from the same child
of one ``np.random.SeedSequence``: the same requests arrive at the same moments with the same
durations, and the same instruments fail at the same hours. Their outputs are then positively
correlated, and the difference ``d_i = scenario_i - baseline_i`` varies much less than either
arm. The confidence interval of the mean difference is Student's t on the ``d_i``:

    mean(d) ± t_{(1+c)/2, n-1} · sd(d) / √n

which is narrower than comparing two independent intervals by the factor
``√((var a + var b) / var d)``; the report shows that factor as ``variance_reduction`` so a
reader sees how much the pairing bought. A difference is called significant when its interval
excludes zero. Replications where a metric is undefined in either arm (no request of that kind
was served, so no waiting time) are dropped from the difference pairwise, and its count says
so; each arm's own estimate keeps every replication where it is defined.

Pure: numpy arrays in, frozen values out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean with its confidence interval, over ``n`` replications."""

    mean: float
    lo: float
    hi: float
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": _num(self.mean), "lo": _num(self.lo), "hi": _num(self.hi), "n": self.n}


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """Baseline, scenario and their paired difference for one metric."""

    baseline: Estimate
    scenario: Estimate
    difference: Estimate
    variance_reduction: float | None

    @property
    def significant(self) -> bool:
        """Whether the interval of the difference excludes zero."""
        return self.difference.n > 1 and (self.difference.lo > 0 or self.difference.hi < 0)

    @property
    def relative(self) -> float | None:
        """The difference relative to the baseline mean (``None`` when that is zero)."""
        if self.baseline.mean == 0 or not math.isfinite(self.baseline.mean):
            return None
        return self.difference.mean / abs(self.baseline.mean)

    def as_dict(self) -> dict[str, object]:
        return {
            "baseline": self.baseline.as_dict(),
            "scenario": self.scenario.as_dict(),
            "difference": self.difference.as_dict(),
            "relative": _num(self.relative),
            "significant": self.significant,
            "variance_reduction": _num(self.variance_reduction),
        }


def _num(x: float | None) -> float | None:
    """JSON has no NaN: undefined numbers become null."""
    return None if x is None or not math.isfinite(x) else float(x)


def estimate(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> Estimate:
    """Mean and Student-t interval of independent replications (NaN values ignored).

    ``bounds``: the range the quantity cannot leave (a share is in [0, 1]); the interval is
    clipped to it, where a t-interval near 1 would otherwise promise more than everything.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Estimate(mean, lo, hi, n)


def paired(
    baseline: Sequence[float] | np.ndarray,
    scenario: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> PairedDifference:
    """Compare two arms replication by replication (same length, same seeds); ``bounds``
    clip each arm's interval (see :func:`estimate`), not the difference's."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(scenario, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired arms need the same number of replications")
    both = np.isfinite(a) & np.isfinite(b)
    pa, pb = a[both], b[both]
    d = pb - pa
    reduction: float | None = None
    if d.size > 1:
        var_d = float(d.var(ddof=1))
        var_sum = float(pa.var(ddof=1) + pb.var(ddof=1))
        if var_d > 0:
            reduction = var_sum / var_d
    return PairedDifference(
        estimate(a, confidence, bounds),
        estimate(b, confidence, bounds),
        estimate(d, confidence),
        reduction,
    )


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there is no trial."""
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def band(
    rows: np.ndarray, lo: float = 0.05, hi: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``rows`` (replications × periods): mean and the ``lo``/``hi`` quantiles."""
    if rows.size == 0:
        empty = np.zeros(rows.shape[1] if rows.ndim == 2 else 0)
        return empty, empty, empty
    with np.errstate(all="ignore"):
        return (
            np.nanmean(rows, axis=0),
            np.nanquantile(rows, lo, axis=0),
            np.nanquantile(rows, hi, axis=0),
        )
