"""``/api/v1/instruments``: the catalogue (CONTRACT §3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from pilotshare.api import catalog
from pilotshare.api.deps import AdminKey, CurrentKey, Pool
from pilotshare.api.schemas import InstrumentCreate, InstrumentPublic, Problem, Slug

router = APIRouter(prefix="/api/v1/instruments", tags=["instruments"])


@router.get("", response_model=list[InstrumentPublic])
async def list_instruments(
    pool: Pool,
    _: CurrentKey,
    site: Annotated[Slug | None, Query(description="only this site")] = None,
    kind: Annotated[Slug | None, Query(description="only this kind")] = None,
) -> list[dict[str, Any]]:
    """Every instrument visible to any key, optionally of one site or kind."""
    return [catalog.as_dict(i) for i in await catalog.list_instruments(pool, site=site, kind=kind)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstrumentPublic,
    responses={409: {"model": Problem}, 403: {"model": Problem}},
)
async def create_instrument(body: InstrumentCreate, pool: Pool, _: AdminKey) -> dict[str, Any]:
    """Register an instrument (admin); its site is created on first use."""
    async with pool.acquire() as conn:
        return catalog.as_dict(await catalog.create_instrument(conn, body))


@router.get("/{instrument}", response_model=InstrumentPublic, responses={404: {"model": Problem}})
async def get_instrument(instrument: str, pool: Pool, _: CurrentKey) -> dict[str, Any]:
    """One instrument."""
    return catalog.as_dict(await catalog.get_instrument(pool, instrument))
