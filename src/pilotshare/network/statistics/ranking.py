"""The published ranking of a month's platforms (pure; the method is docs/network.md's).

1. A platform with fewer than ``min_bookings`` due bookings in the month is not ranked (its
   reason says so); the others are ranked against each other.
2. Each figure becomes a *goodness*, higher better: utilisation peaks at the target (``u/t``
   below it, ``(1 - u)/(1 - t)`` above: idle capacity and queueing both cost); shares of
   no-shows and cancellations, the wait and the response time are negated; the rest count as
   they are.
3. Goodness is min-max normalised across the ranked platforms to [0, 1]; all equal: 1 each. A
   figure a platform lacks (no offers, say) normalises to 0; a figure no ranked platform has,
   or whose weight is 0, is dropped.
4. The score is the weighted mean of the normalised figures (weights over the figures kept),
   rounded to 6 places; ranks are competition ranks by score (ties share a rank), ties listed
   by platform id. Outstanding: the first ``top`` ranks with a score of at least
   ``threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


class Better(StrEnum):
    """Which way a figure is better."""

    HIGHER = "higher"
    LOWER = "lower"
    TARGET = "target"


#: Every figure the ranking may weigh, and which way it is better.
DIRECTIONS: Final[Mapping[str, Better]] = {
    "utilisation": Better.TARGET,
    "hours_served": Better.HIGHER,
    "clients_served": Better.HIGHER,
    "on_time_share": Better.HIGHER,
    "no_show_share": Better.LOWER,
    "cancellation_share": Better.LOWER,
    "median_wait_hours": Better.LOWER,
    "response_hours": Better.LOWER,
    "voucher_redemptions": Better.HIGHER,
}
FIGURES: Final = tuple(DIRECTIONS)
PLACES: Final = 6
TOO_FEW_BOOKINGS: Final = "too_few_bookings"


@dataclass(frozen=True, slots=True)
class Method:
    """How a month is ranked (from the settings ``PILOTSHARE_RANKING_*``)."""

    weights: Mapping[str, float]
    min_bookings: int = 10
    top: int = 10
    threshold: float = 0.6
    utilisation_target: float = 0.8


@dataclass(frozen=True, slots=True)
class Candidate:
    """A platform's figures of the month (None: not measured) and its due bookings."""

    platform: str
    figures: Mapping[str, float | None]
    bookings: int


@dataclass(frozen=True, slots=True)
class Placed:
    """A platform's place: ranked (score, rank) or not (reason)."""

    platform: str
    score: float | None
    rank: int | None
    outstanding: bool
    reason: str | None
    normalised: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The month's ranking: every platform, ranked first; the figures and weights used."""

    placed: list[Placed]
    weights: dict[str, float]
    dropped: list[str]

    @property
    def outstanding(self) -> list[str]:
        """The published list (服务能力突出的平台名单), best first."""
        return [p.platform for p in self.placed if p.outstanding]


def goodness(figure: str, value: float, target: float) -> float:
    """A figure's value as higher-is-better."""
    better = DIRECTIONS[figure]
    if better is Better.LOWER:
        return -value
    if better is Better.TARGET:
        return value / target if value <= target else max(0.0, (1.0 - value) / (1.0 - target))
    return value


def _normalise(values: Mapping[str, float | None]) -> dict[str, float]:
    present = [v for v in values.values() if v is not None]
    lo, hi = min(present), max(present)
    span = hi - lo
    return {
        p: 0.0 if v is None else (1.0 if span <= 0 else (v - lo) / span) for p, v in values.items()
    }


def rank(candidates: Sequence[Candidate], method: Method) -> Ranking:
    """Rank the month's platforms by ``method`` (the order of ``candidates`` is irrelevant)."""
    eligible = sorted(
        (c for c in candidates if c.bookings >= method.min_bookings), key=lambda c: c.platform
    )
    kept: dict[str, float] = {}
    norm: dict[str, dict[str, float]] = {}
    for figure in FIGURES:
        weight = method.weights.get(figure, 0.0)
        values = {c.platform: c.figures.get(figure) for c in eligible}
        if weight <= 0 or all(v is None for v in values.values()):
            continue
        kept[figure] = weight
        norm[figure] = _normalise(
            {
                p: None if v is None else goodness(figure, v, method.utilisation_target)
                for p, v in values.items()
            }
        )
    total = sum(kept.values())
    scores = {
        c.platform: round(sum(w * norm[f][c.platform] for f, w in kept.items()) / total, PLACES)
        if total > 0
        else 0.0
        for c in eligible
    }
    order = sorted(eligible, key=lambda c: (-scores[c.platform], c.platform))
    placed: list[Placed] = []
    for i, c in enumerate(order):
        r = (
            i + 1
            if i == 0 or scores[c.platform] != scores[order[i - 1].platform]
            else placed[-1].rank
        )
        assert r is not None  # noqa: S101 - every ranked entry has one
        placed.append(
            Placed(
                c.platform,
                scores[c.platform],
                r,
                r <= method.top and scores[c.platform] >= method.threshold,
                None,
                {f: round(norm[f][c.platform], PLACES) for f in kept},
            )
        )
    placed.extend(
        Placed(c.platform, None, None, outstanding=False, reason=TOO_FEW_BOOKINGS)
        for c in sorted(candidates, key=lambda c: c.platform)
        if c.bookings < method.min_bookings
    )
    dropped = [f for f in FIGURES if f not in kept]
    return Ranking(placed, kept, dropped)


__all__ = [
    "DIRECTIONS",
    "FIGURES",
    "TOO_FEW_BOOKINGS",
    "Better",
    "Candidate",
    "Method",
    "Placed",
    "Ranking",
    "goodness",
    "rank",
]
