"""``POST /api/v1/forecasts`` and ``GET /api/v1/forecasts/{id}`` (CONTRACT §3).

A forecast is a job: the POST validates and queues it (202), a ``core.jobs.Worker``
runs it, and the GET answers ``{"id","status","progress","result"}`` (``detail`` when it
failed). Planners and admins only; a job is visible to its organisation (admins: all).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from pilotshare.api.deps import PlannerKey, Pool
from pilotshare.api.job_views import JobPublic, JobQueued, queued, visible_job
from pilotshare.api.schemas import problems
from pilotshare.core import jobs
from pilotshare.scheduler.forecast import HORIZON_DAYS, REPLICATIONS, SEED_MAX, ForecastParams

router = APIRouter(prefix="/api/v1/forecasts", tags=["forecasts"])


class ForecastCreate(BaseModel):
    """A forecast request; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(
        default=HORIZON_DAYS[2],
        ge=HORIZON_DAYS[0],
        le=HORIZON_DAYS[1],
        description="how far ahead, in days (up to a quarter)",
    )
    replications: int = Field(
        default=REPLICATIONS[2],
        ge=REPLICATIONS[0],
        le=REPLICATIONS[1],
        description="independent runs; more give tighter intervals (about 1/√n)",
    )
    seed: StrictInt | None = Field(
        default=None,
        ge=0,
        le=SEED_MAX,
        description="same seed and same database state: same result; drawn when absent",
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobQueued,
    responses=problems(401, 403, 422),
)
async def create_forecast(
    pool: Pool, principal: PlannerKey, body: Annotated[ForecastCreate | None, Body()] = None
) -> JobQueued:
    """Queue a capacity forecast from the live state of the platform (no body: defaults)."""
    params = ForecastParams.parse((body or ForecastCreate()).model_dump())  # draws the seed
    job = await jobs.enqueue(pool, kind="forecast", org=principal.org, request=params.as_dict())
    return queued(job)


class JobListed(BaseModel):
    """A job in a listing: no result (fetch the job for it)."""

    id: UUID
    status: str
    progress: float
    created_at: datetime
    request: dict[str, Any]


@router.get("", response_model=list[JobListed], responses=problems(401, 403, 422))
async def list_forecasts(
    pool: Pool, principal: PlannerKey, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[JobListed]:
    """The newest forecasts of the caller's organisation (admins: all), newest first;
    including those queued by themselves when an instrument went down."""
    org = None if principal.network else principal.org
    found = await jobs.recent(pool, kind="forecast", org=org, limit=limit)
    return [
        JobListed(
            id=j.id,
            status=j.status.value,
            progress=j.progress,
            created_at=j.created_at,
            request=j.request,
        )
        for j in found
    ]


@router.get(
    "/{job_id}",
    response_model=JobPublic,
    response_model_exclude_unset=True,
    responses=problems(401, 403, 404, 422),
)
async def get_forecast(job_id: UUID, pool: Pool, principal: PlannerKey) -> JobPublic:
    """The forecast's status and progress, then its result (or why it failed)."""
    return await visible_job(pool, principal, job_id, kind="forecast", noun="forecast")
