"""What one replication measured, and the planner's metrics computed from it.

A replication returns raw sums (open and busy instrument-hours per kind and per week, requests
and served requests, the waits of the served ones, billed revenue, and whether each existing
booking was served as booked), never ratios: ratios of sums aggregate correctly over kinds and
weeks, and averages of ratios do not. Every figure covers the measured window, i.e. after the
warm-up, so a model that starts empty does not flatter the baseline.

The five metrics of the comparison, per kind and for the whole site:

- ``utilisation``: busy instrument-hours / open instrument-hours (open: inside operating hours,
  outside planned maintenance);
- ``wait_hours``: mean hours from a request's arrival to the start of its booking, over served
  requests;
- ``served_share``: served requests / requests (a request is not served when no slot is found
  inside the booking window, see ``Policy.window_hours``);
- ``revenue``: billed hours × each instrument's hourly rate, over the measured window;
- ``booking_odds``: the share of existing bookings served as booked (instrument up and free at
  the booked start). Site-wide only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

METRICS: Final = ("utilisation", "wait_hours", "served_share", "revenue", "booking_odds")
SITE: Final = "site"
#: Metrics that are shares, in [0, 1]; the others (hours, money) are never negative.
SHARES: Final = frozenset({"utilisation", "served_share", "booking_odds"})


def bounds(metric: str) -> tuple[float, float]:
    """The range a metric cannot leave; intervals of one arm are clipped to it."""
    return (0.0, 1.0) if metric in SHARES else (0.0, math.inf)


@dataclass(frozen=True, slots=True)
class KindOutcome:
    """Raw sums of one kind in one replication."""

    open_hours: float
    busy_hours: float
    weekly_open: tuple[float, ...]
    weekly_busy: tuple[float, ...]
    requests: int
    served: int
    waits: tuple[float, ...]
    revenue: float


@dataclass(frozen=True, slots=True)
class ReplicationResult:
    """Everything one replication reports; equal inputs give equal values, bit for bit."""

    kinds: Mapping[str, KindOutcome]
    instrument_open: Mapping[str, float] = field(default_factory=dict)
    instrument_busy: Mapping[str, float] = field(default_factory=dict)
    bookings_served: tuple[bool, ...] = ()
    events: int = 0


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def value(result: ReplicationResult, metric: str, kind: str = SITE) -> float:
    """One metric of one replication, for one kind or the site (NaN when undefined)."""
    if metric == "booking_odds":
        served = result.bookings_served
        return _ratio(sum(served), len(served)) if kind == SITE else math.nan
    if kind == SITE:
        outcomes = list(result.kinds.values())
    elif kind in result.kinds:
        outcomes = [result.kinds[kind]]
    else:
        return math.nan
    if metric == "utilisation":
        return _ratio(sum(o.busy_hours for o in outcomes), sum(o.open_hours for o in outcomes))
    if metric == "wait_hours":
        n = sum(len(o.waits) for o in outcomes)
        return _ratio(sum(sum(o.waits) for o in outcomes), n)
    if metric == "served_share":
        return _ratio(sum(o.served for o in outcomes), sum(o.requests for o in outcomes))
    if metric == "revenue":
        return float(sum(o.revenue for o in outcomes))
    raise ValueError(f"unknown metric {metric!r}")


def series(results: Sequence[ReplicationResult], metric: str, kind: str = SITE) -> np.ndarray:
    """The metric over replications, in replication order."""
    return np.array([value(r, metric, kind) for r in results], dtype=float)


def kinds_of(*arms: Sequence[ReplicationResult]) -> list[str]:
    """Every kind seen in any replication of any arm, sorted."""
    return sorted({k for arm in arms for r in arm for k in r.kinds})


def weekly_utilisation(results: Sequence[ReplicationResult], kind: str = SITE) -> np.ndarray:
    """Replications × weeks of utilisation (NaN where a week had no open hours)."""
    rows: list[list[float]] = []
    for r in results:
        outcomes = (
            list(r.kinds.values()) if kind == SITE else [r.kinds[kind]] if kind in r.kinds else []
        )
        if not outcomes:
            rows.append([])
            continue
        weeks = max(len(o.weekly_open) for o in outcomes)
        busy = np.zeros(weeks)
        open_ = np.zeros(weeks)
        for o in outcomes:
            busy[: len(o.weekly_busy)] += o.weekly_busy
            open_[: len(o.weekly_open)] += o.weekly_open
        with np.errstate(invalid="ignore", divide="ignore"):
            rows.append(
                [
                    float(x)
                    for x in np.where(open_ > 0, busy / np.where(open_ > 0, open_, 1), np.nan)
                ]
            )
    width = max((len(r) for r in rows), default=0)
    return np.array([r + [math.nan] * (width - len(r)) for r in rows], dtype=float).reshape(
        len(rows), width
    )


def waits(results: Sequence[ReplicationResult], kind: str = SITE) -> np.ndarray:
    """Every served request's wait, pooled over replications."""
    chunks = [
        np.asarray(o.waits, dtype=float)
        for r in results
        for k, o in r.kinds.items()
        if kind in (SITE, k)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0)
