"""Storing a simulated past as the backend would hold it, through the ingest's own writer.

Samples go through ``twin.writer.TelemetryWriter`` in batches as an agent sends them, so
``telemetry``, its hourly rollup and the live rows are exactly what the ingest writes; the
state intervals and learned behaviour come from ``twin.store`` (``sync_intervals`` over the
whole history with the coarse gap the older samples were taken at, then
``refresh_behaviour``); the bookings from ``seeding.store``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

import asyncpg

from pilotshare.core.contract import Channel, Sample, TelemetryBatch, Topic
from pilotshare.core.db import uses_timescale
from pilotshare.seeding import store
from pilotshare.seeding.past import COARSE, InstrumentPast
from pilotshare.twin.store import refresh_behaviour, sync_intervals
from pilotshare.twin.writer import Item, TelemetryItem, TelemetryWriter

#: Batches per flush; a batch holds an hour's samples at most, as an agent's would.
FLUSH = 400
#: Instruments stored at once (the pool's connections; the database works meanwhile).
PARALLEL = 3
AGENT = "pilotshare-backfill"


@dataclass(frozen=True, slots=True)
class Stored:
    """What ``store_past`` stored, and how long it took."""

    samples: int
    bookings: int
    seconds: float


async def store_past(
    pool: asyncpg.Pool,
    past: Sequence[InstrumentPast],
    *,
    sites: Mapping[str, str],
    start: datetime,
    now: datetime,
    offline_after: timedelta,
) -> Stored:
    """Store ``past`` (simulated from ``start`` to ``now``); ``sites`` names each
    instrument's site (its telemetry topic). ``PARALLEL`` instruments at a time: one's samples
    are made in a thread while the others' are stored (the database's waits release it)."""
    began = time.perf_counter()
    async with pool.acquire() as conn:
        timescale = await uses_timescale(conn)
    writer = TelemetryWriter(pool, timescale=timescale, offline_after=offline_after)
    turns = asyncio.Semaphore(PARALLEL)

    async def one(instrument: InstrumentPast) -> int:
        async with turns:
            rows = await asyncio.to_thread(instrument.samples)
            topic = Topic(sites[instrument.instrument], instrument.instrument, Channel.TELEMETRY)
            items: list[Item] = [
                TelemetryItem(
                    topic, TelemetryBatch(agent=AGENT, batch=k, samples=b), b"", b[-1].ts, 0.0
                )
                for k, b in enumerate(_hourly(rows), start=1)
            ]
            stored = 0
            for i in range(0, len(items), FLUSH):
                stored += (await writer.write(items[i : i + FLUSH], now)).stored
            await sync_intervals(pool, instrument.instrument, now, gap=COARSE, window=now - start)
            await refresh_behaviour(pool, instrument.instrument, now, gap=COARSE)
            return stored

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(p)) for p in past]
    samples = sum(t.result() for t in tasks)
    bookings = [b for p in past for b in p.bookings]
    async with pool.acquire() as conn, conn.transaction():
        booked = await store.insert_bookings(conn, bookings)
    return Stored(samples, booked, time.perf_counter() - began)


def _hourly(samples: Sequence[Sample]) -> Iterator[tuple[Sample, ...]]:
    """``samples`` (time order) cut at every UTC hour."""
    for _, batch in groupby(samples, key=lambda s: s.ts.timestamp() // 3600):
        yield tuple(batch)
