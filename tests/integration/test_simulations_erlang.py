"""A scenario with a known answer: adding a server to an M/M/c queue.

Requests of one kind arrive as a Poisson process and hold an instrument for an exponential
time; the scheduler's desk books each at the earliest finish, which for equal durations is
first come, first served on the first free instrument: an M/M/c queue. Erlang C gives the
mean wait in queue, ``Wq = C(c, a) / (c·μ − λ)`` with ``a = λ/μ``. The scenario adds a third
instrument to two; the paired difference of the mean waits must agree with Erlang C's.
"""

from __future__ import annotations

import math

import pytest

from pilotshare.simulations import experiment, report
from pilotshare.simulations.loader import parse_scenario
from pilotshare.simulations.runner import LocalRunner
from pilotshare.simulations.scenario import Site

LAMBDA = 0.6  # requests per hour
MEAN = 2.0  # hours per request

SCENARIO = f"""\
name: mmc-add-a-server
horizon_days: 240
warmup_days: 10
replications: 16
seed: 1
site:
  id: queue
  instruments:
    - {{kind: cell, count: 2}}
  demand:
    - kind: cell
      per_week: {LAMBDA * 168}
      duration_hours: {{mean: {MEAN}, distribution: exponential}}
changes:
  - add_instruments: {{kind: cell, count: 1}}
"""


def erlang_c_wait(c: int, lam: float, mean: float) -> float:
    """Mean wait in queue of M/M/c (hours)."""
    a = lam * mean
    top = a**c / math.factorial(c) * c / (c - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c / mean - lam)


def test_adding_a_server_moves_the_wait_as_erlang_c_says() -> None:
    scenario = parse_scenario(SCENARIO)
    assert isinstance(scenario.base, Site)
    with LocalRunner(2) as pool:
        outcome = experiment.run(scenario, scenario.base, pool)
    rows = {(r["metric"], r["kind"]): r for r in report.build(outcome)["comparison"]}
    wait = rows[("wait_hours", "cell")]
    w2, w3 = erlang_c_wait(2, LAMBDA, MEAN), erlang_c_wait(3, LAMBDA, MEAN)
    assert (round(w2, 4), round(w3, 4)) == (1.125, 0.1569)

    diff = wait["difference"]
    assert diff["lo"] <= w3 - w2 <= diff["hi"]
    # The interval is tight enough to mean something: narrower than 30 % of the effect.
    assert diff["hi"] - diff["lo"] < 0.3 * abs(w3 - w2)
    assert wait["baseline"]["mean"] == pytest.approx(w2, rel=0.08)
    assert wait["scenario"]["mean"] == pytest.approx(w3, rel=0.10)
    # Utilisation is a/c in both arms: 0.6 then 0.4.
    util = rows[("utilisation", "cell")]
    assert util["baseline"]["mean"] == pytest.approx(LAMBDA * MEAN / 2, rel=0.02)
    assert util["scenario"]["mean"] == pytest.approx(LAMBDA * MEAN / 3, rel=0.02)
    assert util["difference"]["mean"] == pytest.approx(LAMBDA * MEAN * (1 / 3 - 1 / 2), rel=0.02)
    assert wait["significant"]


def test_booking_by_name_turns_m_m_2_into_two_m_m_1_queues() -> None:
    """Without pooling each instrument is its own M/M/1 queue with half the arrivals:
    ``Wq = λ' / (μ (μ − λ'))``, far above the pooled Erlang C wait."""
    text = SCENARIO.replace(
        "  - add_instruments: {kind: cell, count: 1}", "  - policy: {allocation: by_name}"
    )
    scenario = parse_scenario(text)
    assert isinstance(scenario.base, Site)
    with LocalRunner(2) as pool:
        outcome = experiment.run(scenario, scenario.base, pool)
    rows = {(r["metric"], r["kind"]): r for r in report.build(outcome)["comparison"]}
    wait = rows[("wait_hours", "cell")]
    mu, half = 1 / MEAN, LAMBDA / 2
    separate = half / (mu * (mu - half))
    assert separate == pytest.approx(3.0)
    assert wait["baseline"]["mean"] == pytest.approx(erlang_c_wait(2, LAMBDA, MEAN), rel=0.08)
    assert wait["scenario"]["mean"] == pytest.approx(separate, rel=0.10)
    assert wait["significant"]
    assert rows[("utilisation", "cell")]["difference"]["mean"] == pytest.approx(0, abs=0.01)
