"""The public directory under a burst: N identical requests at once, with the answer cache
(single flight) and, as the baseline in the same run, without it.

    python -m benchmarks.public_burst [--requests 100] [--rounds 3] [--instruments 60]
        [--path /api/v1/public/instruments?q=sem] [--database-url URL]

It creates a scratch database on the server (default: $PILOTSHARE_BENCH_DATABASE_URL, else the
local PostgreSQL), seeds public platforms, instruments (with live rows and bookings now) and
service items, and drives the real FastAPI app in-process through httpx's ASGI transport. Each
round sends ``--requests`` concurrent GETs of one path; between rounds the app's clock moves
past the cache's TTL, so every round starts cold. Every statement the app sends is counted on
its connections (asyncpg's query logger), so "database queries" is what reached PostgreSQL.
Figures are medians over all requests of the mode; the ratio compares them with the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from pilotshare import registry
from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import FakeClock
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.settings import Settings
from tests.support.api import book
from tests.support.instruments import add_instrument

PLATFORMS = ("songshan", "binhai", "huangjiang")
TTL_S = 5.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection that counts every statement it sends (``QUERIES``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_query_logger(_count)


QUERIES = [0]


def _count(_: object) -> None:
    QUERIES[0] += 1


async def scratch(admin_url: str) -> tuple[str, str]:
    name = f"ps_bench_{secrets.token_hex(4)}"
    admin = await connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


async def drop(admin_url: str, name: str) -> None:
    admin = await connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def seed(url: str, instruments: int, now: datetime) -> None:
    """Public platforms with instruments, a third of them running now."""
    conn = await connect(url)
    try:
        await migrate(conn)
        for p in PLATFORMS:
            await registry.ensure_organisation(conn, p, p, "platform")
            await registry.ensure_site(conn, f"dg-{p}", "Asia/Shanghai")
            terms = registry.ProfileTerms(
                f"{p}中试平台", f"{p.title()} Pilot Platform", f"dg-{p}", "东莞", "扫描电镜与分析",
                "SEM and analysis", {}, ["CMA"], public=True,
            )  # fmt: skip
            await registry.put_profile(conn, p, terms, now)
        for i in range(instruments):
            p = PLATFORMS[i % len(PLATFORMS)]
            await add_instrument(
                conn,
                f"sem-{i}",
                site=f"dg-{p}",
                kind="sem",
                owner_org=p,
                name=f"扫描电镜 SEM {i}",
                capabilities=["eds"],
                public=True,
                operating_hours={d: [["08:00", "20:00"]] for d in WEEKDAYS},
            )
            if i % 3 == 0:
                await conn.execute(
                    "UPDATE instrument_live SET online = true, state = 'running', since = $2, "
                    "last_seen = $2 WHERE instrument_id = $1",
                    f"sem-{i}",
                    now,
                )
    finally:
        await conn.close()


async def burst(client: httpx.AsyncClient, path: str, n: int) -> tuple[list[float], float]:
    """``n`` concurrent GETs of ``path``: each one's latency, and the wall time of all."""

    async def one() -> float:
        t = time.perf_counter()
        r = await client.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
        return time.perf_counter() - t

    start = time.perf_counter()
    latencies = await asyncio.gather(*(one() for _ in range(n)))
    return list(latencies), time.perf_counter() - start


async def mode(
    url: str, args: argparse.Namespace, *, ttl: float, now: datetime
) -> dict[str, float]:
    clock = FakeClock(now)
    settings = Settings(public_cache_s=ttl, public_burst=10**9, public_rate_per_min=1e9)
    pool = await create_pool(url, min_size=2, max_size=10, connection_class=CountingConnection)
    try:
        app = create_app(settings, pool=pool, clock=clock, registry=CollectorRegistry())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=120) as c:
            await c.get(args.path)  # warm: the pool's connections, the route's first call
            clock.advance(TTL_S + 1)
            QUERIES[0] = 0
            latencies: list[float] = []
            wall = 0.0
            for _ in range(args.rounds):
                got, took = await burst(c, args.path, args.requests)
                latencies += got
                wall += took
                clock.advance(TTL_S + 1)  # the next round starts cold
    finally:
        await pool.close()
    n = args.requests * args.rounds
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "rps": n / wall,
        "queries": QUERIES[0],
        "per_request": QUERIES[0] / n,
    }


async def book_some(url: str, now: datetime, instruments: int) -> None:
    """Bookings now on every third instrument (the others of those running), through the
    API like a client's."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            key = await create_key(conn, org="bench", role="operator")
        app = create_app(Settings(), pool=pool, clock=FakeClock(now), registry=CollectorRegistry())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
            for i in range(1, instruments, 3):
                await book(c, {"Authorization": f"Bearer {key}"}, instrument=f"sem-{i}",
                           start=now, end=now + timedelta(hours=2), purpose="bench")  # fmt: skip
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="concurrent requests a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instruments", type=int, default=60)
    parser.add_argument("--path", default="/api/v1/public/instruments?q=sem")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    # a weekday morning in Dongguan, inside the operating hours
    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    url, name = await scratch(args.database_url)
    try:
        await seed(url, args.instruments, now)
        await book_some(url, now, args.instruments)
        base = await mode(url, args, ttl=0, now=now)
        cached = await mode(url, args, ttl=TTL_S, now=now)
    finally:
        await drop(args.database_url, name)
    print(
        f"public burst: {args.requests} concurrent GET {args.path} ({args.instruments} "
        f"instruments), {args.rounds} rounds"
    )
    for label, m in (("uncached (baseline)", base), ("cached, single flight", cached)):
        print(
            f"  {label:22} median {m['median_ms']:7.1f} ms  {m['rps']:7,.0f} requests/s  "
            f"database queries {m['queries']:6,.0f} ({m['per_request']:.2f} per request)"
        )
    print(
        f"  cached vs baseline: {cached['rps'] / base['rps']:.1f}× requests/s, median latency "
        f"{cached['median_ms'] / base['median_ms']:.2f}×, "
        f"{cached['queries'] / max(base['queries'], 1):.3f}× database queries"
    )


if __name__ == "__main__":
    asyncio.run(main())
