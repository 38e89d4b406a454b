"""A SimPy model of one site: instruments that fail and are repaired, bookings that run late,
overrun or do not show, and new demand placed by the scheduler in virtual time.

Theory of operation
===================

Inputs are plain frozen data in seconds from the model's origin (``SiteSpec.origin``, the
moment the forecast starts from): instruments with their open time (calendar minus
maintenance), failure and repair distributions, the bookings already held, and demand
streams per kind. Outputs (``Replication``) are arrays: running and up seconds per
instrument and day, whether each existing booking was served as booked, and the wait of
every new request. Same ``SiteSpec``, same desk and same seed: same arrays.

Events are kept few, because a forecast runs hundreds of replications:

- *Failures cost no events.* On the calendar clock (``FailureSpec.clock``), each
  instrument's up/down timeline for the whole horizon is drawn with numpy before the run
  (alternating draws from ``FailureSpec.up`` and ``FailureSpec.repair``). "Is it down at
  t?" and "when does a run of w seconds that starts at t finish, pausing through repairs
  (preemptive resume)?" are bisections on that timeline. On the running clock an
  instrument carries the running time left to its next failure (a draw from
  ``FailureSpec.up``); a run consumes it, and when it runs out mid-run the repair (a draw
  from ``FailureSpec.repair``) is appended to the same timeline and the run resumes after
  it. A unit's runs come in time order, so the timeline stays sorted and the same
  bisections answer for the bookings that come after.
- *A booking costs one event*: a timeout at its slot start whose callback decides, from the
  timeline and the instrument's ``busy_until``, whether it is served as booked (up and free
  at its start), when it really starts (late start, a previous overrun, a repair) and when
  it ends (run ratio, repairs). Nothing needs to happen at its end: the next booking reads
  ``busy_until``. A booking that cannot start within ``UsageSpec.max_delay_s`` is lost,
  and its owner asks the scheduler again (a *rebook*).
- *Demand costs one event per request*: each demand stream walks arrival times drawn up
  front (a Poisson process thinned by the hour-of-week profile), one timeout at a time
  whose callback asks the ``Desk`` to place the request. The desk is the scheduler:
  ``scheduler.forecast.desk`` wraps ``scheduler.allocation.allocate`` (the function the API
  books with) so the model never imports the scheduler (layers: twin sits below scheduler).

Random streams: every stream (one instrument's failures, one instrument's usage, one demand
stream) gets its own generator derived from the replication's ``SeedSequence`` and a stable
hash of the stream's name. Adding an instrument or a demand stream therefore leaves every
other stream's draws unchanged, which is what paired (common random numbers) comparisons of
scenarios need.

Approximations, stated: on the calendar clock failures come also while idle or closed, on
the running clock only while running (each starts the horizon as good as new); like the API's
scheduler, the desk does not know that an instrument is down now (``SiteSpec.avoid_down``
changes that); a session that starts keeps running past closing time if it must (only open
time counts as utilisation).
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC

import numpy as np
import simpy

from pilotshare.twin.distributions import Empirical, Exponential, Fixed, Lognormal, Sampler
from pilotshare.twin.site import (
    BookingSpec,
    DemandSpec,
    Desk,
    DeskFactory,
    FailureClock,
    FailureSpec,
    FloatArray,
    InstrumentSpec,
    Placement,
    QuotaSpec,
    Replication,
    SiteSpec,
    SlotRequest,
    UsageSpec,
    closure_over,
)
from pilotshare.twin.timeline import DAY, amounts_per_bin, cumulative, failure_timeline


def stream(seq: np.random.SeedSequence, name: str) -> np.random.Generator:
    """The generator of one named stream of a replication (stable under added streams)."""
    key = zlib.crc32(name.encode())
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, key))
    return np.random.default_rng(child)


def scheduled_events(env: simpy.Environment) -> int | None:
    """How many events ``env`` has scheduled, read once at the end of a run.

    SimPy has no public counter: it numbers scheduled events with the private
    ``Environment._eid`` (an ``itertools.count``, its tie-breaker in the event queue), and
    reading the count consumes one number. This is the one place that reaches into SimPy;
    ``tests/unit/test_model_determinism.py`` fails if SimPy renames or changes it. None:
    this SimPy does not say (the model's own count stands).
    """
    counter = getattr(env, "_eid", None)
    return next(counter) if counter is not None else None


@dataclass(slots=True)
class _Booking:
    start: float
    end: float
    unit: _Unit
    existing: int  # index in SiteSpec.bookings, or -1
    request: int = -1  # index in SiteModel.req (a reported new request), or -1
    org: str = ""


def _draws(sampler: Sampler | None, rng: np.random.Generator, block: int = 64) -> Iterator[float]:
    """Values of one sampler (uniforms on [0, 1) for ``None``) drawn in blocks, one numpy
    call per block, not per value (a numpy call for one value costs as much as a SimPy
    event); ``next()`` on a generator is the cheapest way to hand them out one by one."""
    while True:
        if sampler is None:
            yield from rng.random(block).tolist()
        else:
            yield from sampler.sample(rng, block).tolist()


class _Unit:
    """One instrument inside one replication: its timeline and its sessions."""

    __slots__ = (
        "busy_until",
        "cursor",
        "down_e",
        "down_s",
        "index",
        "kind",
        "late",
        "overrun",
        "ratio",
        "repair_mean",
        "repairs",
        "run_e",
        "run_s",
        "spec",
        "ttf",
        "uniform",
        "usage",
        "wear",
    )

    def __init__(
        self,
        index: int,
        spec: InstrumentSpec,
        *,
        kind: int,
        usage: UsageSpec,
        horizon: float,
        seq: np.random.SeedSequence,
    ) -> None:
        self.index, self.spec, self.kind, self.usage = index, spec, kind, usage
        self.busy_until = -math.inf
        self.cursor = 0
        self.run_s: list[float] = []
        self.run_e: list[float] = []
        # One stream per purpose, so that changing one behaviour leaves the others' draws.
        self.uniform = _draws(None, stream(seq, f"usage/{spec.id}"))
        self.late = _draws(usage.late_start, stream(seq, f"late/{spec.id}"))
        self.ratio = _draws(usage.run_ratio, stream(seq, f"ratio/{spec.id}"))
        self.overrun = _draws(usage.overrun, stream(seq, f"overrun/{spec.id}"))
        f = spec.failures
        self.wear: Iterator[float] | None = None  # running clock: running seconds to failure
        self.repairs: Iterator[float] | None = None
        self.ttf = math.inf
        if f is None:
            self.down_s: list[float] = []
            self.down_e: list[float] = []
            self.repair_mean = 0.0
        elif f.clock == "running":
            # Failures come out of runs (``_run_wearing``): only the first repair, for an
            # instrument down at the start, is known before the run.
            self.wear = _draws(f.up, stream(seq, f"failures/{spec.id}"), block=16)
            self.repairs = _draws(f.repair, stream(seq, f"repairs/{spec.id}"), block=16)
            self.ttf = next(self.wear)
            self.down_s, self.down_e = [], []
            if spec.down_at_start:
                self.down_s.append(0.0)
                self.down_e.append(max(next(self.repairs), 0.0))
            self.repair_mean = f.repair.mean_s
        else:
            s, e = failure_timeline(
                stream(seq, f"failures/{spec.id}"),
                f.up,
                f.repair,
                horizon,
                down_at_start=spec.down_at_start,
            )
            self.down_s, self.down_e = s.tolist(), e.tolist()
            self.repair_mean = f.repair.mean_s

    def down_now(self, now: float) -> bool:
        """Whether a repair is under way at ``now``; ``now`` never decreases between calls
        (simulation time), so a cursor replaces the bisection."""
        c, ends = self.cursor, self.down_e
        while c < len(ends) and ends[c] <= now:
            c += 1
        self.cursor = c
        return c < len(ends) and self.down_s[c] <= now

    def down_until(self, t: float) -> float:
        """The end of the repair under way at ``t`` (``t`` itself when up)."""
        j = bisect_right(self.down_s, t) - 1
        if j >= 0 and t < self.down_e[j]:
            return self.down_e[j]
        return t

    def run(self, t: float, work: float, until: float = math.inf) -> float:
        """Run ``work`` seconds from ``t``, pausing through repairs (preemptive resume), but
        not past ``until``; returns when the instrument is free again."""
        t = self.down_until(t)
        if self.wear is not None:
            return self._run_wearing(t, work, until)
        j = bisect_right(self.down_s, t)
        ds, de, n = self.down_s, self.down_e, len(self.down_s)
        while j < n and t + work > ds[j] and ds[j] < until:
            if ds[j] > t:
                self.run_s.append(t)
                self.run_e.append(ds[j])
                work -= ds[j] - t
            t = de[j]
            j += 1
            if t >= until:
                return t  # repaired after the session's end: nothing more runs
        end = min(t + work, until)
        if end > t:
            self.run_s.append(t)
            self.run_e.append(end)
        return max(end, t)

    def _run_wearing(self, t: float, work: float, until: float) -> float:
        """``run`` on the running clock: the run consumes the running time left to the next
        failure (``ttf``); when that comes first, the instrument fails there, the repair is
        appended to the down timeline (runs come in time order, so it stays sorted) and the
        run resumes after it. No events: a failure is a few list appends."""
        wear, repairs = self.wear, self.repairs
        assert wear is not None  # noqa: S101 - set with repairs
        assert repairs is not None  # noqa: S101
        ttf = self.ttf
        while work > 0 and t < until:
            seg = min(work, until - t)
            if ttf >= seg:
                self.run_s.append(t)
                self.run_e.append(t + seg)
                self.ttf = ttf - seg
                return t + seg
            fail = t + ttf
            if ttf > 0:
                self.run_s.append(t)
                self.run_e.append(fail)
            work -= ttf
            t = fail + max(next(repairs), 0.0)
            self.down_s.append(fail)
            self.down_e.append(t)
            ttf = max(next(wear), 0.0)
        self.ttf = ttf
        return t


class SiteModel:
    """One replication of a site: build with a seed and a desk, then ``run()``."""

    def __init__(self, site: SiteSpec, desk: Desk, seed: np.random.SeedSequence) -> None:
        self.site, self.desk, self.seed = site, desk, seed
        self.env = simpy.Environment()
        self.kinds = site.kinds
        kind_index = {k: n for n, k in enumerate(self.kinds)}
        usage = {u.kind: u for u in site.usage}
        self.units = [
            _Unit(
                n,
                spec,
                kind=kind_index[spec.kind],
                usage=usage.get(spec.kind, UsageSpec(spec.kind)),
                horizon=site.horizon_s,
                seq=seed,
            )
            for n, spec in enumerate(site.instruments)
        ]
        self.by_id = {u.spec.id: u for u in self.units}
        self.by_kind: dict[str, list[_Unit]] = {k: [] for k in self.kinds}
        for u in self.units:
            self.by_kind[u.spec.kind].append(u)
        self._on_start_cb = self._on_start  # one bound method, not one per booking
        self.kind_index = kind_index
        self.window = {d.kind: d.window_s for d in site.demand}
        self.served = np.zeros(len(site.bookings), dtype=bool)
        # Counters as lists, arrays at the end: a numpy element's += is a slow path.
        self.rebooked = [0] * len(self.kinds)
        self.sessions = [0] * len(self.kinds)
        self.events = 0
        self.req: list[tuple[int, float, float, float]] = []
        self.req_delay: list[float] = []
        self._next_id = 0

    # -- bookings ---------------------------------------------------------------------------

    def _schedule(self, booking: _Booking) -> None:
        delay = max(booking.start - self.env.now, 0.0)
        ev = self.env.timeout(delay, booking)
        ev.callbacks.append(self._on_start_cb)
        self.events += 1

    def _on_start(self, event: simpy.Event) -> None:
        b = event.value
        assert isinstance(b, _Booking)  # noqa: S101 - only _schedule creates these events
        unit, t = b.unit, self.env.now
        if b.existing >= 0:
            self.served[b.existing] = unit.down_until(t) == t and unit.busy_until <= t
        use = unit.usage
        if use.no_show_p > 0 and next(unit.uniform) < use.no_show_p:
            return
        start = t + (next(unit.late) if use.late_start else 0.0)
        start = unit.down_until(max(start, unit.busy_until))
        length = b.end - b.start
        limit = use.max_delay_s if use.max_delay_s is not None else length
        if b.request >= 0 and start - b.start < limit:
            self.req_delay[b.request] = start - b.start
        if start - b.start >= limit:
            self.rebooked[unit.kind] += 1
            if self.site.rebook:
                self._request(
                    unit.spec.kind,
                    length,
                    t,
                    self.window.get(unit.spec.kind, 14 * DAY),
                    unit.spec.capabilities,
                    report=False,
                    org=b.org,
                )
            return
        ratio = next(unit.ratio) if use.run_ratio else 1.0
        if use.ends_with_slot:  # runs for its share of what is left of the slot
            free_at = unit.run(start, max(ratio, 0.0) * max(b.end - start, 0.0), b.end)
        else:  # a queue: the whole work, however late
            free_at = unit.run(start, max(ratio, 0.0) * length)
        if use.overrun is not None and use.overrun_p > 0 and next(unit.uniform) < use.overrun_p:
            # Still running at the slot's end, and on for a while.
            more = next(unit.overrun)
            free_at = max(free_at, unit.run(max(free_at, b.end), more))
        unit.busy_until = free_at
        self.sessions[unit.kind] += 1

    # -- demand -----------------------------------------------------------------------------

    def _request(
        self,
        kind: str,
        duration: float,
        earliest: float,
        window: float,
        caps: frozenset[str],
        *,
        report: bool,
        org: str = "",
    ) -> None:
        now = self.env.now
        not_before = {}
        if self.site.avoid_down:
            for u in self.by_kind.get(kind, ()):
                if u.down_e and u.down_now(now):
                    not_before[u.index] = now + u.repair_mean
        self._next_id += 1
        request = SlotRequest(self._next_id, kind, duration, earliest, earliest + window, caps, org)
        got = self.desk.place(request, now, not_before)
        reported = report and now >= self.site.warmup_s
        if got is not None:
            index = len(self.req) if reported else -1
            self._schedule(_Booking(got.start, got.end, self.units[got.instrument], -1, index, org))
        if reported:
            wait = got.start - earliest if got is not None else math.nan
            self.req.append((self.kind_index[kind], now, duration, wait))
            self.req_delay.append(math.nan)

    def _arrivals(self, spec: DemandSpec) -> FloatArray:
        rng = stream(self.seed, f"demand/{spec.name or spec.kind}")
        profile = np.asarray(spec.weekly_profile, dtype=float) if spec.weekly_profile else None
        peak = float(profile.max()) if profile is not None else 1.0
        rate = spec.rate_per_hour * peak / 3600.0
        if rate <= 0:
            return np.zeros((0, 3))
        n = int(rng.poisson(rate * self.site.horizon_s))
        times = np.sort(rng.uniform(0.0, self.site.horizon_s, n))
        if profile is not None:
            o = self.site.origin.astimezone(UTC)
            how0 = o.weekday() * 24 + o.hour + o.minute / 60 + o.second / 3600
            hour = ((how0 + times / 3600.0) % 168).astype(int)
            times = times[rng.random(n) * peak < profile[hour]]
        durations = spec.duration.sample(rng, times.size)
        leads = spec.lead.sample(rng, times.size) if spec.lead else np.zeros(times.size)
        return np.column_stack([times, durations, leads])

    def _demand(self, spec: DemandSpec) -> None:
        """Walk the stream's arrivals: a timeout per request whose callback asks the desk
        and schedules the next one (a callback costs less than resuming a process)."""
        rows: Iterator[list[float]] = iter(self._arrivals(spec).tolist())
        env = self.env
        kind, window, caps, org = spec.kind, spec.window_s, spec.capabilities, spec.org

        def arrive(event: simpy.Event) -> None:
            t, duration, lead = event.value  # type: ignore[misc]  # the row nxt() passed
            self._request(kind, duration, t + lead, window, caps, report=True, org=org)
            nxt()

        def nxt() -> None:
            row = next(rows, None)
            if row is not None:
                self.events += 1
                env.timeout(row[0] - env.now, row).callbacks.append(arrive)

        nxt()

    # -- run --------------------------------------------------------------------------------

    def run(self) -> Replication:
        """Run the replication to the horizon and return its arrays."""
        for n, b in enumerate(self.site.bookings):
            unit = self.by_id[b.instrument]
            if b.end > 0 and not b.closed:  # a closed one stays unserved
                self._schedule(_Booking(max(b.start, 0.0), b.end, unit, n, org=b.org))
        for spec in self.site.demand:
            self._demand(spec)
        self.env.run(until=self.site.horizon_s)
        self.events = scheduled_events(self.env) or self.events
        return self._collect()

    def _collect(self) -> Replication:
        site = self.site
        edges = np.minimum(np.arange(site.days + 1, dtype=float) * DAY, site.horizon_s)
        run = np.zeros((len(self.units), site.days))
        up = np.zeros_like(run)
        for u in self.units:
            cum = cumulative(site.open_intervals(u.index))
            opened = np.diff(cum(edges))
            run[u.index] = amounts_per_bin(u.run_s, u.run_e, cum, edges)
            up[u.index] = opened - amounts_per_bin(u.down_s, u.down_e, cum, edges)
        req = np.asarray(self.req, dtype=float).reshape(-1, 4)
        return Replication(
            run_s=run,
            up_s=up,
            served=self.served,
            req_kind=req[:, 0].astype(np.int16),
            req_time=req[:, 1].copy(),
            req_duration=req[:, 2].copy(),
            req_wait=req[:, 3].copy(),
            rebooked=np.asarray(self.rebooked, dtype=np.int64),
            events=self.events,
            sessions=np.asarray(self.sessions, dtype=np.int64),
            req_delay=np.asarray(self.req_delay, dtype=float),
        )


def replicate(
    site: SiteSpec, desk_factory: DeskFactory, seed: np.random.SeedSequence
) -> Replication:
    """One replication: a fresh desk from ``desk_factory(site)``, streams from ``seed``.

    This is the unit of work a process pool or a Dask worker runs: everything it takes
    pickles, and it reads no clock and no global random state.
    """
    return SiteModel(site, desk_factory(site), seed).run()


def seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Independent replication streams from one ``SeedSequence``: replication i gets the
    same stream whatever the number of replications or workers."""
    return np.random.SeedSequence(seed).spawn(replications)


def open_seconds(site: SiteSpec) -> FloatArray:
    """Open seconds per instrument and day (the utilisation denominator; the same every
    replication)."""
    edges = np.minimum(np.arange(site.days + 1, dtype=float) * DAY, site.horizon_s)
    return (
        np.vstack(
            [
                np.diff(cumulative(site.open_intervals(i))(edges))
                for i in range(len(site.instruments))
            ]
        )
        if site.instruments
        else np.zeros((0, site.days))
    )


__all__: Sequence[str] = (
    "BookingSpec",
    "DemandSpec",
    "Desk",
    "DeskFactory",
    "Empirical",
    "Exponential",
    "FailureClock",
    "FailureSpec",
    "Fixed",
    "InstrumentSpec",
    "Lognormal",
    "Placement",
    "QuotaSpec",
    "Replication",
    "Sampler",
    "SiteModel",
    "SiteSpec",
    "SlotRequest",
    "UsageSpec",
    "closure_over",
    "open_seconds",
    "replicate",
    "seeds",
    "stream",
)
