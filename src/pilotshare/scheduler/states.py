"""The booking state machine, as data (pure).

Every booking is born ``confirmed`` and moves only along ``TRANSITIONS``: a table from
(status, event) to the next status, as the agent's outbox protocol and h11's ``_state.py``
keep theirs. The service (cancel, check-in by hand) and the lifecycle (check-in, delay,
completion, no-show) ask ``apply`` for the next status, and it refuses an event the table does
not allow.

The named sets say what a status means elsewhere: ``HELD`` occupies the instrument (the
exclusion constraints and partial indexes, last defined in migration 0042, use the same set),
``BILLABLE`` appears on a statement, ``FINAL`` has no way out. SQL keeps statuses as literals
(PostgreSQL uses a partial index only when a query repeats its predicate literally, which a
query parameter does not), so the ``*_SQL`` fragments below, generated from these sets, are
the only place Python spells a status; ``tests/unit/test_booking_states.py`` checks the
migrations agree and that no other literal creeps back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pilotshare.core.domain import BookingStatus as S
from pilotshare.core.errors import Conflict


class Event(StrEnum):
    """What can happen to a booking."""

    #: A run of its own (one that started inside its check-in window, ``scheduler.checkin``),
    #: seen live or found later in stored telemetry; or a check-in by hand.
    CHECK_IN = "check_in"
    #: Its slot began while the instrument still ran a run from before its check-in window.
    DELAY = "delay"
    #: The organisation gives the booking back (``DELETE``): the rest of its time is free.
    CANCEL = "cancel"
    #: Not started ``grace`` after its start, or ended without a run of its own.
    MISS = "miss"
    #: The slot ended after a run.
    COMPLETE = "complete"


#: A new booking's status (the column's default in migration 0001).
INITIAL: Final = S.CONFIRMED

#: (status, event) -> next status; a pair not in the table is an illegal transition.
TRANSITIONS: Final[Mapping[tuple[S, Event], S]] = MappingProxyType(
    {
        (S.CONFIRMED, Event.CHECK_IN): S.ACTIVE,
        (S.CONFIRMED, Event.CANCEL): S.CANCELLED,
        (S.CONFIRMED, Event.MISS): S.NO_SHOW,
        (S.CONFIRMED, Event.COMPLETE): S.COMPLETED,  # it ran unseen: settled from telemetry
        (S.CONFIRMED, Event.DELAY): S.DELAYED,
        # Delayed: held and unstarted like confirmed; its grace counts from when the carried
        # run ends. Given back, its slot has begun: the rest is released, as an active one's.
        (S.DELAYED, Event.CHECK_IN): S.ACTIVE,
        (S.DELAYED, Event.CANCEL): S.RELEASED,
        (S.DELAYED, Event.MISS): S.NO_SHOW,
        (S.DELAYED, Event.COMPLETE): S.COMPLETED,  # its own run, found in stored telemetry
        (S.ACTIVE, Event.CANCEL): S.RELEASED,
        (S.ACTIVE, Event.COMPLETE): S.COMPLETED,
    }
)


class IllegalTransition(Conflict):
    """The event is not allowed in the booking's current status (a 409 for a caller)."""

    def __init__(self, status: S, event: Event) -> None:
        super().__init__(
            "illegal_transition", f"a booking that is {status} cannot take the event {event}"
        )
        self.from_status = status
        self.event = event


def apply(status: S, event: Event) -> S:
    """The status after ``event``; ``IllegalTransition`` when the table has no such move."""
    try:
        return TRANSITIONS[status, event]
    except KeyError:
        raise IllegalTransition(status, event) from None


def sources(event: Event) -> frozenset[S]:
    """The statuses in which ``event`` is allowed."""
    return frozenset(s for s, e in TRANSITIONS if e is event)


#: Statuses that occupy the slot: two held bookings never overlap (the exclusion constraint).
HELD: Final = frozenset({S.CONFIRMED, S.DELAYED, S.ACTIVE})
#: Statuses with no transition out: the booking is settled (``ended_at`` is set).
FINAL: Final = frozenset(s for s in S if all(f != s for f, _ in TRANSITIONS))
#: Held but not yet checked in: the grace (no-show) timer runs for these.
UNSTARTED: Final = sources(Event.CHECK_IN)
#: Reached by giving a booking back by hand (the lifecycle then closes its interlock).
GIVEN_BACK: Final = frozenset(to for (_, e), to in TRANSITIONS.items() if e is Event.CANCEL)
#: A booking whose slot may still be changed (``PATCH``): it holds the instrument.
CHANGEABLE: Final = HELD
#: Those whose start may still move: not checked in yet. A started one may change its end only.
MOVABLE: Final = UNSTARTED & CHANGEABLE
#: Billed on a statement: all but cancelled (a no-show kept others out of its slot).
BILLABLE: Final = frozenset(S) - {S.CANCELLED}
#: Booked hours that count against an organisation's quota (a release gave time back).
QUOTA_COUNTED: Final = HELD | {S.COMPLETED, S.NO_SHOW}
#: What a calendar feed shows: what will happen or happened.
ON_CALENDAR: Final = HELD | {S.COMPLETED}
#: What a calendar feed lists: that, and cancelled bookings (marked so), which is how a
#: subscribed calendar client learns to take an event away.
IN_FEED: Final = ON_CALENDAR | {S.CANCELLED}
#: Settled with an outcome of attendance: served, or a no-show.
ATTENDANCE: Final = frozenset({S.COMPLETED, S.NO_SHOW})


def sql_literal(status: S) -> str:
    """``'status'``, quoted for SQL."""
    return f"'{status.value}'"


def sql_set(statuses: Iterable[S]) -> str:
    """``('a', 'b')`` for ``status IN …``, in the enum's order so the text is stable."""
    chosen = frozenset(statuses)
    return "(" + ", ".join(sql_literal(s) for s in S if s in chosen) + ")"


HELD_SQL: Final = sql_set(HELD)
UNSTARTED_SQL: Final = sql_set(UNSTARTED)
GIVEN_BACK_SQL: Final = sql_set(GIVEN_BACK)
BILLABLE_SQL: Final = sql_set(BILLABLE)
QUOTA_COUNTED_SQL: Final = sql_set(QUOTA_COUNTED)
ON_CALENDAR_SQL: Final = sql_set(ON_CALENDAR)
IN_FEED_SQL: Final = sql_set(IN_FEED)
#: A delayed booking, for the lifecycle's grace rule (its grace counts from ``freed_at``).
DELAYED_SQL: Final = sql_literal(TRANSITIONS[S.CONFIRMED, Event.DELAY])
