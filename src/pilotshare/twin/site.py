"""The site model's inputs and outputs: plain frozen data in seconds from an origin.

``SiteSpec`` is everything one replication needs (instruments with their open time, failure
and repair distributions, the bookings already held, demand streams and session behaviour per
kind); ``Replication`` is what it gives back (arrays). They pickle small and travel unchanged
to a worker process or a Dask worker. ``Desk`` is how the model asks the scheduler to place a
request, without importing it (``scheduler.forecast.desk.SchedulerDeskFactory`` is the real
one). The model itself is ``twin.model``, which re-exports all of these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from pilotshare.core.intervals import subtract
from pilotshare.twin.distributions import Sampler
from pilotshare.twin.timeline import DAY, Intervals

FloatArray = npt.NDArray[np.float64]
#: Calendars never need to reach further than this (datetimes end in year 9999).
_MAX_REACH_S = 100 * 365 * DAY


#: What wears an instrument: time itself (``calendar``) or running only (``running``).
FailureClock = Literal["calendar", "running"]


@dataclass(frozen=True, slots=True)
class FailureSpec:
    """Time between failures and time to repair, in seconds of ``clock``.

    ``clock``: ``calendar`` (the default): ``up`` is calendar time between failures (the
    instrument may fail while closed or idle); ``running``: ``up`` is *running* time between
    failures, so an instrument fails only in the middle of a run, which pauses for the repair
    and then resumes. ``running_share``: on the running clock, the share of the time it was
    running in the history ``up`` was learned from, so that ``availability`` (the
    scheduler's ``p_up``) stays what the calendar clock would say of the same history.
    ``prior``: true when these are configured defaults, not learned from telemetry (the
    forecast result flags such instruments).
    """

    up: Sampler
    repair: Sampler
    prior: bool = False
    clock: FailureClock = "calendar"
    running_share: float = 1.0
    #: Where these come from, in words (the forecast result shows it per instrument).
    note: str = ""

    @property
    def availability(self) -> float:
        """Long-run share of time up: MTBF / (MTBF + MTTR) in calendar time (on the running
        clock, the running MTBF over the running share)."""
        up = self.up.mean_s
        if self.clock == "running":
            up /= max(self.running_share, 1e-9)
        return up / (up + self.repair.mean_s)


@dataclass(frozen=True, slots=True)
class UsageSpec:
    """How booked sessions of one kind really go.

    ``late_start``: delay after the slot start before running; ``run_ratio``: running
    seconds per second of the slot left once the session starts (below 1: idle gaps, setup,
    an early finish; with ``ends_with_slot`` false, per booked second); with probability
    ``overrun_p`` the session is still running at the slot's end and goes on for an
    ``overrun`` more seconds; ``max_delay_s``: a session that cannot start within this of its
    slot start is lost and rebooked (``None``: the slot length, i.e. lost when it cannot start
    inside its slot).
    """

    kind: str
    no_show_p: float = 0.0
    late_start: Sampler | None = None
    run_ratio: Sampler | None = None
    max_delay_s: float | None = None
    prior: bool = False
    overrun_p: float = 0.0
    overrun: Sampler | None = None
    #: A session stops at its slot's end (unless it overruns), as on a booked platform;
    #: False: it runs its whole work however late it began, as a queue does.
    ends_with_slot: bool = True


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One instrument. ``calendar``: open intervals (None: always open); ``maintenance``:
    planned closures. ``p_up`` is what the scheduler is told about its availability."""

    id: str
    kind: str
    capabilities: frozenset[str] = frozenset()
    calendar: Intervals | None = None
    maintenance: Intervals = ()
    failures: FailureSpec | None = None
    down_at_start: bool = False
    setup_buffer_s: float = 0.0
    min_booking_s: float = 0.0
    max_booking_s: float | None = None
    min_notice_s: float = 0.0
    hourly_rate: float = 0.0
    p_up: float = 1.0
    #: The organisations qualified to book it, when it requires a qualification (None: any
    #: organisation may book it). The desk applies the scheduler's rule to it (an
    #: organisation of ``SiteSpec.admins`` may book it anyway).
    qualified: frozenset[str] | None = None
    #: Its site's IANA time zone: quota periods are local days, weeks and months.
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class BookingSpec:
    """A booking already held at the origin: ``[start, end)`` on ``instrument``, by ``org``."""

    id: str
    instrument: str
    start: float
    end: float
    #: Why it cannot be served as booked (its instrument is closed over it, or retired), or
    #: "": the model does not run it, and it is never served.
    closed: str = ""
    org: str = ""


T = TypeVar("T", float, datetime)


def closure_over(
    slot: tuple[T, T], closures: Iterable[tuple[T, T, str]], *, retired: bool = False
) -> str:
    """Why a held booking of ``slot`` cannot be served as booked (``BookingSpec.closed``),
    or "": its instrument is retired (``instrument_retired``), or a closure ``(start, end,
    kind)`` overlaps any part of the slot, a ``blackout`` saying so before any other kind
    (``maintenance``). The one rule for the forecast (datetimes) and the what-ifs (seconds).
    """
    if retired:
        return "instrument_retired"
    kinds = {kind for a, b, kind in closures if a < slot[1] and slot[0] < b}
    return "blackout" if "blackout" in kinds else min(kinds, default="")


@dataclass(frozen=True, slots=True)
class DemandSpec:
    """A stream of new requests for one kind.

    Requests arrive as a Poisson process of ``rate_per_hour`` (times ``weekly_profile``
    [hour of week, Monday 00:00 UTC = 0; mean 1] when given), want ``duration`` seconds,
    starting no earlier than ``lead`` after they are made and finishing within ``window_s``
    of that. ``name`` keys the stream's random numbers (default: the kind). ``org``: the
    organisation that makes the requests (the desk books as it would be allowed to).
    """

    kind: str
    rate_per_hour: float
    duration: Sampler
    lead: Sampler | None = None
    window_s: float = 14 * DAY
    weekly_profile: tuple[float, ...] | None = None
    capabilities: frozenset[str] = frozenset()
    name: str = ""
    org: str = ""


@dataclass(frozen=True, slots=True)
class QuotaSpec:
    """At most ``max_hours`` booked by ``org`` per ``period`` (``day``, ``week``, ``month``)."""

    org: str
    period: str
    max_hours: float


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """Everything one replication needs; times in seconds from ``origin`` (UTC)."""

    origin: datetime
    horizon_s: float
    instruments: tuple[InstrumentSpec, ...]
    bookings: tuple[BookingSpec, ...] = ()
    demand: tuple[DemandSpec, ...] = ()
    usage: tuple[UsageSpec, ...] = ()
    rebook: bool = True
    #: Offer an instrument that is down to new requests only from now + its mean repair.
    #: Off by default: the API's scheduler weighs only ``p_up``, not the live state, and
    #: the forecast reproduces it; a scenario may try the policy.
    avoid_down: bool = False
    #: Requests arriving before this are placed (they load the site) but not reported.
    warmup_s: float = 0.0
    #: Booking quotas per organisation; the desk refuses a slot past one, as the API does.
    quotas: tuple[QuotaSpec, ...] = ()
    #: ``(org, start, end)`` of bookings that count against quotas but are not in
    #: ``bookings`` (done before the origin, in periods still open at it).
    quota_counted: tuple[tuple[str, float, float], ...] = ()
    #: Organisations that book as admins (they hold an admin key): the desk lets them book
    #: instruments that require a qualification they lack, as the API lets an admin key.
    admins: frozenset[str] = frozenset()

    @property
    def days(self) -> int:
        return max(1, math.ceil(self.horizon_s / DAY - 1e-9))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({i.kind for i in self.instruments}))

    def open_intervals(self, index: int, *, until: float | None = None) -> Intervals:
        """Open time of one instrument from the origin to ``until`` (default: the horizon):
        calendar minus maintenance. The desk asks past the horizon, where late requests of
        the horizon may still be placed; a calendar should cover that far (``calendar_s``).
        """
        spec = self.instruments[index]
        end = self.horizon_s if until is None else until
        base = spec.calendar if spec.calendar is not None else ((0.0, end),)
        clipped = tuple((max(a, 0.0), min(b, end)) for a, b in base)
        return subtract(tuple((a, b) for a, b in clipped if a < b), spec.maintenance)

    @property
    def calendar_s(self) -> float:
        """How far calendars should reach: the horizon, plus the longest request window, plus
        90 days of lead time (a request made late in the horizon may be for much later)."""
        reach = self.horizon_s + max((d.window_s for d in self.demand), default=0.0) + 90 * DAY
        return min(reach, _MAX_REACH_S)


