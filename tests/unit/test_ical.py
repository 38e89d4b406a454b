"""The iCalendar text of a feed, for any summary and description (python ``icalendar`` reads
it back): folding at 75 octets never splits a UTF-8 character, escaping round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.api.ical import Event, calendar

JAN = datetime(2026, 1, 5, tzinfo=UTC)
# Text a person may type: any printable character of any script, and line breaks.
TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"), blacklist_characters="\x7f")
    | st.sampled_from(["\n", "\r", ",", ";", "\\", ":", "维", "护", "é", "😀"]),
    max_size=300,
)


def _newlines(text: str) -> str:
    """A text value's line breaks as iCalendar keeps them: one ``\\n`` each."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@given(summary=TEXT, description=TEXT)
def test_any_text_folds_within_75_octets_and_reads_back_the_same(
    summary: str, description: str
) -> None:
    event = Event("u1@pilotshare", JAN, JAN + timedelta(hours=2), summary, description)
    text = calendar("维护 feed, 1", [event], now=JAN)
    raw = text.encode()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    for line in raw.split(b"\r\n")[:-1]:
        assert len(line) <= 75
        line.decode("utf-8")  # no piece ends inside a character
    [parsed] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(parsed["SUMMARY"]) == _newlines(summary)
    if description:
        assert str(parsed["DESCRIPTION"]) == _newlines(description)
    assert str(parsed["UID"]) == "u1@pilotshare"


def test_a_cancelled_event_is_transparent_with_its_sequence_and_stamp() -> None:
    changed = JAN + timedelta(minutes=7)
    event = Event(
        "u2@x",
        JAN,
        JAN + timedelta(hours=1),
        "s",
        status="CANCELLED",
        sequence=3,
        stamp=changed,
        opaque=False,
    )
    lines = calendar("feed", [event], now=JAN + timedelta(days=1)).split("\r\n")
    for expected in (
        "STATUS:CANCELLED",
        "SEQUENCE:3",
        "TRANSP:TRANSPARENT",
        "DTSTAMP:20260105T000700Z",
        "LAST-MODIFIED:20260105T000700Z",
    ):
        assert expected in lines
    assert not any(line.startswith("METHOD") for line in lines)
