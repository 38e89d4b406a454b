"""Duration distributions the site model draws from (seconds, seeded generators only).

``Sampler`` is the protocol: a ``mean_s`` and ``sample(rng, size)``. ``twin.stats.DistributionFit``
satisfies it, so learned fits go straight into the model; the small classes here serve priors,
scenarios and tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Sampler(Protocol):
    """A duration distribution in seconds (``twin.stats.DistributionFit`` is one)."""

    @property
    def mean_s(self) -> float: ...

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True, slots=True)
class Exponential:
    """Exponential durations with mean ``mean_s``."""

    mean_s: float

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.exponential(self.mean_s, size)


@dataclass(frozen=True, slots=True)
class Fixed:
    """Always ``mean_s``."""

    mean_s: float

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:  # noqa: ARG002 - Sampler
        return np.full(size, self.mean_s)


@dataclass(frozen=True, slots=True)
class Lognormal:
    """Lognormal durations given by their mean and coefficient of variation."""

    mean_s: float
    cv: float = 0.5

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        sigma2 = math.log1p(self.cv**2)
        return rng.lognormal(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2), size)


@dataclass(frozen=True, slots=True)
class Empirical:
    """Resampled observations (a bootstrap of history), e.g. booked durations; with
    ``weights`` (summing to 1), a discrete distribution on ``values`` (e.g. a Kaplan–Meier
    estimate)."""

    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None

    @property
    def mean_s(self) -> float:
        if self.weights is not None:
            return float(np.dot(self.values, self.weights))
        return float(np.mean(self.values))

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        values = np.asarray(self.values, dtype=float)
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=float)
            return values[rng.choice(values.size, size, p=w / w.sum())]
        return rng.choice(values, size)
