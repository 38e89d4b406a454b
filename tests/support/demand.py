"""Synthetic booking demand (pure, seeded): a week of requests against a fleet of instruments.

Used to compare allocation strategies in tests and benchmarks and to seed demos; the shape
(a few kinds, durations from an hour to a day, windows of a few hours to a few days, more
demand than capacity) is what makes first come, first served visibly worse than planning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from pilotshare.scheduler.allocation import Candidate, Request


@dataclass(frozen=True, slots=True)
class Demand:
    """Instruments and requests of one generated week."""

    candidates: list[Candidate]
    requests: list[Request]


def weekly_demand(
    rng: np.random.Generator,
    *,
    start: datetime,
    instruments: int = 12,
    kinds: int = 3,
    requests: int = 120,
    load: float = 1.2,
    buffer: timedelta = timedelta(minutes=30),
) -> Demand:
    """A week from ``start`` with ``requests`` requests asking ``load`` × the capacity."""
    week = timedelta(days=7)
    kind_names = [f"k{i}" for i in range(kinds)]
    candidates = [
        Candidate(
            instrument=f"i{n:03d}",
            kind=kind_names[n % kinds],
            capabilities=frozenset({"hv"}) if n % 4 == 0 else frozenset(),
            free=((start, start + week),),
            p_up=float(rng.uniform(0.85, 0.99)),
            setup_buffer=buffer,
            min_length=timedelta(minutes=30),
        )
        for n in range(instruments)
    ]
    capacity_h = instruments * 7 * 24
    durations_h = rng.lognormal(mean=0.0, sigma=0.8, size=requests)
    durations_h *= load * capacity_h / durations_h.sum()
    durations_h = np.clip(durations_h, 0.5, 24.0)
    out: list[Request] = []
    for i, hours in enumerate(durations_h):
        duration = timedelta(minutes=max(30, round(float(hours) * 4) * 15))
        earliest = start + timedelta(minutes=15 * int(rng.integers(0, 4 * 24 * 6)))
        slack = timedelta(hours=float(rng.choice([4.0, 12.0, 48.0, 120.0])))
        latest = min(earliest + duration + slack, start + week)
        if latest - earliest < duration:
            earliest = latest - duration
        kind = kind_names[int(rng.integers(0, kinds))]
        caps = frozenset({"hv"}) if rng.random() < 0.1 else frozenset()
        out.append(Request(f"r{i:04d}", kind, duration, earliest, latest, caps))
    return Demand(candidates, out)
