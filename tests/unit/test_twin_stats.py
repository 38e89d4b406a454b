"""twin.stats against histories whose true parameters are known (seeded generators)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from pilotshare.core.domain import InstrumentState as S
from pilotshare.twin.stats import Interval, fit, hourly_profile, intervals, learn

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def alternating(
    rng: np.random.Generator, n: int, *, up_mean_h: float, down_median_h: float, sigma: float
) -> list[Interval]:
    """Exponential up times (split running/idle) and lognormal repairs."""
    out, t = [], T0
    for _ in range(n):
        up = rng.exponential(up_mean_h * 3600)
        half = timedelta(seconds=up / 2)
        out.append(Interval(S.RUNNING, t, t + half))
        out.append(Interval(S.IDLE, t + half, t + 2 * half))
        t += 2 * half
        down = timedelta(seconds=rng.lognormal(math.log(down_median_h * 3600), sigma))
        out.append(Interval(S.DOWN, t, t + down))
        t += down
    return out


def test_mtbf_and_mttr_recover_true_values_within_their_intervals() -> None:
    rng = np.random.default_rng(7)
    sigma = 0.6
    b = learn(alternating(rng, 300, up_mean_h=8.0, down_median_h=1.5, sigma=sigma))
    true_mttr = 1.5 * math.exp(sigma**2 / 2)
    assert b.failures == 300
    assert b.mtbf_ci is not None
    assert b.mttr_ci is not None
    assert b.mtbf_ci[0] <= 8.0 <= b.mtbf_ci[1]
    assert b.mttr_hours is not None
    assert b.mttr_ci[0] < b.mttr_hours < b.mttr_ci[1]
    assert b.mtbf_hours == pytest.approx(8.0, rel=0.1)
    assert b.mttr_hours == pytest.approx(true_mttr, rel=0.15)  # about 3 standard errors
    assert b.availability == pytest.approx(8.0 / (8.0 + true_mttr), rel=0.04)
    assert b.repair_length is not None
    assert b.repair_length.family == "lognormal"
    assert b.repair_length.params["sigma"] == pytest.approx(sigma, rel=0.1)
    assert b.repair_length.ks_pvalue is not None
    assert b.repair_length.ks_pvalue > 0.05


def test_confidence_intervals_cover_the_truth_about_as_often_as_stated() -> None:
    rng = np.random.default_rng(11)
    hits = 0
    trials = 200
    for _ in range(trials):
        b = learn(alternating(rng, 15, up_mean_h=5.0, down_median_h=1.0, sigma=0.3))
        assert b.mtbf_ci is not None
        hits += b.mtbf_ci[0] <= 5.0 <= b.mtbf_ci[1]
    assert 0.84 <= hits / trials <= 0.96  # stated 90 %


@pytest.mark.parametrize(
    ("family", "draw", "params"),
    [
        ("exponential", lambda r: r.exponential(600.0, 3000), {"scale": 600.0}),
        ("weibull", lambda r: 900.0 * r.weibull(2.5, 3000), {"shape": 2.5, "scale": 900.0}),
        ("lognormal", lambda r: r.lognormal(math.log(300.0), 0.8, 3000), {"sigma": 0.8}),
        ("gamma", lambda r: r.gamma(4.0, 250.0, 3000), {"shape": 4.0, "scale": 250.0}),
    ],
)
def test_fit_picks_the_true_family_and_parameters(
    family: str, draw: object, params: dict[str, float]
) -> None:
    x = draw(np.random.default_rng(3))  # type: ignore[operator]
    fitted = fit(x)
    assert fitted is not None
    assert fitted.family == family
    for name, value in params.items():
        assert fitted.params[name] == pytest.approx(value, rel=0.08), name
    assert fitted.mean_s == pytest.approx(float(np.mean(x)), rel=0.05)
    again = fitted.sample(np.random.default_rng(5), 20_000)
    assert float(again.mean()) == pytest.approx(fitted.mean_s, rel=0.05)


def test_fit_with_little_or_no_data() -> None:
    assert fit([]) is None
    one = fit([120.0])
    assert one is not None
    assert one.family == "exponential"
    assert one.ks_pvalue is None
    assert fit([10.0, 20.0, 30.0]) is not None


def test_intervals_end_at_silence_and_split_at_changes() -> None:
    s = timedelta(seconds=1)
    samples = [(T0 + i * s, S.RUNNING) for i in range(10)]
    samples += [(T0 + (10 + i) * s, S.IDLE) for i in range(5)]
    samples += [(T0 + (100 + i) * s, S.IDLE) for i in range(5)]  # after 86 s of silence
    ivs = intervals(samples, gap=30)
    assert [(iv.state, iv.seconds) for iv in ivs] == [(S.RUNNING, 10), (S.IDLE, 4), (S.IDLE, 4)]
    assert ivs[1].end == T0 + 14 * s
    assert ivs[2].start == T0 + 100 * s


@settings(max_examples=200, deadline=None)
@given(
    hs.lists(hs.tuples(hs.integers(1, 120), hs.sampled_from(list(S))), max_size=60),
    hs.integers(1, 90),
)
def test_intervals_never_overlap_and_never_cover_silence(
    steps: list[tuple[int, S]], gap_s: int
) -> None:
    t, samples = T0, []
    for dt, state in steps:
        t += timedelta(seconds=dt)
        samples.append((t, state))
    ivs = intervals(samples, gap=gap_s)
    for a, b in itertools.pairwise(ivs):
        assert a.end <= b.start
        assert a.seconds > 0
    covered = sum(iv.seconds for iv in ivs)
    span = (samples[-1][0] - samples[0][0]).total_seconds() if samples else 0
    silent = sum(max(0, dt) for dt, _ in steps[1:] if dt > gap_s)
    assert covered <= span - silent + 1e-9


@settings(max_examples=300, deadline=None)
@given(
    hs.lists(hs.tuples(hs.integers(1, 60), hs.sampled_from(list(S))), min_size=1, max_size=40),
    hs.integers(1, 40),
    hs.integers(-10, 600),
    hs.integers(0, 600),
)
def test_a_window_is_the_whole_rule_as_known_at_its_end_and_clipped(
    steps: list[tuple[int, S]], gap_s: int, a: int, span: int
) -> None:
    """The window rule is no second rule: it is the plain rule on the samples before
    ``until``, with ``until`` itself read as one more sample of the last state (it lasts
    there within the gap, and after a longer silence is a lone sample: nothing), clipped."""
    t, samples = T0, []
    for dt, state in steps:
        t += timedelta(seconds=dt)
        samples.append((t, state))
    since, until = T0 + timedelta(seconds=a), T0 + timedelta(seconds=a + span)
    seen = [(ts, st) for ts, st in samples if ts < until]
    known = intervals([*seen, (until, seen[-1][1])] if seen else [], gap=gap_s)
    clipped = [Interval(iv.state, max(iv.start, since), iv.end) for iv in known if iv.end > since]
    assert intervals(samples, gap=gap_s, since=since, until=until) == clipped


def test_hourly_profile_sees_office_hours() -> None:
    ivs = []
    for day in range(28):
        base = T0 + timedelta(days=day)
        if base.weekday() < 5:
            ivs.append(Interval(S.IDLE, base, base + timedelta(hours=9)))
            ivs.append(Interval(S.RUNNING, base + timedelta(hours=9), base + timedelta(hours=17)))
            ivs.append(Interval(S.IDLE, base + timedelta(hours=17), base + timedelta(days=1)))
        else:
            ivs.append(Interval(S.IDLE, base, base + timedelta(days=1)))
    profile = hourly_profile(ivs)
    assert len(profile) == 168
    assert profile[0 * 24 + 10] == 1.0  # Monday 10:00
    assert profile[2 * 24 + 8] == 0.0  # Wednesday 08:00
    assert profile[5 * 24 + 12] == 0.0  # Saturday noon


def sampled_agent(rng: np.random.Generator, days: int, period_s: int) -> list[tuple[datetime, S]]:
    """An agent sampling every ``period_s`` a process with known truth: exponential runs of
    mean 2 h, a failure after a run with probability 1/4 (running MTBF 8 h), lognormal
    repairs of mean 1 h, exponential idle gaps of mean 30 min; offline 6 h every 10 days."""
    changes: list[tuple[float, S]] = []
    t, end = 0.0, days * 86400.0
    while t < end:
        changes.append((t, S.RUNNING))
        t += rng.exponential(7200)
        if rng.random() < 0.25:
            changes.append((t, S.DOWN))
            t += rng.lognormal(math.log(3600) - 0.5**2 / 2, 0.5)
        changes.append((t, S.IDLE))
        t += rng.exponential(1800)
    out, i = [], 0
    for k in range(int(end // period_s)):
        at = k * period_s
        if at % (10 * 86400) < 6 * 3600 and at >= 86400:
            continue  # the agent is offline
        while i + 1 < len(changes) and changes[i + 1][0] <= at:
            i += 1
        out.append((T0 + timedelta(seconds=at), changes[i][1]))
    return out


def test_learns_a_sampled_agents_true_parameters() -> None:
    samples = sampled_agent(np.random.default_rng(42), days=90, period_s=30)
    b = learn(intervals(samples, gap=90))
    assert b.failures > 150
    assert b.running_mtbf_ci is not None
    assert b.mttr_ci is not None
    assert b.running_mtbf_ci[0] <= 8.0 <= b.running_mtbf_ci[1]
    assert b.mttr_hours == pytest.approx(1.0, rel=0.12)
    assert b.run_length is not None
    assert b.run_length.mean_s == pytest.approx(7200, rel=0.1)
    assert b.idle_length is not None
    assert b.idle_length.family in {"exponential", "weibull", "gamma"}
    assert b.observed_hours == pytest.approx(90 * 24 - 8 * 6, rel=0.01)


def test_no_history_learns_nothing_and_says_so() -> None:
    b = learn([])
    assert b.mtbf_hours is None
    assert b.mttr_hours is None
    assert b.availability is None
    assert b.failures == 0
    assert b.observed_hours == 0
    assert len(b.hourly_profile) == 168
