"""What a capacity forecast starts from, read from the database, and the model inputs built
from it.

``load_inputs`` takes one repeatable-read snapshot at ``now``: instruments with their booking
rules and calendars, maintenance, the bookings that hold instruments, the live state (an
instrument down now starts down), the behaviour the twin learned and stored
(``instrument_behaviour``, kept fresh by the ingest with the twin's own gap and window) and
the bookings made in the last ``history_days``. ``build_site`` turns it into the model's
``SiteSpec``:

- failures: learned (exponential time between failures at the learned MTBF, the fitted
  repair distribution) when the stored behaviour counts at least ``MIN_FAILURES`` failures,
  else the configured prior, flagged in the result. An instrument the twin has not learned
  yet (new, or before the ingest's first refresh) gets the prior too: the forecast never
  relearns from raw telemetry;
- usage per kind: the no-show share shrunk towards a prior, late starts and run ratios
  resampled from completed bookings (prior, flagged, with fewer than ``MIN_USAGE_OBS``);
- demand per kind and organisation: a Poisson stream at the rate the organisation made
  bookings in the history, with their durations and lead times resampled; no history, no
  new demand (flagged);
- who may book what: each instrument's qualified organisations, the organisations that
  hold an admin key (an admin books any instrument) and every organisation's quotas (with
  what already counts against them), read in the same snapshot, so the model's desk books
  each organisation's demand as the API would.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from scipy import stats as st

from pilotshare.core.db import Connection
from pilotshare.core.domain import BookingStatus, InstrumentState
from pilotshare.registry import list_keys
from pilotshare.scheduler.forecast import store
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar
from pilotshare.scheduler.states import ATTENDANCE
from pilotshare.twin.distributions import Empirical, Exponential, Sampler
from pilotshare.twin.model import (
    BookingSpec,
    DemandSpec,
    FailureClock,
    FailureSpec,
    InstrumentSpec,
    QuotaSpec,
    SiteSpec,
    UsageSpec,
    closure_over,
)
from pilotshare.twin.stats import Behaviour
from pilotshare.twin.store import lives, stored_behaviours
from pilotshare.twin.timeline import DAY

#: Priors used where an instrument's history is too thin; results flag them.
PRIOR_MTBF_H: Final = 500.0
PRIOR_MTTR_H: Final = 4.0
PRIOR_NO_SHOW: Final = 0.05
PRIOR_WEIGHT: Final = 5  # pseudo-observations of the no-show prior
MIN_FAILURES: Final = 2  # learned MTBF needs at least this many failures
#: Below this p-value, failures beginning from running show the running clock (``failure_clock``).
RUNNING_CLOCK_P: Final = 0.05
#: Below this p-value, the hours requests are made in give demand an hour-of-week profile.
PROFILE_P: Final = 0.01
MIN_USAGE_OBS: Final = 5
HISTORY_DAYS: Final = 28
REQUEST_WINDOW_S: Final = 14 * DAY


@dataclass(frozen=True, slots=True)
class InstrumentInput:
    """One instrument as the database describes it at the forecast's start."""

    id: str
    kind: str
    capabilities: frozenset[str]
    rules: BookingRules
    hourly_rate: float
    state: str | None
    behaviour: Behaviour | None
    #: Its closures as stored, ``(start, end, kind)`` with kind ``maintenance`` or
    #: ``blackout``: one list, so what closes it and which were blackouts cannot disagree.
    closures: tuple[tuple[datetime, datetime, str], ...] = ()
    requires_qualification: bool = False
    timezone: str = "UTC"

    @property
    def maintenance(self) -> tuple[tuple[datetime, datetime], ...]:
        """Every closure, maintenance windows and blackouts alike (nothing is booked across
        them, and the model counts none of it as open time)."""
        return tuple((a, b) for a, b, _ in self.closures)

    @property
    def blackouts(self) -> tuple[tuple[datetime, datetime], ...]:
        """The closures that are blackouts (a booking inside one says so)."""
        return tuple((a, b) for a, b, kind in self.closures if kind == "blackout")


