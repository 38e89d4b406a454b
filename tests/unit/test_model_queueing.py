"""The site model reproduces queueing theory, with the scheduler's real allocator as the desk.

Requests of one kind, no calendar, no lead time and an unbounded window: the desk books
each at the earliest finish, which for a request placed at its arrival is the earliest
start on the first instrument to come free, so the model is a first come, first served
M/M/c queue. Erlang C gives the mean wait in queue; utilisation is λ/(cμ).

Run lengths are chosen for the stated precision in seconds: the standard error of the mean
wait of M/M/2 at ρ = 0.5 is about 2.3% per 100,000 customers (measured over 10 seeds), so
480,000 customers give about 1%, and the 3% tolerance is three standard errors. At ρ = 0.9
it is about 8% per 100,000 (measured over 48 runs of 250,000 in the benchmark), so 400,000
give 4% and the tolerance is 12%; the benchmark holds both within 2% with 40 times more.

With breakdowns that come only while running (the running clock) and preemptive resume, one
instrument is an M/G/1 queue whose service time is the completion time of a job, and the
Pollaczek–Khinchine formula gives its mean wait exactly (docs/validation.md derives it).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

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


@pytest.mark.parametrize(
    ("rho", "customers", "tolerance"),
    [(0.5, 120_000, 0.03), (0.9, 100_000, 0.12)],
)
def test_mmc_matches_erlang_c_wait_and_utilisation(
    rho: float, customers: int, tolerance: float
) -> None:
    c, mu = 2, 1.0
    lam = rho * c * mu
    site = queue_site(c, lam, mu, customers=customers)
    reps = run_replications(site, 4, seed=20261128, workers=2)
    waits = np.concatenate([r.req_wait for r in reps])
    assert np.isfinite(waits).all()  # an unbounded window places every request
    wait_h = float(waits.mean()) / H
    expected = erlang_c_wait(c, lam, mu)
    assert abs(wait_h / expected - 1) < tolerance, (wait_h, expected)
    busy = sum(float(r.run_s.sum()) for r in reps) / (len(reps) * c * site.horizon_s)
    assert abs(busy - rho) < 0.01 * rho, busy


def completion_time_wait(lam: float, mu: float, fail: float, repair: float) -> float:
    """Mean wait in queue of M/G/1 whose service is an exponential job (rate ``mu``) on an
    instrument that fails at rate ``fail`` while running and is repaired at rate ``repair``
    (exponential), preemptive resume: C = S + the repairs of the Poisson(fail·S) failures,
    E[C] = E[S](1 + fail/repair), E[C²] = E[S²](1 + fail/repair)² + fail·E[S]·2/repair²,
    W = λE[C²] / (2(1 − λE[C]))."""
    es, es2 = 1 / mu, 2 / mu**2
    ec = es * (1 + fail / repair)
    ec2 = es2 * (1 + fail / repair) ** 2 + fail * es * 2 / repair**2
    return lam * ec2 / (2 * (1 - lam * ec))


def test_breakdowns_while_running_match_the_completion_time_queue() -> None:
    """λ = 0.5, μ = 1, failures at 0.1 per running hour, repairs at 0.5 per hour: the mean
    wait is 2.300 h. The wait of a request is the placed wait plus how late its session
    really began (the desk does not know about the repairs). Standard error about 1.3%
    (measured: 2.6% per 50,000 customers), tolerance three of them."""
    lam, mu, fail, repair = 0.5, 1.0, 0.1, 0.5
    expected = completion_time_wait(lam, mu, fail, repair)
    assert expected == pytest.approx(2.3)
    spec = FailureSpec(Exponential(H / fail), Exponential(H / repair), clock="running")
    site = queue_site(1, lam, mu, customers=50_000, failures=spec)
    reps = run_replications(site, 4, seed=20261202, workers=2)
    waits = np.concatenate([r.req_wait + r.req_delay for r in reps]) / H
    assert np.isnan(waits).mean() < 0.001  # only sessions still waiting at the horizon
    wait_h = float(np.nanmean(waits))
    assert abs(wait_h / expected - 1) < 0.04, (wait_h, expected)
    # Down only while busy: the repairs take λ·E[S]·fail/repair of the time.
    up = sum(float(r.up_s.sum()) for r in reps) / (len(reps) * site.horizon_s)
    assert abs(up - (1 - lam / mu * fail / repair)) < 0.01, up
    running = sum(float(r.run_s.sum()) for r in reps) / (len(reps) * site.horizon_s)
    assert abs(running / (lam / mu) - 1) < 0.01, running


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
