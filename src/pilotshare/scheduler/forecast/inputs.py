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
- who may book what: each instrument's qualified organisations and every organisation's
  quotas (with what already counts against them), read in the same snapshot, so the
  model's desk books each organisation's demand as the API would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from pilotshare.core.db import Connection
from pilotshare.core.domain import BookingStatus
from pilotshare.scheduler.forecast import store
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar
from pilotshare.scheduler.states import ATTENDANCE
from pilotshare.twin.distributions import Empirical, Exponential, Sampler
from pilotshare.twin.model import (
    BookingSpec,
    DemandSpec,
    FailureSpec,
    InstrumentSpec,
    QuotaSpec,
    SiteSpec,
    UsageSpec,
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
    maintenance: tuple[tuple[datetime, datetime], ...] = ()
    requires_qualification: bool = False
    timezone: str = "UTC"


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
    #: Who may book what, and how much (the API's rules, in the same snapshot): the
    #: organisations qualified per instrument, ``(org, period, max hours)`` quotas, and
    #: ``(org, start, end)`` of done bookings that count against quotas at ``now``.
    qualified: Mapping[str, frozenset[str]] = field(default_factory=dict)
    quotas: tuple[tuple[str, str, float], ...] = ()
    quota_counted: tuple[tuple[str, datetime, datetime], ...] = ()


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
        held = await store.held_bookings(conn, (now, reach))
        hist = await store.history_rows(conn, (since, now))
        qualified = await store.qualifications(conn)
        quotas = await store.quotas(conn)
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
                    maintenance=tuple(maint.get(r["id"], ())),
                    requires_qualification=r["requires_qualification"],
                    timezone=r["timezone"],
                )
            )
    return ForecastInputs(
        now=now,
        instruments=tuple(instruments),
        bookings=tuple(h[:4] for h in held),
        owners={h[0]: h[4] for h in held},
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
    )


# -- building the model's inputs -----------------------------------------------------------


def _seconds(origin: datetime, t: datetime) -> float:
    return (t - origin).total_seconds()


def failure_spec(behaviour: Behaviour | None) -> FailureSpec:
    """Learned failures when the history holds enough of them, else the flagged prior."""
    if behaviour is not None and behaviour.failures >= MIN_FAILURES and behaviour.mtbf_hours:
        repair: Sampler = behaviour.repair_length or Exponential(
            (behaviour.mttr_hours or PRIOR_MTTR_H) * 3600
        )
        return FailureSpec(Exponential(behaviour.mtbf_hours * 3600), repair, prior=False)
    return FailureSpec(
        Exponential(PRIOR_MTBF_H * 3600), Exponential(PRIOR_MTTR_H * 3600), prior=True
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


def _pushed(history: Sequence[HistoryBooking], instruments: Sequence[InstrumentInput]) -> set[int]:
    """Indexes of history bookings that start where something pushed them: at an opening
    time of their instrument, or right after another booking's end and buffer.

    A booking made with a window starts at the first free moment after the time asked for,
    and that time is not stored; ``start - created`` of a pushed booking is the lead asked
    for *plus* a wait, and resampling it would count that wait twice in the model. An
    unpushed booking started exactly when asked.
    """
    rules = {i.id: i.rules for i in instruments}
    ends: dict[str, set[datetime]] = {}
    for h in history:
        buf = rules[h.instrument].setup_buffer if h.instrument in rules else timedelta(0)
        ends.setdefault(h.instrument, set()).add(h.end + buf)
    out = set()
    for n, h in enumerate(history):
        if h.start in ends.get(h.instrument, ()):
            out.add(n)
            continue
        r = rules.get(h.instrument)
        cal = r.calendar if r is not None else None
        if cal is not None:
            opened = cal.open_intervals(h.start - timedelta(days=1), h.start + timedelta(seconds=1))
            if any(a == h.start for a, _ in opened):
                out.add(n)
    return out


def demand_specs(
    history: Sequence[HistoryBooking],
    kinds: Sequence[str],
    history_days: float,
    instruments: Sequence[InstrumentInput] = (),
) -> tuple[DemandSpec, ...]:
    """Per kind and organisation: a Poisson stream at the rate the organisation made
    bookings of the kind, with their durations resampled from its history, and lead times
    from those that were not pushed (see ``_pushed``; all of them when fewer than
    ``MIN_USAGE_OBS`` were not). A kind with no bookings in history gets no stream (flagged
    in the result). Streams are per organisation because the scheduler books each one under
    its own qualifications and quotas, and organisations book differently (durations, lead
    times); the stream of ``(kind, org)`` keeps its random numbers when another
    organisation's demand changes."""
    out = []
    hours = history_days * 24
    pushed = _pushed(history, instruments)
    groups = sorted({(h.kind, h.org) for h in history if h.kind in set(kinds)})
    for kind, org in groups:
        made = [(n, h) for n, h in enumerate(history) if h.kind == kind and h.org == org]
        leads = [
            max((h.start - h.created_at).total_seconds(), 0.0) for n, h in made if n not in pushed
        ]
        if len(leads) < MIN_USAGE_OBS:
            leads = [max((h.start - h.created_at).total_seconds(), 0.0) for _, h in made]
        out.append(
            DemandSpec(
                kind=kind,
                rate_per_hour=len(made) / hours,
                duration=Empirical(tuple((h.end - h.start).total_seconds() for _, h in made)),
                lead=Empirical(tuple(leads)),
                window_s=REQUEST_WINDOW_S,
                name=f"{kind}/{org}" if org else kind,
                org=org,
            )
        )
    return tuple(out)


def build_site(inputs: ForecastInputs, horizon: timedelta) -> SiteSpec:
    """The model's ``SiteSpec`` for the inputs, with time 0 at ``inputs.now``."""
    origin = inputs.now
    kinds = sorted({i.kind for i in inputs.instruments})
    demand = demand_specs(inputs.history, kinds, inputs.history_days, inputs.instruments)
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
    bookings = tuple(
        BookingSpec(bid, inst, _seconds(origin, a), _seconds(origin, b), inputs.owners.get(bid, ""))
        for bid, inst, a, b in inputs.bookings
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
    )
