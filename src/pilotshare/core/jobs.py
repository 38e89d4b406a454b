"""A job queue on the ``jobs`` table: forecasts and what-if simulations run here.

Lifecycle (CONTRACT §3): ``queued`` → ``running`` (``progress`` 0..1) → ``done`` with a
``result``, or ``failed`` with a ``detail`` that says why.

- ``enqueue`` inserts a queued job and notifies ``pilotshare_jobs`` so an idle worker wakes
  at once (workers also poll, so a lost notification only delays).
- Every change of a job's status or progress is announced on ``job_changes``
  (``{"id","kind","status","progress"}``) for the API's event streams: ``done`` and
  ``failed`` by the table's trigger (migration 0045), the rest by the statements here.
  Progress is announced through ``ProgressThrottle``, the one place that decides how often
  (at most once a second per job, and only after a 1% step), so a handler may report
  progress as often as it likes.
- ``claim`` takes the oldest queued job of the kinds a worker serves with
  ``FOR UPDATE SKIP LOCKED``: any number of workers, in any number of processes, never run
  one job twice at the same time.
- A running job beats (``heartbeat_at``) while it runs; a job whose worker went silent for
  ``stale_after_s`` (the process died) is queued again, up to ``max_attempts`` runs, then
  failed. A worker stopped on purpose puts its job back at once.

Running workers, in the API process or the demo (the composition root owns the pool)::

    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock)})
    await worker.run(stop)                      # until the asyncio.Event ``stop`` is set

Other packages add kinds by adding handlers: ``{"simulation": simulation_handler, …}``. A
handler is ``async def handler(job, progress) -> dict`` (the JSON result); it reports
progress with ``await progress(fraction)`` and fails by raising: ``BadInput`` and other
``PilotshareError``s give their own message as ``detail``, anything else
``"internal error: <type>"`` (and a log line with the traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from pilotshare.core.contract import JOB_CHANGES, JOB_QUEUE
from pilotshare.core.db import Executor
from pilotshare.core.db.errors import TRANSIENT, Retry
from pilotshare.core.db.listen import Listener
from pilotshare.core.domain import JobStatus
from pilotshare.core.errors import BadInput, PilotshareError

log = logging.getLogger(__name__)

_COLUMNS: Final = (
    "id, kind, org_id, status, progress, request, result, detail, created_at, started_at, "
    "finished_at, attempts, audience"
)

#: A job's announcement on ``job_changes``, from the row a statement changed (the trigger of
#: migration 0045 sends the same keys but ``progress`` for ``done`` and ``failed``).
_ANNOUNCE: Final = (
    f"pg_notify('{JOB_CHANGES}', json_build_object('id', id, 'kind', kind, 'status', status, "
    "'progress', progress)::text)"
)

#: A running job's progress is announced at most once per ``PROGRESS_EVERY_S`` seconds, and
#: only once it moved by ``PROGRESS_STEP`` since the last announcement.
PROGRESS_EVERY_S: Final = 1.0
PROGRESS_STEP: Final = 0.01

Progress = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class ProgressThrottle:
    """Whether a job's progress is worth announcing: the one rule of how often.

    ``due(progress, now)`` (``now``: monotonic seconds) is true at most once per ``every_s``
    and only when ``progress`` moved by ``step`` since the last announcement: ``last`` at
    ``at`` (to begin with, the job's ``running`` at progress 0 when it was claimed).
    """

    at: float
    every_s: float = PROGRESS_EVERY_S
    step: float = PROGRESS_STEP
    last: float = 0.0

    def due(self, progress: float, now: float) -> bool:
        """Whether to announce ``progress`` now; if so, it counts as announced."""
        if abs(progress - self.last) < self.step or now - self.at < self.every_s:
            return False
        self.at, self.last = now, progress
        return True


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``jobs``."""

    id: UUID
    kind: str
    org: str
    status: JobStatus
    progress: float
    request: dict[str, Any]
    result: dict[str, Any] | None
    detail: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int = 0
    #: Organisations besides ``org`` that may see it (``api.job_views``: each its own
    #: bookings of the result).
    audience: tuple[str, ...] = ()

    @property
    def viewers(self) -> tuple[str, ...]:
        """Every organisation that may see it: its own first, then its audience."""
        return (self.org, *(o for o in self.audience if o != self.org))

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            org=row["org_id"],
            status=JobStatus(row["status"]),
            progress=float(row["progress"]),
            request=row["request"],
            result=row["result"],
            detail=row["detail"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            attempts=row["attempts"],
            audience=tuple(row["audience"]),
        )


Handler = Callable[[Job, Progress], Awaitable[Mapping[str, Any]]]


async def enqueue(
    conn: Executor,
    *,
    kind: str,
    org: str,
    request: Mapping[str, Any],
    audience: Sequence[str] = (),
) -> Job:
    """Queue a job of ``org``, shared with the organisations of ``audience``; idle workers
    are woken by a notification."""
    row = await conn.fetchrow(
        f"INSERT INTO jobs (kind, org_id, request, audience) VALUES ($1, $2, $3, $4) "
        f"RETURNING {_COLUMNS}",
        kind,
        org,
        dict(request),
        sorted(set(audience) - {org}),
    )
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    await conn.execute(
        "SELECT pg_notify($1, $2), pg_notify($3, json_build_object("
        "'id', $4::uuid, 'kind', $2::text, 'status', 'queued', 'progress', 0)::text)",
        JOB_QUEUE,
        kind,
        JOB_CHANGES,
        row["id"],
    )
    return Job.from_row(row)


async def get(
    conn: Executor, job_id: UUID, *, kind: str | None = None, result: bool = True
) -> Job | None:
    """A job by id; ``kind`` (when given) must match, else None; without its ``result``
    (None) when ``result`` is false, for who only needs its state. Who may see it is the
    caller's to decide (``core.scope``)."""
    columns = _COLUMNS if result else _COLUMNS.replace(" result,", " NULL::jsonb AS result,")
    row = await conn.fetchrow(
        f"SELECT {columns} FROM jobs WHERE id = $1 AND ($2::text IS NULL OR kind = $2)",
        job_id,
        kind,
    )
    return None if row is None else Job.from_row(row)


async def claim(conn: Executor, kinds: Sequence[str], worker: str) -> Job | None:
    """Take the oldest queued job of ``kinds`` (skipping jobs other workers are claiming),
    announcing it ``running``."""
    row = await conn.fetchrow(
        f"""WITH claimed AS (
              UPDATE jobs SET status = 'running', started_at = now(), heartbeat_at = now(),
                     worker = $2, attempts = attempts + 1, progress = 0, detail = NULL
              WHERE id = (SELECT id FROM jobs WHERE status = 'queued'
                            AND kind = ANY($1::text[])
                          ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
              RETURNING {_COLUMNS})
            SELECT *, {_ANNOUNCE} AS announced FROM claimed""",
        list(kinds),
        worker,
    )
    return None if row is None else Job.from_row(row)


async def set_progress(
    conn: Executor, job_id: UUID, worker: str, progress: float, *, announce: bool = False
) -> None:
    """Record progress (clamped to [0, 1]; never backwards: a handler's updates may land out
    of order) and beat; ``announce`` it on ``job_changes`` too, unless a later update landed
    first (the worker's ``ProgressThrottle`` says when)."""
    update = """UPDATE jobs SET progress = greatest(progress, least(1, $3::real)),
                       heartbeat_at = now()
                WHERE id = $1 AND worker = $2 AND status = 'running'"""
    if announce:
        update = (
            f"WITH moved AS ({update} RETURNING *) SELECT {_ANNOUNCE} FROM moved "
            "WHERE progress = greatest(0, least(1, $3::real))"
        )
    await conn.execute(update, job_id, worker, progress)


async def finish(conn: Executor, job_id: UUID, worker: str, result: Mapping[str, Any]) -> None:
    """Mark done with its result."""
    await conn.execute(
        """UPDATE jobs SET status = 'done', progress = 1, result = $3, finished_at = now()
           WHERE id = $1 AND worker = $2 AND status = 'running'""",
        job_id,
        worker,
        dict(result),
    )


async def fail(conn: Executor, job_id: UUID, worker: str, detail: str) -> None:
    """Mark failed, saying why."""
    await conn.execute(
        """UPDATE jobs SET status = 'failed', detail = $3, finished_at = now()
           WHERE id = $1 AND worker = $2 AND status = 'running'""",
        job_id,
        worker,
        detail,
    )


async def release(conn: Executor, job_id: UUID, worker: str) -> None:
    """Put a job back in the queue (its worker is stopping), announced; this run is not
    counted."""
    await conn.execute(
        f"""WITH back AS (
              UPDATE jobs SET status = 'queued', worker = NULL, progress = 0,
                     attempts = greatest(attempts - 1, 0)
              WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING *)
            SELECT {_ANNOUNCE} FROM back""",
        job_id,
        worker,
    )


async def requeue_stale(conn: Executor, *, stale_after_s: float, max_attempts: int) -> int:
    """Queue again (or fail, after ``max_attempts``) running jobs whose worker went silent;
    those queued again are announced (the failed ones by the trigger)."""
    rows = await conn.fetch(
        f"""WITH stale AS (
              UPDATE jobs SET
                 status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END,
                 detail = CASE WHEN attempts >= $2
                          THEN 'the worker running it stopped ' || attempts || ' times'
                          ELSE detail END,
                 finished_at = CASE WHEN attempts >= $2 THEN now() ELSE NULL END,
                 worker = NULL
              WHERE status = 'running'
                AND heartbeat_at < now() - make_interval(secs => $1)
              RETURNING *)
            SELECT id, CASE WHEN status = 'queued' THEN {_ANNOUNCE} END FROM stale""",
        stale_after_s,
        max_attempts,
    )
    return len(rows)


def _detail(exc: BaseException) -> str:
    if isinstance(exc, BadInput):
        return exc.detail
    if isinstance(exc, PilotshareError):
        return str(exc)
    return f"internal error: {type(exc).__name__}"


class Worker:
    """Runs queued jobs of the kinds in ``handlers``, one at a time, until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        handlers: Mapping[str, Handler],
        *,
        name: str | None = None,
        poll_s: float = 2.0,
        heartbeat_s: float = 5.0,
        stale_after_s: float = 60.0,
        max_attempts: int = 3,
        progress_every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        self.pool = pool
        self.handlers = dict(handlers)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.poll_s, self.heartbeat_s = poll_s, heartbeat_s
        self.stale_after_s, self.max_attempts = stale_after_s, max_attempts
        self.progress_every_s = progress_every_s
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until ``stop`` is set; a job cut short is queued again.

        Notifications only wake it early: it also polls every ``poll_s``, so it works on
        while its listener reconnects.
        """
        listener = Listener(
            self.pool, (JOB_QUEUE,), self._notified, on_connect=self._listening, name="job worker"
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(listener.run(stop))
            tasks.create_task(self._work(stop))

    async def _work(self, stop: asyncio.Event) -> None:
        retry = Retry(log, "job worker")
        while not stop.is_set():
            try:
                await requeue_stale(
                    self.pool, stale_after_s=self.stale_after_s, max_attempts=self.max_attempts
                )
                ran = await self.run_once(stop)
            except TRANSIENT as exc:
                await retry.after(exc, stop)
                continue
            except asyncpg.PostgresError:  # the database refused a statement: a bug to see
                log.exception("job worker: the database refused a statement; carrying on")
                await retry.wait(stop)
                continue
            retry.reset()
            if ran:
                continue
            self._wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            await asyncio.wait(waiters, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def _notified(self, _channel: str, _kind: str) -> None:
        self._wake.set()

    async def _listening(self) -> None:
        self._wake.set()  # (re)connected: look for jobs queued while nobody listened

    async def run_once(self, stop: asyncio.Event | None = None) -> bool:
        """Claim one job and run it to its end; False when none was queued."""
        job = await claim(self.pool, list(self.handlers), self.name)
        if job is None:
            return False
        log.info("job %s (%s) started by %s", job.id, job.kind, self.name)

        throttle = ProgressThrottle(time.monotonic(), every_s=self.progress_every_s)

        async def progress(fraction: float) -> None:
            announce = throttle.due(fraction, time.monotonic())
            await set_progress(self.pool, job.id, self.name, fraction, announce=announce)

        task = asyncio.ensure_future(self.handlers[job.kind](job, progress))
        beat = asyncio.ensure_future(self._beat(job.id))
        stopper = asyncio.ensure_future(stop.wait()) if stop else None
        try:
            waiters = {task} if stopper is None else {task, stopper}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                await release(self.pool, job.id, self.name)
                log.info("job %s put back in the queue: worker stopping", job.id)
                return True
            exc = task.exception()
            if exc is None:
                await finish(self.pool, job.id, self.name, task.result())
                log.info("job %s done", job.id)
            else:
                if not isinstance(exc, PilotshareError):
                    log.error("job %s failed", job.id, exc_info=exc)
                await fail(self.pool, job.id, self.name, _detail(exc))
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await asyncio.shield(release(self.pool, job.id, self.name))
            raise
        finally:
            beat.cancel()
            if stopper is not None:
                stopper.cancel()
        return True

    async def _beat(self, job_id: UUID) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            with contextlib.suppress(*TRANSIENT):
                await self.pool.execute(
                    "UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND worker = $2",
                    job_id,
                    self.name,
                )


async def recent(conn: Executor, *, kind: str, org: str | None, limit: int = 20) -> list[Job]:
    """The newest jobs of ``kind`` (those ``org`` may see, its own or shared with it, when
    given), newest first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM jobs WHERE kind = $1
              AND ($2::text IS NULL OR org_id = $2 OR audience @> ARRAY[$2::text])
            ORDER BY created_at DESC, id LIMIT $3""",
        kind,
        org,
        limit,
    )
    return [Job.from_row(r) for r in rows]
