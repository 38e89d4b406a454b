"""``/api/v1/instruments``: the catalogue (CONTRACT §3), its edits and retirements (§6).

Anyone with a key reads the catalogue; a platform's admins register instruments for their
platform and edit and retire only those (``not_owner`` otherwise), the network operator's
admins any (``api.deps``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from pilotshare.api import catalog
from pilotshare.api.deps import (
    AdminKey,
    ClockDep,
    CurrentKey,
    Pool,
    actor,
    administers_instrument,
    owner_of_new,
)
from pilotshare.api.schemas import (
    InstrumentCreate,
    InstrumentPatch,
    InstrumentPublic,
    Slug,
    problems,
)

router = APIRouter(prefix="/api/v1/instruments", tags=["instruments"])


@router.get("", response_model=list[InstrumentPublic], responses=problems(401, 403, 422))
async def list_instruments(
    *,
    pool: Pool,
    _: CurrentKey,
    site: Annotated[Slug | None, Query(description="only this site")] = None,
    kind: Annotated[Slug | None, Query(description="only this kind")] = None,
    include_retired: Annotated[
        bool, Query(description="also retired instruments (they have a retired_at)")
    ] = False,
) -> list[InstrumentPublic]:
    """Every instrument in service, optionally of one site or kind (retired ones on request)."""
    return await catalog.list_instruments(
        pool, site=site, kind=kind, include_retired=include_retired
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstrumentPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def create_instrument(
    body: InstrumentCreate, pool: Pool, clock: ClockDep, principal: AdminKey
) -> InstrumentPublic:
    """Register an instrument (admin); its site is created on first use. A platform's admin
    registers it for its own platform (``owner_org`` defaults to it; another is 403)."""
    body = body.model_copy(update={"owner_org": owner_of_new(principal, body.owner_org)})
    async with pool.acquire() as conn:
        return await catalog.create_instrument(conn, body, actor=actor(principal), at=clock.now())


@router.get(
    "/{instrument}", response_model=InstrumentPublic, responses=problems(401, 403, 404, 422)
)
async def get_instrument(instrument: str, pool: Pool, _: CurrentKey) -> InstrumentPublic:
    """One instrument, retired or not."""
    return await catalog.get_instrument(pool, instrument)


@router.patch(
    "/{instrument}", response_model=InstrumentPublic, responses=problems(401, 403, 404, 422)
)
async def update_instrument(
    instrument: str, body: InstrumentPatch, pool: Pool, clock: ClockDep, principal: AdminKey
) -> InstrumentPublic:
    """Change an instrument's name, rates, rules, hours or capabilities (its platform's
    admins, or the network's).

    New bookings follow the new rules; bookings made before keep their rate."""
    await administers_instrument(pool, principal, instrument)
    async with pool.acquire() as conn:
        return await catalog.update_instrument(
            conn, instrument, body, actor=actor(principal), at=clock.now()
        )


@router.delete(
    "/{instrument}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409, 422),
)
async def retire_instrument(
    instrument: str, pool: Pool, clock: ClockDep, principal: AdminKey
) -> Response:
    """Retire an instrument (its platform's admins, or the network's): no new bookings; its
    bookings, telemetry and statements stay. 409 while bookings hold it now or later: cancel
    them first."""
    await administers_instrument(pool, principal, instrument)
    async with pool.acquire() as conn:
        await catalog.retire_instrument(conn, instrument, clock.now(), actor=actor(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