@dataclass(frozen=True, slots=True)
class HistoryBooking:
    """A booking of the history window (for demand and usage fits)."""

    kind: str
    created_at: datetime
    start: datetime
    end: datetime
    status: str
    activated_at: datetime | None
    running_s: float | None
    #: Seconds it went on running past its end (bookings flagged ``overrun``), from telemetry.
    overrun_s: float | None = None
    instrument: str = ""
    org: str = ""


@dataclass(frozen=True, slots=True)
class ForecastInputs:
    """Everything a forecast reads from the database, at ``now``."""

    now: datetime
    instruments: tuple[InstrumentInput, ...]
    bookings: tuple[tuple[str, str, datetime, datetime], ...]  # id, instrument, start, end
    history: tuple[HistoryBooking, ...]
    history_days: float = HISTORY_DAYS
    notes: list[str] = field(default_factory=list)
    #: Whose each held booking is (id -> organisation): results say it, so that each
    #: organisation is shown only its own (``api.job_views``).
    owners: Mapping[str, str] = field(default_factory=dict)
    #: Retired instruments (id -> kind): not part of the site; a booking still held on one
    #: cannot be served (``closed_reason``).
    retired: Mapping[str, str] = field(default_factory=dict)
    #: Who may book what, and how much (the API's rules, in the same snapshot): the
    #: organisations qualified per instrument, ``(org, period, max hours)`` quotas, and
    #: ``(org, start, end)`` of done bookings that count against quotas at ``now``.
    qualified: Mapping[str, frozenset[str]] = field(default_factory=dict)
    quotas: tuple[tuple[str, str, float], ...] = ()
    quota_counted: tuple[tuple[str, datetime, datetime], ...] = ()
    #: Organisations holding an admin key at ``now``: the API lets an admin book an
    #: instrument that requires a qualification it lacks, so the desk does too.
    admins: frozenset[str] = frozenset()


# -- reading the database ------------------------------------------------------------------


async def load_inputs(
    conn: Connection,
    now: datetime,
    horizon: timedelta,
    *,
    history_days: float = HISTORY_DAYS,
) -> ForecastInputs:
    """The forecast's starting point at ``now`` (one repeatable-read snapshot)."""
    reach = now + horizon + timedelta(seconds=REQUEST_WINDOW_S + 90 * DAY)
    since = now - timedelta(days=history_days)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await store.instrument_rows(conn)
        live = {x.instrument: x.current_state for x in await lives(conn)}
        learned = await stored_behaviours(conn, [r["id"] for r in rows])
        maint = await store.maintenance(conn, (now, reach))
        retired = await store.retired_kinds(conn)
        held = await store.held_bookings(conn, (now, reach))
        hist = await store.history_rows(conn, (since, now))
        qualified = await store.qualifications(conn)
        quotas = await store.quotas(conn)
        # Who books as an admin: an organisation with an admin key in force at now (the
        # registry lists the unrevoked keys; an expired one no longer admits anyone).
        admins = frozenset(
            k.org
            for k in await list_keys(conn)
            if k.role == "admin" and (k.expires_at is None or k.expires_at > now)
        )
        # A month is the longest quota period: what counts at now began at most 32 days ago.
        counted = await store.quota_counted(
            conn, sorted({q[0] for q in quotas}), (now - timedelta(days=32), now)
        )
        instruments = []
        for r in rows:
            state = live.get(r["id"])
            instruments.append(
                InstrumentInput(
                    id=r["id"],
                    kind=r["kind"],
                    capabilities=frozenset(r["capabilities"]),
                    rules=BookingRules.from_row(r, r["timezone"]),
                    hourly_rate=float(r["hourly_rate"]),
                    state=state.value if state is not None else None,
                    behaviour=learned.get(r["id"]),
                    closures=tuple(maint.get(r["id"], ())),
                    requires_qualification=r["requires_qualification"],
                    timezone=r["timezone"],
                )
            )
    return ForecastInputs(
        now=now,
        instruments=tuple(instruments),
        bookings=tuple(h[:4] for h in held),
        owners={h[0]: h[4] for h in held},
        retired=retired,
        history=tuple(
            HistoryBooking(
                r["kind"],
                r["created_at"],
                r["a"],
                r["b"],
                r["status"],
                r["activated_at"],
                r["running_s"],
                r["overrun_s"],
                r["instrument_id"],
                r["org_id"],
            )
            for r in hist
        ),
        history_days=history_days,
        qualified=qualified,
        quotas=tuple(quotas),
        quota_counted=tuple(counted),
        admins=admins,
    )


