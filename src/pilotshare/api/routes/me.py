"""``GET /api/v1/me``: who the presented key is, so a client (the web console) can show the
pages its holder may use without trying each and reading the 403s.

Any key may ask, of itself only: its id and validity, its organisation (id, name, kind), its
role, and whether it is an admin key of the network operator (``PILOTSHARE_OPERATOR_ORG``),
which administers everything. ``site`` and ``site_timezone`` are the site a platform names
in its profile (null otherwise): the zone its statements and quotas are cut in.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pilotshare import registry
from pilotshare.api.deps import CurrentKey, Pool, SettingsDep
from pilotshare.api.schemas import problems
from pilotshare.core.domain import Role
from pilotshare.core.errors import Unauthorized

router = APIRouter(prefix="/api/v1", tags=["organisations"])


class MeKey(BaseModel):
    """The key itself, never its secret."""

    id: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class MeOrganisation(BaseModel):
    """The key's organisation as registered."""

    id: str
    name: str
    kind: registry.OrgKind


class Me(BaseModel):
    """Who the key is and what it may do."""

    key: MeKey
    org: MeOrganisation
    role: Role
    network_admin: bool = Field(
        description="an admin key of the network operator: administers every organisation"
    )
    operator_org: str = Field(description="the network operator's organisation")
    site: str | None = Field(description="the site the organisation's profile names, if any")
    site_timezone: str | None = Field(description="that site's IANA time zone")


@router.get("/me", response_model=Me, responses=problems(401))
async def me(pool: Pool, principal: CurrentKey, settings: SettingsDep) -> Me:
    """The presented key: its organisation, role and whether it administers the network."""
    holder = await registry.key_holder(pool, principal.key_id)
    if holder is None:  # revoked since the cache verified it
        raise Unauthorized("bad_key", "unknown or revoked API key")
    key, org = holder.key, holder.organisation
    return Me(
        key=MeKey(
            id=key.id,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
        ),
        org=MeOrganisation(id=org.id, name=org.name, kind=org.kind),
        role=principal.role,
        network_admin=principal.network,
        operator_org=settings.operator_org,
        site=holder.site,
        site_timezone=holder.site_timezone,
    )
