"""``GET /api/v1/rejects``: the newest rejected MQTT messages, for admins (CONTRACT §3)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pilotshare.api.deps import AdminKey, Pool
from pilotshare.api.schemas import Slug, problems
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
    _: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    reason: Annotated[Slug | None, Query(description="only this reason")] = None,
) -> list[RejectPublic]:
    """The newest rejected messages first."""
    found = await recent_rejects(pool, limit=limit, shown_bytes=SHOWN_BYTES, reason=reason)
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
