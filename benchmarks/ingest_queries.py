"""History query benchmark: a month of one instrument at 1 sample/s, read through the API.

    .venv/bin/python -m benchmarks.ingest_queries [--days 30] [--repeat 20] [--database-url URL]

It stores the month through the ingest's own write path (``TelemetryWriter``: COPY plus the
hourly rollup), then times, through the real FastAPI app, ``GET …/telemetry`` for the month
(daily and hourly buckets, from the rollup), a day in 5-minute buckets (raw samples), and
``GET …/twin``; and, directly, learning the month's behaviour from the raw samples and the
ingest's background refresh (stored intervals, recomputing the last day). It prints medians
and p95 of ``--repeat`` runs; the goal is under 100 ms for a month's query. The scratch
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.domain import InstrumentState as S
from pilotshare.core.settings import Settings
from pilotshare.twin.items import TelemetryItem
from pilotshare.twin.store import behaviour, refresh_behaviour
from pilotshare.twin.writer import TelemetryWriter
from tests.support.instruments import add_instrument

START = datetime(2026, 10, 1, tzinfo=UTC)
CYCLE = [(S.IDLE, 900), (S.SETUP, 300), (S.RUNNING, 5400), (S.IDLE, 600), (S.DOWN, 1200)]


async def fill(pool: asyncpg.Pool, days: int) -> float:
    writer = TelemetryWriter(pool, timescale=False, offline_after=timedelta(seconds=30))
    topic = Topic("bench", "sem-1", Channel.TELEMETRY)
    t, pending, number = START, [], 0
    end = START + timedelta(days=days)
    begun = time.monotonic()
    while t < end:
        for state, seconds in CYCLE:
            for _ in range(seconds):
                pending.append(
                    Sample(
                        ts=t,
                        state=state,
                        utilization=0.8 if state is S.RUNNING else 0.0,
                        metrics={"power_w": 1000.0},
                    )
                )
                t += timedelta(seconds=1)
                if len(pending) == 5000:
                    number += 1
                    batch = TelemetryBatch(agent="a", batch=number, samples=tuple(pending))
                    await writer.write([TelemetryItem(topic, batch, encode(batch), t, 0.0)], t)
                    pending = []
    return (end - START).total_seconds() / (time.monotonic() - begun)


async def timed(call: object, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


async def main(args: argparse.Namespace) -> None:
    name = f"ps_bench_queries_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{name}"))
    try:
        conn = await connect(url)
        await migrate(conn)
        await add_instrument(conn, "sem-1", site="bench", kind="sem", name="sem")
        key = await create_key(conn, org="bench", role="admin")
        await conn.close()
        pool = await create_pool(url, min_size=2, max_size=4)
        rate = await fill(pool, args.days)
        end = START + timedelta(days=args.days)
        async with pool.acquire() as c:
            await c.execute("ANALYZE telemetry; ANALYZE telemetry_hourly")
            rows = await c.fetchval("SELECT count(*) FROM telemetry")
        app = create_app(Settings(), pool=pool, clock=FakeClock(end), registry=CollectorRegistry())
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://b",
            headers={"Authorization": f"Bearer {key}"},
        )
        month = {"start": START.isoformat(), "end": end.isoformat()}
        day = {"start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()}

        def get(params: dict[str, str]) -> object:
            async def call() -> None:
                r = await client.get("/api/v1/instruments/sem-1/telemetry", params=params)
                assert r.status_code == 200, r.text

            return call

        async def twin() -> None:
            r = await client.get("/api/v1/instruments/sem-1/twin")
            assert r.status_code == 200, r.text

        await twin()  # the first call learns the behaviour once (the ingest would have)
        print(
            f"history query benchmark: {rows:,} samples ({args.days} days at 1 Hz) stored "
            f"through the writer at {rate:,.0f} samples/s; ms, median / p95 of {args.repeat}"
        )
        cases = [
            ("month, P1D buckets (rollup)", get(month | {"bucket": "P1D"})),
            ("month, PT1H buckets (rollup)", get(month | {"bucket": "PT1H"})),
            ("day, PT5M buckets (raw samples)", get(day | {"bucket": "PT5M"})),
            ("twin", twin),
        ]
        for label, call in cases:
            med, p95 = await timed(call, args.repeat)
            print(f"  {label:34s} {med:8.1f} {p95:8.1f}")

        async def learn() -> None:
            await behaviour(pool, "sem-1", START, end, gap=timedelta(seconds=30))

        med, p95 = await timed(learn, max(3, args.repeat // 5))
        print(f"  {'learn the month from raw samples':34s} {med:8.1f} {p95:8.1f}")

        async def refresh() -> None:
            await refresh_behaviour(pool, "sem-1", end, gap=timedelta(seconds=30))

        med, p95 = await timed(refresh, max(3, args.repeat // 5))
        print(f"  {'refresh (stored intervals, 1 day)':34s} {med:8.1f} {p95:8.1f}")
        await client.aclose()
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    asyncio.run(main(parser.parse_args()))
