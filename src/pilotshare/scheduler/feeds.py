"""Calendar feeds of bookings, per instrument or per organisation, behind a per-feed token.

Calendar clients cannot send an API key, so a key holder creates a feed and gets a secret
token; only the token's SHA-256 is stored, and the feed can be revoked. What a feed shows is
decided here; how it is rendered (iCalendar) is the API's.

A feed lists bookings on the calendar and cancelled ones (so subscribed clients drop them),
each with how often it changed (``sequence``) and when it last did, and the closures of the
instruments it covers. Another organisation's booking (unless an admin made the feed) is
busy time only: no organisation, no purpose, and not even its id: its ``uid`` is a digest
of the feed and the booking, stable for that feed, and different in every other feed, so
two feeds cannot be joined on it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.core.scope import may_see
from pilotshare.scheduler.states import IN_FEED_SQL

#: The window a feed shows around now.
PAST: Final = timedelta(days=31)
FUTURE: Final = timedelta(days=180)
PREFIX: Final = "psf"

Scope = Literal["instrument", "org"]


@dataclass(frozen=True, slots=True)
class Feed:
    """A stored feed: whose bookings it shows, and whether in full."""

    scope: Scope
    subject: str
    org: str  # the organisation that created it
    full_detail: bool


@dataclass(frozen=True, slots=True)
class Entry:
    """One booking in a feed. ``visible``: its organisation's own (or an admin's feed), with
    ``uid`` its id; otherwise ``org`` and ``purpose`` are empty and ``uid`` is opaque."""

    uid: str
    instrument: str
    org: str
    start: datetime
    end: datetime
    purpose: str
    visible: bool
    status: BookingStatus
    sequence: int  # how many times it changed after it was made
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class ClosureEntry:
    """A maintenance window or blackout of an instrument the feed covers."""

    id: int
    instrument: str
    start: datetime
    end: datetime
    kind: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Contents:
    """What a feed shows now."""

    feed: Feed
    bookings: list[Entry]
    closures: list[ClosureEntry]


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hidden_uid(feed_id: str, booking_id: str) -> str:
    """The opaque, per-feed name of another organisation's booking."""
    digest = hashlib.sha256(f"{feed_id}/{booking_id}".encode()).hexdigest()[:32]
    return f"booking-{digest}"


async def create(conn: Executor, feed: Feed) -> tuple[str, str]:
    """Store a new feed; ``(feed id, token)``, the token shown once and never stored."""
    feed_id = secrets.token_hex(4)
    token = f"{PREFIX}_{feed_id}_{secrets.token_urlsafe(24)}"
    await conn.execute(
        "INSERT INTO calendar_feeds (id, token_hash, scope, subject, org_id, full_detail) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        feed_id,
        _hash(token),
        feed.scope,
        feed.subject,
        feed.org,
        feed.full_detail,
    )
    return feed_id, token


async def revoke(conn: Executor, feed_id: str, *, org: str, admin: bool, now: datetime) -> None:
    """Revoke a feed ``org`` created (any, for an admin); ``NotFound`` otherwise."""
    done = await conn.fetchval(
        "UPDATE calendar_feeds SET revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL "
        "AND (org_id = $2 OR $4) RETURNING true",
        feed_id,
        org,
        now,
        admin,
    )
    if not done:
        raise NotFound("no_feed", f"no feed {feed_id!r}")


_BOOKINGS = f"""
SELECT b.id::text AS id, b.instrument_id, b.org_id, lower(b.period) AS start,
       upper(b.period) AS "end", b.purpose, b.status, b.created_at,
       coalesce(e.changes, 1) - 1 AS sequence, coalesce(e.last, b.created_at) AS changed_at
FROM bookings b
LEFT JOIN LATERAL (SELECT count(*) AS changes, max(at) AS last
                   FROM booking_events WHERE booking_id = b.id) e ON true
WHERE {{column}} = $1 AND b.period && tstzrange($2, $3) AND b.status IN {IN_FEED_SQL}
ORDER BY lower(b.period), b.id"""

# The closures of the instruments a feed covers: its instrument, or those its organisation
# has bookings on in the window.
_CLOSURES = """
SELECT m.id, m.instrument_id, lower(m.period) AS start, upper(m.period) AS "end", m.kind,
       m.reason, m.created_at
FROM maintenance_windows m
WHERE m.period && tstzrange($2, $3)
  AND m.instrument_id IN (SELECT $1::text WHERE $4
                          UNION SELECT b.instrument_id FROM bookings b
                          WHERE NOT $4 AND b.org_id = $1 AND b.period && tstzrange($2, $3))
ORDER BY lower(m.period), m.id"""


async def read(conn: asyncpg.Pool, token: str, now: datetime) -> Contents:
    """What the feed of ``token`` shows around ``now``; ``NotFound`` when revoked."""
    if not token.startswith(f"{PREFIX}_"):
        raise BadInput("bad_token", "not a calendar feed token")
    row = await conn.fetchrow(
        "SELECT id, scope, subject, org_id, full_detail FROM calendar_feeds "
        "WHERE token_hash = $1 AND revoked_at IS NULL",
        _hash(token),
    )
    if row is None:
        raise NotFound("no_feed", "no such calendar feed")
    feed = Feed(row["scope"], row["subject"], row["org_id"], row["full_detail"])
    by_instrument = feed.scope == "instrument"
    column = "b.instrument_id" if by_instrument else "b.org_id"
    window = (now - PAST, now + FUTURE)
    bookings = await conn.fetch(_BOOKINGS.format(column=column), feed.subject, *window)
    closures = await conn.fetch(_CLOSURES, feed.subject, *window, by_instrument)
    entries = []
    for b in bookings:
        visible = may_see(b["org_id"], org=feed.org, admin=feed.full_detail)
        entries.append(
            Entry(
                uid=b["id"] if visible else hidden_uid(row["id"], b["id"]),
                instrument=b["instrument_id"],
                org=b["org_id"] if visible else "",
                start=b["start"],
                end=b["end"],
                purpose=b["purpose"] if visible else "",
                visible=visible,
                status=BookingStatus(b["status"]),
                sequence=b["sequence"],
                changed_at=b["changed_at"],
            )
        )
    return Contents(
        feed,
        entries,
        [
            ClosureEntry(
                c["id"],
                c["instrument_id"],
                c["start"],
                c["end"],
                c["kind"],
                c["reason"],
                c["created_at"],
            )
            for c in closures
        ],
    )
