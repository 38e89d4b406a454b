"""When a run is a booking's own: the check-in window (pure).

A booking's check-in window opens ``early`` (``PILOTSHARE_BOOKING_EARLY_S``) before its start
and closes when its no-show grace (``PILOTSHARE_BOOKING_GRACE_S``) ends, never after the
booking's end. Only a run that *starts* inside the window checks the booking in: a run carried
over from before it (someone else's overrun, unbooked use) says nothing about whether the
booking's organisation came, so at the start it makes the booking ``delayed`` instead. A
delayed booking's grace counts from when the carried-over run ended (``freed``); until then
its window stays open to the booking's end, and it is never a no-show before it had its
instrument. A check-in by hand (an instrument without an agent) is accepted inside the same
window.

The lifecycle asks ``on_run`` what the instrument's current run means for a booking in
progress, and ``own_run`` and ``carried_until`` what stored telemetry says when it settles a
deadline it missed; the API asks
``check_in_window`` whether a check-in by hand is on time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pilotshare.core.domain import BookingStatus
from pilotshare.scheduler.states import TRANSITIONS, Event


@dataclass(frozen=True, slots=True)
class CheckInWindow:
    """``[opens, closes)``: when a run that starts, or a check-in by hand, is the booking's."""

    opens: datetime
    closes: datetime

    def __contains__(self, t: object) -> bool:
        return isinstance(t, datetime) and self.opens <= t < self.closes


def check_in_window(
    start: datetime,
    end: datetime,
    *,
    early: timedelta,
    grace: timedelta,
    delayed: bool = False,
    freed: datetime | None = None,
) -> CheckInWindow:
    """The window of a booking ``[start, end)``; ``delayed`` with ``freed`` as stored.

    A delayed booking's grace starts when its instrument was freed of the carried-over run
    (never before its start); while that run goes on the window stays open to the end.
    """
    closes = end if delayed and freed is None else max(start, freed or start) + grace
    return CheckInWindow(start - early, min(closes, end))


class Booked(Protocol):
    """What the window of a stored booking depends on (a booking as any store reads it)."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def status(self) -> BookingStatus: ...
    @property
    def freed_at(self) -> datetime | None: ...


def booking_window(booking: Booked, *, early: timedelta, grace: timedelta) -> CheckInWindow:
    """The window of a stored booking as it stands: one reading of its status and ``freed_at``
    for the lifecycle's deadlines and a check-in by hand alike."""
    return check_in_window(
        booking.start,
        booking.end,
        early=early,
        grace=grace,
        delayed=booking.status is BookingStatus.DELAYED,
        freed=booking.freed_at,
    )


class Arrival(StrEnum):
    """What a run is to a booking, by when it started."""

    #: Started inside the window: the booking's own run.
    OWN = "own"
    #: Started before the window opened, or before an overrunning previous booking ended.
    CARRIED = "carried"
    #: Started after the window closed: too late to check the booking in.
    LATE = "late"


def arrival(
    run_start: datetime, window: CheckInWindow, *, taken_until: datetime | None = None
) -> Arrival:
    """Whose run it is. ``taken_until``: the end of a previous booking flagged ``overrun``;
    a run that began before it is that booking's, wherever the window opens."""
    if run_start < window.opens or (taken_until is not None and run_start < taken_until):
        return Arrival.CARRIED
    if run_start in window:
        return Arrival.OWN
    return Arrival.LATE


def on_run(
    status: BookingStatus,
    run_start: datetime | None,
    window: CheckInWindow,
    *,
    taken_until: datetime | None = None,
) -> Event | None:
    """The event a booking in progress takes from its instrument's current run (started at
    ``run_start``; None: not running): a check-in, a delay, or nothing."""
    if run_start is None:
        return None
    match arrival(run_start, window, taken_until=taken_until):
        case Arrival.OWN:
            event = Event.CHECK_IN
        case Arrival.CARRIED:
            event = Event.DELAY
        case Arrival.LATE:
            return None
    return event if (status, event) in TRANSITIONS else None


def own_run(
    runs: Iterable[tuple[datetime, datetime]],
    start: datetime,
    window: CheckInWindow,
    *,
    taken_until: datetime | None = None,
) -> datetime | None:
    """The start of the first run of its own among ``runs`` (``(start, end)`` of running
    stretches, from stored telemetry) that still ran at or after the booking's ``start``."""
    for run_start, run_end in sorted(runs):
        if run_end > start and arrival(run_start, window, taken_until=taken_until) is Arrival.OWN:
            return run_start
    return None


def carried_until(
    runs: Iterable[tuple[datetime, datetime]],
    start: datetime,
    window: CheckInWindow,
    *,
    taken_until: datetime | None = None,
) -> datetime | None:
    """The end of a carried-over run among ``runs`` that was going at the booking's
    ``start`` (the booking was delayed, and freed then); None when there was none."""
    for run_start, run_end in sorted(runs):
        if run_start <= start < run_end and (
            arrival(run_start, window, taken_until=taken_until) is Arrival.CARRIED
        ):
            return run_end
    return None
