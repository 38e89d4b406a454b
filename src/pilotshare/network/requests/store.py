"""The SQL of requests (中试需求), their offers and their history, and nothing else.

Rows come back as frozen dataclasses; what may change into what is ``states``'. Every change
is a conditional UPDATE (``WHERE status = <from>``): of two concurrent changes one matches and
the other finds nothing, which its caller answers as the 409 of the step it tried. Times are
the caller's ``at`` (the app's clock), so the history and the statistics read one clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.network.requests.states import PENDING_SQL, OfferStatus, RequestStatus


@dataclass(frozen=True, slots=True)
class PilotRequest:
    """A stored request."""

    id: UUID
    client_org: str
    created_at: datetime
    created_by: str | None
    status: RequestStatus
    title: str
    description: str
    kind: str | None
    capabilities: tuple[str, ...]
    hours: Decimal | None
    samples: int | None
    service_item: str | None
    earliest: datetime
    deadline: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Offer:
    """A stored offer."""

    id: UUID
    request_id: UUID
    platform_org: str
    instrument: str
    created_at: datetime
    created_by: str | None
    status: OfferStatus
    start: datetime
    end: datetime
    price: Decimal
    conditions: str
    valid_until: datetime
    booking_id: UUID | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line of a request's history (``offer`` set: a line about one of its offers)."""

    id: int
    request_id: UUID
    offer_id: UUID | None
    offer_platform: str | None
    at: datetime
    actor_org: str | None
    actor_key: str | None
    event: str
    from_status: str | None
    to_status: str
    note: str


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """An instrument able to serve a request, with what the twin knows of it."""

    instrument: str
    platform: str | None
    site: str
    kind: str
    capabilities: tuple[str, ...]
    requires_qualification: bool
    ever_seen: bool  # an agent has reported for it


_REQUEST: Final = """id, client_org_id, created_at, created_by, status, title, description, kind,
    capabilities, hours, samples, service_item, earliest, deadline, updated_at"""
_OFFER: Final = """id, request_id, platform_org_id, instrument_id, created_at, created_by, status,
    start_at, end_at, price, conditions, valid_until, booking_id, updated_at"""

#: Instrument ``i`` can serve request ``r``: the one matching rule (kind when the request
#: names one, every required capability, in service, the client qualified where required).
CAPABLE: Final = """i.retired_at IS NULL AND (r.kind IS NULL OR i.kind = r.kind)
    AND i.capabilities @> r.capabilities
    AND (NOT i.requires_qualification OR EXISTS (SELECT 1 FROM qualifications q
        WHERE q.instrument_id = i.id AND q.org_id = r.client_org_id))"""


