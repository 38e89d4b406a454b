"""A request's steps on the database: each move asks the tables (``states``), makes its
conditional UPDATE, and writes its history line and its audit line in the same transaction.

``settle`` applies what fell due by ``now`` (expiry on touch): the callers run it first in
every transaction that reads or changes a request, so every reader sees the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pilotshare.core import audit
from pilotshare.core.db import Connection, Executor
from pilotshare.network.requests import store
from pilotshare.network.requests.states import (
    Event,
    IllegalStep,
    OfferStatus,
    after_offer_gone,
    apply_offer,
    apply_request,
    due,
    lapsed,
)
from pilotshare.network.requests.store import Offer, PilotRequest


@dataclass(frozen=True, slots=True)
class Step:
    """Who makes a change, when it takes effect, and why (the history's note)."""

    actor: audit.Actor
    at: datetime
    note: str = ""


def lapsed_at(offer: Offer, now: datetime) -> bool:
    """Whether the offer's validity has passed by ``now`` (``states.lapsed``)."""
    return lapsed(offer.status, offer.valid_until, now)


async def settle(conn: Connection, now: datetime, request_id: UUID | None) -> None:
    """Expire the offers whose validity and the requests whose deadline has passed (of
    one request, or all), each at the moment it fell due. The request's row is locked
    first, as every change does (one lock order: no deadlock); one another transaction
    holds is left for it."""
    for found in await store.unsettled(conn, now, request_id):
        req = found
        offers = await store.offers_of(conn, req.id)
        # an offer is valid until the deadline at the latest: a due request's open
        # offers have all lapsed, each at its own time, before the request expires
        gone = [o for o in offers if lapsed_at(o, now)]
        for o in gone:
            await move_offer(
                conn,
                req,
                o,
                Event.EXPIRE,
                Step(audit.SYSTEM, o.valid_until, "its validity passed"),
            )
        left = sum(1 for o in offers if o.status is OfferStatus.OPEN) - len(gone)
        if gone and after_offer_gone(req.status, left) is not req.status:
            last = max(o.valid_until for o in gone)
            req = await move_request(
                conn, req, Event.REOPEN, Step(audit.SYSTEM, last, "no open offer left")
            )
        if due(req.status, req.deadline, now):
            await move_request(
                conn,
                req,
                Event.EXPIRE,
                Step(audit.SYSTEM, req.deadline, "the deadline passed without an accepted offer"),
            )


async def move_request(
    conn: Connection, req: PilotRequest, event: Event, step: Step
) -> PilotRequest:
    actor, at = step.actor, step.at
    to = apply_request(req.status, event)
    moved = await store.move_request(conn, req.id, req.status, to, at=at)
    if moved is None:  # the row is locked by this transaction: only a bug gets here
        raise IllegalStep("request", "changed meanwhile", event)
    await line(conn, step, req, None, event, before=req.status, after=to)
    owners = [req.client_org, *(o.platform_org for o in await store.offers_of(conn, req.id))]
    await audit.record(
        conn,
        actor,
        f"request.{event.value}",
        "request",
        str(req.id),
        owners=owners,
        at=at,
        before=req,
        after=moved,
    )
    return moved


async def move_offer(
    conn: Connection,
    req: PilotRequest,
    offer: Offer,
    event: Event,
    step: Step,
    *,
    booking_id: UUID | None = None,
) -> Offer:
    actor, at = step.actor, step.at
    to = apply_offer(offer.status, event)
    moved = await store.move_offer(conn, offer.id, offer.status, to, at=at, booking_id=booking_id)
    if moved is None:
        raise IllegalStep("offer", "changed meanwhile", event)
    await line(conn, step, req, offer, event, before=offer.status, after=to)
    await audit.record(
        conn,
        actor,
        f"offer.{event.value}",
        "offer",
        str(offer.id),
        owners=[req.client_org, offer.platform_org],
        at=at,
        before=offer,
        after=moved,
    )
    return moved


async def line(
    conn: Executor,
    step: Step,
    req: PilotRequest,
    offer: Offer | None,
    event: Event,
    *,
    before: str | None,
    after: str,
) -> None:
    await store.add_line(
        conn,
        request_id=req.id,
        offer_id=offer.id if offer is not None else None,
        at=step.at,
        actor_org=step.actor.org,
        actor_key=step.actor.key,
        event=event.value,
        from_status=before,
        to_status=after,
        note=step.note,
    )