# -- building the model's inputs -----------------------------------------------------------


def _seconds(origin: datetime, t: datetime) -> float:
    return (t - origin).total_seconds()


def failure_clock(behaviour: Behaviour) -> tuple[FailureClock, str]:
    """Which clock wears the instrument, as its history shows, and why.

    If time wore it (calendar clock), failures would begin from running in about the share
    of operating time it was running. Failures that begin from running far more often than
    that (one-sided binomial test, p-value below ``RUNNING_CLOCK_P``) show that running wears
    it: the running clock. Otherwise (too few failures to tell, or failures while idle too)
    the calendar clock, which assumes less.
    """
    running_h = behaviour.state_hours.get(InstrumentState.RUNNING.value, 0.0)
    share = running_h / behaviour.operating_hours if behaviour.operating_hours > 0 else 0.0
    origins = behaviour.failures_from
    known = sum(v for k, v in origins.items() if k != "unknown")
    k = origins.get(InstrumentState.RUNNING.value, 0)
    if known == 0 or not 0 < share < 1 or not behaviour.running_mtbf_hours:
        return "calendar", "calendar clock: the history cannot tell which clock wears it"
    p = float(st.binom.sf(k - 1, known, share))  # P(at least k of known)
    why = (
        f"{k} of {known} failures began while running, which is {share:.0%} of operating "
        f"time (p = {p:.2g})"
    )
    return (
        ("running", f"running clock: {why}")
        if p < RUNNING_CLOCK_P
        else (
            "calendar",
            f"calendar clock: {why}",
        )
    )


def failure_spec(behaviour: Behaviour | None) -> FailureSpec:
    """Learned failures when the history holds enough of them, else the flagged prior.

    The one place stored behaviour becomes the model's failures: on the clock the history
    supports (``failure_clock``), exponential time between failures at the learned MTBF of
    that clock (running hours per failure, or operating hours per failure), repairs from the
    fitted repair distribution.
    """
    if behaviour is not None and behaviour.failures >= MIN_FAILURES and behaviour.mtbf_hours:
        repair: Sampler = behaviour.repair_length or Exponential(
            (behaviour.mttr_hours or PRIOR_MTTR_H) * 3600
        )
        clock, note = failure_clock(behaviour)
        if clock == "running" and behaviour.running_mtbf_hours:
            return FailureSpec(
                Exponential(behaviour.running_mtbf_hours * 3600),
                repair,
                clock="running",
                running_share=behaviour.running_mtbf_hours / behaviour.mtbf_hours,
                note=note,
            )
        return FailureSpec(Exponential(behaviour.mtbf_hours * 3600), repair, note=note)
    return FailureSpec(
        Exponential(PRIOR_MTBF_H * 3600),
        Exponential(PRIOR_MTTR_H * 3600),
        prior=True,
        note=f"prior: fewer than {MIN_FAILURES} failures learned",
    )