class SlotRequest(NamedTuple):
    """A request as the desk sees it (seconds from the origin); ``latest`` bounds the end.
    A named tuple, not a frozen dataclass: one is built per request, and a frozen
    dataclass's ``__init__`` costs three times as much."""

    id: int
    kind: str
    duration: float
    earliest: float
    latest: float
    capabilities: frozenset[str]
    org: str = ""


class Placement(NamedTuple):
    """The desk's answer: instrument index and slot ``[start, end)`` (a named tuple, as
    ``SlotRequest``)."""

    instrument: int
    start: float
    end: float


class Desk(Protocol):
    """The scheduler as the model sees it: one fresh desk per replication.

    ``place`` must book the slot it returns (so later requests see it taken).
    ``not_before`` maps the index of each instrument that is down at ``now`` to the time
    from which it may be offered.
    """

    def place(
        self, request: SlotRequest, now: float, not_before: dict[int, float]
    ) -> Placement | None: ...


#: Builds the desk of one replication from the site (existing bookings already held).
DeskFactory = Callable[[SiteSpec], Desk]


@dataclass(slots=True)
class Replication:
    """What one replication produced (arrays; picklable and small)."""

    #: Running seconds inside open time, per instrument and day: shape (instruments, days).
    run_s: FloatArray
    #: Up seconds inside open time, per instrument and day.
    up_s: FloatArray
    #: Per existing booking (site order): instrument up and free at its start.
    served: npt.NDArray[np.bool_]
    #: New requests after warm-up: kind index (into ``SiteSpec.kinds``), arrival and requested
    #: seconds, wait from earliest start to placed start (NaN: not placed in its window).
    req_kind: npt.NDArray[np.int16]
    req_time: FloatArray
    req_duration: FloatArray
    req_wait: FloatArray
    #: Bookings lost to a failure or an overrun and asked again, per kind index.
    rebooked: npt.NDArray[np.int64]
    #: SimPy events processed.
    events: int = 0
    #: Sessions actually run, per kind index.
    sessions: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Per new request (as ``req_wait``): seconds from its placed start to when its session
    #: really began (a repair, a session before it still running, a late start); NaN: not
    #: placed, a no-show, lost and rebooked, or not begun within the horizon. ``req_wait +
    #: req_delay`` is the wait a queue would report.
    req_delay: FloatArray = field(default_factory=lambda: np.zeros(0))
