"""iCalendar feeds of bookings (``scheduler.feeds``), per instrument or per organisation.

A key holder creates a feed and gets a secret URL for calendar clients, which cannot send a
key. An instrument feed shows other organisations' bookings as busy time only ("booked": no
organisation, id or purpose), unless an admin created it. Cancelled bookings stay in the
feed as cancelled, and closures show as busy "Maintenance" or "Blackout" events.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.convertors import StringConvertor, register_url_convertor

from pilotshare import registry
from pilotshare.api.deps import ClockDep, CurrentKey, Pool, own_organisation
from pilotshare.api.ical import Event, calendar
from pilotshare.api.schemas import Slug, problems
from pilotshare.core.domain import BookingStatus
from pilotshare.core.scope import may_administer
from pilotshare.registry import require_instrument, require_organisation
from pilotshare.scheduler import feeds

router = APIRouter(prefix="/api/v1/calendars", tags=["calendars"])


class _FeedId(StringConvertor):
    """A feed id (8 hex digits), so that ``…/{token}.ics`` is never routed to ``DELETE``."""

    regex = "[0-9a-f]{8}"


register_url_convertor("feed_id", _FeedId())


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
    """A feed as created: its secret URL is shown this once."""

    id: str
    scope: Literal["instrument", "org"]
    subject: str
    url: str


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedPublic,
    responses=problems(401, 403, 404, 422),
)
async def create_feed(body: FeedCreate, pool: Pool, principal: CurrentKey) -> FeedPublic:
    """A secret feed URL (shown once) of an instrument's bookings or your organisation's."""
    scope: feeds.Scope
    admin = principal.network
    if body.instrument is not None:
        scope, subject = "instrument", body.instrument
        await require_instrument(pool, subject)
        # the platform running the instrument sees its bookings in full, as in the API
        owner = await registry.instrument_owner(pool, subject)
        admin = may_administer(
            owner, org=principal.org, admin=principal.admin, network=principal.network
        )
    else:
        scope, subject = "org", str(body.org)
        own_organisation(principal, subject)
        await require_organisation(pool, subject)
    feed_id, token = await feeds.create(pool, feeds.Feed(scope, subject, principal.org, admin))
    return FeedPublic(id=feed_id, scope=scope, subject=subject, url=f"{router.prefix}/{token}.ics")


@router.delete(
    "/{feed_id:feed_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def revoke_feed(feed_id: str, pool: Pool, principal: CurrentKey, clock: ClockDep) -> Response:
    """Revoke a feed your organisation created (any, for an admin)."""
    await feeds.revoke(pool, feed_id, org=principal.org, admin=principal.network, now=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{token}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
        **problems(404, 422),
    },
)
async def feed(
    token: Annotated[str, Path(max_length=200)], pool: Pool, clock: ClockDep
) -> Response:
    """The feed itself (no API key: the token in the URL is the credential)."""
    now = clock.now()
    contents = await feeds.read(pool, token, now)
    events = [_booking_event(e) for e in contents.bookings] + [
        _closure_event(c) for c in contents.closures
    ]
    events.sort(key=lambda e: (e.start, e.uid))
    name = f"pilotshare {contents.feed.scope} {contents.feed.subject}"
    return Response(calendar(name, events, now=now), media_type="text/calendar; charset=utf-8")


def _booking_event(e: feeds.Entry) -> Event:
    cancelled = e.status is BookingStatus.CANCELLED
    return Event(
        uid=f"{e.uid}@pilotshare",
        start=e.start,
        end=e.end,
        summary=f"{e.instrument}: " + (e.org if e.visible else "booked"),
        description=e.purpose,
        status="CANCELLED" if cancelled else "CONFIRMED",
        sequence=e.sequence,
        stamp=e.changed_at,
        opaque=not cancelled,
    )


def _closure_event(c: feeds.ClosureEntry) -> Event:
    return Event(
        uid=f"closure-{c.id}@pilotshare",
        start=c.start,
        end=c.end,
        summary=f"{c.instrument}: {c.kind.capitalize()}",
        description=c.reason,
        stamp=c.created_at,
    )
