"""``GET /api/v1/rejects``: the newest rejected MQTT messages, for admins (CONTRACT §3), and
``POST /api/v1/rejects/replay``: store an instrument's rejects once it is registered.

A platform's admins see and replay the rejects of their own instruments (by the instrument the
topic names); the network operator's admins every reject, those of unknown instruments too."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from pilotshare import registry
from pilotshare.api.deps import AdminKey, ClockDep, Pool, SettingsDep, administers
from pilotshare.api.schemas import Slug, problems
from pilotshare.core.errors import NotFound
from pilotshare.twin.ingest import replay_rejects
from pilotshare.twin.store import recent_rejects

router = APIRouter(prefix="/api/v1/rejects", tags=["twin"])

#: Longer payloads (up to 256 KiB and beyond) are cut in listings; ``payload_size`` says so.
SHOWN_BYTES = 16 * 1024


class RejectPublic(BaseModel):
    """A message that failed validation, kept with why."""

    id: int
    received_at: datetime
    topic: str
    reason: str = Field(description="a stable code, see the documentation of the ingest")
    detail: str
    payload: str = Field(description="the message as text (invalid UTF-8 replaced), cut")
    payload_base64: str = Field(description="the message's exact bytes (cut like payload)")
    payload_size: int = Field(description="the whole message's size in bytes")


@router.get(
    "",
    response_model=list[RejectPublic],
    responses=problems(401, 403, 422),
)
async def list_rejects(
    pool: Pool,
    principal: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    reason: Annotated[Slug | None, Query(description="only this reason")] = None,
) -> list[RejectPublic]:
    """The newest rejected messages first (a platform's admins: of its instruments)."""
    found = await recent_rejects(
        pool,
        limit=limit,
        shown_bytes=SHOWN_BYTES,
        reason=reason,
        owner=None if principal.network else principal.org,
    )
    return [
        RejectPublic(
            id=r.id,
            received_at=r.received_at,
            topic=r.topic,
            reason=r.reason,
            detail=r.detail,
            payload=r.payload.decode("utf-8", errors="replace"),
            payload_base64=base64.b64encode(r.payload).decode(),
            payload_size=r.size,
        )
        for r in found
    ]


class ReplayRequest(BaseModel):
    """Which instrument's rejects to store again."""

    model_config = ConfigDict(extra="forbid")

    instrument: Slug
    site: Slug | None = Field(
        default=None, description="the site its agent published at (default: its own)"
    )


class ReplayPublic(BaseModel):
    """What a replay stored and what it kept."""

    instrument: str
    site: str
    replayed: int = Field(description="rejects whose messages are now stored whole (removed)")
    stored_samples: int = Field(description="samples new to the database")
    duplicate_samples: int = Field(description="samples it held already (stored once)")
    still_rejected: dict[str, int] = Field(
        description="rejects kept, by reason (still invalid, or stored only in part)"
    )


@router.post(
    "/replay",
    response_model=ReplayPublic,
    responses=problems(401, 403, 404, 422),
)
async def replay(
    body: ReplayRequest, pool: Pool, clock: ClockDep, settings: SettingsDep, principal: AdminKey
) -> ReplayPublic:
    """Validate an instrument's kept rejects again and store what passes, once it is
    registered: nothing that arrived is lost, and a sample is never stored twice."""
    async with pool.acquire() as conn:
        row = await registry.catalogue_row(conn, body.instrument)
    administers(principal, row["owner_org_id"], f"instrument {body.instrument!r}")
    site = str(row["site_id"])
    if body.site is not None and body.site != site:
        raise NotFound(
            "no_instrument", f"instrument {body.instrument!r} is not registered at {body.site!r}"
        )
    done = await replay_rejects(
        pool,
        site,
        body.instrument,
        now=clock.now(),
        offline_after=timedelta(seconds=settings.offline_after_s),
    )
    return ReplayPublic(
        instrument=body.instrument,
        site=site,
        replayed=done.replayed,
        stored_samples=done.stored_samples,
        duplicate_samples=done.duplicate_samples,
        still_rejected=done.still_rejected,
    )
