"""``/api/v1/service-items``: the priced services of the platforms (服务项目).

Any key reads them (public or not); a platform's admins add, change and delete their own,
the network operator's admins anyone's. A booking may name one (``"service_item"``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from pilotshare.api import platforms
from pilotshare.api.deps import AdminKey, ClockDep, CurrentKey, Pool, actor, administers
from pilotshare.api.keys import Principal
from pilotshare.api.platforms import (
    Authorise,
    ServiceItemCreate,
    ServiceItemPatch,
    ServiceItemPublic,
)
from pilotshare.api.schemas import Slug, problems

router = APIRouter(prefix="/api/v1/service-items", tags=["platforms"])


def _authorise(principal: Principal, item: str) -> Authorise:
    def check(owner: str) -> None:
        administers(principal, owner, f"service item {item!r}")

    return check


@router.get("", response_model=list[ServiceItemPublic], responses=problems(401, 403, 422))
async def list_items(
    *,
    pool: Pool,
    _: CurrentKey,
    platform: Annotated[Slug | None, Query(description="only this platform's")] = None,
    site: Annotated[Slug | None, Query(description="only this site's")] = None,
) -> list[ServiceItemPublic]:
    """Every service item, public or not, by id (any key)."""
    return await platforms.list_items(pool, platform=platform, site=site)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceItemPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def create_item(
    body: ServiceItemCreate, pool: Pool, clock: ClockDep, principal: AdminKey
) -> ServiceItemPublic:
    """Add a service item to a platform (its admins, or the network operator's)."""
    async with pool.acquire() as conn:
        return await platforms.create_item(
            conn,
            body,
            authorise=_authorise(principal, body.id),
            actor=actor(principal),
            now=clock.now(),
        )


@router.get("/{item}", response_model=ServiceItemPublic, responses=problems(401, 403, 404, 422))
async def get_item(item: str, pool: Pool, _: CurrentKey) -> ServiceItemPublic:
    """One service item (any key)."""
    return await platforms.get_item(pool, item)


@router.patch("/{item}", response_model=ServiceItemPublic, responses=problems(401, 403, 404, 422))
async def update_item(
    item: str, body: ServiceItemPatch, pool: Pool, clock: ClockDep, principal: AdminKey
) -> ServiceItemPublic:
    """Change a service item (its platform's admins, or the network operator's)."""
    async with pool.acquire() as conn:
        return await platforms.update_item(
            conn,
            item,
            body,
            authorise=_authorise(principal, item),
            actor=actor(principal),
            now=clock.now(),
        )


@router.delete(
    "/{item}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 403, 404, 409, 422)
)
async def delete_item(item: str, pool: Pool, clock: ClockDep, principal: AdminKey) -> Response:
    """Delete a service item (its platform's admins, or the network operator's); 409 while
    bookings name it: set it not public instead."""
    async with pool.acquire() as conn:
        await platforms.delete_item(
            conn,
            item,
            authorise=_authorise(principal, item),
            actor=actor(principal),
            now=clock.now(),
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
