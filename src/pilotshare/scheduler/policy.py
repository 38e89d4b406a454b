"""Booking rules of one instrument, and the free intervals they leave (pure).

An instrument is bookable where four things agree: its weekly operating calendar (local to
its site, with dated exceptions), no maintenance window or blackout, no other booking held
within the setup/changeover buffer, and the request's own limits (minimum notice, maximum
horizon). ``free_intervals`` folds all of them into one sorted tuple of UTC intervals in
which any sub-interval is a legal slot (length limits aside), which is what
``scheduler.allocation`` and the availability search work on.

The setup buffer follows every booking: a booking ``[s, e)`` holds the instrument for
``[s, e + buffer)``, and two held ranges never overlap (migration 0020 enforces the same
rule in the database). So next to a booking ``[a, b)`` nothing may be placed in
``[a - buffer, b + buffer)``. The buffer may run past closing time; the booking itself may not.

Operating hours are JSON, as stored in ``instruments.operating_hours``::

    {"mon": [["08:00", "18:00"]], "tue": [["08:00", "12:00"], ["13:00", "18:00"]],
     "sat": [["22:00", "06:00"]],                  # an end not after its start: next day
     "exceptions": {"2026-12-24": [["08:00", "12:00"]], "2026-12-25": []}}

A weekday that is absent is closed; ``null`` means always open; ``"24:00"`` is midnight at
the end of the day. An exception replaces that date's weekly hours (``[]``: closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from pilotshare.core.domain import Row
from pilotshare.core.errors import BadInput
from pilotshare.core.intervals import merge, subtract
from pilotshare.core.periods import period_of, zone

Interval = tuple[datetime, datetime]
Hours = tuple[tuple[time, time | None], ...]  # an end of None is 24:00

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_ZERO: Final = timedelta(0)
#: How stale a "now" the minimum-notice check forgives: a slot offered by the availability
#: search at ``now`` (its start at ``now + min_notice`` or later) stays bookable as offered
#: for this long, whatever time passes between the search and the request.
NOTICE_TOLERANCE: Final = timedelta(seconds=60)


def _parse_time(text: object, where: str) -> time | None:
    if not isinstance(text, str) or not _HHMM.match(text):
        raise BadInput("bad_operating_hours", f"{where}: {text!r} is not HH:MM (00:00-24:00)")
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _parse_hours(spans: object, where: str) -> Hours:
    if not isinstance(spans, list):
        raise BadInput("bad_operating_hours", f"{where}: expected a list of [start, end] pairs")
    parsed: list[tuple[time, time | None]] = []
    for i, span in enumerate(spans):
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise BadInput("bad_operating_hours", f"{where}[{i}]: expected [start, end]")
        start = _parse_time(span[0], f"{where}[{i}][0]")
        if start is None:
            raise BadInput("bad_operating_hours", f"{where}[{i}][0]: a span cannot start at 24:00")
        end = _parse_time(span[1], f"{where}[{i}][1]")
        parsed.append((start, end))
    return tuple(parsed)


@dataclass(frozen=True, slots=True)
class OperatingCalendar:
    """Weekly opening hours in a site's time zone, with dated exceptions."""

    timezone: str
    weekly: tuple[Hours, ...]  # index 0 is Monday
    exceptions: Mapping[date, Hours] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, spec: Mapping[str, Any] | None, timezone: str = "UTC"
    ) -> OperatingCalendar | None:
        """Validate the JSON form (module docstring); ``None`` means always open."""
        zone(timezone)
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise BadInput("bad_operating_hours", "operating_hours must be an object or null")
        unknown = set(spec) - set(DAYS) - {"exceptions"}
        if unknown:
            raise BadInput("bad_operating_hours", f"unknown keys {sorted(unknown)}")
        weekly = tuple(_parse_hours(spec.get(day, []), day) for day in DAYS)
        raw_exceptions = spec.get("exceptions", {})
        if not isinstance(raw_exceptions, Mapping):
            raise BadInput("bad_operating_hours", "exceptions must map YYYY-MM-DD to hours")
        exceptions: dict[date, Hours] = {}
        for key, spans in raw_exceptions.items():
            try:
                day = date.fromisoformat(str(key))
            except ValueError:
                raise BadInput(
                    "bad_operating_hours", f"exceptions: {key!r} is not a date"
                ) from None
            exceptions[day] = _parse_hours(spans, f"exceptions.{key}")
        return cls(timezone, weekly, exceptions)

    def hours_on(self, day: date) -> Hours:
        """The opening spans of one local date."""
        found = self.exceptions.get(day)
        return found if found is not None else self.weekly[day.weekday()]

    def open_intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """Open UTC intervals overlapping ``[start, end)``, clipped to it, merged, sorted."""
        tz = zone(self.timezone)
        first = start.astimezone(tz).date() - timedelta(days=1)  # yesterday may run past midnight
        last = end.astimezone(tz).date()
        spans: list[Interval] = []
        day = first
        while day <= last:
            for open_at, close_at in self.hours_on(day):
                lo = datetime.combine(day, open_at, tz)
                if close_at is None or close_at <= open_at:
                    hi_day = day + timedelta(days=1)
                    hi = datetime.combine(hi_day, close_at or time(0), tz)
                else:
                    hi = datetime.combine(day, close_at, tz)
                a, b = max(lo.astimezone(UTC), start), min(hi.astimezone(UTC), end)
                if a < b:
                    spans.append((a, b))
            day += timedelta(days=1)
        return list(merge(spans))


