"""A platform's figures of one month, from stored rows (pure; docs/network.md defines each).

Every figure is computed from what the API also answers, so anyone can recompute it:

- utilisation from the hourly telemetry buckets of ``GET /api/v1/instruments/{id}/telemetry``
  (``twin.history``: running and setup seconds) over the instrument's open hours: its
  operating hours less its closures (``GET /api/v1/instruments/{id}/closures``);
- hours served from the statements' billed hours (``billing.billed_hours``, given in);
- the shares, clients served and the wait from the bookings as ``GET /api/v1/bookings`` lists
  them (start, end, status, ``checked_in_at``), the instruments' booking rules and their
  closures.

A booking counts in the month its start is in, in its instrument's site's time zone
(``core.periods``), once its verdict is due: when its start plus the no-show grace has passed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Final

from pilotshare.core.domain import BookingStatus
from pilotshare.core.intervals import subtract
from pilotshare.core.periods import month_bounds, month_of, zone
from pilotshare.scheduler.policy import BookingRules, free_intervals
from pilotshare.scheduler.states import BILLABLE

HOUR: Final = timedelta(hours=1)
#: The wait is sampled at this local time of every day of the month.
SAMPLE_AT: Final = time(10, 0)
#: How far ahead the wait looks; a request with nothing free that far waits this long.
WAIT_HORIZON: Final = timedelta(days=31)
#: The states in which an instrument is in use (as billing's measured hours count them).
IN_USE: Final = ("running", "setup")
_ZERO: Final = Decimal(0)

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    """An instrument of a platform, with what its figures need."""

    id: str
    platform: str
    kind: str
    timezone: str
    rules: BookingRules


@dataclass(frozen=True, slots=True)
class BookingRow:
    """A booking as stored (the fields ``GET /api/v1/bookings`` and statements show)."""

    id: str
    instrument: str
    org: str
    start: datetime
    end: datetime
    status: BookingStatus
    checked_in_at: datetime | None
    #: The hours its statement line bills (``billing.billed_hours``; 0 when cancelled).
    hours: Decimal


@dataclass(frozen=True, slots=True)
class Window:
    """One instrument's month, cut at ``now``: ``[start, cut)``."""

    start: datetime
    end: datetime
    cut: datetime

    @classmethod
    def of(cls, month: str, timezone: str, now: datetime) -> Window:
        start, end = month_bounds(month, timezone)
        return cls(start, end, max(start, min(end, now)))


def served(b: BookingRow) -> bool:
    """Served: completed, or checked in (active, or released after it started)."""
    return b.status is BookingStatus.COMPLETED or (
        b.checked_in_at is not None and b.status in (BookingStatus.ACTIVE, BookingStatus.RELEASED)
    )


def on_time(b: BookingRow, grace: timedelta) -> bool:
    """Served, and checked in by its start plus the grace; a booking completed without a
    check-in was settled from its own run, which starts inside its check-in window."""
    return served(b) and (b.checked_in_at is None or b.checked_in_at <= b.start + grace)


def in_month(b: BookingRow, month: str, timezone: str) -> bool:
    """Whether the booking's start is in ``month`` in its site's ``timezone``."""
    return month_of(b.start, timezone) == month


def due(bookings: Iterable[BookingRow], now: datetime, grace: timedelta) -> list[BookingRow]:
    """The bookings whose verdict is due: start plus grace has passed."""
    return [b for b in bookings if b.start + grace <= now]


def _overlap(a: Span, spans: Sequence[Span]) -> float:
    return sum(max((min(a[1], hi) - max(a[0], lo)).total_seconds(), 0.0) for lo, hi in spans)


def open_spans(rules: BookingRules, window: Window, closures: Iterable[Span] = ()) -> list[Span]:
    """The instrument's open hours in the window (always open without a calendar), less its
    ``closures`` (maintenance windows and blackouts): a closed platform is not idle."""
    if window.cut <= window.start:
        return []
    if rules.calendar is None:
        base = [(window.start, window.cut)]
    else:
        base = rules.calendar.open_intervals(window.start, window.cut)
    return list(subtract(base, closures))


def usage(
    buckets: Sequence[tuple[datetime, Mapping[str, float]]], spans: Sequence[Span], window: Window
) -> tuple[float, float]:
    """(seconds in use within open hours, open seconds) of one instrument.

    Each hourly bucket's running and setup seconds count by the share of the bucket (within
    the window) that is open: telemetry resolves time to the hour, no finer.
    """
    used = 0.0
    for start, seconds in buckets:
        part = (max(start, window.start), min(start + HOUR, window.cut))
        length = (part[1] - part[0]).total_seconds()
        if length <= 0:
            continue
        used += sum(seconds.get(s, 0.0) for s in IN_USE) * _overlap(part, spans) / length
    return used, _overlap((window.start, window.cut), spans)


