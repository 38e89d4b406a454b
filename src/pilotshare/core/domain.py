"""Value types and enumerations of the domain, shared by every package."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

SLUG_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Row(Protocol):
    """A stored row as pure code reads it: a value by column name. asyncpg's ``Record`` is
    one and so is a ``dict``, so pure modules take rows without importing the driver."""

    def __getitem__(self, key: str, /) -> Any: ...


class InstrumentState(StrEnum):
    """What an instrument is doing, as its agent reports it (CONTRACT §2)."""

    RUNNING = "running"
    IDLE = "idle"
    SETUP = "setup"
    DOWN = "down"
    MAINTENANCE = "maintenance"


#: The derived state of an instrument whose agent is gone; never sent on the wire.
OFFLINE: Final = "offline"

#: Silence longer than this makes an instrument offline, by default (``Settings.offline_after_s``
#: configures it). The same gap ends a state interval and stops a booking's measured usage.
OFFLINE_AFTER: Final = timedelta(seconds=30)


class BookingStatus(StrEnum):
    """The statuses of a booking (CONTRACT §3); ``scheduler.states`` has their transitions."""

    CONFIRMED = "confirmed"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    RELEASED = "released"
    #: Its slot began while the instrument still ran a run from before its check-in window
    #: (someone else's): held, not yet checked in.
    DELAYED = "delayed"


class Role(StrEnum):
    """API key roles, from most to least powerful."""

    ADMIN = "admin"
    PLANNER = "planner"
    OPERATOR = "operator"

    def at_least(self, other: Role) -> bool:
        """Whether this role may do what ``other`` may (admin ⊇ planner ⊇ operator)."""
        order = (Role.OPERATOR, Role.PLANNER, Role.ADMIN)
        return order.index(self) >= order.index(other)


class JobStatus(StrEnum):
    """The states of a forecast or simulation job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def is_slug(value: str) -> bool:
    """Whether ``value`` is a valid site or instrument slug."""
    return bool(SLUG_RE.match(value))