def usage_specs(history: Sequence[HistoryBooking], kinds: Sequence[str]) -> tuple[UsageSpec, ...]:
    """Per kind: no-show share (shrunk towards the prior), late starts (first running after
    the start), run ratios (running seconds inside the slot per second of it left after the
    first run began) and overruns
    (share flagged by the lifecycle, and how long they ran on, from telemetry)."""
    out = []
    for kind in kinds:
        done = [h for h in history if h.kind == kind and h.status in ATTENDANCE]
        shows = [h for h in done if h.status == BookingStatus.COMPLETED]
        no_shows = len(done) - len(shows)
        p = (no_shows + PRIOR_NO_SHOW * PRIOR_WEIGHT) / (len(done) + PRIOR_WEIGHT)
        late = [
            max((h.activated_at - h.start).total_seconds(), 0.0)
            for h in shows
            if h.activated_at is not None
        ]
        ratio = [
            min(
                h.running_s / (h.end - max(h.activated_at or h.start, h.start)).total_seconds(), 1.0
            )
            for h in shows
            if h.running_s is not None and h.end > max(h.activated_at or h.start, h.start)
        ]
        overruns = [h.overrun_s for h in shows if h.overrun_s is not None and h.overrun_s > 0]
        enough = len(late) >= MIN_USAGE_OBS and len(ratio) >= MIN_USAGE_OBS
        out.append(
            UsageSpec(
                kind=kind,
                no_show_p=p,
                late_start=Empirical(tuple(late)) if len(late) >= MIN_USAGE_OBS else None,
                run_ratio=Empirical(tuple(ratio)) if len(ratio) >= MIN_USAGE_OBS else None,
                prior=not enough,
                overrun_p=len(overruns) / len(shows) if shows else 0.0,
                overrun=Empirical(tuple(overruns)) if overruns else None,
            )
        )
    return tuple(out)


def lead_bounds(
    history: Sequence[HistoryBooking], instruments: Sequence[InstrumentInput]
) -> list[tuple[float, float]]:
    """Per history booking, what its ``start - created`` says about the lead it asked for, as
    ``(at_least, at_most)`` seconds.

    The lead asked for is not stored: a booking made with a window starts at the first free
    moment after the time asked for, and resampling ``start - created`` would count that
    wait twice in the model. A booking that started where nothing pushed it started when
    asked (exact). One that starts right after another booking's end and buffer was asked
    for that time or earlier (``[0, start - created]``). One that starts at an opening time
    of its instrument was asked for a time at which it could not start any earlier: after
    the last moment it would still have fitted into the previous opening (``[previous close
    - length - created, start - created]``).
    """
    rules = {i.id: i.rules for i in instruments}
    ends: dict[str, set[datetime]] = {}
    for h in history:
        buf = rules[h.instrument].setup_buffer if h.instrument in rules else timedelta(0)
        ends.setdefault(h.instrument, set()).add(h.end + buf)
    out = []
    for h in history:
        x = max((h.start - h.created_at).total_seconds(), 0.0)
        if h.start in ends.get(h.instrument, ()):
            out.append((0.0, x))
            continue
        r = rules.get(h.instrument)
        cal = r.calendar if r is not None else None
        if cal is not None:
            opened = cal.open_intervals(h.start - timedelta(days=8), h.start + timedelta(seconds=1))
            if any(a == h.start for a, _ in opened):
                before = [b for _, b in opened if b <= h.start]
                lo = (
                    (before[-1] - (h.end - h.start) - h.created_at).total_seconds()
                    if before
                    else 0.0
                )
                out.append((min(max(lo, 0.0), x), x))
                continue
        out.append((x, x))
    return out


