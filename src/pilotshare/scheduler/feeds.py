"""Calendar feeds of bookings, per instrument or per organisation, behind a per-feed token.

Calendar clients cannot send an API key, so a key holder creates a feed and gets a secret
token; only the token's SHA-256 is stored, and the feed can be revoked. What a feed shows is
decided here; how it is rendered (iCalendar) is the API's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.scheduler.states import ON_CALENDAR_SQL

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
    """One booking in a feed; ``visible`` says whether its organisation and purpose show."""

    id: str
    instrument: str
    org: str
    start: datetime
    end: datetime
    purpose: str
    visible: bool


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


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


async def read(conn: asyncpg.Pool, token: str, now: datetime) -> tuple[Feed, list[Entry]]:
    """The feed of ``token`` and its bookings around ``now``; ``NotFound`` when revoked."""
    if not token.startswith(f"{PREFIX}_"):
        raise BadInput("bad_token", "not a calendar feed token")
    row = await conn.fetchrow(
        "SELECT scope, subject, org_id, full_detail FROM calendar_feeds "
        "WHERE token_hash = $1 AND revoked_at IS NULL",
        _hash(token),
    )
    if row is None:
        raise NotFound("no_feed", "no such calendar feed")
    feed = Feed(row["scope"], row["subject"], row["org_id"], row["full_detail"])
    column = "b.instrument_id" if feed.scope == "instrument" else "b.org_id"
    bookings = await conn.fetch(
        f"""SELECT b.id, b.instrument_id, b.org_id, lower(b.period) AS start,
                   upper(b.period) AS "end", b.purpose
            FROM bookings b
            WHERE {column} = $1 AND b.period && tstzrange($2, $3)
              AND b.status IN {ON_CALENDAR_SQL}
            ORDER BY lower(b.period)""",
        feed.subject,
        now - PAST,
        now + FUTURE,
    )
    entries = [
        Entry(
            str(b["id"]),
            b["instrument_id"],
            b["org_id"],
            b["start"],
            b["end"],
            b["purpose"],
            feed.full_detail or b["org_id"] == feed.org,
        )
        for b in bookings
    ]
    return feed, entries
