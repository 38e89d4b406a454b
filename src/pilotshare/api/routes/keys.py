"""``/api/v1/keys``: list and revoke API keys (CONTRACT §6); keys are made on the command line
(``pilotshare keys create``), where the secret can be shown once to whoever runs it.

An admin sees and revokes its own organisation's keys; the network operator's admins
(``PILOTSHARE_OPERATOR_ORG``) everyone's. Another organisation's key is answered as unknown
(404). A revoked key answers 401 at once in this process and within ``keys.CACHE_TTL_S`` in
every other (``api.keys``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel

from pilotshare import registry
from pilotshare.api.deps import AdminKey, ClockDep, Pool, actor
from pilotshare.api.keys import KeyCache
from pilotshare.api.schemas import problems
from pilotshare.core.domain import Role

router = APIRouter(prefix="/api/v1/keys", tags=["organisations"])


class KeyPublic(BaseModel):
    """An API key as listed: never its secret nor its hash."""

    id: str
    org: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


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