def interval_censored(bounds: Sequence[tuple[float, float]], *, iterations: int = 500) -> Empirical:
    """The nonparametric maximum-likelihood distribution of a quantity known to lie in
    ``[at_least, at_most]`` for each observation (exact ones: equal bounds): Turnbull's
    self-consistency (EM) iteration on the innermost intervals, each one's mass put at its
    middle."""
    lo = np.asarray([b[0] for b in bounds], dtype=float)
    hi = np.asarray([b[1] for b in bounds], dtype=float)
    # Innermost intervals: a left end followed (in sorted order, left ends first at ties) by
    # a right end.
    ends = sorted([(float(v), 0) for v in lo] + [(float(v), 1) for v in hi])
    inner = sorted({(a, b) for (a, ka), (b, kb) in itertools.pairwise(ends) if ka == 0 and kb == 1})
    left = np.asarray([a for a, _ in inner])
    right = np.asarray([b for _, b in inner])
    cover = (lo[:, None] <= left[None, :]) & (right[None, :] <= hi[:, None])
    p = np.full(len(inner), 1.0 / len(inner))
    for _ in range(iterations):
        share = cover * p[None, :]
        nxt = (share / share.sum(axis=1, keepdims=True)).mean(axis=0)
        done = float(np.abs(nxt - p).max()) < 1e-7
        p = nxt
        if done:
            break
    keep = p > 1e-9
    mids = (left + right)[keep] / 2
    w = p[keep] / p[keep].sum()
    return Empirical(tuple(float(v) for v in mids), tuple(float(v) for v in w))


def arrival_profile(
    created: Sequence[datetime], since: datetime, until: datetime
) -> tuple[float, ...] | None:
    """The hour-of-week profile of requests made between ``since`` and ``until`` (168 values,
    Monday 00:00 UTC first, mean 1), or None when their times do not depart from a constant
    rate (chi-square tests of the weekday and hour-of-day counts against the hours each
    spans in the window, both above ``PROFILE_P``).

    A profile is the product of a weekday factor and an hour-of-day factor (rates per hour
    of exposure): 31 numbers from a few weeks of bookings where 168 would be mostly noise.
    """
    exposure = np.zeros((7, 24))
    t = since.astimezone(UTC)
    while t < until:
        nxt = min(t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), until)
        exposure[t.weekday(), t.hour] += (nxt - t).total_seconds() / 3600
        t = nxt
    counts = np.zeros((7, 24))
    for c in created:
        u = c.astimezone(UTC)
        if since <= c < until:
            counts[u.weekday(), u.hour] += 1
    n = counts.sum()
    if n < MIN_USAGE_OBS or exposure.sum() <= 0:
        return None
    factors = []
    significant = False
    for axis in (1, 0):  # weekday (summed over hours), hour of day (summed over days)
        c, e = counts.sum(axis=axis), exposure.sum(axis=axis)
        seen = e > 0
        expected = n * e[seen] / e.sum()
        significant |= bool(st.chisquare(c[seen], expected).pvalue < PROFILE_P)
        factors.append(np.where(seen, c / np.where(seen, e, 1), 0.0))
    if not significant:
        return None
    profile = np.outer(factors[0], factors[1]).reshape(-1)
    mean = float(profile.mean())
    return tuple(float(v) for v in profile / mean) if mean > 0 else None


def demand_specs(
    history: Sequence[HistoryBooking],
    kinds: Sequence[str],
    history_days: float,
    instruments: Sequence[InstrumentInput] = (),
    *,
    until: datetime | None = None,
) -> tuple[DemandSpec, ...]:
    """Per kind and organisation: a Poisson stream at the rate the organisation made
    bookings of the kind, with its durations resampled from its history. Streams are per
    organisation because the scheduler books each one under its own qualifications and
    quotas, and organisations book differently; the stream of ``(kind, org)`` keeps its
    random numbers when another organisation's demand changes. Lead times and the hour of
    the week requests are made in are fitted per kind, pooling its organisations (one
    organisation's few bookings would say little): leads from what each booking's start says
    about the lead asked for (``lead_bounds``: exact, or bounds when something pushed it), by
    ``interval_censored``; with ``until`` (the end of the history window), the hour-of-week
    profile (``arrival_profile``). A kind with no bookings in history gets no stream (flagged
    in the result)."""
    out = []
    hours = history_days * 24
    bounds = lead_bounds(history, instruments)
    per_kind: dict[str, tuple[Sampler, tuple[float, ...] | None]] = {}
    for kind in kinds:
        made = [(n, h) for n, h in enumerate(history) if h.kind == kind]
        if not made:
            continue
        profile = (
            arrival_profile(
                [h.created_at for _, h in made], until - timedelta(days=history_days), until
            )
            if until is not None
            else None
        )
        per_kind[kind] = (interval_censored([bounds[n] for n, _ in made]), profile)
    groups = sorted({(h.kind, h.org) for h in history if h.kind in per_kind})
    for kind, org in groups:
        made = [(n, h) for n, h in enumerate(history) if h.kind == kind and h.org == org]
        leads, profile = per_kind[kind]
        out.append(
            DemandSpec(
                kind=kind,
                rate_per_hour=len(made) / hours,
                duration=Empirical(tuple((h.end - h.start).total_seconds() for _, h in made)),
                lead=leads,
                window_s=REQUEST_WINDOW_S,
                weekly_profile=profile,
                name=f"{kind}/{org}" if org else kind,
                org=org,
            )
        )
    return tuple(out)


