"""iCalendar (RFC 5545) text for booking feeds: just what calendar clients need.

Lines end in CRLF, are folded at 75 octets, and text values are escaped; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    status: str = "CONFIRMED"  # or TENTATIVE, CANCELLED


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
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


def calendar(name: str, events: Iterable[Event], *, now: datetime) -> str:
    """A VCALENDAR with ``events``; ``now`` is every event's DTSTAMP."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//pilotshare//bookings//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for e in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{e.uid}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(e.start)}",
            f"DTEND:{_stamp(e.end)}",
            f"SUMMARY:{_escape(e.summary)}",
            *([f"DESCRIPTION:{_escape(e.description)}"] if e.description else []),
            f"STATUS:{e.status}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))
