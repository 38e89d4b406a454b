"""When an instrument goes down, forecast its bookings' odds at once.

The ingest sends ``NOTIFY twin_changes`` with the instrument's live state whenever it
changes. ``RiskWatch`` listens; when an instrument is reported ``down`` and holds bookings in
the next ``horizon_days``, it queues a forecast job (the same job as
``POST /api/v1/forecasts``) shared with every organisation holding an affected booking (the
job is the first one's; the others are its ``audience``, migration 0045). Each of them
finds it in ``GET /api/v1/forecasts`` and sees, in its result, its own bookings (at risk with
alternative slots, or not); when it is done, each one's event streams get an ``at_risk``
event with its own bookings at risk (``api.routes.events``). The forecast's horizon is the
watch's window: every affected booking starts inside it, so it gets odds (a booking starting
after a forecast's horizon is only listed as out of range). An instrument triggers at most
one forecast
per ``quiet_s`` (a flapping instrument must not flood the queue), whichever of the API
processes hears it first (``forecast_triggers``, migration 0031).

Notifications sent while the watch was not listening are lost, so on every (re)connect it
catches up: each instrument down now that went down after its last trigger is handled as if
it had just been heard.

Run it beside the job worker: ``await RiskWatch(pool, clock=clock).run(stop)``
(``services.run_jobs`` does).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from pilotshare.core import jobs
from pilotshare.core.clock import Clock
from pilotshare.core.contract import TWIN_CHANGES
from pilotshare.core.db import Listener
from pilotshare.core.domain import InstrumentState
from pilotshare.scheduler.forecast import ForecastParams, store
from pilotshare.twin import store as twin_store

log = logging.getLogger(__name__)


class RiskWatch:
    """Queues a forecast when an instrument with upcoming bookings goes down."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock,
        horizon_days: int = 7,
        replications: int = 100,
        quiet_s: float = 900.0,
    ) -> None:
        self.pool, self.clock = pool, clock
        self.horizon_days, self.replications, self.quiet_s = horizon_days, replications, quiet_s

    async def _notified(self, _channel: str, payload: str) -> None:
        try:
            event: dict[str, Any] = json.loads(payload)
        except ValueError:
            return
        if event.get("state") == "down" and isinstance(event.get("instrument"), str):
            await self.instrument_down(event["instrument"])

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; carries on through database failures."""
        listener = Listener(
            self.pool,
            (TWIN_CHANGES,),
            self._notified,
            on_connect=self.catch_up,
            name="risk watch",
        )
        await listener.run(stop)

    async def catch_up(self) -> None:
        """Handle the instruments down now that went down unheard (after their last trigger)."""
        for live in await twin_store.lives(self.pool, current=InstrumentState.DOWN):
            await self.instrument_down(live.instrument, down_since=live.since)

    async def instrument_down(
        self, instrument: str, *, down_since: datetime | None = None
    ) -> jobs.Job | None:
        """Queue a forecast for a down instrument's bookings (None: nothing to do, or done
        already within the quiet time or since ``down_since``, by this process or another)."""
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            window = (now, now + timedelta(days=self.horizon_days))
            orgs = await store.affected_orgs(conn, instrument, window)
            if not orgs or not await store.claim_trigger(
                conn, instrument, now, self.quiet_s, down_since=down_since
            ):
                return None
            params = ForecastParams.parse(
                {"horizon_days": self.horizon_days, "replications": self.replications}
            )
            job = await jobs.enqueue(
                conn, kind="forecast", org=orgs[0], request=params.as_dict(), audience=orgs[1:]
            )
        log.info(
            "%s is down: forecast %s queued for its bookings (orgs %s)",
            instrument,
            job.id,
            ", ".join(orgs),
        )
        return job
