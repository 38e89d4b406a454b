"""Storing a simulated past as the backend would hold it, through the ingest's own writer.

Samples go through ``twin.writer.TelemetryWriter`` in batches as an agent sends them, so
``telemetry``, its hourly rollup and the live rows are exactly what the ingest writes; the
state intervals and learned behaviour come from ``twin.store`` (``sync_intervals`` over the
whole history with the coarse gap the older samples were taken at, then
``refresh_behaviour``); the bookings from ``seeding.store``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from pilotshare.core.contract import Channel, TelemetryBatch, Topic
from pilotshare.core.db import uses_timescale
from pilotshare.seeding import store
from pilotshare.seeding.past import COARSE, Past
from pilotshare.twin.store import refresh_behaviour, sync_intervals
from pilotshare.twin.writer import Item, TelemetryItem, TelemetryWriter

#: Samples per batch and batches per flush: what a busy agent and the ingest would send.
BATCH = 500
FLUSH = 20
AGENT = "pilotshare-backfill"


@dataclass(frozen=True, slots=True)
class Stored:
    """What ``store_past`` stored, and how long it took."""

    samples: int
    bookings: int
    seconds: float


async def store_past(
    pool: asyncpg.Pool,
    past: Past,
    *,
    sites: Mapping[str, str],
    start: datetime,
    now: datetime,
    offline_after: timedelta,
) -> Stored:
    """Store ``past`` (simulated from ``start`` to ``now``); ``sites`` names each
    instrument's site (its telemetry topic)."""
    began = time.perf_counter()
    async with pool.acquire() as conn:
        timescale = await uses_timescale(conn)
    writer = TelemetryWriter(pool, timescale=timescale, offline_after=offline_after)
    samples = 0
    for instrument, rows in past.samples.items():
        topic = Topic(sites[instrument], instrument, Channel.TELEMETRY)
        items: list[Item] = [
            TelemetryItem(
                topic,
                TelemetryBatch(agent=AGENT, batch=n, samples=tuple(rows[i : i + BATCH])),
                b"",
                rows[min(i + BATCH, len(rows)) - 1].ts,
                0.0,
            )
            for n, i in enumerate(range(0, len(rows), BATCH), start=1)
        ]
        for i in range(0, len(items), FLUSH):
            samples += (await writer.write(items[i : i + FLUSH], now)).stored
    for instrument in past.samples:
        await sync_intervals(pool, instrument, now, gap=COARSE, window=now - start)
        await refresh_behaviour(pool, instrument, now, gap=COARSE)
    async with pool.acquire() as conn, conn.transaction():
        booked = await store.insert_bookings(conn, past.bookings)
    return Stored(samples, booked, time.perf_counter() - began)
