"""``/api/v1/organisations/{org}/profile``: what a platform publishes about itself.

Any key reads a profile; its platform's own admins or the network operator's edit it. The
public directory (``/api/v1/public/platforms``) shows the profiles marked public.
"""

from __future__ import annotations

from fastapi import APIRouter

from pilotshare.api import platforms
from pilotshare.api.deps import AdminKey, ClockDep, CurrentKey, Pool, actor, administers
from pilotshare.api.platforms import ProfileBody, ProfilePublic
from pilotshare.api.schemas import problems

router = APIRouter(prefix="/api/v1/organisations", tags=["platforms"])


@router.get("/{org}/profile", response_model=ProfilePublic, responses=problems(401, 403, 404, 422))
async def get_profile(org: str, pool: Pool, _: CurrentKey) -> ProfilePublic:
    """An organisation's profile (any key)."""
    return await platforms.get_profile(pool, org)


@router.put("/{org}/profile", response_model=ProfilePublic, responses=problems(401, 403, 404, 422))
async def put_profile(
    org: str, body: ProfileBody, pool: Pool, clock: ClockDep, principal: AdminKey
) -> ProfilePublic:
    """Replace the profile (the platform's own admins, or the network operator's)."""
    administers(principal, org, f"the profile of {org!r}")
    async with pool.acquire() as conn:
        return await platforms.put_profile(conn, org, body, actor=actor(principal), now=clock.now())
