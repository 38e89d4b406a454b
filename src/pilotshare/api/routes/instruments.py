"""``/api/v1/instruments``: the catalogue (CONTRACT §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from pilotshare.api import catalog
from pilotshare.api.deps import AdminKey, CurrentKey, Pool
from pilotshare.api.schemas import InstrumentCreate, InstrumentPublic, Slug, problems

router = APIRouter(prefix="/api/v1/instruments", tags=["instruments"])


@router.get("", response_model=list[InstrumentPublic], responses=problems(401, 403, 422))
async def list_instruments(
    pool: Pool,
    _: CurrentKey,
    site: Annotated[Slug | None, Query(description="only this site")] = None,
    kind: Annotated[Slug | None, Query(description="only this kind")] = None,
) -> list[InstrumentPublic]:
    """Every instrument visible to any key, optionally of one site or kind."""
    return await catalog.list_instruments(pool, site=site, kind=kind)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstrumentPublic,
    responses=problems(401, 403, 404, 409, 422),
)
async def create_instrument(body: InstrumentCreate, pool: Pool, _: AdminKey) -> InstrumentPublic:
    """Register an instrument (admin); its site is created on first use."""
    async with pool.acquire() as conn:
        return await catalog.create_instrument(conn, body)


@router.get(
    "/{instrument}", response_model=InstrumentPublic, responses=problems(401, 403, 404, 422)
)
async def get_instrument(instrument: str, pool: Pool, _: CurrentKey) -> InstrumentPublic:
    """One instrument."""
    return await catalog.get_instrument(pool, instrument)
