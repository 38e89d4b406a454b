"""What an instrument's history says about its behaviour (pure: numpy and scipy only).

``intervals`` turns ordered samples into state intervals; ``learn`` turns intervals into a
``Behaviour``: MTBF and MTTR with confidence intervals, fitted run, idle and repair length
distributions, and an hour-of-week utilisation profile. The scheduler reads availability from
it and the forecast calibrates its SimPy model with it, so every estimate says how much data
it rests on (``n``, ``failures``, ``observed_hours``) and how well a fit fits (``ks_pvalue``).

Assumptions, stated: failures are a Poisson process while the instrument operates, so the
MTBF interval is the exact (Garwood) chi-square interval of a time-truncated test (``mtbf``
says why it holds although the operating time is itself random). The MTTR interval is the
hull of two: the interval of the mean of gamma-distributed repairs (exponential ones
included; shape by maximum likelihood, corrected for small samples) and Student's t, which
holds for large samples of any shape. Operating time is time running, idle or in setup:
``down`` is repair, ``maintenance`` is planned and counts as neither.

Only what was seen counts. A failure is a ``down`` episode whose onset was observed (it
follows another state without silence), so a repair already going when the window opens, or
one first seen after a silence (the instrument failed unobserved, in time that is not
counted either), is no failure. An episode's length is known when both its ends were seen:
from its first to its last sample's state, silences within it included (the same state on
both sides); episodes cut by the window's edges or by silence are left out of MTTR and of the
fitted lengths (``Behaviour.repairs`` counts those MTTR rests on).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
from scipy import stats as st

from pilotshare.core.domain import InstrumentState

HOURS_OF_WEEK = 168
CONFIDENCE = 0.90
#: Fewer observations than this: only the exponential (one parameter) is fitted.
MIN_FOR_SHAPE = 8
OPERATING = frozenset({InstrumentState.RUNNING, InstrumentState.IDLE, InstrumentState.SETUP})


@dataclass(frozen=True, slots=True)
class Interval:
    """The instrument was in ``state`` from ``start`` to ``end``."""

    state: InstrumentState
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def intervals(
    samples: Iterable[tuple[datetime, InstrumentState | str]],
    *,
    gap: timedelta | float,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Interval]:
    """State intervals from samples ordered by time: the one rule (``twin.store`` runs it in SQL).

    A sample's state lasts until the next sample; silence longer than ``gap`` means the
    instrument was offline, so the interval ends at the last sample before the silence.
    Zero-length intervals (a lone sample between silences) are dropped.

    In a window ``[since, until)`` the intervals are what the twin knew at ``until``: samples
    from ``until`` on are not seen, the last sample before ``since`` carries its state in,
    everything is clipped to the window, and the last sample's state lasts until ``until``
    when ``until - ts <= gap`` (the instrument is not offline yet), else it ends there.
    """
    limit = gap if isinstance(gap, timedelta) else timedelta(seconds=gap)
    out: list[Interval] = []
    state: InstrumentState | None = None
    start: datetime | None = None
    last: datetime | None = None

    def close(end: datetime) -> None:
        if state is None or start is None:
            return
        a = start if since is None else max(start, since)
        if end > a:
            out.append(Interval(state, a, end))

    for ts, raw in samples:
        if until is not None and ts >= until:
            break
        current = InstrumentState(raw)
        if last is not None and ts < last:
            raise ValueError("samples must be ordered by time")
        if since is not None and ts < since:  # before the window: only the last one counts
            state, start, last = current, ts, ts
            continue
        if last is None or start is None or ts - last > limit:
            if last is not None:
                close(last)
            state, start = current, ts
        elif current != state:
            close(ts)
            state, start = current, ts
        last = ts
    if last is not None:
        close(until if until is not None and until - last <= limit else last)
    return out


@dataclass(frozen=True)
class DistributionFit:
    """A fitted duration distribution (seconds); ``params`` are scipy's, location 0."""

    family: str
    params: dict[str, float]
    mean_s: float
    n: int
    ks_pvalue: float | None
    aic: float | None = None

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` durations in seconds drawn with ``rng``."""
        p = self.params
        if self.family == "exponential":
            return rng.exponential(p["scale"], size)
        if self.family == "weibull":
            return p["scale"] * rng.weibull(p["shape"], size)
        if self.family == "lognormal":
            return rng.lognormal(math.log(p["scale"]), p["sigma"], size)
        if self.family == "gamma":
            return rng.gamma(p["shape"], p["scale"], size)
        raise ValueError(f"unknown family {self.family!r}")


def fit(durations_s: Sequence[float] | np.ndarray) -> DistributionFit | None:
    """The best of exponential, Weibull, lognormal and gamma by AIC (None: no data)."""
    x = np.asarray(durations_s, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    n = int(x.size)
    if n == 0:
        return None
    candidates: list[tuple[float, str, dict[str, float], tuple[float, ...], st.rv_continuous]] = []
    scale = float(x.mean())
    candidates.append(_scored("exponential", {"scale": scale}, (0.0, scale), st.expon, x))
    if n >= MIN_FOR_SHAPE and float(x.std()) > 0:
        with np.errstate(all="ignore"):
            c, _, s = st.weibull_min.fit(x, floc=0)
            candidates.append(
                _scored("weibull", {"shape": c, "scale": s}, (c, 0.0, s), st.weibull_min, x)
            )
            sig, _, s = st.lognorm.fit(x, floc=0)
            candidates.append(
                _scored("lognormal", {"sigma": sig, "scale": s}, (sig, 0.0, s), st.lognorm, x)
            )
            a, _, s = st.gamma.fit(x, floc=0)
            candidates.append(_scored("gamma", {"shape": a, "scale": s}, (a, 0.0, s), st.gamma, x))
    finite = [c for c in candidates if math.isfinite(c[0])]
    aic, family, params, args, dist = min(finite or candidates, key=lambda c: c[0])
    ks: float | None = None
    if n >= 2:
        ks = float(st.kstest(x, dist.cdf, args=args).pvalue)
    mean = float(dist.mean(*args))
    return DistributionFit(
        family=family,
        params={k: float(v) for k, v in params.items()},
        mean_s=mean if math.isfinite(mean) else scale,
        n=n,
        ks_pvalue=ks,
        aic=float(aic) if math.isfinite(aic) else None,
    )


def _scored(
    family: str,
    params: dict[str, float],
    args: tuple[float, ...],
    dist: st.rv_continuous,
    x: np.ndarray,
) -> tuple[float, str, dict[str, float], tuple[float, ...], st.rv_continuous]:
    with np.errstate(all="ignore"):
        loglik = float(np.sum(dist.logpdf(x, *args)))
    aic = 2 * len(params) - 2 * loglik if math.isfinite(loglik) else math.inf
    return aic, family, params, args, dist


@dataclass(frozen=True)
class Behaviour:
    """An instrument's learned behaviour over an observed history."""

    mtbf_hours: float | None
    mtbf_ci: tuple[float, float] | None
    mttr_hours: float | None
    mttr_ci: tuple[float, float] | None
    failures: int
    run_length: DistributionFit | None
    idle_length: DistributionFit | None
    repair_length: DistributionFit | None
    #: Share of observed time running, per hour of the week (index weekday*24 + hour, in
    #: ``profile_timezone``); an hour never observed gets the overall share.
    hourly_profile: tuple[float, ...]
    observed_hours: float
    operating_hours: float = 0.0
    state_hours: dict[str, float] = field(default_factory=dict)
    #: Running time per failure: the MTBF of a model in which only running wears the
    #: instrument (as the simulated instruments and the SimPy model assume).
    running_mtbf_hours: float | None = None
    running_mtbf_ci: tuple[float, float] | None = None
    #: How many failures began from each state (the state of the interval that ended where
    #: the repair began; ``unknown`` after a silence): the evidence for which clock wears
    #: the instrument (``scheduler.forecast.inputs.failure_spec``).
    failures_from: dict[str, int] = field(default_factory=dict)
    #: Whole repairs (both ends seen): what ``mttr_hours`` and ``repair_length`` rest on.
    repairs: int = 0
    #: The confidence level of the three intervals.
    confidence: float = CONFIDENCE
    #: The IANA time zone whose weekdays and hours ``hourly_profile`` is indexed by.
    profile_timezone: str = "UTC"

    @property
    def availability(self) -> float | None:
        """MTBF / (MTBF + MTTR); 1.0 when operated without failure; None when unknown."""
        if self.failures == 0:
            return 1.0 if self.operating_hours > 0 else None
        if self.mtbf_hours is None or self.mttr_hours is None:
            return None
        return self.mtbf_hours / (self.mtbf_hours + self.mttr_hours)


@dataclass(frozen=True, slots=True)
class Episode:
    """A maximal stretch of one state; ``onset_seen`` / ``end_seen``: another state was
    observed right before / after it (no silence, no edge of the window)."""

    state: InstrumentState
    start: datetime
    end: datetime
    onset_seen: bool
    end_seen: bool

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def whole(self) -> bool:
        return self.onset_seen and self.end_seen


def episodes(ivs: Sequence[Interval]) -> list[Episode]:
    """Intervals merged into episodes: consecutive intervals of one state are one episode,
    also across a silence (the same state on both sides of it)."""
    out: list[Episode] = []
    k = 0
    while k < len(ivs):
        first = k
        while k + 1 < len(ivs) and ivs[k + 1].state == ivs[first].state:
            k += 1
        onset = first > 0 and ivs[first - 1].end == ivs[first].start
        end = k + 1 < len(ivs) and ivs[k].end == ivs[k + 1].start
        out.append(Episode(ivs[first].state, ivs[first].start, ivs[k].end, onset, end))
        k += 1
    return out


def failure_origins(ivs: Sequence[Interval]) -> dict[str, int]:
    """Per state, how many repair episodes (as ``_episodes`` counts them) began right where
    an interval in that state ended; ``unknown`` when silence came first."""
    out: dict[str, int] = {}
    prev: Interval | None = None
    for iv in ivs:
        if iv.state == InstrumentState.DOWN and (prev is None or prev.state != iv.state):
            origin = prev.state.value if prev is not None and prev.end == iv.start else "unknown"
            out[origin] = out.get(origin, 0) + 1
        prev = iv
    return out


def _lengths(eps: Sequence[Episode], state: InstrumentState) -> list[float]:
    return [e.seconds for e in eps if e.state == state and e.whole]


def mtbf(operating_s: float, failures: int) -> tuple[float | None, tuple[float, float] | None]:
    """Hours per failure over ``operating_s`` of exposure, with its exact (Garwood) interval.

    The exposure is not fixed in advance: failures end runs and repairs take the clock, and
    silences hide stretches, so the operating time is random and falls as failures rise. The
    interval holds all the same, because what ends a run or hides a stretch never looks at
    the failure clock ahead: ``failures - exposure / MTBF`` is then a martingale whose variance
    is ``E[exposure] / MTBF``, as if the exposure were fixed, and the Poisson pivot stands (for
    a few failures Garwood's discreteness keeps it conservative). An interval from the
    exponential likelihood of the times between failures, censored spans included, would rest
    on the same two numbers (failures and exposure are sufficient), and a quasi-Poisson
    widening would answer an overdispersion that simulated and Poisson failures do not show:
    with 400 failures in four weeks it covers 90.6 % of 2,400 seeds of the simulated
    instrument (``docs/validation.md`` §4).
    """
    if failures == 0 or operating_s <= 0:
        return None, None
    hours = operating_s / 3600
    alpha = 1 - CONFIDENCE
    lo = 2 * hours / st.chi2.ppf(1 - alpha / 2, 2 * failures + 2)
    hi = 2 * hours / st.chi2.ppf(alpha / 2, 2 * failures)
    return hours / failures, (float(lo), float(hi))


def _gamma_shape(x: np.ndarray) -> float:
    """The gamma shape by maximum likelihood (Choi-Wette), with the small-sample correction
    of Anderson and Ray; large when all values are equal."""
    s = math.log(float(x.mean())) - float(np.log(x).mean())
    if s <= 1e-12:
        return 1e6
    k = (3 - s + math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    n = x.size
    return max((n - 3) / n * k + 2 / (3 * n), 0.05)


def mttr(
    repairs_s: Sequence[float] | np.ndarray,
) -> tuple[float | None, tuple[float, float] | None]:
    """Mean hours to repair with its interval (None below two repairs)."""
    h = np.asarray(repairs_s, dtype=float) / 3600
    if h.size == 0:
        return None, None
    mean = float(h.mean())
    if h.size < 2:
        return mean, None
    alpha = 1 - CONFIDENCE
    half = float(st.t.ppf(1 - alpha / 2, h.size - 1) * h.std(ddof=1) / math.sqrt(h.size))
    lo, hi = max(mean - half, 0.0), mean + half
    if np.all(h > 0):
        df = 2 * h.size * _gamma_shape(h)
        lo = min(lo, float(df * mean / st.chi2.ppf(1 - alpha / 2, df)))
        hi = max(hi, float(df * mean / st.chi2.ppf(alpha / 2, df)))
    return mean, (lo, hi)


def hourly_profile(ivs: Sequence[Interval], *, timezone: str = "UTC") -> tuple[float, ...]:
    """Share of observed time spent running per hour of the week (168 values), the week's
    days and hours read in ``timezone`` (across a DST change a local hour is still one slot)."""
    tz = ZoneInfo(timezone)
    observed = np.zeros(HOURS_OF_WEEK)
    running = np.zeros(HOURS_OF_WEEK)
    for iv in ivs:
        t = iv.start.astimezone(UTC)
        end = iv.end.astimezone(UTC)
        while t < end:
            local = t.astimezone(tz)
            hour_start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            nxt = min(hour_start + timedelta(hours=1), end)
            slot = local.weekday() * 24 + local.hour
            seconds = (nxt - t).total_seconds()
            observed[slot] += seconds
            if iv.state == InstrumentState.RUNNING:
                running[slot] += seconds
            t = nxt
    total = observed.sum()
    overall = float(running.sum() / total) if total > 0 else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(observed > 0, running / np.where(observed > 0, observed, 1), overall)
    return tuple(float(v) for v in share)


def learn(ivs: Sequence[Interval], *, timezone: str = "UTC") -> Behaviour:
    """Learn an instrument's behaviour from its state intervals (ordered by time); the
    hour-of-week profile is read in ``timezone`` (the site's)."""
    state_s: dict[str, float] = {s.value: 0.0 for s in InstrumentState}
    for iv in ivs:
        state_s[iv.state.value] += iv.seconds
    operating = sum(state_s[s.value] for s in OPERATING)
    eps = episodes(ivs)
    failures = sum(1 for e in eps if e.state == InstrumentState.DOWN and e.onset_seen)
    repairs = _lengths(eps, InstrumentState.DOWN)
    mtbf_h, mtbf_ci = mtbf(operating, failures)
    mttr_h, mttr_ci = mttr(repairs)
    running_mtbf, running_ci = mtbf(state_s[InstrumentState.RUNNING.value], failures)
    return Behaviour(
        mtbf_hours=mtbf_h,
        mtbf_ci=mtbf_ci,
        mttr_hours=mttr_h,
        mttr_ci=mttr_ci,
        failures=failures,
        run_length=fit(_lengths(eps, InstrumentState.RUNNING)),
        idle_length=fit(_lengths(eps, InstrumentState.IDLE)),
        repair_length=fit(repairs),
        hourly_profile=hourly_profile(ivs, timezone=timezone),
        observed_hours=sum(state_s.values()) / 3600,
        operating_hours=operating / 3600,
        state_hours={k: v / 3600 for k, v in state_s.items()},
        running_mtbf_hours=running_mtbf,
        running_mtbf_ci=running_ci,
        failures_from=failure_origins(ivs),
        repairs=len(repairs),
        profile_timezone=timezone,
    )


#: z of a two-sided 90 % interval: the confidence the twin and the forecast state.
Z90: Final = 1.6448536269514722


def wilson(successes: int, n: int, z: float = Z90) -> tuple[float, float]:
    """Wilson score interval of a binomial share (90% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, min(p, centre - half))  # exact at the ends,
    hi = 1.0 if successes == n else min(1.0, max(p, centre + half))  # despite rounding
    return lo, hi