def sample_times(month: str, timezone: str, now: datetime) -> list[datetime]:
    """``SAMPLE_AT`` local time of every day of the month, up to ``now``."""
    start, end = month_bounds(month, timezone)
    tz = zone(timezone)
    day = start.astimezone(tz).date()
    out: list[datetime] = []
    while True:
        t = datetime.combine(day, SAMPLE_AT, tz)
        if t >= end or t >= now:
            return out
        out.append(t)
        day += timedelta(days=1)


def first_fit(
    rules: BookingRules,
    held: Sequence[Span],
    at: datetime,
    length: timedelta,
    closures: Sequence[Span] = (),
) -> timedelta:
    """How long a request for ``length`` made ``at`` waits for its first free slot on one
    instrument (its booking rules, the ``held`` bookings, its ``closures``);
    ``WAIT_HORIZON`` at most."""
    free = free_intervals(
        rules, window=(at, at + WAIT_HORIZON), now=at, bookings=held, closures=closures
    )
    for lo, hi in free:
        if hi - lo >= length:
            return lo - at
    return WAIT_HORIZON


def waits(
    instruments: Sequence[InstrumentRow],
    held: Mapping[str, Sequence[Span]],
    typical: Mapping[str, timedelta],
    month: str,
    now: datetime,
    *,
    closed: Mapping[str, Sequence[Span]] | None = None,
) -> list[float]:
    """Hours waited at each sample time for each kind with a ``typical`` duration: the
    first free slot on any instrument of that kind of the platform, none inside its
    ``closed`` spans (closures per instrument)."""
    closed = closed or {}
    out: list[float] = []
    for kind, length in sorted(typical.items()):
        of_kind = sorted((i for i in instruments if i.kind == kind), key=lambda i: i.id)
        if not of_kind:
            continue
        for t in sample_times(month, of_kind[0].timezone, now):
            wait = min(
                first_fit(i.rules, held.get(i.id, ()), t, length, closed.get(i.id, ()))
                for i in of_kind
            )
            out.append(wait.total_seconds() / 3600.0)
    return out


def typical_durations(
    instruments: Sequence[InstrumentRow], bookings: Iterable[BookingRow]
) -> dict[str, timedelta]:
    """Per kind, the median duration of the given non-cancelled bookings."""
    kind_of = {i.id: i.kind for i in instruments}
    lengths: dict[str, list[float]] = {}
    for b in bookings:
        if b.status in BILLABLE and b.instrument in kind_of:
            lengths.setdefault(kind_of[b.instrument], []).append((b.end - b.start).total_seconds())
    return {k: timedelta(seconds=statistics.median(v)) for k, v in lengths.items()}


@dataclass(frozen=True, slots=True)
class BookingFigures:
    """What a set of due bookings says."""

    bookings: int
    hours_served: Decimal
    clients_served: int
    on_time_share: float | None
    no_show_share: float | None
    cancellation_share: float | None
    no_shows: int
    cancellations: int


def booking_figures(bookings: Sequence[BookingRow], grace: timedelta) -> BookingFigures:
    """Counts and shares of due bookings: no-show and cancellation shares of all of them,
    the on-time share of those not cancelled."""
    n = len(bookings)
    cancelled = sum(b.status is BookingStatus.CANCELLED for b in bookings)
    no_show = sum(b.status is BookingStatus.NO_SHOW for b in bookings)
    kept = n - cancelled
    return BookingFigures(
        bookings=n,
        hours_served=sum((b.hours for b in bookings), _ZERO),
        clients_served=len({b.org for b in bookings if served(b)}),
        on_time_share=sum(on_time(b, grace) for b in bookings) / kept if kept else None,
        no_show_share=no_show / n if n else None,
        cancellation_share=cancelled / n if n else None,
        no_shows=no_show,
        cancellations=cancelled,
    )


def median(values: Sequence[float]) -> float | None:
    """The median, None of nothing."""
    return statistics.median(values) if values else None


__all__ = [
    "HOUR",
    "IN_USE",
    "SAMPLE_AT",
    "WAIT_HORIZON",
    "BookingFigures",
    "BookingRow",
    "InstrumentRow",
    "Span",
    "Window",
    "booking_figures",
    "due",
    "first_fit",
    "in_month",
    "median",
    "on_time",
    "open_spans",
    "sample_times",
    "served",
    "typical_durations",
    "usage",
    "waits",
]
