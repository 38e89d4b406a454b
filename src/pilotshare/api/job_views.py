"""What forecast and simulation routes share: the job's public shapes and who may see it.

A job is its organisation's, and its audience's (``core.jobs.Job.audience``: a forecast the
risk watch queued is shared with every organisation whose booking it concerns); admins see
anyone's; anybody else gets a 404. Its
result is stored once, in full: a forecast or a simulation of the live site replays every
organisation's bookings, because their load is the site's. Who sees which of those bookings
is decided here, each time a result is served: the per-booking rows (``SHARED_ROWS``) are
cut to the caller's organisation's own, and the others are only counted
(``"other_organisations": {"bookings": n}``); the aggregates (utilisation, waits, overloaded
weeks) are the site's and stay. An admin sees the stored result as it is.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from pilotshare import registry
from pilotshare.api.keys import Principal
from pilotshare.core import jobs
from pilotshare.core.domain import JobStatus
from pilotshare.core.errors import NotFound
from pilotshare.core.scope import own_rows, require_visible

#: The lists of a forecast's or a simulation's result with one row per booking, each row
#: saying its ``"org"``.
SHARED_ROWS = ("bookings", "at_risk", "out_of_range")


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
        admin=principal.network,
        missing=NotFound("no_job", f"no such {noun}"),
        shared_with=job.audience if job is not None else (),
    )
    # a platform's admins also see the rows of bookings on the instruments it runs
    runs = await registry.instruments_owned(pool, principal.org) if principal.admin else frozenset()
    return job_public(visible, principal, runs)


def redacted(
    result: dict[str, Any], principal: Principal, runs: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``result`` as ``principal`` may see it: only its organisation's own booking rows and
    those on the instruments of ``runs`` (its platform's, for a platform's admin), with a
    count of the others'; everything for the network operator's admin."""
    if principal.network:
        return result
    view = dict(result)
    for name in SHARED_ROWS:
        rows = result.get(name)
        if isinstance(rows, list):
            view[name] = own_rows(rows, org=principal.org, admin=False, runs=runs)
    shown, stored = view.get("bookings"), result.get("bookings")
    hidden = len(stored) - len(shown) if isinstance(stored, list) and isinstance(shown, list) else 0
    view["other_organisations"] = {"bookings": hidden}
    return view


def job_public(
    job: jobs.Job, principal: Principal, runs: frozenset[str] = frozenset()
) -> JobPublic:
    """The API's view of a job for ``principal``: its result redacted (``redacted``, with the
    instruments its platform ``runs``);
    ``detail`` only once it failed (a job queued again keeps the detail of its last run,
    which is not the caller's business)."""
    result = redacted(job.result, principal, runs) if job.result is not None else None
    public = JobPublic(
        id=job.id, status=job.status.value, progress=round(job.progress, 4), result=result
    )
    return (
        public.model_copy(update={"detail": job.detail})
        if job.status is JobStatus.FAILED
        else public
    )


def queued(job: jobs.Job) -> JobQueued:
    """The answer to the POST that queued ``job``."""
    return JobQueued(id=job.id, status=job.status.value)
