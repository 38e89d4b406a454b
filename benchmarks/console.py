"""The web console's first render with a full site: 100 instruments and 5,000 bookings in view.

    python -m benchmarks.console [--instruments 100] [--bookings 5000] [--runs 5]
        [--database-url URL]

It creates a scratch database (default: $PILOTSHARE_BENCH_DATABASE_URL, else the local
PostgreSQL), registers the instruments and books the bookings through the API, serves the real
app on a socket and opens each page in Debian's chromium (Playwright) signed in as the network
operator's admin, who sees every booking. The time is from navigation to the page's own data
being drawn (its ready selector), median over ``--runs`` fresh page loads; the baseline is the
bare frame (the home page) measured in the same run. Then the shipped assets: each built file's
size, raw and gzipped.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from pilotshare import registry
from pilotshare.api.keys import create_key
from pilotshare.api.routes.console import BUILT
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import create_pool
from tests.support.console import FLAGS, console_server
from tests.support.instruments import add_instrument

from .public_burst import drop, scratch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
H = timedelta(hours=1)

#: (name, hash path, what shows that the page's data is drawn)
PAGES = (
    ("frame (baseline)", "#/", "main h1"),
    ("booking page", "#/book", "#book-form"),
    ("bookings list", "#/bookings", "table.data tbody tr"),
    ("resource timeline", "#/resources", ".vis-item"),
)


async def seed(url: str, instruments: int) -> str:
    """The instruments and bookings; the network admin's key."""
    pool = await create_pool(url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        await registry.ensure_site(pool, "dg-a", "Asia/Shanghai")
        for org in ("platform", "acme", "globex"):
            await registry.ensure_organisation(
                pool, org, org, "client" if org != "platform" else "operator"
            )
        for i in range(instruments):
            await add_instrument(
                pool, f"inst-{i:03d}", site="dg-a", kind=("sem", "oven", "xrd", "printer")[i % 4],
                name=f"Instrument {i:03d}", site_timezone="Asia/Shanghai",
            )  # fmt: skip
        async with pool.acquire() as conn:
            admin = await create_key(conn, org="platform", role="admin")
            operators = [await create_key(conn, org=o, role="operator") for o in ("acme", "globex")]
    finally:
        await pool.close()
    return admin + "|" + ",".join(operators)


async def book_all(base: str, keys: list[str], instruments: int, bookings: int) -> int:
    start = (datetime.now(UTC) + 2 * H).replace(minute=0, second=0, microsecond=0)
    per = -(-bookings // instruments)
    jobs = [(i, k) for i in range(instruments) for k in range(per)][:bookings]
    sem = asyncio.Semaphore(16)
    made = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:

        async def one(n: int, i: int, k: int) -> None:
            nonlocal made
            s = start + k * 3 * H
            body = {
                "instrument": f"inst-{i:03d}",
                "start": s.isoformat(),
                "end": (s + 2 * H).isoformat(),
            }
            async with sem:
                r = await c.post("/api/v1/bookings", json=body,
                                 headers={"Authorization": f"Bearer {keys[n % 2]}"})  # fmt: skip
            made += r.status_code == 201

        await asyncio.gather(*(one(n, i, k) for n, (i, k) in enumerate(jobs)))
    return made


async def render_times(base: str, key: str, runs: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    out: dict[str, list[float]] = {name: [] for name, _, _ in PAGES}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for _ in range(runs):
                for name, path, ready in PAGES:
                    context = await browser.new_context(viewport={"width": 1366, "height": 900})
                    await context.add_init_script(
                        f"sessionStorage.setItem('pilotshare-key', {key!r});"
                        "localStorage.setItem('pilotshare-lang', 'zh');"
                    )
                    page = await context.new_page()
                    t0 = time.perf_counter()
                    await page.goto(f"{base}/console/{path}")
                    try:
                        await page.wait_for_selector(ready, timeout=60_000)
                        out[name].append(time.perf_counter() - t0)
                    except Exception:  # noqa: BLE001 - a page that never draws is reported, not fatal
                        out[name].append(float("nan"))
                    await context.close()
        finally:
            await browser.close()
    return out


def assets() -> list[tuple[str, int, int]]:
    root = Path(str(BUILT))
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size, len(gzip.compress(p.read_bytes(), 9)))
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".map")
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--bookings", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    if CHROMIUM is None or not BUILT.joinpath("index.html").is_file():
        print("console: needs Debian's chromium and the built console (make console)")
        raise SystemExit(2)
    url, name = await scratch(args.database_url)
    try:
        keys = await seed(url, args.instruments)
        admin, operators = keys.split("|")
        pool = await create_pool(url)
        try:
            async with console_server(pool) as base:
                t0 = time.perf_counter()
                made = await book_all(base, operators.split(","), args.instruments, args.bookings)
                booked_s = time.perf_counter() - t0
                times = await render_times(base, admin, args.runs)
        finally:
            await pool.close()
    finally:
        await drop(args.database_url, name)
    print(f"console first render: {args.instruments} instruments, {made} bookings "
          f"(booked through the API in {booked_s:.0f} s), median of {args.runs} loads")  # fmt: skip
    baseline = statistics.median(times[PAGES[0][0]])
    for page_name, values in times.items():
        m = statistics.median(values)
        print(f"  {page_name:20} {m * 1000:8.0f} ms   {m / baseline:5.2f}× the frame")
    total = raw = 0
    print("shipped assets (raw / gzip):")
    for path, size, packed in assets():
        total += packed
        raw += size
        print(f"  {path:44} {size / 1024:8.1f} KiB {packed / 1024:8.1f} KiB")
    print(f"  {'total':44} {raw / 1024:8.1f} KiB {total / 1024:8.1f} KiB")


if __name__ == "__main__":
    asyncio.run(main())
