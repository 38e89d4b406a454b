"""``/api/v1/keys``: create, list and revoke API keys (CONTRACT §6).

A key is made here or on the command line (``pilotshare keys create``), both through
``api.keys.issue_key``; its secret is in the answer to the POST alone, once. An admin creates,
sees and revokes its own organisation's keys (another organisation's: 403 ``not_owner`` to
create, 404 to revoke); the network operator's admins (``PILOTSHARE_OPERATOR_ORG``) those of
any registered organisation (an unknown one: 404). Another organisation's key is answered as
unknown (404). A revoked key answers 401 at once in this process and within ``keys.CACHE_TTL_S`` in
every other (``api.keys``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pilotshare import registry
from pilotshare.api.deps import AdminKey, ClockDep, Pool, actor, administers
from pilotshare.api.keys import KeyCache, issue_key
from pilotshare.api.schemas import Slug, problems
from pilotshare.core.domain import Role
from pilotshare.core.errors import BadInput

router = APIRouter(prefix="/api/v1/keys", tags=["organisations"])


class KeyPublic(BaseModel):
    """An API key as listed: never its secret nor its hash."""

    id: str
    org: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class KeyCreate(BaseModel):
    """A key to make: its role, and optionally when it expires and (for the network
    operator's admins) whose it is."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    expires_at: AwareDatetime | None = Field(
        default=None, description="when it stops working (RFC 3339, in the future); default never"
    )
    org: Slug | None = Field(
        default=None, description="the organisation it is for; default the caller's own"
    )


class KeyIssued(BaseModel):
    """A key just made, with its secret: shown in this answer only, never again."""

    id: str
    org: str
    role: Role
    key: str = Field(description="the secret to send as 'Authorization: Bearer <key>'")
    created_at: datetime
    expires_at: datetime | None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyIssued,
    responses=problems(401, 403, 404, 422),
)
async def create_key(
    body: KeyCreate, pool: Pool, clock: ClockDep, principal: AdminKey
) -> KeyIssued:
    """Create a key for your organisation (the network operator's admins: for any registered
    one); the answer holds its secret, once. Written to the audit log."""
    org = body.org or principal.org
    administers(principal, org, f"organisation {org!r}")
    now = clock.now()
    if body.expires_at is not None and body.expires_at <= now:
        raise BadInput(
            "bad_expiry", f"expires_at {body.expires_at.isoformat()} is not in the future"
        )
    async with pool.acquire() as conn:
        issued = await issue_key(
            conn,
            org=org,
            role=body.role,
            expires_at=body.expires_at,
            actor=actor(principal),
            create_organisation=False,
            now=now,
        )
    made = issued.record
    return KeyIssued(
        id=made.id,
        org=made.org,
        role=Role(made.role),
        key=issued.key,
        created_at=made.created_at,
        expires_at=made.expires_at,
    )


@router.get("", response_model=list[KeyPublic], responses=problems(401, 403))
async def list_keys(pool: Pool, principal: AdminKey) -> list[KeyPublic]:
    """Unrevoked keys of your organisation (every organisation's, for the network operator),
    with when each was last used (to the minute)."""
    org = None if principal.network else principal.org
    return [
        KeyPublic.model_validate(dataclasses.asdict(k)) for k in await registry.list_keys(pool, org)
    ]


@router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 403, 404, 422)
)
async def revoke_key(
    key_id: Annotated[str, Path(max_length=64, description="the key's public id")],
    *,
    request: Request,
    pool: Pool,
    clock: ClockDep,
    principal: AdminKey,
) -> Response:
    """Revoke a key: from now on it answers 401, in every API process within seconds."""
    org = None if principal.network else principal.org
    async with pool.acquire() as conn:
        await registry.revoke_key(conn, key_id, clock.now(), org, actor=actor(principal))
    cache: KeyCache = request.app.state.key_cache
    cache.forget(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
