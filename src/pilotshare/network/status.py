"""The public directory's two rules (pure): an instrument's live status, and text search.

Live status, from the twin's live row and the bookings holding the instrument now:

- ``offline``: its agent is silent (or never reported), or it reports ``down`` or
  ``maintenance``: nobody can use it now;
- ``busy``: a booking holds it now, or it is ``running`` without one;
- ``free-soon``: busy, but its next free slot starts within ``FREE_SOON``;
- ``online``: up and free now.

Search: the query is cut at whitespace (ASCII or the ideographic space U+3000) into words;
each word must appear, case-insensitively, somewhere in the text searched (names and
descriptions in both languages). Chinese is written without spaces, so a word is matched as a
substring (``ILIKE '%word%'``), never as a token: "电镜" finds "扫描电镜成像".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

LiveStatus = Literal["online", "busy", "free-soon", "offline"]

#: A busy instrument whose next free slot starts within this is ``free-soon``.
FREE_SOON: Final = timedelta(minutes=30)
#: Reported states in which nobody can use the instrument.
_OUT_OF_SERVICE: Final = frozenset({"down", "maintenance"})
#: The longest query taken, and the most words in it.
MAX_QUERY: Final = 100
MAX_WORDS: Final = 8


def live_status(
    *,
    online: bool,
    state: str | None,
    held_until: datetime | None,
    next_free: datetime | None,
    now: datetime,
    soon: timedelta = FREE_SOON,
) -> LiveStatus:
    """The status the directory shows (see the module docstring)."""
    if not online or state in _OUT_OF_SERVICE:
        return "offline"
    held = held_until is not None and held_until > now
    if not held and state != "running":
        return "online"
    if next_free is not None and next_free - now <= soon:
        return "free-soon"
    return "busy"


def _escaped(word: str) -> str:
    """``word`` with the ``LIKE`` wildcards and the escape character taken literally."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def patterns(q: str | None) -> list[str]:
    """The ``ILIKE`` patterns every one of which the searched text must match (none: no
    search); at most ``MAX_WORDS`` words of the first ``MAX_QUERY`` characters."""
    if not q:
        return []
    words = q[:MAX_QUERY].split()[:MAX_WORDS]
    return [f"%{_escaped(w)}%" for w in dict.fromkeys(words)]
