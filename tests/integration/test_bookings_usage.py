"""A booking's measured usage through the API is the twin's reading of the same telemetry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import OFFLINE_AFTER
from pilotshare.core.domain import InstrumentState as S
from pilotshare.twin.items import TelemetryItem
from tests.support.api import api_client
from tests.support.api import auth as key
from tests.support.twin import telemetry_writer

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
TICK = timedelta(seconds=5)


async def write(pool: asyncpg.Pool, inst: str, samples: list[tuple[datetime, S]]) -> None:
    """Store ``samples`` as the ingest does: one committed batch through the twin's writer."""
    writer = await telemetry_writer(pool, OFFLINE_AFTER)
    batch = TelemetryBatch(
        agent="a", batch=1, samples=tuple(Sample(ts=t, state=s) for t, s in samples)
    )
    at = samples[-1][0]
    await writer.write(
        [TelemetryItem(Topic("lab", inst, Channel.TELEMETRY), batch, encode(batch), at, 0.0)], at
    )


def every(start: datetime, end: datetime, state: S) -> list[tuple[datetime, S]]:
    """A sample every ``TICK`` from ``start`` to ``end`` inclusive."""
    n = int((end - start) / TICK)
    return [(start + k * TICK, state) for k in range(n + 1)]


async def test_silence_in_the_middle_of_a_booking_is_not_billed(pool: asyncpg.Pool) -> None:
    """The instrument runs 9:00-9:20, is silent until 9:40 (offline, as the twin says from
    its last sample on) and runs again until the end of the booking at 10:00. Used and
    running time are 40 minutes: nothing of the silence counts, not even the offline gap."""
    clock = FakeClock(MON + 8 * H)
    async with api_client(pool, clock=clock) as client:
        admin = await key(pool, "platform", "admin")
        acme = await key(pool, "acme", "operator")
        r = await client.post(
            "/api/v1/instruments",
            json={"id": "oven-1", "site": "lab", "kind": "oven"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/bookings",
            json={
                "instrument": "oven-1",
                "start": "2026-01-05T09:00:00Z",
                "end": "2026-01-05T10:00:00Z",
            },
            headers=acme,
        )
        assert r.status_code == 201, r.text
        booking = r.json()["id"]
        start = MON + 9 * H
        await write(
            pool,
            "oven-1",
            every(start, start + 20 * MIN, S.RUNNING)
            + every(start + 40 * MIN, start + 60 * MIN - TICK, S.RUNNING),
        )
        clock.advance(60 * 60 + 20 * 60 + 10)  # 9:20:10, 10 s after the last sample: online
        usage = (await client.get(f"/api/v1/bookings/{booking}/usage", headers=acme)).json()
        assert usage["running_seconds"] == 20 * 60 + 10
        clock.advance(10 * 60 - 10)  # 9:30, in the silence: offline since 9:20
        usage = (await client.get(f"/api/v1/bookings/{booking}/usage", headers=acme)).json()
        assert usage["running_seconds"] == 20 * 60
        clock.advance(90 * 60)  # 11:00, over: measured to its end
        usage = (await client.get(f"/api/v1/bookings/{booking}/usage", headers=acme)).json()
        assert usage["booked_seconds"] == 3600
        assert usage["running_seconds"] == 40 * 60
        assert usage["used_seconds"] == 40 * 60
