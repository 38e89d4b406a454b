"""iCalendar feeds of bookings, per instrument or per organisation, behind a per-feed token.

Calendar clients cannot send an API key, so a key holder creates a feed and gets a secret
URL; only the token's SHA-256 is stored, and the feed can be revoked. An instrument feed
shows other organisations' bookings as busy time only, unless an admin created it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, model_validator

from pilotshare.api.deps import ClockDep, CurrentKey, Pool
from pilotshare.api.ical import Event, calendar
from pilotshare.api.schemas import Problem, Slug
from pilotshare.core.domain import Role
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.registry import require_instrument
from pilotshare.scheduler.states import ON_CALENDAR_SQL

router = APIRouter(prefix="/api/v1/calendars", tags=["calendars"])

PAST = timedelta(days=31)
FUTURE = timedelta(days=180)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class FeedCreate(BaseModel):
    """One of ``instrument`` or ``org``."""

    model_config = ConfigDict(extra="forbid")

    instrument: Slug | None = None
    org: Slug | None = None

    @model_validator(mode="after")
    def _one(self) -> FeedCreate:
        if (self.instrument is None) == (self.org is None):
            raise ValueError("give exactly one of 'instrument' and 'org'")
        return self


class FeedPublic(BaseModel):
    id: str
    scope: Literal["instrument", "org"]
    subject: str
    url: str


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedPublic,
    responses={404: {"model": Problem}},
)
async def create_feed(body: FeedCreate, pool: Pool, principal: CurrentKey) -> Any:
    """A secret feed URL (shown once) of an instrument's bookings or your organisation's."""
    admin = principal.role == Role.ADMIN
    if body.instrument is not None:
        scope, subject = "instrument", body.instrument
        await require_instrument(pool, subject)
    else:
        scope, subject = "org", str(body.org)
        if subject != principal.org and not admin:
            raise NotFound(f"no organisation {subject!r}")
    feed_id = secrets.token_hex(4)
    token = f"psf_{feed_id}_{secrets.token_urlsafe(24)}"
    await pool.execute(
        "INSERT INTO calendar_feeds (id, token_hash, scope, subject, org_id, full_detail) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        feed_id,
        _hash(token),
        scope,
        subject,
        principal.org,
        admin,
    )
    return {
        "id": feed_id,
        "scope": scope,
        "subject": subject,
        "url": f"{router.prefix}/{token}.ics",
    }


@router.delete(
    "/{feed_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"model": Problem}}
)
async def revoke_feed(feed_id: str, pool: Pool, principal: CurrentKey, clock: ClockDep) -> Response:
    """Revoke a feed your organisation created (any, for an admin)."""
    done = await pool.fetchval(
        "UPDATE calendar_feeds SET revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL "
        "AND (org_id = $2 OR $4) RETURNING true",
        feed_id,
        principal.org,
        clock.now(),
        principal.role == Role.ADMIN,
    )
    if not done:
        raise NotFound(f"no feed {feed_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"model": Problem}},
)
async def feed(
    token: Annotated[str, Path(max_length=200)], pool: Pool, clock: ClockDep
) -> Response:
    """The feed itself (no API key: the token in the URL is the credential)."""
    if not token.startswith("psf_"):
        raise BadInput("bad_token", "not a calendar feed token")
    row = await pool.fetchrow(
        "SELECT scope, subject, org_id, full_detail FROM calendar_feeds "
        "WHERE token_hash = $1 AND revoked_at IS NULL",
        _hash(token),
    )
    if row is None:
        raise NotFound("no such calendar feed")
    now = clock.now()
    column = "b.instrument_id" if row["scope"] == "instrument" else "b.org_id"
    bookings = await pool.fetch(
        f"""SELECT b.id, b.instrument_id, b.org_id, lower(b.period) AS start,
                   upper(b.period) AS "end", b.status, b.purpose
            FROM bookings b
            WHERE {column} = $1 AND b.period && tstzrange($2, $3)
              AND b.status IN {ON_CALENDAR_SQL}
            ORDER BY lower(b.period)""",
        row["subject"],
        now - PAST,
        now + FUTURE,
    )
    events = []
    for b in bookings:
        visible = row["full_detail"] or b["org_id"] == row["org_id"]
        summary = f"{b['instrument_id']}: " + (b["org_id"] if visible else "booked")
        events.append(
            Event(
                uid=f"{b['id']}@pilotshare",
                start=b["start"],
                end=b["end"],
                summary=summary,
                description=(b["purpose"] if visible else ""),
            )
        )
    name = f"pilotshare {row['scope']} {row['subject']}"
    return Response(calendar(name, events, now=now), media_type="text/calendar; charset=utf-8")
