"""Booking benchmark: availability and booking latency through the API, throughput under
concurrent clients, and the batch allocator against first come, first served.

    .venv/bin/python -m benchmarks.booking [--database-url URL] [--instruments 500]
        [--bookings 100000] [--clients 50] [--requests 2000]

It creates a scratch database on the server (default: $PILOTSHARE_BENCH_DATABASE_URL, else
the local PostgreSQL), seeds instruments and existing bookings, drives the real FastAPI app
in-process through httpx's ASGI transport (the app and the database, no network), checks that
no two held bookings overlap, and drops the database. Figures are medians of what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import numpy as np
from prometheus_client import CollectorRegistry

from benchmarks.booking_app import serve
from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import SystemClock
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.settings import Settings
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler import store
from pilotshare.scheduler.allocation import (
    allocate,
    allocate_batch,
    allocate_greedy,
    plan_score,
    take,
)
from pilotshare.scheduler.lifecycle import BookingLifecycle
from pilotshare.scheduler.requests import BookingRequest
from pilotshare.scheduler.service import BookingService, Caller
from tests.support.demand import weekly_demand

KINDS = 10
H = timedelta(hours=1)


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


async def seed(conn: asyncpg.Connection, instruments: int, bookings: int, now: datetime) -> None:
    await conn.execute("INSERT INTO sites (id, name) VALUES ('bench', 'bench')")
    await ensure_organisation(conn, "seed")
    await conn.copy_records_to_table(
        "instruments",
        columns=["id", "site_id", "name", "kind", "setup_buffer_s", "hourly_rate"],
        records=[
            (f"i{n:04d}", "bench", f"i{n:04d}", f"k{n % KINDS}", 900, 50)
            for n in range(instruments)
        ],
    )
    # Existing bookings: per instrument, back to back from 50 days ago, 2-4 h each with gaps,
    # so that availability has real work to do in every window.
    rng = np.random.default_rng(1)
    per = bookings // instruments
    day0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=50)
    records = []
    for n in range(instruments):
        t = day0 + timedelta(minutes=int(rng.integers(0, 600)))
        for _ in range(per):
            length = timedelta(hours=int(rng.integers(2, 5)))
            status = "completed" if t + length < now else "confirmed"  # history is settled
            records.append((f"i{n:04d}", "seed", asyncpg.Range(t, t + length), status))
            t += length + timedelta(hours=int(rng.integers(1, 14)), minutes=15)
    await conn.copy_records_to_table(
        "bookings", columns=["instrument_id", "org_id", "period", "status"], records=records
    )
    await conn.execute("ANALYZE")


async def timed(
    client: httpx.AsyncClient, method: str, url: str, **kw: object
) -> tuple[float, int]:
    start = time.perf_counter()
    r = await client.request(method, url, **kw)  # type: ignore[arg-type]
    if r.status_code >= 400 and r.status_code != 409:
        print(f"  {method} {url}: {r.status_code} {r.text[:200]}")
    return time.perf_counter() - start, r.status_code


async def _client_loop(  # noqa: PLR0917 - a benchmark helper
    client: httpx.AsyncClient,
    c: int,
    per: int,
    make: Callable[[int, int], dict[str, str]],
    headers: dict[str, str],
    codes: list[int],
    lat: list[float],
) -> None:
    for j in range(per):
        dt, code = await timed(client, "POST", "/api/v1/bookings", json=make(c, j), headers=headers)
        codes.append(code)
        lat.append(dt)


async def bench_api(url: str, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    conn = await connect(url)
    try:
        await migrate(conn)
        t = time.perf_counter()
        await seed(conn, args.instruments, args.bookings, now)
        print(
            f"seeded {args.instruments} instruments, {args.bookings} bookings "
            f"in {time.perf_counter() - t:.1f} s"
        )
        keys = [await create_key(conn, org=f"org{i}", role="operator") for i in range(10)]
    finally:
        await conn.close()
    pool = await create_pool(url, min_size=10, max_size=args.pool)
    # The lifecycle's wake-up on a calendar this size: settle what is due, find the next
    # deadline (the bookings running now are due first).
    lifecycle = BookingLifecycle(pool, None, SystemClock())
    await lifecycle.settle()
    lat = []
    for _ in range(50):
        t = time.perf_counter()
        await lifecycle.settle()
        await store.next_due(pool, lifecycle.grace, datetime.now(UTC))
        lat.append(time.perf_counter() - t)
    print(
        f"lifecycle wake-up (settle + next deadline): p50 {pct(lat, 50):.1f} ms  "
        f"p95 {pct(lat, 95):.1f} ms"
    )
    app = create_app(Settings(), pool=pool, clock=SystemClock(), registry=CollectorRegistry())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=60) as client:
        hdr = [{"Authorization": f"Bearer {k}"} for k in keys]
        # Availability: one kind (50 instruments), a 7-day window, sequentially.
        lat = []
        for i in range(args.queries):
            earliest = now + timedelta(days=1 + i % 30)
            params = {
                "kind": f"k{i % KINDS}",
                "duration": "PT2H",
                "earliest": earliest.isoformat(),
                "latest": (earliest + 7 * 24 * H).isoformat(),
            }
            dt, code = await timed(
                client, "GET", "/api/v1/availability", params=params, headers=hdr[0]
            )
            assert code == 200, code
            lat.append(dt)
        print(
            f"availability (kind of {args.instruments // KINDS}, 7 days): "
            f"p50 {pct(lat, 50):.1f} ms  p95 {pct(lat, 95):.1f} ms  (n={len(lat)})"
        )

        # Booking latency, one client: explicit slots far beyond the seeded bookings.
        far = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=40)
        lat = []
        for i in range(args.queries):
            start = far + timedelta(hours=3 * i)
            body = {
                "instrument": f"i{i % args.instruments:04d}",
                "start": start.isoformat(),
                "end": (start + 2 * H).isoformat(),
            }
            dt, code = await timed(client, "POST", "/api/v1/bookings", json=body, headers=hdr[0])
            assert code == 201, code
            lat.append(dt)
        print(
            f"booking, explicit slot, 1 client: p50 {pct(lat, 50):.1f} ms  "
            f"p95 {pct(lat, 95):.1f} ms"
        )

        # Throughput: args.clients concurrent clients, explicit slots on distinct places.
        per = args.requests // args.clients
        for label, make in (
            (
                "explicit slot",
                lambda c, j: {
                    "instrument": f"i{(c * per + j) % args.instruments:04d}",
                    "start": (
                        far + timedelta(days=30, hours=3 * ((c * per + j) // args.instruments))
                    ).isoformat(),
                    "end": (
                        far + timedelta(days=30, hours=3 * ((c * per + j) // args.instruments) + 2)
                    ).isoformat(),
                },
            ),
            (
                "kind + window (scheduler picks)",
                lambda c, j: {
                    "kind": f"k{(c + j) % KINDS}",
                    "duration": "PT1H",
                    "earliest": (far + timedelta(days=40)).isoformat(),
                    "latest": (far + timedelta(days=49)).isoformat(),
                },
            ),
        ):
            codes: list[int] = []
            lat = []
            loops = [
                _client_loop(client, c, per, make, hdr[c % len(hdr)], codes, lat)
                for c in range(args.clients)
            ]
            t = time.perf_counter()
            await asyncio.gather(*loops)
            wall = time.perf_counter() - t
            ok = codes.count(201)
            print(
                f"{args.clients} clients, {label}: {ok / wall:.0f} bookings/s "
                f"({ok}/{len(codes)} created, p50 {pct(lat, 50):.1f} ms, "
                f"p95 {pct(lat, 95):.1f} ms)"
            )

        # The same load on the service without HTTP: what the API layer costs in one process.
        svc = BookingService(pool, SystemClock())
        base = far + timedelta(days=33)

        async def service_loop(c: int) -> None:
            for j in range(per):
                n = c * per + j
                start = base + timedelta(hours=3 * (n // args.instruments))
                await svc.create(
                    Caller(f"org{c % 10}"),
                    BookingRequest(
                        instrument=f"i{n % args.instruments:04d}", start=start, end=start + 2 * H
                    ),
                )

        t = time.perf_counter()
        await asyncio.gather(*(service_loop(c) for c in range(args.clients)))
        wall = time.perf_counter() - t
        print(
            f"{args.clients} clients, explicit slot, BookingService without HTTP: "
            f"{per * args.clients / wall:.0f} bookings/s"
        )

        if args.workers:
            await bench_workers(url, args, hdr, far)

        overlaps = await pool.fetchval(
            """SELECT count(*) FROM bookings a JOIN bookings b
               ON a.instrument_id = b.instrument_id AND a.id < b.id AND a.hold && b.hold
               WHERE a.status IN ('confirmed', 'active') AND b.status IN ('confirmed', 'active')"""
        )
        print(f"overlapping held bookings: {overlaps}")
    await pool.close()


async def bench_workers(
    url: str, args: argparse.Namespace, hdr: list[dict[str, str]], far: datetime
) -> None:
    """Explicit bookings through uvicorn worker processes over TCP (httpx as the client)."""
    port = 18000 + secrets.randbelow(1000)
    server = serve(url, workers=args.workers, port=port)
    try:
        limits = httpx.Limits(max_connections=args.clients)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
        ) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            per = args.requests // args.clients
            base = far + timedelta(days=36)

            def make(c: int, j: int) -> dict[str, str]:
                n = c * per + j
                start = base + timedelta(hours=3 * (n // args.instruments))
                return {
                    "instrument": f"i{n % args.instruments:04d}",
                    "start": start.isoformat(),
                    "end": (start + 2 * H).isoformat(),
                }

            codes: list[int] = []
            lat: list[float] = []
            t = time.perf_counter()
            await asyncio.gather(
                *(
                    _client_loop(client, c, per, make, hdr[c % len(hdr)], codes, lat)
                    for c in range(args.clients)
                )
            )
            wall = time.perf_counter() - t
            ok = codes.count(201)
            print(
                f"{args.clients} clients over TCP, {args.workers} uvicorn workers, explicit "
                f"slot: {ok / wall:.0f} bookings/s ({ok}/{len(codes)} created, "
                f"p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms)"
            )
    finally:
        server.terminate()
        server.wait(10)


def bench_allocate() -> None:
    """One ``allocate`` call, as the forecast makes thousands per replication."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    d = weekly_demand(np.random.default_rng(0), start=start, instruments=12, requests=120)
    plan = allocate_greedy(d.requests[:60], d.candidates, start)  # half-fill the calendars
    candidates = list(d.candidates)
    for got in plan:
        if got is not None:
            i = next(k for k, c in enumerate(candidates) if c.instrument == got.instrument)
            candidates[i] = take(candidates[i], got.start, got.end)
    requests = d.requests * 10
    t = time.perf_counter()
    served = sum(allocate(r, candidates, start) is not None for r in requests)
    per = (time.perf_counter() - t) / len(requests)
    gaps = sum(len(c.free) for c in candidates) / len(candidates)
    print(
        f"allocate: {per * 1e6:.0f} µs per request ({len(candidates)} candidates, "
        f"{gaps:.0f} free intervals each, {served / len(requests):.0%} placed)"
    )


