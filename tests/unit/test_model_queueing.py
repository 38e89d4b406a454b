"""The site model reproduces queueing theory, with the scheduler's real allocator as the desk.

Requests of one kind, no calendar, no lead time and an unbounded window: the desk books
each at the earliest finish, which for a request placed at its arrival is the earliest
start on the first instrument to come free, so the model is a first come, first served
M/M/c queue. Erlang C gives the mean wait in queue; utilisation is λ/(cμ).

Run lengths are chosen for the stated precision in seconds: the standard error of the mean
wait of M/M/2 at ρ = 0.5 is about 2.3% per 100,000 customers (measured over 10 seeds), so
480,000 customers give about 1%, and the 3% tolerance is three standard errors.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from pilotshare.scheduler.forecast import run_replications
from pilotshare.twin.model import (
    DemandSpec,
    Exponential,
    FailureSpec,
    InstrumentSpec,
    SiteSpec,
    UsageSpec,
)

H = 3600.0
ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue of M/M/c, in the unit of 1/λ."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def queue_site(
    c: int,
    lam: float,
    mu: float,
    customers: int,
    *,
    failures: FailureSpec | None = None,
    warmup_h: float = 200.0,
) -> SiteSpec:
    horizon_h = customers / lam
    return SiteSpec(
        origin=ORIGIN,
        horizon_s=horizon_h * H,
        instruments=tuple(InstrumentSpec(f"m{i}", "cell", failures=failures) for i in range(c)),
        demand=(DemandSpec("cell", lam, Exponential(H / mu), window_s=30 * 24 * H),),
        # A queue: a job delayed by a repair still runs its whole length, however late.
        usage=(UsageSpec("cell", ends_with_slot=False, max_delay_s=math.inf),),
        warmup_s=warmup_h * H,
    )


def test_mmc_matches_erlang_c_wait_and_utilisation() -> None:
    c, lam, mu = 2, 1.0, 1.0  # ρ = 0.5
    site = queue_site(c, lam, mu, customers=120_000)
    reps = run_replications(site, 4, seed=20261128, workers=2)
    waits = np.concatenate([r.req_wait for r in reps])
    assert np.isfinite(waits).all()  # an unbounded window places every request
    wait_h = float(waits.mean()) / H
    expected = erlang_c_wait(c, lam, mu)
    assert abs(wait_h / expected - 1) < 0.03, (wait_h, expected)
    busy = sum(float(r.run_s.sum()) for r in reps) / (len(reps) * c * site.horizon_s)
    assert abs(busy - lam / (c * mu)) < 0.01 * lam / (c * mu), busy


def test_mm1_with_breakdowns_matches_its_availability() -> None:
    """Breakdowns on calendar time, repairs exponential, preemptive resume.

    The fraction of time up must be MTBF / (MTBF + MTTR); no work is lost, so the running
    fraction is still λ/μ.
    """
    mtbf, mttr = 20.0, 2.0
    availability = mtbf / (mtbf + mttr)
    lam, mu = 0.5, 1.0
    site = queue_site(
        1,
        lam,
        mu,
        customers=60_000,
        failures=FailureSpec(Exponential(mtbf * H), Exponential(mttr * H)),
    )
    reps = run_replications(site, 2, seed=7, workers=1)
    up = sum(float(r.up_s.sum()) for r in reps) / (len(reps) * site.horizon_s)
    running = sum(float(r.run_s.sum()) for r in reps) / (len(reps) * site.horizon_s)
    assert abs(up / availability - 1) < 0.01, (up, availability)
    assert abs(running / (lam / mu) - 1) < 0.01, running
