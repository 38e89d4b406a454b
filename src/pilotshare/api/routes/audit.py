"""``GET /api/v1/audit``: the audit log, newest first, a page at a time.

The network operator's admins read every line; any other admin key (a platform's) reads the
lines about its own organisation's objects (its instruments, their closures and
qualifications, the bookings on them and its own bookings, keys and quotas); other keys 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from pilotshare.api.deps import AdminKey, Pool
from pilotshare.api.schemas import Slug, problems
from pilotshare.core import audit
from pilotshare.core.errors import BadInput

router = APIRouter(prefix="/api/v1/audit", tags=["organisations"])

DEFAULT_PAGE: Final = 100
MAX_PAGE: Final = 1000
#: The largest id a line can have (``audit_events.id`` is a bigint).
MAX_ID: Final = 2**63 - 1


class AuditLine(BaseModel):
    """One audited change: who made it, to what, and the object before and after."""

    id: int
    at: datetime
    actor_org: str | None = Field(description="the key's organisation; null: pilotshare itself")
    actor_key: str | None = Field(description="the key's public id; null: not made with a key")
    action: str = Field(examples=["booking.cancel"])
    object_kind: str = Field(examples=["booking"])
    object_id: str
    owners: list[str] = Field(description="the organisations whose object it is")
    before: Any = Field(description="the object before the change (null: it was new)")
    after: Any = Field(description="the object after the change (null: it is gone)")


def _cursor(text: str) -> int:
    # ASCII digits only ("²" is a digit to str.isdigit, not to int) and within a bigint
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise BadInput("bad_cursor", "'cursor' is not one this listing gave (take it from 'Link')")
    return int(text)


@router.get(
    "",
    response_model=list[AuditLine],
    responses={
        **problems(401, 403, 422),
        200: {
            "description": 'one page, newest first; a `Link: <…>; rel="next"` header while '
            "more remain",
            "headers": {"Link": {"description": "the next page", "schema": {"type": "string"}}},
        },
    },
)
async def audit_log(
    *,
    request: Request,
    response: Response,
    pool: Pool,
    principal: AdminKey,
    kind: Annotated[Slug | None, Query(description="only this kind of object (booking)")] = None,
    object_id: Annotated[
        str | None, Query(alias="object", max_length=200, description="only this object's id")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=30, description="from the previous page's Link header")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> list[AuditLine]:
    """Audited changes, newest first (a platform's admins: those about its own objects)."""
    found = await audit.events(
        pool,
        owner=None if principal.network else principal.org,
        kind=kind,
        object_id=object_id,
        before_id=_cursor(cursor) if cursor is not None else None,
        limit=limit + 1,
    )
    page = found[:limit]
    if len(found) > limit:
        url = request.url.include_query_params(cursor=str(page[-1].id))
        response.headers["Link"] = f'<{url}>; rel="next"'
    return [AuditLine.model_validate(e, from_attributes=True) for e in page]
