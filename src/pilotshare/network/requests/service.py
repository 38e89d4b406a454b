"""Requests (中试需求) as a service: post, match, offer, accept (a booking), decline,
withdraw, cancel; every change in one transaction with its history line and its audit line.

Each change locks its request's row first, so the changes of one request and its offers
happen one after another; what fell due meanwhile (a deadline, an offer's validity) is
settled in the same transaction before anything is decided (``states``: expiry is applied on
touch, with the app's clock). Accepting an offer is a booking made by the scheduler's
``BookingService`` with every booking rule; the offer and request change inside the
booking's transaction (its ``then``), so either the slot is booked and the offer accepted,
or neither (a slot taken meanwhile is the booking's 409, and the offer stays open).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from pilotshare import registry
from pilotshare.core import audit
from pilotshare.core.clock import Clock
from pilotshare.core.db import Connection, Executor
from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import BadInput, Forbidden, NotFound
from pilotshare.core.scope import may_administer, require_visible
from pilotshare.network.requests import store
from pilotshare.network.requests.matching import (
    NO_TELEMETRY,
    NOT_LEARNED,
    Candidate,
    Match,
    check_request,
    match,
    ranked,
    rng_for,
)
from pilotshare.network.requests.states import (
    PENDING,
    Event,
    OfferStatus,
    RequestStatus,
    after_offer_gone,
    apply_offer,
    apply_request,
)
from pilotshare.network.requests.steps import Step, line, move_offer, move_request, settle
from pilotshare.network.requests.store import CandidateRow, HistoryLine, Offer, PilotRequest
from pilotshare.network.requests.values import (
    Accepted,
    NewOffer,
    NewRequest,
    RequestView,
    Who,
)
from pilotshare.scheduler.forecast.inputs import failure_spec
from pilotshare.scheduler.requests import BookingRequest, search_window
from pilotshare.scheduler.service import BookingService, Caller
from pilotshare.scheduler.store import Booking
from pilotshare.twin.store import lives, stored_behaviours

__all__ = ["Accepted", "NewOffer", "NewRequest", "RequestService", "RequestView", "Who"]


def _missing(request_id: UUID) -> NotFound:
    return NotFound("no_request", f"no request {request_id}")


class RequestService:
    """Requests and offers on a pool; bookings through the scheduler's service."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, bookings: BookingService) -> None:
        self._pool = pool
        self._clock = clock
        self._bookings = bookings

    # -- reading ---------------------------------------------------------------------------

    async def post(self, who: Who, new: NewRequest) -> RequestView:
        """Post a request for ``who``'s organisation (open, with its first history line)."""
        now = self._clock.now()
        check_request(
            title=new.title,
            kind=new.kind,
            capabilities=new.capabilities,
            hours=new.hours,
            samples=new.samples,
            deadline=new.deadline,
            now=now,
        )
        earliest = new.earliest or now
        search_window(earliest, new.deadline, now)  # the availability search's window rules
        async with self._pool.acquire() as conn, conn.transaction():
            if new.service_item is not None:  # 404 no_service_item: a name that pays nothing
                await registry.service_item(conn, new.service_item)
            req = await store.insert_request(
                conn,
                client_org=who.org,
                created_by=who.key,
                title=new.title.strip(),
                description=new.description,
                kind=new.kind,
                capabilities=new.capabilities,
                hours=new.hours,
                samples=new.samples,
                service_item=new.service_item,
                earliest=earliest,
                deadline=new.deadline,
                at=now,
            )
            await line(
                conn, Step(who.actor, now), req, None, Event.POST, before=None, after=req.status
            )
            await audit.record(
                conn,
                who.actor,
                "request.post",
                "request",
                str(req.id),
                owners=[req.client_org],
                at=now,
                after=req,
            )
        return RequestView(req, [])

    async def list_for(
        self, who: Who, *, status: RequestStatus | None = None, limit: int = 100
    ) -> list[RequestView]:
        """The newest requests ``who`` may see, each with the offers it may see."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await settle(conn, now, None)
            found = await store.list_requests(
                conn, org=None if who.network else who.org, status=status, limit=limit
            )
            offers = await store.offers_of_all(conn, [r.id for r in found])
        return [RequestView(r, self._own_offers(who, r, offers[r.id])) for r in found]

    async def get(self, who: Who, request_id: UUID) -> RequestView:
        """One request with the offers ``who`` may see; ``no_request`` if it may not see it."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await settle(conn, now, request_id)
            req, offers, _ = await self._visible(conn, who, request_id)
            return RequestView(req, self._own_offers(who, req, offers))

    async def history(self, who: Who, request_id: UUID) -> list[HistoryLine]:
        """The request's history; a platform sees the lines of its own offers only."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await settle(conn, now, request_id)
            req, _, _ = await self._visible(conn, who, request_id)
            lines = await store.history(conn, request_id)
        if who.network or who.org == req.client_org:
            return lines
        return [x for x in lines if x.offer_platform is None or x.offer_platform == who.org]

    async def matches(self, who: Who, request_id: UUID, *, seed: int | None = None) -> list[Match]:
        """Every capable instrument with its first free slot and odds, best odds first (a
        platform sees its own instruments only); none once the request has ended."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await settle(conn, now, request_id)
            req, _, cands = await self._visible(conn, who, request_id)
            if not (who.network or who.org == req.client_org):
                cands = [c for c in cands if c.platform == who.org]
            if req.status not in PENDING or not cands:
                return []
            ids = [c.instrument for c in cands]
            learned = await stored_behaviours(conn, ids)
            down = {x.instrument for x in await lives(conn, current=InstrumentState.DOWN)}
        need = timedelta(hours=float(req.hours)) if req.hours is not None else None
        free = await self._bookings.free_windows(
            req.client_org,
            ids,
            duration=need,
            earliest=max(req.earliest, now),
            latest=req.deadline,
        )
        base = seed if seed is not None else req.id.int & (2**63 - 1)
        out = []
        for c in cands:
            if c.instrument not in free:
                continue
            length, slots = free[c.instrument]
            behaviour = learned.get(c.instrument)
            unknown = NOT_LEARNED if c.ever_seen else NO_TELEMETRY
            candidate = Candidate(
                c.instrument,
                c.platform,
                c.site,
                c.kind,
                failure_spec(behaviour) if behaviour is not None else None,
                reason=None if behaviour is not None else unknown,
                down_now=c.instrument in down,
            )
            windows = [(s.start, s.end) for s in slots]
            out.append(
                match(
                    candidate,
                    need=length,
                    windows=windows,
                    now=now,
                    rng=rng_for(base, c.instrument),
                )
            )
        return ranked(out)

    # -- writing ---------------------------------------------------------------------------

    async def cancel(self, who: Who, request_id: UUID, note: str = "") -> RequestView:
        """The client cancels its request; its open offers are declined."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            req, offers, _ = await self._locked(conn, who, request_id, now)
            self._client_only(who, req)
            apply_request(req.status, Event.CANCEL)
            for o in offers:
                if o.status is OfferStatus.OPEN:
                    await move_offer(
                        conn,
                        req,
                        o,
                        Event.DECLINE,
                        Step(who.actor, now, "the request was cancelled"),
                    )
            req = await move_request(conn, req, Event.CANCEL, Step(who.actor, now, note))
            return RequestView(req, await store.offers_of(conn, req.id))

    async def offer(self, who: Who, request_id: UUID, new: NewOffer) -> Offer:
        """A platform's admin offers one of its capable instruments for a slot in the
        request's window, at a price, valid until a time (default: the slot's start)."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            req, _, cands = await self._locked(conn, who, request_id, now)
            cand = next((c for c in cands if c.instrument == new.instrument), None)
            if cand is None:
                raise BadInput(
                    "not_capable",
                    f"instrument {new.instrument!r} cannot serve this request (its kind, "
                    "capabilities, retirement or the client's qualification)",
                )
            if not may_administer(cand.platform, org=who.org, admin=who.admin, network=who.network):
                raise Forbidden(
                    "not_owner",
                    "the instrument belongs to another platform: its admins may offer it",
                )
            await self._check_item(conn, req, cand)
            apply_request(req.status, Event.OFFER)
            if not (req.earliest <= new.start < new.end <= req.deadline):
                raise BadInput(
                    "offer_outside_window",
                    "an offer's slot must lie between the request's earliest start and its "
                    "deadline",
                )
            valid = new.valid_until or min(new.start, req.deadline)
            if not now < valid <= req.deadline:
                raise BadInput(
                    "bad_validity",
                    "'valid_until' must be after now and not after the request's deadline",
                )
            offer = await store.insert_offer(
                conn,
                request_id=req.id,
                platform_org=cand.platform or who.org,
                instrument=new.instrument,
                created_by=who.key,
                start=new.start,
                end=new.end,
                price=new.price,
                conditions=new.conditions,
                valid_until=valid,
                at=now,
            )
            await line(
                conn, Step(who.actor, now), req, offer, Event.POST, before=None, after=offer.status
            )
            await audit.record(
                conn,
                who.actor,
                "offer.make",
                "offer",
                str(offer.id),
                owners=[req.client_org, offer.platform_org],
                at=now,
                after=offer,
            )
            if req.status is RequestStatus.OPEN:
                await move_request(conn, req, Event.OFFER, Step(who.actor, now))
            return offer

    async def accept(self, who: Who, request_id: UUID, offer_id: UUID) -> Accepted:
        """The client accepts an open offer: its slot is booked (every booking rule), the
        offer accepted, the others declined and the request accepted, all at once."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            req, offers, _ = await self._locked(conn, who, request_id, now)
            self._client_only(who, req)
            offer = self._offer_in(offers, offer_id)
            apply_offer(offer.status, Event.ACCEPT)
            apply_request(req.status, Event.ACCEPT)

        accepted: list[Offer] = []  # the offer as ``booked`` left it (no second read)

        async def booked(conn: Connection, booking: Booking) -> None:
            # inside the booking's transaction: its refusal undoes the booking
            at = self._clock.now()
            fresh, others, _ = await self._locked(conn, who, request_id, at)
            chosen = self._offer_in(others, offer_id)
            moved = await move_offer(
                conn,
                fresh,
                chosen,
                Event.ACCEPT,
                Step(who.actor, at, f"booking {booking.id}"),
                booking_id=booking.id,
            )
            accepted.append(moved)
            for o in others:
                if o.id != offer_id and o.status is OfferStatus.OPEN:
                    await move_offer(
                        conn,
                        fresh,
                        o,
                        Event.DECLINE,
                        Step(who.actor, at, "another offer was accepted"),
                    )
            await move_request(conn, fresh, Event.ACCEPT, Step(who.actor, at, f"offer {offer_id}"))

        booking = await self._bookings.create(
            Caller(req.client_org, who.network, who.key),
            BookingRequest(
                instrument=offer.instrument,
                start=offer.start,
                end=offer.end,
                purpose=f"中试需求 request {req.id}: {req.title}"[:500],
                service_item=req.service_item,
            ),
            then=booked,
        )
        return Accepted(accepted[-1], booking)

    async def decline(self, who: Who, request_id: UUID, offer_id: UUID, note: str = "") -> Offer:
        """The client declines an open offer."""
        return await self._end_offer(who, request_id, offer_id, Event.DECLINE, note)

    async def withdraw(self, who: Who, request_id: UUID, offer_id: UUID, note: str = "") -> Offer:
        """The offer's platform withdraws it while it is open."""
        return await self._end_offer(who, request_id, offer_id, Event.WITHDRAW, note)

    # -- internals -------------------------------------------------------------------------

    async def _end_offer(
        self, who: Who, request_id: UUID, offer_id: UUID, event: Event, note: str
    ) -> Offer:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            req, offers, _ = await self._locked(conn, who, request_id, now)
            if event is Event.DECLINE:
                self._client_only(who, req)
            # the offers ``who`` sees (the client: all on its request), so that withdrawing an
            # offer one sees but does not own is 403, and one that one does not see is 404
            offer = self._offer_in(self._own_offers(who, req, offers), offer_id)
            if event is Event.WITHDRAW and not may_administer(
                offer.platform_org, org=who.org, admin=who.admin, network=who.network
            ):
                raise Forbidden(
                    "not_owner", "the offer belongs to another platform: its admins may withdraw it"
                )
            moved = await move_offer(conn, req, offer, event, Step(who.actor, now, note))
            left = sum(1 for o in offers if o.status is OfferStatus.OPEN and o.id != offer.id)
            if after_offer_gone(req.status, left) is not req.status:
                await move_request(
                    conn, req, Event.REOPEN, Step(who.actor, now, "no open offer left")
                )
            return moved

    async def _visible(
        self, conn: Executor, who: Who, request_id: UUID
    ) -> tuple[PilotRequest, list[Offer], list[CandidateRow]]:
        """The request, its offers and its candidates, if ``who`` may see it: its client, the
        platforms concerned (a capable instrument, or an offer) and the network."""
        req = await store.get_request(conn, request_id)
        if req is None:
            raise _missing(request_id)
        offers = await store.offers_of(conn, request_id)
        cands = await store.candidates(conn, request_id)
        concerned = {c.platform for c in cands} | {o.platform_org for o in offers}
        require_visible(
            req,
            req.client_org,
            org=who.org,
            admin=who.network,
            missing=_missing(request_id),
            shared_with={p for p in concerned if p is not None},
        )
        return req, offers, cands

    async def _locked(
        self, conn: Connection, who: Who, request_id: UUID, now: datetime
    ) -> tuple[PilotRequest, list[Offer], list[CandidateRow]]:
        """Lock the request, settle what fell due, and answer it (with its offers and
        candidates, read once) as ``who`` may see it."""
        if await store.get_request(conn, request_id, lock=True) is None:
            raise _missing(request_id)
        await settle(conn, now, request_id)
        return await self._visible(conn, who, request_id)

    @staticmethod
    async def _check_item(conn: Executor, req: PilotRequest, cand: CandidateRow) -> None:
        """Refuse an offer on an instrument that does not serve the request's service item
        (``ServiceItem.serves``, the booking's own rule): accepting it would be refused."""
        if req.service_item is None:
            return
        item = await registry.service_item(conn, req.service_item)
        if not item.serves(cand.platform, cand.kind, cand.instrument):
            scope = item.instrument_id or (f"{item.kind!r} instruments" if item.kind else "any")
            raise BadInput(
                "service_item_mismatch",
                f"the request names service item {item.id!r} of {item.platform_org_id!r} "
                f"(done on: {scope}); instrument {cand.instrument!r} does not serve it",
            )

    @staticmethod
    def _own_offers(who: Who, req: PilotRequest, offers: Sequence[Offer]) -> list[Offer]:
        if who.network or who.org == req.client_org:
            return list(offers)
        return [o for o in offers if o.platform_org == who.org]

    @staticmethod
    def _offer_in(offers: Sequence[Offer], offer_id: UUID) -> Offer:
        """The offer of the request among ``offers``; ``no_offer`` if not."""
        for o in offers:
            if o.id == offer_id:
                return o
        raise NotFound("no_offer", f"no offer {offer_id} on this request")

    @staticmethod
    def _client_only(who: Who, req: PilotRequest) -> None:
        if not (who.network or who.org == req.client_org):
            raise Forbidden("not_client", "only the client that posted the request may do this")