@dataclass(frozen=True, slots=True)
class BookingRules:
    """Everything that limits when one instrument may be booked."""

    calendar: OperatingCalendar | None = None
    setup_buffer: timedelta = _ZERO
    min_length: timedelta = timedelta(minutes=15)
    max_length: timedelta = timedelta(days=1)
    min_notice: timedelta = _ZERO
    max_horizon: timedelta = timedelta(days=90)

    @classmethod
    def from_row(cls, row: Row, timezone: str = "UTC") -> BookingRules:
        """Rules from an ``instruments`` row (column names of migration 0001)."""
        return cls(
            calendar=OperatingCalendar.parse(row["operating_hours"], timezone),
            setup_buffer=timedelta(seconds=row["setup_buffer_s"]),
            min_length=timedelta(seconds=row["min_booking_s"]),
            max_length=timedelta(seconds=row["max_booking_s"]),
            min_notice=timedelta(seconds=row["min_notice_s"]),
            max_horizon=timedelta(seconds=row["max_horizon_s"]),
        )

    def bookable_window(self, now: datetime) -> Interval:
        """Where a booking made at ``now`` may lie at all: after the notice, within horizon."""
        return now + self.min_notice, now + self.max_horizon


def free_intervals(
    rules: BookingRules,
    *,
    window: Interval,
    now: datetime,
    bookings: Iterable[Interval] = (),
    closures: Iterable[Interval] = (),
) -> tuple[Interval, ...]:
    """Where a new booking may lie inside ``window``, as sorted disjoint UTC intervals.

    ``bookings`` are the periods of bookings that hold the instrument (their buffer is added
    here); ``closures`` are maintenance windows and blackouts.
    """
    lo, hi = rules.bookable_window(now)
    lo, hi = max(lo, window[0]), min(hi, window[1])
    if lo >= hi:
        return ()
    base = [(lo, hi)] if rules.calendar is None else rules.calendar.open_intervals(lo, hi)
    buf = rules.setup_buffer
    holes = [(a - buf, b + buf) for a, b in bookings]
    holes.extend(closures)
    return subtract(base, holes)


def check_slot(
    rules: BookingRules,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    keep_start: bool = False,
) -> None:
    """Refuse a slot that breaks a rule of the instrument itself (not other bookings).

    The minimum notice holds for the start with ``NOTICE_TOLERANCE`` of slack (a start up
    to that long before ``now + min_notice`` passes); ``keep_start`` (a booking resized with
    its start unchanged) skips it, as that start was accepted when it was booked.

    Raises ``BadInput`` with a reason code: ``bad_period``, ``too_short``, ``too_long``,
    ``too_soon``, ``too_far``, ``closed``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise BadInput("bad_period", "start and end need a UTC offset")
    if end <= start:
        raise BadInput("bad_period", "end must be after start")
    length = end - start
    if length < rules.min_length:
        raise BadInput("too_short", f"shorter than the minimum of {rules.min_length}")
    if length > rules.max_length:
        raise BadInput("too_long", f"longer than the maximum of {rules.max_length}")
    lo, hi = rules.bookable_window(now)
    if not keep_start and start < lo - NOTICE_TOLERANCE:
        raise BadInput("too_soon", f"starts before the minimum notice ({lo.isoformat()})")
    if end > hi:
        raise BadInput("too_far", f"ends after the booking horizon ({hi.isoformat()})")
    if rules.calendar is not None:
        spans = rules.calendar.open_intervals(start, end)
        if spans != [(start, end)]:
            raise BadInput("closed", "the slot is outside the instrument's operating hours")


def overlapping(period: Interval, intervals: Iterable[Interval]) -> list[Interval]:
    """Those of ``intervals`` that overlap ``period``."""
    a, b = period
    return [(x, y) for x, y in intervals if x < b and a < y]


def may_book(*, requires_qualification: bool, qualified: bool, admin: bool = False) -> bool:
    """Whether an organisation may book an instrument: any may, unless the instrument
    requires a qualification, which the organisation must hold (an admin books anything)."""
    return admin or qualified or not requires_qualification


@dataclass(frozen=True, slots=True)
class QuotaPiece:
    """The part of a slot inside one period of one quota: ``hours`` of it count there."""

    period: str
    max_hours: float
    window: Interval
    hours: float

    def exceeded(self, used: float) -> bool:
        """Whether the slot takes the organisation past the quota, with ``used`` hours of
        the period booked already (limits are inclusive)."""
        return used + self.hours > self.max_hours + 1e-9


def quota_pieces(
    limits: Mapping[str, float], slot: Interval, timezone: str
) -> Iterator[QuotaPiece]:
    """Each period of each quota (``limits``: period -> max hours) that ``slot`` touches,
    in periods of ``timezone`` (the instrument's site's): a slot across a period boundary
    counts its part in each period, by period name and then time."""
    for period, max_hours in sorted(limits.items()):
        lo, hi = period_of(period, slot[0], timezone)
        while lo < slot[1]:
            hours = (min(hi, slot[1]) - max(lo, slot[0])).total_seconds() / 3600.0
            yield QuotaPiece(period, max_hours, (lo, hi), hours)
            lo, hi = period_of(period, hi, timezone)
