"""``GET /api/v1/events``: twin changes, bookings and bookings at risk as Server-Sent Events,
for the console's live pages.

The ingest sends ``NOTIFY twin_changes`` in every transaction that changes an instrument's
online flag or state; the bookings table's trigger sends ``NOTIFY booking_changes`` when a
booking that starts within 15 minutes is made or changes, or one whose interlock is open
stops holding its instrument (the lifecycle's wake-ups); ``core.jobs`` and the jobs table's
trigger send ``NOTIFY job_changes`` when a job's status or (throttled) progress changes. The
API holds one ``LISTEN`` connection (taken from the pool while at least one stream is open)
and fans each notification out to every stream. Booking events come from every change the
trigger records in ``booking_events``, tailed by ``api.booking_tail`` (a ``booking_changes``
notification only wakes the tail), so a booking days ahead reaches the streams too, within
about ``TAIL_S``. A stream starts with one ``snapshot`` event per
instrument, then sends ``twin`` and ``booking`` events as they happen, an ``at_risk`` event
when a finished forecast finds bookings of the stream's organisation at risk
(``scheduler.forecast.alerts``), a ``job`` event when a forecast or simulation the caller may
see (as ``GET /forecasts/{id}``: planner keys and up, the job's organisation and audience, the
network operator's admins) is queued, runs, progresses or ends, and a comment every
``KEEPALIVE_S`` so proxies keep it open.
Instruments are everyone's to watch; a ``booking`` event reaches only the streams that may see
the booking (``core.scope``: its organisation's keys, the admins of the platform owning its
instrument, and the network operator's admins), and never says the booking's purpose; an
``at_risk`` event is one organisation's, carries only its bookings, and a stream of one site or
instrument gets only those of its bookings there. If the listening connection is lost
(database restart) it listens again, and then the streams end; ``EventSource`` reconnects by
itself after ``retry`` and starts from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from pilotshare.api.booking_tail import BookingTail
from pilotshare.api.deps import CurrentKey, Pool
from pilotshare.api.keys import Principal
from pilotshare.api.schemas import Slug, problems
from pilotshare.core import jobs
from pilotshare.core.contract import BOOKING_CHANGES, JOB_CHANGES, TWIN_CHANGES
from pilotshare.core.db import TRANSIENT, Listener
from pilotshare.core.domain import Role
from pilotshare.core.scope import may_see, run_by
from pilotshare.scheduler.forecast.alerts import AtRiskAlert, at_risk_alerts
from pilotshare.scheduler.store import Booking
from pilotshare.twin.store import lives

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["twin"])

KEEPALIVE_S = 15.0
POLL_S = 1.0  # how often a quiet stream checks whether its client is gone
QUEUE = 1000  # events per stream; a stream this far behind loses its oldest ones
CONNECT_S = 5.0  # how long a new stream waits for the listener before it gives up (503)


@dataclass(frozen=True, slots=True)
class Notice:
    """One event for the streams: its SSE name, JSON data, where it happened and, for a
    booking, whose it is (None: anyone may see it). An alert's event is built per stream
    from ``alert`` (only its bookings of the stream's site and instrument)."""

    event: str
    data: str
    site: str | None
    instrument: str | None
    org: str | None = None
    alert: AtRiskAlert | None = None
    platform: str | None = None  # a booking's: the platform owning its instrument
    audience: tuple[str, ...] = ()  # a job's: the organisations it is shared with
    role: Role | None = None  # the least role that may see it (a job's: planner)
    located: bool = True  # False: sent whatever site or instrument the stream watches

    def visible_to(self, principal: Principal) -> bool:
        """Whether ``principal``'s stream may see it (``core.scope``): anyone's when it is
        nobody's, else its organisation's, its audience's, a booking's platform's admins' and
        the network operator's admins'; never below ``role``."""
        if self.role is not None and not principal.role.at_least(self.role):
            return False
        if self.org is None or principal.org in self.audience:
            return True
        return may_see(self.org, org=principal.org, admin=principal.network) or (
            self.platform is not None
            and self.platform in run_by(principal.org, admin=principal.admin)
        )

    def render(self, *, site: str | None, instrument: str | None) -> str | None:
        """The SSE text for a stream of ``site`` and ``instrument`` (None: all), or None
        when nothing of it is for that stream. Who may see it is the caller's to check."""
        if self.alert is not None:
            kept = [b for b in self.alert.bookings if _here(b, site=site, instrument=instrument)]
            return _sse(self.event, self.alert.as_event(kept)) if kept else None
        if not self.located:
            return _sse(self.event, self.data)
        if site is not None and self.site != site:
            return None
        if instrument is not None and self.instrument != instrument:
            return None
        return _sse(self.event, self.data)


def _here(row: Mapping[str, Any], *, site: str | None, instrument: str | None) -> bool:
    return (site is None or row.get("site") == site) and (
        instrument is None or row.get("instrument") == instrument
    )


def _twin_notice(payload: str) -> Notice | None:
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    return Notice("twin", payload, event.get("site"), event.get("instrument"))


def _booking_notice(booking: Booking) -> Notice:
    """The booking event of a change, from the booking as read back (by ``BookingTail``):
    whose it is (its organisation, which the stream filters on) and where."""
    data = {
        "booking": str(booking.id),
        "instrument": booking.instrument,
        "site": booking.site,
        "org": booking.org,
        "status": booking.status.value,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
    }
    return Notice(
        "booking",
        json.dumps(data),
        booking.site,
        booking.instrument,
        booking.org,
        platform=booking.platform,
    )


async def _job_notice(pool: asyncpg.Pool, payload: str) -> Notice | None:
    """The ``job`` event of a ``job_changes`` notification: its status and progress as
    announced (a later change has its own), the job read back (without its result) for whose
    it is and who shares it."""
    try:
        event = json.loads(payload)
        job_id = UUID(event["id"])
    except (ValueError, KeyError, TypeError):
        return None
    job = await jobs.get(pool, job_id, result=False)
    if job is None:
        return None
    progress = event.get("progress")
    data = {
        "id": str(job.id),
        "kind": job.kind,
        "status": str(event.get("status", job.status.value)),
        "progress": round(float(progress if progress is not None else job.progress), 4),
    }
    return Notice(
        "job",
        json.dumps(data),
        None,
        None,
        job.org,
        audience=job.audience,
        role=Role.PLANNER,
        located=False,
    )


async def _alert_notices(pool: asyncpg.Pool, payload: str) -> list[Notice]:
    """The ``at_risk`` events of a ``job_changes`` notification: one per organisation of a
    finished forecast that has bookings at risk (none for any other job)."""
    try:
        event = json.loads(payload)
        job_id = UUID(event["id"])
    except (ValueError, KeyError, TypeError):
        return []
    if event.get("kind") != "forecast" or event.get("status") != "done":
        return []
    return [
        Notice("at_risk", "", None, None, alert.org, alert)
        for alert in await at_risk_alerts(pool, job_id)
    ]


class TwinEvents:
    """One ``Listener`` on ``twin_changes``, ``booking_changes`` and ``job_changes``, fanned
    out to every open stream (each stream then keeps what its caller may see).

    It listens, and tails ``booking_events``, only while at least one stream is open. After
    the listener reconnects, the open streams end (they may have missed changes); their
    clients reconnect and start again from a fresh snapshot.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._listener = Listener(
            pool,
            (TWIN_CHANGES, BOOKING_CHANGES, JOB_CHANGES),
            self._on_notify,
            on_connect=self._on_connect,
            name="twin event streams",
        )
        self._tail = BookingTail(pool, self._on_bookings)
        self._queues: set[asyncio.Queue[Notice | None]] = set()
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tailing: asyncio.Task[None] | None = None

    async def subscribe(self) -> asyncio.Queue[Notice | None]:
        """A queue of notifications, once the listener is in place (``TimeoutError`` if it
        cannot be within ``CONNECT_S``: the database is unavailable)."""
        queue: asyncio.Queue[Notice | None] = asyncio.Queue(QUEUE)
        async with self._lock:
            if self._task is None:
                self._stop = asyncio.Event()
                self._task = asyncio.create_task(self._listener.run(self._stop))
            try:
                await asyncio.wait_for(self._listener.ready.wait(), CONNECT_S)
                if self._tailing is None:
                    await asyncio.wait_for(self._tail.start(), CONNECT_S)
                    self._tailing = asyncio.create_task(self._tail.run(self._stop))
            except TRANSIENT as exc:  # TimeoutError among them (an OSError)
                if not self._queues:
                    await self._halt()
                raise TimeoutError("the database is unavailable") from exc
            self._queues.add(queue)
        return queue

    async def unsubscribe(self, queue: asyncio.Queue[Notice | None]) -> None:
        async with self._lock:
            self._queues.discard(queue)
            if not self._queues:
                await self._halt()

    async def _halt(self) -> None:
        task, self._task = self._task, None
        tailing, self._tailing = self._tailing, None
        self._stop.set()
        self._tail.wake.set()
        for running in (task, tailing):
            if running is not None:
                await running

    async def _on_notify(self, channel: str, payload: str) -> None:
        if not self._queues:
            return
        if channel == JOB_CHANGES:
            job = await _job_notice(self._pool, payload)
            if job is not None:
                self._fan_out(job)
            for alert in await _alert_notices(self._pool, payload):
                self._fan_out(alert)
            return
        if channel == BOOKING_CHANGES:
            self._tail.wake.set()  # its event comes from the tail, once
            return
        notice = _twin_notice(payload)
        if notice is not None:
            self._fan_out(notice)

    def _on_bookings(self, bookings: list[Booking]) -> None:
        if self._queues:
            for booking in bookings:
                self._fan_out(_booking_notice(booking))

    async def _on_connect(self) -> None:
        if self._queues:
            log.info("event streams: listening again; open streams end, clients reconnect")
            self._fan_out(None)

    def _fan_out(self, notice: Notice | None) -> None:
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(notice)


class _EventStream(StreamingResponse):
    """A stream that lets go of its subscription however it ends (client gone, shutdown)."""

    def __init__(
        self, body: AsyncGenerator[str, None], cleanup: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._body = body
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # shielded: a shutdown cancels this task, and the pool must get its connection back
            await asyncio.shield(self._cleanup())


def _events(request: Request) -> TwinEvents:
    events: TwinEvents = request.app.state.twin_events  # built by create_app
    return events


def _sse(event: str, data: dict[str, Any] | str) -> str:
    body = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {body}\n\n"


async def _snapshot(pool: asyncpg.Pool, site: str | None, instrument: str | None) -> list[str]:
    return [
        _sse("snapshot", live.as_event())
        for live in await lives(pool, site=site, instrument=instrument)
    ]


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "an event stream",
        },
        **problems(401, 403, 422),
    },
)
async def twin_events(
    request: Request,
    pool: Pool,
    principal: CurrentKey,
    site: Annotated[Slug | None, Query(description="only this site")] = None,
    instrument: Annotated[Slug | None, Query(description="only this instrument")] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``snapshot`` per instrument, then ``twin`` on every change,
    ``booking`` when a booking you may see changes (your organisation's; a platform's admins
    also those on its instruments; the network operator's admins anyone's) and ``at_risk``
    when a finished forecast finds some of your organisation's at risk (the network operator's
    admins: every organisation's), and ``job`` ``{"id","kind","status","progress"}`` when a
    forecast or simulation you may see (planner keys and up) is queued, runs, progresses (at
    most once a second, in steps of 1% or more) or ends, whatever ``site`` and ``instrument``
    say."""
    events = _events(request)
    queue = await events.subscribe()

    async def stream() -> AsyncGenerator[str, None]:
        yield f"retry: 3000\n: pilotshare twin events on {TWIN_CHANGES}\n\n"
        for line in await _snapshot(pool, site, instrument):
            yield line
        quiet = 0.0
        while True:
            try:
                notice = await asyncio.wait_for(queue.get(), POLL_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                quiet += POLL_S
                if quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield ": keepalive\n\n"
                continue
            if notice is None:
                return
            if not notice.visible_to(principal):
                continue  # another organisation's, not on the caller's instruments
            text = notice.render(site=site, instrument=instrument)
            if text is not None:
                yield text

    return _EventStream(stream(), lambda: events.unsubscribe(queue))
