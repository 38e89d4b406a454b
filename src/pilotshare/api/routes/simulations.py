"""``POST /api/v1/simulations``, ``GET /api/v1/simulations[/{id}]`` (CONTRACT §3).

A what-if simulation is a job, like a forecast: the POST checks the scenario and queues it
(202 ``{"id","status":"queued"}``), a ``core.jobs.Worker`` runs it, and the GET answers
``{"id","status","progress","result"}`` (``detail`` when it failed); the result is the JSON
report of ``pilotshare simulate``. The body is either JSON ``{"scenario": …, "replications",
"seed"}``, where ``scenario`` is the YAML text or the same document as a JSON object, or the
YAML file itself with ``Content-Type: application/yaml``. A bad scenario is a 422 whose detail
names the line and key. Planners and admins only; a job is visible to its organisation (the
network operator's admins: every job), and the listing shows those, newest first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from pilotshare.api.deps import PlannerKey, Pool
from pilotshare.api.job_views import JobPublic, JobQueued, queued, visible_job
from pilotshare.api.schemas import problems
from pilotshare.core import jobs
from pilotshare.core.errors import BadInput, Unsupported
from pilotshare.simulations.job import (
    KIND,
    MAX_REPLICATIONS,
    MAX_TEXT,
    SEED_MAX,
    SimulationRequest,
)

router = APIRouter(prefix="/api/v1/simulations", tags=["simulations"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


class SimulationCreate(BaseModel):
    """A what-if scenario to run against its baseline."""

    model_config = ConfigDict(extra="forbid")

    scenario: str | dict[str, Any] = Field(
        description="the scenario: YAML text, or the same document as a JSON object "
        "(format: docs/simulations.md)"
    )
    replications: int | None = Field(
        default=None,
        ge=2,
        le=MAX_REPLICATIONS,
        description="paired replications; default: the scenario's own",
    )
    seed: StrictInt | None = Field(
        default=None, ge=0, le=SEED_MAX, description="root seed; default: the scenario's own"
    )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


async def _body(request: Request) -> SimulationCreate:
    raw = await request.body()
    if len(raw) > MAX_TEXT + 4096:
        raise BadInput("bad_scenario", f"body is larger than {MAX_TEXT // 1024} KiB")
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind in YAML_TYPES:
        try:
            return SimulationCreate(scenario=raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadInput("bad_scenario", "the scenario is not UTF-8 text") from None
    if kind != "application/json":
        raise Unsupported("unsupported_media_type", "send application/json or application/yaml")
    try:
        return SimulationCreate.model_validate(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput("bad_json", f"body is not JSON: {exc}") from None
    except ValidationError as exc:
        raise BadInput("bad_request", _first_error(exc)) from None


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobQueued,
    responses=problems(401, 403, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": SimulationCreate.model_json_schema()},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def create_simulation(request: Request, pool: Pool, principal: PlannerKey) -> JobQueued:
    """Queue a what-if scenario: baseline and scenario with common random numbers."""
    body = await _body(request)
    checked, _ = SimulationRequest.parse(body.scenario, body.replications, body.seed)
    job = await jobs.enqueue(pool, kind=KIND, org=principal.org, request=checked.as_dict())
    return queued(job)


class SimulationListed(BaseModel):
    """A simulation in a listing: its state and what it runs, not its scenario text nor its
    report (fetch the job for them)."""

    id: UUID
    status: str
    progress: float
    created_at: datetime
    scenario: str | None = Field(description="the scenario's name")
    replications: int | None = Field(description="as asked; null: the scenario's own")
    seed: int | None = Field(description="as asked; null: the scenario's own")


@router.get("", response_model=list[SimulationListed], responses=problems(401, 403, 422))
async def list_simulations(
    pool: Pool, principal: PlannerKey, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[SimulationListed]:
    """The newest simulations of the caller's organisation (the network operator's admins:
    everyone's), newest first."""
    org = None if principal.network else principal.org
    listed = []
    for job in await jobs.recent(pool, kind=KIND, org=org, limit=limit):
        asked = SimulationRequest.from_stored(job.request)
        listed.append(
            SimulationListed(
                id=job.id,
                status=job.status.value,
                progress=round(job.progress, 4),
                created_at=job.created_at,
                scenario=asked.name,
                replications=asked.replications,
                seed=asked.seed,
            )
        )
    return listed


@router.get(
    "/{job_id}",
    response_model=JobPublic,
    response_model_exclude_unset=True,
    responses=problems(401, 403, 404, 422),
)
async def get_simulation(job_id: UUID, pool: Pool, principal: PlannerKey) -> JobPublic:
    """The simulation's status and progress, then its report (or why it failed)."""
    return await visible_job(pool, principal, job_id, kind=KIND, noun="simulation")
