"""What forecast and simulation routes share: the job's public shapes and who may see it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from pilotshare.api.keys import Principal
from pilotshare.core import jobs
from pilotshare.core.domain import JobStatus, Role
from pilotshare.core.errors import NotFound
from pilotshare.core.scope import require_visible


class JobQueued(BaseModel):
    """The answer to a POST: the job's id, to poll."""

    id: UUID
    status: str


class JobPublic(BaseModel):
    """A job's state; ``result`` once done, ``detail`` once failed."""

    id: UUID
    status: str
    progress: float
    result: dict[str, Any] | None = None
    detail: str | None = None


async def visible_job(
    pool: asyncpg.Pool, principal: Principal, job_id: UUID, *, kind: str, noun: str
) -> JobPublic:
    """The job as its organisation (or an admin) sees it; 404 for anyone else."""
    job = await jobs.get(pool, job_id, kind=kind)
    visible = require_visible(
        job,
        job.org if job is not None else None,
        org=principal.org,
        admin=principal.role is Role.ADMIN,
        missing=NotFound("no_job", f"no such {noun}"),
    )
    return job_public(visible)


def job_public(job: jobs.Job) -> JobPublic:
    """The API's view of a job: ``detail`` only once it failed (a job queued again keeps the
    detail of its last run, which is not the caller's business)."""
    public = JobPublic(
        id=job.id, status=job.status.value, progress=round(job.progress, 4), result=job.result
    )
    return (
        public.model_copy(update={"detail": job.detail})
        if job.status is JobStatus.FAILED
        else public
    )


def queued(job: jobs.Job) -> JobQueued:
    """The answer to the POST that queued ``job``."""
    return JobQueued(id=job.id, status=job.status.value)
