"""The states of a request (中试需求) and of its offers, as tables (pure).

A request is born ``open``; the first offer makes it ``offered``; accepting an offer makes it
``accepted`` (and books the offer's slot), the client may ``cancel`` it before that, and a
deadline passed without acceptance expires it. When its last open offer goes (withdrawn,
declined, lapsed) an offered request is ``open`` again. An offer is born ``open`` and ends
``accepted``, ``declined`` (by the client, or because another offer was accepted or the request
ended), ``withdrawn`` (by its platform) or ``expired`` (its ``valid_until`` passed).

Expiry is applied when a request is next read or changed (``due``/``lapsed`` with the
caller's ``now``): nothing runs on a timer, and every reader sees the same answer, because
the store settles what is due before it answers (and records it, at the moment it fell due).
As in ``scheduler.states``, every move asks ``apply``, which refuses one the table lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pilotshare.core.errors import Conflict


class RequestStatus(StrEnum):
    """Where a request stands."""

    OPEN = "open"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OfferStatus(StrEnum):
    """Where an offer stands."""

    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Event(StrEnum):
    """What can happen to a request or an offer."""

    POST = "post"  # a request is posted, an offer made (the history's first line)
    OFFER = "offer"  # a platform offers
    ACCEPT = "accept"  # the client accepts an offer (its slot is booked)
    DECLINE = "decline"  # the client declines an offer, or it lost to the accepted one
    WITHDRAW = "withdraw"  # the platform withdraws its offer
    CANCEL = "cancel"  # the client cancels the request
    EXPIRE = "expire"  # the request's deadline or the offer's validity passed
    REOPEN = "reopen"  # the last open offer went: the request waits for offers again


R = RequestStatus
O = OfferStatus  # noqa: E741 - the table reads better with one letter per machine

#: (request status, event) -> next status.
REQUEST: Final[Mapping[tuple[R, Event], R]] = MappingProxyType(
    {
        (R.OPEN, Event.OFFER): R.OFFERED,
        (R.OPEN, Event.CANCEL): R.CANCELLED,
        (R.OPEN, Event.EXPIRE): R.EXPIRED,
        (R.OFFERED, Event.OFFER): R.OFFERED,
        (R.OFFERED, Event.ACCEPT): R.ACCEPTED,
        (R.OFFERED, Event.CANCEL): R.CANCELLED,
        (R.OFFERED, Event.EXPIRE): R.EXPIRED,
        (R.OFFERED, Event.REOPEN): R.OPEN,
    }
)

#: (offer status, event) -> next status.
OFFER: Final[Mapping[tuple[O, Event], O]] = MappingProxyType(
    {
        (O.OPEN, Event.ACCEPT): O.ACCEPTED,
        (O.OPEN, Event.DECLINE): O.DECLINED,
        (O.OPEN, Event.WITHDRAW): O.WITHDRAWN,
        (O.OPEN, Event.EXPIRE): O.EXPIRED,
    }
)

#: A request that still takes offers (and may be cancelled, or expire).
PENDING: Final = frozenset(s for s, _ in REQUEST)
#: Ended requests and offers: no way out.
REQUEST_FINAL: Final = frozenset(R) - PENDING
OFFER_FINAL: Final = frozenset(O) - {s for s, _ in OFFER}


class IllegalStep(Conflict):
    """The event is not allowed in the current status (a 409 for a caller)."""

    def __init__(self, what: str, status: str, event: Event) -> None:
        reason = "request_closed" if what == "request" else "offer_closed"
        super().__init__(reason, f"the {what} is {status}: it cannot take the event {event}")
        self.current = status
        self.event = event


def apply_request(status: R, event: Event) -> R:
    """The request's status after ``event``; ``IllegalStep`` when the table has no move."""
    try:
        return REQUEST[status, event]
    except KeyError:
        raise IllegalStep("request", status, event) from None


def apply_offer(status: O, event: Event) -> O:
    """The offer's status after ``event``; ``IllegalStep`` when the table has no move."""
    try:
        return OFFER[status, event]
    except KeyError:
        raise IllegalStep("offer", status, event) from None


def due(status: R, deadline: datetime, now: datetime) -> bool:
    """Whether a request has expired by ``now``: still pending at its deadline."""
    return status in PENDING and now >= deadline


def lapsed(status: O, valid_until: datetime, now: datetime) -> bool:
    """Whether an open offer has expired by ``now`` (its validity is over)."""
    return status is O.OPEN and now >= valid_until


def after_offer_gone(status: R, open_offers_left: int) -> R:
    """The request's status once one of its offers stopped being open: ``open`` again when
    none is left of an offered request, else as it was."""
    if status is R.OFFERED and open_offers_left == 0:
        return apply_request(status, Event.REOPEN)
    return status


def sql_set(statuses: frozenset[R] | frozenset[O]) -> str:
    """``('a', 'b')`` for ``status IN …``, in the enum's order so the text is stable."""
    enum = type(next(iter(statuses)))
    return "(" + ", ".join(f"'{s.value}'" for s in enum if s in statuses) + ")"


#: The pending statuses as SQL (the store's expiry sweep and its partial index).
PENDING_SQL: Final = sql_set(PENDING)
