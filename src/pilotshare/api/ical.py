"""iCalendar (RFC 5545) text for booking feeds: just what calendar clients need.

Lines end in CRLF, are folded at 75 octets (never inside a UTF-8 sequence), and text values
are escaped; times are UTC. A feed is a plain published calendar, not an iTIP message: it
carries no ``METHOD``, because ``METHOD:PUBLISH`` obliges every event to name an
``ORGANIZER`` (RFC 5546 §3.2.1), which a feed of other organisations' busy time must not.
A cancelled event stays in the feed as ``STATUS:CANCELLED`` with a higher ``SEQUENCE`` and a
later ``DTSTAMP``, which is how subscribed clients learn to drop it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class Event:
    """One VEVENT. ``stamp`` is when its information last changed (DTSTAMP and
    LAST-MODIFIED); None: the calendar's ``now``."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    status: Literal["CONFIRMED", "TENTATIVE", "CANCELLED"] = "CONFIRMED"
    sequence: int = 0
    stamp: datetime | None = None
    opaque: bool = True  # TRANSP: busy time (OPAQUE) or not (TRANSPARENT)


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> list[str]:
    """Split a content line into pieces of at most 75 octets (continuations start with a space)."""
    raw = line.encode()
    if len(raw) <= 75:
        return [line]
    out: list[str] = []
    limit = 75
    while raw:
        cut = min(limit, len(raw))
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            cut -= 1
        out.append(("" if not out else " ") + raw[:cut].decode())
        raw = raw[cut:]
        limit = 74
    return out


def _event(e: Event, now: datetime) -> list[str]:
    stamp = _stamp(e.stamp or now)
    return [
        "BEGIN:VEVENT",
        f"UID:{e.uid}",
        f"DTSTAMP:{stamp}",
        f"LAST-MODIFIED:{stamp}",
        f"DTSTART:{_stamp(e.start)}",
        f"DTEND:{_stamp(e.end)}",
        f"SUMMARY:{_escape(e.summary)}",
        *([f"DESCRIPTION:{_escape(e.description)}"] if e.description else []),
        f"STATUS:{e.status}",
        f"SEQUENCE:{e.sequence}",
        f"TRANSP:{'OPAQUE' if e.opaque else 'TRANSPARENT'}",
        "END:VEVENT",
    ]


def calendar(name: str, events: Iterable[Event], *, now: datetime) -> str:
    """A VCALENDAR with ``events``; ``now`` is the DTSTAMP of events without their own."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//pilotshare//bookings//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for e in events:
        lines += _event(e, now)
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))
