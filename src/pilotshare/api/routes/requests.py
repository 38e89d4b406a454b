"""``/api/v1/requests``: requests (中试需求), their matches, offers and history
(docs/network.md). Thin: parse, ask ``network.requests.service.RequestService``, answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from pilotshare.api.deps import BookingsDep, ClockDep, CurrentKey, OperatorKey, Pool
from pilotshare.api.keys import Principal
from pilotshare.api.routes.bookings import BookingPublic, booking_public
from pilotshare.api.schemas import Instant, Money, Slug, problems
from pilotshare.network.requests.matching import Match
from pilotshare.network.requests.service import (
    NewOffer,
    NewRequest,
    RequestService,
    RequestView,
    Who,
)
from pilotshare.network.requests.states import OfferStatus, RequestStatus
from pilotshare.network.requests.store import HistoryLine, Offer

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

Capability = Annotated[str, StringConstraints(min_length=1, max_length=64)]


async def _service(pool: Pool, clock: ClockDep, bookings: BookingsDep) -> RequestService:
    return RequestService(pool, clock, bookings)


Service = Annotated[RequestService, Depends(_service)]


def _who(principal: Principal) -> Who:
    return Who(principal.org, principal.key_id, principal.admin, principal.network)


class RequestCreate(BaseModel):
    """What a client needs: a kind and/or capabilities, instrument time (hours) and/or
    samples, and the window it must happen in."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    kind: Slug | None = None
    capabilities: list[Capability] = Field(default=[], max_length=32)
    hours: Decimal | None = Field(
        default=None, gt=0, le=2000, decimal_places=2, description="instrument time needed"
    )
    samples: int | None = Field(default=None, gt=0, le=1_000_000)
    service_item: Slug | None = Field(default=None, description="a priced service item's id")
    earliest: Instant | None = Field(default=None, description="default: now")
    deadline: Instant = Field(description="the work is done by then")


class OfferPublic(BaseModel):
    """A platform's offer: an instrument's slot at a price (CNY), until ``valid_until``."""

    id: str
    request: str
    platform: str
    instrument: str
    status: OfferStatus
    start: AwareDatetime
    end: AwareDatetime
    price: Money
    currency: str = "CNY"
    conditions: str
    valid_until: AwareDatetime
    booking: str | None = Field(description="the booking it made, once accepted")
    created_at: AwareDatetime


class RequestPublic(BaseModel):
    """A request, with the offers the caller may see (a platform: its own)."""

    id: str
    client: str
    status: RequestStatus
    title: str
    description: str
    kind: str | None
    capabilities: list[str]
    hours: Money | None
    samples: int | None
    service_item: str | None
    earliest: AwareDatetime
    deadline: AwareDatetime
    created_at: AwareDatetime
    updated_at: AwareDatetime
    offers: list[OfferPublic]


class OfferCreate(BaseModel):
    """A platform's answer: one of its instruments, a slot in the request's window, a price."""

    model_config = ConfigDict(extra="forbid")

    instrument: Slug
    start: Instant
    end: Instant
    price: Money = Field(ge=0, max_digits=12, decimal_places=2, description="CNY")
    conditions: str = Field(default="", max_length=4000)
    valid_until: Instant | None = Field(default=None, description="default: the slot's start")


