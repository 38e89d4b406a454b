"""Bookings per second through the real HTTP stack: uvicorn workers, a C load generator.

``benchmarks/booking.py`` drives the app with a Python client in the same process, which
spends as much CPU as the server; here ``wrk`` (Debian package ``wrk``) posts explicit-slot
bookings over TCP to ``--workers`` uvicorn processes, every request a different slot, and the
database is checked afterwards for confirmed bookings and overlaps. Baseline in the same run:
``GET /healthz`` on the same workers (the framework's floor).

    python -m benchmarks.booking_http [--workers 2] [--connections 50] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.booking_app import serve
from pilotshare.api.keys import create_key
from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect
from pilotshare.core.embedded import free_port
from tests.support.instruments import add_instrument

LUA = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer KEY"
request = function()
  counter = counter + 1
  local id = counter * 997 + math.random(0, 996) + THREAD * 100000000
  local hour = math.floor(id / INSTRUMENTS) % (24 * 28 * 12 * 5)
  local day, month = 1 + math.floor(hour / 24) % 28, 1 + math.floor(hour / 672) % 12
  local year, h = 2030 + math.floor(hour / 8064), hour % 24
  local body = string.format('{"instrument":"i-%d","start":"%04d-%02d-%02dT%02d:00:00Z",'
    .. '"end":"%04d-%02d-%02dT%02d:30:00Z"}', id % INSTRUMENTS, year, month, day, h, year,
    month, day, h)
  return wrk.format(nil, "/api/v1/bookings", nil, body)
end
"""


async def setup(admin_url: str, instruments: int) -> tuple[str, str]:
    name = f"ps_bench_{secrets.token_hex(4)}"
    admin = await connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    conn = await connect(url)
    try:
        await migrate(conn)
        for i in range(instruments):
            await add_instrument(
                conn,
                f"i-{i}",
                site="bench",
                kind="sem",
                min_booking_s=60,
                max_horizon_s=40 * 365 * 86400,
            )
        key = await create_key(conn, org="bench", role="operator")
    finally:
        await conn.close()
    return url, key


async def verify(url: str) -> tuple[int, int]:
    conn = await connect(url)
    try:
        confirmed = await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        overlaps = await conn.fetchval(
            """SELECT count(*) FROM bookings a JOIN bookings b ON a.instrument_id = b.instrument_id
               AND a.id < b.id AND a.period && b.period
               WHERE a.status IN ('confirmed', 'active') AND b.status IN ('confirmed', 'active')"""
        )
    finally:
        await conn.close()
    return int(confirmed), int(overlaps)


def wrk(port: int, seconds: int, connections: int, script: Path | None, path: str) -> float:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"    ({errors.group(1)} answers were not 2xx)")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk); skipping the HTTP booking benchmark")
        return 0
    url, key = asyncio.run(setup(args.database_url, args.instruments))
    port = free_port()
    server = serve(url, workers=args.workers, port=port)
    try:
        time.sleep(4)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "book.lua"
            text = LUA.replace("KEY", key).replace("INSTRUMENTS", str(args.instruments))
            script.write_text(text.replace("THREAD", "0"))
            print(
                f"{args.workers} uvicorn workers, {args.connections} connections, {args.seconds} s"
            )
            health = wrk(port, args.seconds, args.connections, None, "/healthz")
            print(f"  GET /healthz (baseline)         {health:8,.0f} requests/s")
            booked = wrk(port, args.seconds, args.connections, script, "/api/v1/bookings")
            ratio = booked / health
            print(
                f"  POST /api/v1/bookings           {booked:8,.0f} requests/s  {ratio:.2f}× healthz"
            )
    finally:
        server.terminate()
        server.wait(30)
    confirmed, overlaps = asyncio.run(verify(url))
    rate = confirmed / args.seconds
    print(f"  confirmed bookings {confirmed:,} ({rate:,.0f}/s); overlaps {overlaps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
