"""``/api/v1/organisations``: organisations are registered explicitly (CONTRACT §6).

Nothing else creates one: any route that names an unknown organisation answers 404. Only the
network operator's admins (``PILOTSHARE_OPERATOR_ORG``) register organisations and list them
all; any other admin lists its own.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from pilotshare import registry
from pilotshare.api.deps import AdminKey, ClockDep, NetworkAdminKey, Pool, actor
from pilotshare.api.schemas import Slug, problems
from pilotshare.core.scope import may_see
from pilotshare.registry import OrgKind

router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"])


class OrganisationCreate(BaseModel):
    """A new organisation: the network operator, a platform (owns instruments) or a client."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind


class OrganisationPublic(OrganisationCreate):
    """An organisation as registered."""

    created_at: datetime


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationPublic,
    responses=problems(401, 403, 409, 422),
)
async def create_organisation(
    body: OrganisationCreate, pool: Pool, clock: ClockDep, principal: NetworkAdminKey
) -> OrganisationPublic:
    """Register an organisation (network operator's admins); 409 when the id exists."""
    async with pool.acquire() as conn:
        org = await registry.create_organisation(
            conn, body.id, body.name, body.kind, actor=actor(principal), at=clock.now()
        )
    return OrganisationPublic.model_validate(dataclasses.asdict(org))


@router.get("", response_model=list[OrganisationPublic], responses=problems(401, 403))
async def list_organisations(pool: Pool, principal: AdminKey) -> list[OrganisationPublic]:
    """Every registered organisation, by id (the network operator's admins); another admin's
    own organisation."""
    return [
        OrganisationPublic.model_validate(dataclasses.asdict(o))
        for o in await registry.organisations(pool)
        if may_see(o.id, org=principal.org, admin=principal.network)
    ]