def bench_batch(seeds: int) -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    for n_inst, n_req in ((12, 120), (40, 400)):
        g_served = b_served = 0
        g_wait = b_wait = timedelta(0)
        g_t: list[float] = []
        b_t: list[float] = []
        total = 0
        for seed in range(seeds):
            d = weekly_demand(
                np.random.default_rng(seed), start=start, instruments=n_inst, requests=n_req
            )
            total += len(d.requests)
            t = time.perf_counter()
            g = plan_score(d.requests, allocate_greedy(d.requests, d.candidates, start))
            g_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = plan_score(d.requests, allocate_batch(d.requests, d.candidates, start))
            b_t.append(time.perf_counter() - t)
            g_served, g_wait = g_served + g[0], g_wait + g[1]
            b_served, b_wait = b_served + b[0], b_wait + b[1]
        print(
            f"batch vs greedy, {n_inst} instruments, {n_req} requests/week, {seeds} weeks: "
            f"served {b_served / total:.1%} vs {g_served / total:.1%}; total wait "
            f"{b_wait / H:.0f} h vs {g_wait / H:.0f} h (mean per served "
            f"{b_wait / H / b_served:.2f} h vs {g_wait / H / g_served:.2f} h); "
            f"median time {statistics.median(b_t) * 1000:.0f} ms vs "
            f"{statistics.median(g_t) * 1000:.1f} ms"
        )


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    p.add_argument("--instruments", type=int, default=500)
    p.add_argument("--bookings", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--pool", type=int, default=20)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--workers", type=int, default=0, help="also drive N uvicorn workers")
    p.add_argument("--skip-api", action="store_true")
    args = p.parse_args()
    bench_allocate()
    bench_batch(args.seeds)
    if args.skip_api:
        return
    name = f"ps_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await bench_api(_with_db(args.database_url, name), args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