class Note(BaseModel):
    """Why, in a few words (kept in the history)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=1000)


class SlotPublic(BaseModel):
    """A slot."""

    start: AwareDatetime
    end: AwareDatetime


class OddsPublic(BaseModel):
    """The probability of serving the request before its deadline, with a 90 % interval."""

    p: float
    interval: tuple[float, float]
    replications: int


class MatchPublic(BaseModel):
    """A capable instrument: its first free slot of the needed length and its odds."""

    instrument: str
    platform: str | None
    site: str
    kind: str
    need_hours: float = Field(description="hours asked for, else its minimum booking")
    first_slot: SlotPublic | None
    free_hours: float = Field(description="free hours in the window that can hold the need")
    twin: bool = Field(description="the twin has learned its behaviour from telemetry")
    odds: OddsPublic | None = Field(description="null without learned behaviour (see reason)")
    prior: bool = Field(description="the odds rest on the forecast's prior failure rates")
    basis: str
    reason: str | None = Field(description="no_telemetry or not_learned when odds is null")


class AcceptedPublic(BaseModel):
    """The accepted offer and the booking it made."""

    offer: OfferPublic
    booking: BookingPublic


class HistoryPublic(BaseModel):
    """One step of a request or of one of its offers."""

    at: AwareDatetime
    actor_org: str | None = Field(description="null: pilotshare itself (expiry)")
    actor_key: str | None
    event: str
    offer: str | None = Field(description="the offer it concerns; null: the request")
    from_status: str | None = Field(serialization_alias="from")
    to_status: str = Field(serialization_alias="to")
    note: str


def _offer(o: Offer) -> OfferPublic:
    return OfferPublic(
        id=str(o.id),
        request=str(o.request_id),
        platform=o.platform_org,
        instrument=o.instrument,
        status=o.status,
        start=o.start,
        end=o.end,
        price=o.price,
        conditions=o.conditions,
        valid_until=o.valid_until,
        booking=str(o.booking_id) if o.booking_id is not None else None,
        created_at=o.created_at,
    )


def _request(v: RequestView) -> RequestPublic:
    r = v.request
    return RequestPublic(
        id=str(r.id),
        client=r.client_org,
        status=r.status,
        title=r.title,
        description=r.description,
        kind=r.kind,
        capabilities=list(r.capabilities),
        hours=r.hours,
        samples=r.samples,
        service_item=r.service_item,
        earliest=r.earliest,
        deadline=r.deadline,
        created_at=r.created_at,
        updated_at=r.updated_at,
        offers=[_offer(o) for o in v.offers],
    )


def _match(m: Match) -> MatchPublic:
    return MatchPublic(
        instrument=m.instrument,
        platform=m.platform,
        site=m.site,
        kind=m.kind,
        need_hours=m.need.total_seconds() / 3600,
        first_slot=SlotPublic(start=m.first_slot[0], end=m.first_slot[1]) if m.first_slot else None,
        free_hours=round(m.free_hours, 3),
        twin=m.twin,
        odds=OddsPublic(p=m.odds.p, interval=m.odds.interval, replications=m.odds.replications)
        if m.odds is not None
        else None,
        prior=m.prior,
        basis=m.basis,
        reason=m.reason,
    )


def _line(x: HistoryLine) -> HistoryPublic:
    return HistoryPublic(
        at=x.at,
        actor_org=x.actor_org,
        actor_key=x.actor_key,
        event=x.event,
        offer=str(x.offer_id) if x.offer_id is not None else None,
        from_status=x.from_status,
        to_status=x.to_status,
        note=x.note,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RequestPublic,
    responses=problems(401, 403, 404, 422),
)
async def post_request(body: RequestCreate, principal: OperatorKey, svc: Service) -> RequestPublic:
    """Post a request for your organisation (operator key or higher)."""
    new = NewRequest(
        title=body.title,
        description=body.description,
        kind=body.kind,
        capabilities=tuple(body.capabilities),
        hours=body.hours,
        samples=body.samples,
        service_item=body.service_item,
        earliest=body.earliest,
        deadline=body.deadline,
    )
    return _request(await svc.post(_who(principal), new))


@router.get("", response_model=list[RequestPublic], responses=problems(401, 403, 422))
async def list_requests(
    principal: CurrentKey,
    svc: Service,
    status: Annotated[RequestStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RequestPublic]:
    """The newest requests you may see: your own, those your platform's instruments can
    serve or you offered on (the network operator: all)."""
    found = await svc.list_for(_who(principal), status=status, limit=limit)
    return [_request(v) for v in found]


@router.get("/{request}", response_model=RequestPublic, responses=problems(401, 403, 404, 422))
async def get_request(request: UUID, principal: CurrentKey, svc: Service) -> RequestPublic:
    """A request with its offers (a platform sees only its own offers)."""
    return _request(await svc.get(_who(principal), request))


@router.post(
    "/{request}/cancel", response_model=RequestPublic, responses=problems(401, 403, 404, 409, 422)
)
async def cancel_request(
    request: UUID, principal: OperatorKey, svc: Service, body: Note | None = None
) -> RequestPublic:
    """Cancel your request (its open offers are declined); 409 once it has ended."""
    note = body.note if body is not None else ""
    return _request(await svc.cancel(_who(principal), request, note))


@router.get(
    "/{request}/matches",
    response_model=list[MatchPublic],
    responses=problems(401, 403, 404, 422),
)
async def request_matches(
    request: UUID,
    principal: CurrentKey,
    svc: Service,
    seed: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> list[MatchPublic]:
    """Every capable instrument with its first free slot and the twin's odds of serving the
    request before its deadline, best odds first (a platform: its own instruments)."""
    return [_match(m) for m in await svc.matches(_who(principal), request, seed=seed)]


@router.post(
    "/{request}/offers",
    status_code=status.HTTP_201_CREATED,
    response_model=OfferPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def make_offer(
    request: UUID, body: OfferCreate, principal: OperatorKey, svc: Service
) -> OfferPublic:
    """Offer one of your platform's capable instruments (its admins, or the network's)."""
    new = NewOffer(
        instrument=body.instrument,
        start=body.start,
        end=body.end,
        price=body.price,
        conditions=body.conditions,
        valid_until=body.valid_until,
    )
    return _offer(await svc.offer(_who(principal), request, new))


@router.post(
    "/{request}/offers/{offer}/accept",
    response_model=AcceptedPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def accept_offer(
    request: UUID, offer: UUID, principal: OperatorKey, svc: Service
) -> AcceptedPublic:
    """Accept an open offer: its slot is booked with every booking rule, the other offers
    declined, the request accepted, at once; or nothing changes (409 with the booking's
    reason, e.g. ``slot_taken``)."""
    done = await svc.accept(_who(principal), request, offer)
    return AcceptedPublic(offer=_offer(done.offer), booking=booking_public(done.booking))


@router.post(
    "/{request}/offers/{offer}/decline",
    response_model=OfferPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def decline_offer(
    request: UUID, offer: UUID, principal: OperatorKey, svc: Service, body: Note | None = None
) -> OfferPublic:
    """Decline an open offer on your request."""
    note = body.note if body is not None else ""
    return _offer(await svc.decline(_who(principal), request, offer, note))


@router.post(
    "/{request}/offers/{offer}/withdraw",
    response_model=OfferPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def withdraw_offer(
    request: UUID, offer: UUID, principal: OperatorKey, svc: Service, body: Note | None = None
) -> OfferPublic:
    """Withdraw your platform's open offer (its admins, or the network's)."""
    note = body.note if body is not None else ""
    return _offer(await svc.withdraw(_who(principal), request, offer, note))


@router.get(
    "/{request}/history",
    response_model=list[HistoryPublic],
    responses=problems(401, 403, 404, 422),
)
async def request_history(
    request: UUID, principal: CurrentKey, svc: Service
) -> list[HistoryPublic]:
    """What happened to the request and its offers, in order (a platform: its own offers)."""
    return [_line(x) for x in await svc.history(_who(principal), request)]
