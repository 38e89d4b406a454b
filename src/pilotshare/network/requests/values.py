"""What the request service takes and answers: who asks, a new request, a new offer, a
request as one caller may see it, an accepted offer with its booking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pilotshare.core import audit
from pilotshare.network.requests.store import Offer, PilotRequest
from pilotshare.scheduler.store import Booking


@dataclass(frozen=True, slots=True)
class Who:
    """Who asks: their organisation and key, whether the key is an admin one, and whether it
    is the network operator's admin (sees and administers everything)."""

    org: str
    key: str | None = None
    admin: bool = False
    network: bool = False

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.org, self.key)


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What a client posts."""

    title: str
    description: str
    kind: str | None
    capabilities: tuple[str, ...]
    hours: Decimal | None
    samples: int | None
    service_item: str | None
    earliest: datetime | None
    deadline: datetime


@dataclass(frozen=True, slots=True)
class NewOffer:
    """What a platform offers."""

    instrument: str
    start: datetime
    end: datetime
    price: Decimal
    conditions: str
    valid_until: datetime | None


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request and the offers the caller may see."""

    request: PilotRequest
    offers: list[Offer]


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted offer and the booking it made."""

    offer: Offer
    booking: Booking