def closed_reason(inputs: ForecastInputs, booking: tuple[str, str, datetime, datetime]) -> str:
    """Why a held booking cannot be served as booked, or "": the site model's rule
    (``twin.model.closure_over``) on its instrument's closures, or ``instrument_retired``."""
    _, instrument, start, end = booking
    closures = next((i.closures for i in inputs.instruments if i.id == instrument), ())
    return closure_over((start, end), closures, retired=instrument in inputs.retired)


def build_site(inputs: ForecastInputs, horizon: timedelta) -> SiteSpec:
    """The model's ``SiteSpec`` for the inputs, with time 0 at ``inputs.now``."""
    origin = inputs.now
    kinds = sorted({i.kind for i in inputs.instruments})
    demand = demand_specs(
        inputs.history, kinds, inputs.history_days, inputs.instruments, until=inputs.now
    )
    horizon_s = horizon.total_seconds()
    reach = origin + timedelta(
        seconds=horizon_s + max((d.window_s for d in demand), default=0.0) + 90 * DAY
    )
    specs = []
    for inst in inputs.instruments:
        cal: OperatingCalendar | None = inst.rules.calendar
        calendar = (
            None
            if cal is None
            else tuple(
                (_seconds(origin, a), _seconds(origin, b))
                for a, b in cal.open_intervals(origin, reach)
            )
        )
        failures = failure_spec(inst.behaviour)
        max_len = inst.rules.max_length.total_seconds()
        specs.append(
            InstrumentSpec(
                id=inst.id,
                kind=inst.kind,
                capabilities=inst.capabilities,
                calendar=calendar,
                maintenance=tuple(
                    (_seconds(origin, a), _seconds(origin, b)) for a, b in inst.maintenance
                ),
                failures=failures,
                down_at_start=inst.state == "down",
                setup_buffer_s=inst.rules.setup_buffer.total_seconds(),
                min_booking_s=inst.rules.min_length.total_seconds(),
                max_booking_s=max_len,
                min_notice_s=inst.rules.min_notice.total_seconds(),
                hourly_rate=inst.hourly_rate,
                p_up=failures.availability,
                qualified=inputs.qualified.get(inst.id, frozenset())
                if inst.requires_qualification
                else None,
                timezone=inst.timezone,
            )
        )
    in_site = {i.id for i in inputs.instruments}
    bookings = tuple(
        BookingSpec(
            held[0],
            held[1],
            _seconds(origin, held[2]),
            _seconds(origin, held[3]),
            closed=closed_reason(inputs, held),
            org=inputs.owners.get(held[0], ""),
        )
        for held in inputs.bookings
        if held[1] in in_site  # one left on a retired instrument is reported, not simulated
    )
    return SiteSpec(
        origin=origin,
        horizon_s=horizon_s,
        instruments=tuple(specs),
        bookings=bookings,
        demand=demand,
        usage=usage_specs(inputs.history, kinds),
        quotas=tuple(QuotaSpec(org, period, hours) for org, period, hours in inputs.quotas),
        quota_counted=tuple(
            (org, _seconds(origin, a), _seconds(origin, b)) for org, a, b in inputs.quota_counted
        ),
        admins=inputs.admins,
    )