def _request(r: asyncpg.Record) -> PilotRequest:
    return PilotRequest(
        id=r["id"],
        client_org=r["client_org_id"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        status=RequestStatus(r["status"]),
        title=r["title"],
        description=r["description"],
        kind=r["kind"],
        capabilities=tuple(r["capabilities"]),
        hours=r["hours"],
        samples=r["samples"],
        service_item=r["service_item"],
        earliest=r["earliest"],
        deadline=r["deadline"],
        updated_at=r["updated_at"],
    )


def _offer(r: asyncpg.Record) -> Offer:
    return Offer(
        id=r["id"],
        request_id=r["request_id"],
        platform_org=r["platform_org_id"],
        instrument=r["instrument_id"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        status=OfferStatus(r["status"]),
        start=r["start_at"],
        end=r["end_at"],
        price=r["price"],
        conditions=r["conditions"],
        valid_until=r["valid_until"],
        booking_id=r["booking_id"],
        updated_at=r["updated_at"],
    )


# -- requests ------------------------------------------------------------------------------


async def insert_request(
    conn: Executor,
    *,
    client_org: str,
    created_by: str | None,
    title: str,
    description: str,
    kind: str | None,
    capabilities: Sequence[str],
    hours: Decimal | None,
    samples: int | None,
    service_item: str | None,
    earliest: datetime,
    deadline: datetime,
    at: datetime,
) -> PilotRequest:
    """Store a new, open request."""
    row = await conn.fetchrow(
        f"""INSERT INTO pilot_requests (client_org_id, created_at, created_by, status, title,
                description, kind, capabilities, hours, samples, service_item, earliest,
                deadline, updated_at)
            VALUES ($1, $2, $3, '{RequestStatus.OPEN.value}', $4, $5, $6, $7, $8, $9, $10, $11,
                $12, $2)
            RETURNING {_REQUEST}""",
        client_org,
        at,
        created_by,
        title,
        description,
        kind,
        sorted(set(capabilities)),
        hours,
        samples,
        service_item,
        earliest,
        deadline,
    )
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    return _request(row)


async def get_request(
    conn: Executor, request_id: UUID, *, lock: bool = False
) -> PilotRequest | None:
    """One request (``lock``: its row locked until the transaction ends)."""
    row = await conn.fetchrow(
        f"SELECT {_REQUEST} FROM pilot_requests WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        request_id,
    )
    return None if row is None else _request(row)


async def list_requests(
    conn: Executor,
    *,
    org: str | None,
    status: RequestStatus | None = None,
    limit: int = 100,
) -> list[PilotRequest]:
    """The newest requests ``org`` may see (None: all): its own, those one of its instruments
    can serve, and those it made an offer on."""
    rows = await conn.fetch(
        f"""SELECT {_REQUEST} FROM pilot_requests r
            WHERE ($1::text IS NULL OR r.client_org_id = $1
                   OR EXISTS (SELECT 1 FROM request_offers o
                              WHERE o.request_id = r.id AND o.platform_org_id = $1)
                   OR EXISTS (SELECT 1 FROM instruments i
                              WHERE i.owner_org_id = $1 AND {CAPABLE}))
              AND ($2::text IS NULL OR r.status = $2)
            ORDER BY r.created_at DESC, r.seq DESC LIMIT $3""",
        org,
        status.value if status is not None else None,
        limit,
    )
    return [_request(r) for r in rows]


async def move_request(
    conn: Executor, request_id: UUID, before: RequestStatus, after: RequestStatus, *, at: datetime
) -> PilotRequest | None:
    """``before`` -> ``after`` if the request is still ``before`` (None: it was not)."""
    row = await conn.fetchrow(
        f"""UPDATE pilot_requests SET status = $3, updated_at = $4
            WHERE id = $1 AND status = $2 RETURNING {_REQUEST}""",
        request_id,
        before.value,
        after.value,
        at,
    )
    return None if row is None else _request(row)


async def unsettled(
    conn: Executor, now: datetime, request_id: UUID | None = None
) -> list[PilotRequest]:
    """Pending requests (one, or all) whose deadline or an open offer's validity has passed
    by ``now``, locked; those another transaction holds are skipped (it settles them)."""
    rows = await conn.fetch(
        f"""SELECT {_REQUEST} FROM pilot_requests r
            WHERE r.status IN {PENDING_SQL} AND ($2::uuid IS NULL OR r.id = $2)
              AND (r.deadline <= $1 OR EXISTS (
                  SELECT 1 FROM request_offers o WHERE o.request_id = r.id
                    AND o.status = '{OfferStatus.OPEN.value}' AND o.valid_until <= $1))
            ORDER BY r.deadline FOR UPDATE SKIP LOCKED""",
        now,
        request_id,
    )
    return [_request(r) for r in rows]


async def candidates(conn: Executor, request_id: UUID) -> list[CandidateRow]:
    """Every instrument able to serve the request (``CAPABLE``), by id."""
    rows = await conn.fetch(
        f"""SELECT i.id, i.owner_org_id, i.site_id, i.kind, i.capabilities,
                   i.requires_qualification, (l.last_seen IS NOT NULL) AS ever_seen
            FROM pilot_requests r JOIN instruments i ON {CAPABLE}
            LEFT JOIN instrument_live l ON l.instrument_id = i.id
            WHERE r.id = $1 ORDER BY i.id""",
        request_id,
    )
    return [
        CandidateRow(
            r["id"],
            r["owner_org_id"],
            r["site_id"],
            r["kind"],
            tuple(r["capabilities"]),
            r["requires_qualification"],
            r["ever_seen"],
        )
        for r in rows
    ]


# -- offers --------------------------------------------------------------------------------


async def insert_offer(
    conn: Executor,
    *,
    request_id: UUID,
    platform_org: str,
    instrument: str,
    created_by: str | None,
    start: datetime,
    end: datetime,
    price: Decimal,
    conditions: str,
    valid_until: datetime,
    at: datetime,
) -> Offer:
    """Store a new, open offer."""
    row = await conn.fetchrow(
        f"""INSERT INTO request_offers (request_id, platform_org_id, instrument_id, created_at,
                created_by, status, start_at, end_at, price, conditions, valid_until, updated_at)
            VALUES ($1, $2, $3, $4, $5, '{OfferStatus.OPEN.value}', $6, $7, $8, $9, $10, $4)
            RETURNING {_OFFER}""",
        request_id,
        platform_org,
        instrument,
        at,
        created_by,
        start,
        end,
        price,
        conditions,
        valid_until,
    )
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    return _offer(row)


async def offers_of(conn: Executor, request_id: UUID) -> list[Offer]:
    """A request's offers, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_OFFER} FROM request_offers WHERE request_id = $1 ORDER BY created_at, seq",
        request_id,
    )
    return [_offer(r) for r in rows]


async def offers_of_all(conn: Executor, request_ids: Sequence[UUID]) -> dict[UUID, list[Offer]]:
    """The offers of several requests in one query, each request's oldest first."""
    rows = await conn.fetch(
        f"SELECT {_OFFER} FROM request_offers WHERE request_id = ANY($1::uuid[])"
        " ORDER BY created_at, seq",
        list(request_ids),
    )
    out: dict[UUID, list[Offer]] = {i: [] for i in request_ids}
    for r in rows:
        out[r["request_id"]].append(_offer(r))
    return out


async def move_offer(
    conn: Executor,
    offer_id: UUID,
    before: OfferStatus,
    after: OfferStatus,
    *,
    at: datetime,
    booking_id: UUID | None = None,
) -> Offer | None:
    """``before`` -> ``after`` if the offer is still ``before`` (None: it was not); an
    accepted offer keeps the booking it made."""
    row = await conn.fetchrow(
        f"""UPDATE request_offers SET status = $3, updated_at = $4,
                   booking_id = coalesce($5, booking_id)
            WHERE id = $1 AND status = $2 RETURNING {_OFFER}""",
        offer_id,
        before.value,
        after.value,
        at,
        booking_id,
    )
    return None if row is None else _offer(row)


# -- history -------------------------------------------------------------------------------


async def add_line(
    conn: Executor,
    *,
    request_id: UUID,
    offer_id: UUID | None,
    at: datetime,
    actor_org: str | None,
    actor_key: str | None,
    event: str,
    from_status: str | None,
    to_status: str,
    note: str = "",
) -> None:
    """Append one line to a request's history."""
    await conn.execute(
        """INSERT INTO request_events (request_id, offer_id, at, actor_org, actor_key, event,
               from_status, to_status, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        request_id,
        offer_id,
        at,
        actor_org,
        actor_key,
        event,
        from_status,
        to_status,
        note,
    )


async def history(conn: Executor, request_id: UUID) -> list[HistoryLine]:
    """A request's history, in the order it happened."""
    rows = await conn.fetch(
        """SELECT e.id, e.request_id, e.offer_id, o.platform_org_id, e.at, e.actor_org,
                  e.actor_key, e.event, e.from_status, e.to_status, e.note
           FROM request_events e LEFT JOIN request_offers o ON o.id = e.offer_id
           WHERE e.request_id = $1 ORDER BY e.at, e.id""",
        request_id,
    )
    return [HistoryLine(*r.values()) for r in rows]
