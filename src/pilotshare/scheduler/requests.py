"""What a booking request (and an availability query) must say before anyone reads a calendar.

One rule, one reason code, one sentence: ``RULES``. ``BookingRequest`` checks its own shape
when it is built, so a service that receives one never checks again, and the HTTP API, the
demo and the benchmarks all meet the same rules with the same answers (``BadInput``, a 422
with ``{"detail", "reason"}`` over HTTP). Rules that need the clock (the search window,
whose default starts now) are ``search_window``. Pure: ``now`` is passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, NoReturn
from uuid import UUID

from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput
from pilotshare.scheduler.policy import Interval

#: The longest search window, and the one used when only ``earliest`` is given.
MAX_WINDOW: Final = timedelta(days=62)
DEFAULT_WINDOW: Final = timedelta(days=7)

#: reason code -> the sentence a caller reads.
RULES: Final = MappingProxyType(
    {
        "instrument_or_kind": "give exactly one of 'instrument' and 'kind'",
        "incomplete_slot": "give both 'start' and 'end'",
        "slot_or_duration": (
            "give either 'start' and 'end', or 'duration' (with 'earliest' and 'latest')"
        ),
        "slot_needs_instrument": "an explicit slot needs 'instrument', not 'kind'",
        "bad_period": "end must be after start",
        "bad_duration": "'duration' must be positive",
        "bad_window": "'latest' must be after 'earliest'",
        "window_too_long": f"the window may span at most {MAX_WINDOW.days} days",
        "bad_status": "'status' takes booking statuses: "
        + ", ".join(s.value for s in BookingStatus),
        "bad_cursor": "'cursor' is not one this listing gave (take it from the 'Link' header)",
    }
)


def refuse(reason: str) -> NoReturn:
    """Raise the ``BadInput`` of one rule of ``RULES``."""
    raise BadInput(reason, RULES[reason])


def check_target(instrument: str | None, kind: str | None) -> None:
    """Exactly one of an instrument and a kind."""
    if (instrument is None) == (kind is None):
        refuse("instrument_or_kind")


def check_duration(duration: timedelta | None) -> None:
    """A duration, when given, is positive."""
    if duration is not None and duration <= timedelta(0):
        refuse("bad_duration")


def search_window(earliest: datetime | None, latest: datetime | None, now: datetime) -> Interval:
    """``[earliest, latest]`` with its defaults (now, a week later), checked."""
    lo = earliest or now
    hi = latest or lo + DEFAULT_WINDOW
    if hi <= lo:
        refuse("bad_window")
    if hi - lo > MAX_WINDOW:
        refuse("window_too_long")
    return lo, hi


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """An explicit slot (``instrument``, ``start``, ``end``) or a search (``duration`` of an
    ``instrument`` or a ``kind`` between ``earliest`` and ``latest``); valid once built."""

    instrument: str | None = None
    kind: str | None = None
    capabilities: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    duration: timedelta | None = None
    earliest: datetime | None = None
    latest: datetime | None = None
    purpose: str = ""
    #: The priced service item (服务项目) the booking is made for: one of the platform's
    #: owning the instrument (the service checks it against the stored items).
    service_item: str | None = None

    def __post_init__(self) -> None:
        check_target(self.instrument, self.kind)
        if self.start is None and self.end is None:
            if self.duration is None:
                refuse("slot_or_duration")
            check_duration(self.duration)
            return
        if self.start is None or self.end is None:
            refuse("incomplete_slot")
        if self.duration is not None or self.earliest is not None or self.latest is not None:
            refuse("slot_or_duration")
        if self.instrument is None:
            refuse("slot_needs_instrument")
        if self.end <= self.start:
            refuse("bad_period")

    @property
    def slot(self) -> Interval | None:
        """The explicit slot, or None for a search."""
        if self.start is None or self.end is None:
            return None
        return self.start, self.end


def statuses(values: Iterable[str]) -> frozenset[BookingStatus] | None:
    """The booking statuses of a listing's ``status`` filter: repeated, comma-separated or
    both; None (no filter) when none is given."""
    words = [w.strip() for v in values for w in v.split(",") if w.strip()]
    if not words:
        return None
    try:
        return frozenset(BookingStatus(w) for w in words)
    except ValueError:
        refuse("bad_status")


def encode_cursor(start: datetime, booking_id: UUID) -> str:
    """The opaque cursor of a listing's keyset position: the last booking a page showed."""
    raw = f"{start.isoformat()}|{booking_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position ``encode_cursor`` wrote; ``bad_cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, booking_id = raw.split("|")
        at = datetime.fromisoformat(start)
        if at.tzinfo is None:
            refuse("bad_cursor")
        return at, UUID(booking_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        refuse("bad_cursor")
