"""``/api/v1/public/…``: the public directory, no key (CONTRACT §6).

Only what a platform marks public (its profile, and each instrument and service item), and
nothing about clients. Every route goes through the gate (``api.gate.Public``): rate-limited
per client address and cached for ``PILOTSHARE_PUBLIC_CACHE_S`` seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from pilotshare.api.deps import ClockDep, Pool
from pilotshare.api.gate import Public
from pilotshare.api.schemas import Problem, Slug, problems
from pilotshare.network import directory
from pilotshare.network.directory import InstrumentEntry, PlatformEntry, ServiceItemEntry

router = APIRouter(prefix="/api/v1/public", tags=["public"])

Q = Annotated[
    str | None,
    Query(
        max_length=100,
        description="words (中文 or English) each found in a name or description",
        examples=["电镜", "SEM imaging"],
    ),
]
SiteQ = Annotated[Slug | None, Query(description="only this site")]

#: Every public route can refuse a client sending too fast.
LIMITED = {
    **problems(422),
    429: {
        "model": Problem,
        "description": "too many requests from this address (reason rate_limited)",
        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    },
}


@router.get("/platforms", response_model=list[PlatformEntry], responses=LIMITED)
async def platforms(public: Public, pool: Pool, q: Q = None, site: SiteQ = None) -> Response:
    """Public platforms: profile, contact, accreditations, by id."""
    return await public.answer(lambda: directory.platforms(pool, q=q, site=site))


@router.get("/instruments", response_model=list[InstrumentEntry], responses=LIMITED)
async def instruments(
    *,
    public: Public,
    pool: Pool,
    clock: ClockDep,
    q: Q = None,
    capability: Annotated[
        list[str] | None, Query(max_length=16, description="has each (repeat for several)")
    ] = None,
    kind: Annotated[Slug | None, Query(description="only this kind")] = None,
    site: SiteQ = None,
) -> Response:
    """Public instruments, by id: kind, model, capabilities, rate, hours, platform, live
    status (online, busy, free-soon, offline) and next free slot."""
    return await public.answer(
        lambda: directory.instruments(
            pool, now=clock.now(), q=q, capabilities=capability, kind=kind, site=site
        )
    )


@router.get("/service-items", response_model=list[ServiceItemEntry], responses=LIMITED)
async def service_items(
    public: Public,
    pool: Pool,
    q: Q = None,
    platform: Annotated[Slug | None, Query(description="only this platform's")] = None,
    site: SiteQ = None,
) -> Response:
    """Public service items (服务项目) with their prices in CNY, by id."""
    return await public.answer(
        lambda: directory.service_items(pool, q=q, platform=platform, site=site)
    )
