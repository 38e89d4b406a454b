"""The one module that speaks to the twin model and the scheduler's booking desk.

Everything else in ``simulations`` works on its own frozen values (:mod:`.scenario`) and on
:class:`.metrics.ReplicationResult`; this module translates: a :class:`Site` into the model's
``SiteSpec`` (hours to seconds, weekly opening hours and maintenance plans to intervals,
MTBF/MTTR to failure distributions), the allocation policy into the scheduler's desk, and the
model's ``Replication`` arrays back into sums per kind and week. When the twin or the desk
change their interfaces, this is the file to change (and :mod:`.live` for the forecast's
snapshot of a live site).

Described sites start at :data:`ORIGIN`, a Monday 00:00 UTC, so that simulated weeks are
calendar weeks. A live site starts where the forecast's snapshot starts, and keeps what the
twin learned (empirical distributions, no-show and overrun behaviour) for every instrument and
demand stream a change does not touch: a change replaces only what it names (an MTBF change
scales the learned time between failures; new opening hours replace the calendar).

Demand streams are keyed ``customer/kind`` so each has its own random numbers: adding a
customer leaves every other stream's arrivals unchanged (common random numbers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pilotshare.core.intervals import merge
from pilotshare.scheduler.forecast.desk import SchedulerDesk, SchedulerDeskFactory
from pilotshare.scheduler.policy import OperatingCalendar
from pilotshare.simulations.metrics import KindOutcome, ReplicationResult
from pilotshare.simulations.scenario import (
    DAYS,
    Demand,
    Durations,
    Instrument,
    MaintenancePlan,
    Site,
    WeeklyHours,
)
from pilotshare.twin import distributions, model
from pilotshare.twin.timeline import DAY, Intervals

ORIGIN: Final = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
HOUR: Final = 3600.0

DeskFactory = Callable[[model.SiteSpec], model.Desk]


class _ByNameDesk:
    """No pooling: each request names one instrument of its kind and waits for that one.

    Which one is a hash of the request's number, so requests spread over the kind's
    instruments as if each user picked one at random without looking at the others (a
    deterministic choice: the same replication gives the same answer everywhere). The hash is
    BLAKE2, not CRC-32: CRC is linear, and consecutive numbers would then alternate between
    instruments, a round robin that waits less than independent choices. The slot on the named
    instrument is still the scheduler's: ``allocate`` among a single candidate.
    """

    def __init__(self, inner: SchedulerDesk) -> None:
        self.inner = inner

    def place(
        self, request: model.SlotRequest, now: float, not_before: dict[int, float]
    ) -> model.Placement | None:
        members = self.inner.members(request.kind, request.org)
        if not members:
            return None
        digest = hashlib.blake2b(f"{request.kind}/{request.id}".encode(), digest_size=8).digest()
        pick = members[int.from_bytes(digest, "big") % len(members)]
        return self.inner.place(request, now, not_before, among=(pick,))


class ByNameDesks:
    """``DeskFactory`` of the ``by_name`` policy (picklable, like the scheduler's)."""

    def __init__(self) -> None:
        self.inner = SchedulerDeskFactory()

    def __call__(self, site: model.SiteSpec) -> model.Desk:
        return _ByNameDesk(self.inner(site))


#: Allocation policies a scenario may name: ``earliest_finish`` is the scheduler's own
#: allocator choosing among every instrument of the kind (pooling); ``by_name`` books the one
#: instrument each request names.
POLICIES: Final[Mapping[str, Callable[[], DeskFactory]]] = {
    "earliest_finish": SchedulerDeskFactory,
    "by_name": ByNameDesks,
}


def allocation_policies() -> tuple[str, ...]:
    """The allocation policies a scenario may name."""
    return tuple(sorted(POLICIES))


def desk_factory(name: str) -> DeskFactory:
    """The scheduler's desk running the named policy."""
    if name not in POLICIES:
        known = ", ".join(allocation_policies())
        raise ValueError(f"unknown allocation policy {name!r} (known: {known})")
    return POLICIES[name]()


# --- Site -> SiteSpec --------------------------------------------------------------------


def _sampler(d: Durations) -> model.Sampler:
    mean = d.mean_hours * HOUR
    if d.distribution == "exponential":
        return distributions.Exponential(mean)
    if d.distribution == "fixed" or d.cv == 0:
        return distributions.Fixed(mean)
    return distributions.Lognormal(mean, d.cv)


def calendar(
    hours: WeeklyHours | None, origin: datetime, horizon_s: float, timezone: str = "UTC"
) -> Intervals | None:
    """Weekly opening hours as open intervals in seconds from ``origin`` (``None``: always)."""
    if hours is None:
        return None
    spec = {day: [list(span) for span in spans] for day, spans in hours}
    cal = OperatingCalendar.parse({d: spec.get(d, []) for d in DAYS}, timezone)
    assert cal is not None  # noqa: S101 - a mapping never parses to "always open"
    spans = cal.open_intervals(origin, origin + timedelta(seconds=horizon_s))
    return tuple(((a - origin).total_seconds(), (b - origin).total_seconds()) for a, b in spans)


def maintenance_windows(plan: MaintenancePlan | None, horizon_s: float) -> Intervals:
    """A periodic plan as intervals in seconds within the horizon."""
    if plan is None or plan.hours <= 0:
        return ()
    every, length = plan.every_days * DAY, plan.hours * HOUR
    starts = np.arange(plan.start_hour * HOUR, horizon_s, every)
    return merge([(float(s), float(min(s + length, horizon_s))) for s in starts])


@dataclasses.dataclass(frozen=True, slots=True)
class Scaled:
    """A learned distribution stretched by ``factor`` (an improved MTBF on a live site)."""

    inner: Any
    factor: float

    @property
    def mean_s(self) -> float:
        return float(self.inner.mean_s) * self.factor

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.asarray(self.inner.sample(rng, size)) * self.factor
        return out


def _failures(i: Instrument) -> model.FailureSpec | None:
    learned = i.model if isinstance(i.model, model.InstrumentSpec) else None
    if i.mtbf_hours is None:
        return None
    if learned is not None and learned.failures is not None and i.learned_mtbf_hours:
        factor = i.mtbf_hours / i.learned_mtbf_hours
        f = learned.failures
        return f if factor == 1 else dataclasses.replace(f, up=Scaled(f.up, factor))
    return model.FailureSpec(
        distributions.Exponential(i.mtbf_hours * HOUR),
        distributions.Exponential(i.mttr_hours * HOUR),
    )


def _instrument(i: Instrument, origin: datetime, reach_s: float) -> model.InstrumentSpec:
    failures = _failures(i)
    p_up = failures.availability if failures is not None else 1.0
    learned = i.model if isinstance(i.model, model.InstrumentSpec) else None
    if learned is not None:
        return dataclasses.replace(
            learned,
            id=i.id,
            calendar=learned.calendar
            if i.operating_hours == i.learned_hours
            else calendar(i.operating_hours, origin, reach_s, i.timezone),
            maintenance=learned.maintenance
            if i.maintenance is None
            else maintenance_windows(i.maintenance, reach_s),
            failures=failures,
            hourly_rate=i.hourly_rate,
            setup_buffer_s=i.setup_hours * HOUR,
            p_up=p_up,
        )
    return model.InstrumentSpec(
        id=i.id,
        kind=i.kind,
        calendar=calendar(i.operating_hours, origin, reach_s, i.timezone),
        maintenance=maintenance_windows(i.maintenance, reach_s),
        failures=failures,
        setup_buffer_s=i.setup_hours * HOUR,
        hourly_rate=i.hourly_rate,
        p_up=p_up,
    )


def _demand(d: Demand, window_s: float | None) -> model.DemandSpec:
    learned = d.model if isinstance(d.model, model.DemandSpec) else None
    name = f"{d.customer}/{d.kind}"
    if learned is not None:
        spec = dataclasses.replace(
            learned, rate_per_hour=d.per_week / 168.0, name=learned.name or name
        )
    else:
        spec = model.DemandSpec(d.kind, d.per_week / 168.0, _sampler(d.durations), name=name)
    return spec if window_s is None else dataclasses.replace(spec, window_s=window_s)


def site_spec(site: Site, horizon_hours: float, warmup_hours: float) -> model.SiteSpec:
    """The model's input for ``site`` over ``horizon_hours`` (measured after the warm-up).

    Calendars and maintenance reach past the horizon as far as the model's desk may place a
    request made late in it (``SiteSpec.calendar_s``).
    """
    horizon_s = horizon_hours * HOUR
    origin = site.origin or ORIGIN
    kinds = {i.kind for i in site.instruments}
    window = None if site.policy.window_hours is None else site.policy.window_hours * HOUR
    template = site.model if isinstance(site.model, model.SiteSpec) else None
    demand = tuple(_demand(d, window) for d in site.demand if d.kind in kinds and d.per_week)
    reach = model.SiteSpec(origin, horizon_s, (), demand=demand).calendar_s
    instruments = tuple(_instrument(i, origin, reach) for i in site.instruments)
    return model.SiteSpec(
        origin=origin,
        horizon_s=horizon_s,
        instruments=instruments,
        bookings=_bookings(site, instruments),
        demand=demand,
        usage=template.usage if template is not None else (),
        warmup_s=warmup_hours * HOUR,
        admins=template.admins if template is not None else frozenset(),
    )


def _bookings(
    site: Site, instruments: tuple[model.InstrumentSpec, ...]
) -> tuple[model.BookingSpec, ...]:
    """The site's bookings, each closed (``BookingSpec.closed``) when a closure of its
    instrument in this arm covers any part of it, by the forecast's rule
    (``model.closure_over``). A what-if's instruments keep their closures as one list of
    intervals, so a live blackout is ``maintenance`` here; a booking of a removed instrument
    is gone with it (``changes``)."""
    closures = {i.id: tuple((a, b, "maintenance") for a, b in i.maintenance) for i in instruments}
    out = []
    for b in site.bookings:
        start, end = b.start_hour * HOUR, (b.start_hour + b.hours) * HOUR
        closed = model.closure_over((start, end), closures.get(b.instrument, ()))
        out.append(model.BookingSpec(b.id, b.instrument, start, end, closed=closed))
    return tuple(out)


# --- Replication -> ReplicationResult ----------------------------------------------------


def _weekly(per_day: npt.NDArray[np.float64], first_day: int) -> tuple[float, ...]:
    days = per_day[first_day:]
    weeks = math.ceil(days.size / 7)
    return tuple(float(days[7 * w : 7 * w + 7].sum()) / HOUR for w in range(weeks))


def summarise(spec: model.SiteSpec, rep: model.Replication) -> ReplicationResult:
    """Sums per kind over the measured days (those starting at or after the warm-up)."""
    first_day = min(math.ceil(spec.warmup_s / DAY - 1e-9), spec.days - 1)
    opened = model.open_seconds(spec)
    kinds: dict[str, KindOutcome] = {}
    instrument_open: dict[str, float] = {}
    instrument_busy: dict[str, float] = {}
    for n, ins in enumerate(spec.instruments):
        instrument_open[ins.id] = float(opened[n, first_day:].sum()) / HOUR
        instrument_busy[ins.id] = float(rep.run_s[n, first_day:].sum()) / HOUR
    for k, kind in enumerate(spec.kinds):
        rows = [n for n, ins in enumerate(spec.instruments) if ins.kind == kind]
        mine = rep.req_kind == k
        wait = rep.req_wait[mine]
        served = np.isfinite(wait)
        kinds[kind] = KindOutcome(
            open_hours=sum(instrument_open[spec.instruments[n].id] for n in rows),
            busy_hours=sum(instrument_busy[spec.instruments[n].id] for n in rows),
            weekly_open=_weekly(opened[rows].sum(axis=0), first_day),
            weekly_busy=_weekly(rep.run_s[rows].sum(axis=0), first_day),
            requests=int(mine.sum()),
            served=int(served.sum()),
            waits=tuple(float(w) / HOUR for w in wait[served]),
            revenue=sum(
                instrument_busy[spec.instruments[n].id] * spec.instruments[n].hourly_rate
                for n in rows
            ),
        )
    return ReplicationResult(
        kinds=kinds,
        instrument_open=instrument_open,
        instrument_busy=instrument_busy,
        bookings_served=tuple(bool(x) for x in rep.served),
        events=int(rep.events),
    )


def _unserved(
    site: Site, spec: model.SiteSpec, seed: np.random.SeedSequence, result: ReplicationResult
) -> ReplicationResult:
    """Demand for a kind the site has no instrument of (all removed): it arrives, and none
    of it is served. The count is drawn from the stream's own generator."""
    kinds = dict(result.kinds)
    measured_h = (spec.horizon_s - spec.warmup_s) / HOUR
    for d in site.demand:
        if d.kind in spec.kinds or d.per_week <= 0:
            continue
        rng = model.stream(seed, f"demand/{d.customer}/{d.kind}")
        n = int(rng.poisson(d.per_week / 168.0 * measured_h))
        old = kinds.get(d.kind, KindOutcome(0.0, 0.0, (), (), 0, 0, (), 0.0))
        kinds[d.kind] = dataclasses.replace(old, requests=old.requests + n)
    return dataclasses.replace(result, kinds=kinds)


def run_replication(
    site: Site, horizon_hours: float, warmup_hours: float, seed: np.random.SeedSequence
) -> ReplicationResult:
    """One replication of ``site`` with the streams of ``seed``."""
    spec = site_spec(site, horizon_hours, warmup_hours)
    rep = model.replicate(spec, desk_factory(site.policy.allocation), seed)
    return _unserved(site, spec, seed, summarise(spec, rep))
