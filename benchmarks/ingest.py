"""Ingest benchmark: simulated instruments publish through Mosquitto into PostgreSQL.

    .venv/bin/python -m benchmarks.ingest [--rate 100000] [--duration 20] [--instruments 200]
        [--batch 100] [--writers 2] [--database-url URL] [--profile]

One run measures, on the same machine and database:

- the ingest (``pilotshare.twin.ingest``, in its own process) fed by a paho load generator (its
  own process) through a private Mosquitto: committed samples/s, the p50/p99 lag from publish
  to the ack (which is sent only after the commit), and the CPU of every process involved;
- the naive baseline: one autocommitted INSERT per sample;
- the raw limit: asyncpg COPY of the same rows straight into ``telemetry``, no MQTT at all,
  on one and on two connections.

It prints the ratios, and with ``--profile`` the ingest process's top functions (cProfile),
which is where the time goes. The database is a scratch database on the server
(``$PILOTSHARE_BENCH_DATABASE_URL``, else the local PostgreSQL), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec

from pilotshare.core.db.migrate import migrate
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.rows import binary_jsonb
from tests.support.brokers import PrivateMosquitto
from tests.support.databases import with_db
from tests.support.instruments import add_instrument

SITE = "bench"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sample_dict(ts: datetime, i: int) -> dict[str, object]:
    return {
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "state": "running" if i % 7 else "idle",
        "utilization": 0.8,
        "metrics": {"power_w": 1500.0 + i % 10, "chamber_c": 180.5},
    }


# -- the load generator (its own process) ------------------------------------------------------


def run_load(args: argparse.Namespace) -> None:
    """Publish ``rate`` samples/s for ``duration`` s; report publish-to-ack lags as JSON."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    published: dict[int, float] = {}
    acked: dict[int, float] = {}
    lock = threading.Lock()

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.monotonic()
        for number in json.loads(msg.payload)["batches"]:
            with lock:
                acked.setdefault(number, now)

    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-load")
    client.max_inflight_messages_set(1000)
    client.on_message = on_message
    client.connect(args.host, args.port)
    client.subscribe(f"pilotshare/v1/{SITE}/+/ack", qos=1)
    client.loop_start()
    time.sleep(0.5)
    encoder = msgspec.json.Encoder()
    instruments = [f"i{k:04d}" for k in range(args.instruments)]
    per_message = args.batch
    messages_per_s = args.rate / per_message
    counters = dict.fromkeys(instruments, 0)
    start = time.monotonic()
    sent = 0
    number = 0
    while (elapsed := time.monotonic() - start) < args.duration:
        due = int(elapsed * messages_per_s) + 1
        while sent < due:
            inst = instruments[sent % len(instruments)]
            k = counters[inst]
            counters[inst] = k + per_message
            samples = [
                sample_dict(BASE + timedelta(milliseconds=k + j), k + j) for j in range(per_message)
            ]
            number += 1
            body = encoder.encode(
                {"v": 1, "agent": f"{inst}-agent", "batch": number, "samples": samples}
            )
            published[number] = time.monotonic()
            client.publish(f"pilotshare/v1/{SITE}/{inst}/telemetry", body, qos=1)
            sent += 1
        time.sleep(0.001)
    end_publish = time.monotonic()
    deadline = end_publish + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= len(published):
                break
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    lags = sorted(acked[n] - published[n] for n in acked if n in published)
    print(
        json.dumps(
            {
                "messages": len(published),
                "samples": len(published) * per_message,
                "acked": len(acked),
                "publish_s": end_publish - start,
                "lags": lags,
                "cpu_s": cpu_seconds(os.getpid()),
            }
        )
    )


# -- the ingest (its own process) --------------------------------------------------------------


def run_ingest_process(args: argparse.Namespace) -> None:
    from prometheus_client import CollectorRegistry

    from pilotshare.core.clock import SystemClock
    from pilotshare.twin.ingest import Ingest

    async def main() -> dict[str, float]:
        pool = await create_pool(
            args.database_url, min_size=args.writers, max_size=args.writers + 2
        )
        registry = CollectorRegistry()
        ingest = Ingest(
            pool,
            MqttEndpoint(args.host, args.port),
            clock=SystemClock(),
            registry=registry,
            site=SITE,
            writers=args.writers,
            flush_samples=args.flush,
            behaviour_every_s=3600,
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await ingest.run(stop)
        await pool.close()

        def value(name: str) -> float:
            return registry.get_sample_value(name) or 0.0

        return {
            "stored": value("pilotshare_ingest_samples_stored_total"),
            "flushes": value("pilotshare_ingest_flush_samples_count"),
            "flush_samples": value("pilotshare_ingest_flush_samples_sum"),
            "commit_s": value("pilotshare_ingest_commit_seconds_sum"),
        }

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    result = asyncio.run(main())
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        result["profile"] = out.getvalue()  # type: ignore[assignment]
    result["cpu_s"] = cpu_seconds(os.getpid())
    print(json.dumps(result))


# -- baselines ---------------------------------------------------------------------------------


def rows(n: int, instrument: str) -> list[tuple[object, ...]]:
    return [
        (
            instrument,
            BASE + timedelta(milliseconds=i),
            "running",
            0.8,
            {"power_w": 1500.0, "chamber_c": 180.5},
            i // 100,
        )
        for i in range(n)
    ]


async def naive(url: str, seconds: float) -> float:
    """One autocommitted INSERT per sample: samples/s."""
    conn = await connect(url)
    try:
        i, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            await conn.execute(
                "INSERT INTO telemetry (instrument_id, ts, state, utilization, metrics, batch) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                "naive",
                BASE + timedelta(milliseconds=i),
                "running",
                0.8,
                {"power_w": 1500.0, "chamber_c": 180.5},
                i,
            )
            i += 1
        return i / (time.monotonic() - start)
    finally:
        await conn.close()


async def raw_copy(url: str, total: int, connections: int) -> float:
    """asyncpg COPY of the same rows (metrics too) straight into telemetry, 5,000 per call.

    The rows are built before the clock starts: this is the database's limit, not Python's.
    """
    chunk = 5000
    per = total // connections
    data = [rows(per, f"copy{connections}-{c}") for c in range(connections)]
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    for conn in conns:
        await binary_jsonb(conn)
    try:

        async def one(conn: asyncpg.Connection, part: list[tuple[object, ...]]) -> None:
            for i in range(0, len(part), chunk):
                await conn.copy_records_to_table(
                    "telemetry",
                    records=part[i : i + chunk],
                    columns=["instrument_id", "ts", "state", "utilization", "metrics", "batch"],
                )

        start = time.monotonic()
        await asyncio.gather(*(one(c, d) for c, d in zip(conns, data, strict=True)))
        return per * connections / (time.monotonic() - start)
    finally:
        for c in conns:
            await c.close()


# -- orchestration -----------------------------------------------------------------------------


def backend_cpu(url: str, database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving the scratch database."""

    async def pids() -> list[int]:
        conn = await asyncpg.connect(url)
        try:
            return [
                r[0]
                for r in await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1", database
                )
            ]
        finally:
            await conn.close()

    return sum(cpu_seconds(p) for p in asyncio.run(pids()))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_load", "_ingest"])
    parser.add_argument("--rate", type=float, default=100_000, help="offered samples/s")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="samples per MQTT message")
    parser.add_argument("--writers", type=int, default=2, help="database connections per ingest")
    parser.add_argument("--ingests", type=int, default=1, help="ingest processes (shared sub)")
    parser.add_argument("--flush", type=int, default=5000, help="samples per transaction")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PILOTSHARE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args()
    if args.mode == "_load":
        run_load(args)
        return
    if args.mode == "_ingest":
        run_ingest_process(args)
        return
    bench(args)


def bench(args: argparse.Namespace) -> None:
    admin_url = args.database_url
    name = f"ps_bench_ingest_{secrets.token_hex(4)}"

    async def setup() -> None:
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        conn = await connect(with_db(admin_url, name))
        await migrate(conn)
        for k in range(args.instruments):
            await add_instrument(conn, f"i{k:04d}", site=SITE, name=f"i{k}")
        await conn.close()

    async def teardown() -> None:
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    try:
        asyncio.run(setup())
    except BaseException:
        asyncio.run(teardown())
        raise
    url = with_db(admin_url, name)
    work = Path(tempfile.mkdtemp(prefix="ps-bench-"))
    broker = PrivateMosquitto(work, settings=["max_inflight_messages 1000"])
    broker.start()
    assert broker.proc is not None
    here = [sys.executable, "-m", "benchmarks.ingest"]
    common = ["--host", "127.0.0.1", "--port", str(broker.port), "--database-url", url]
    try:
        ingests = [
            subprocess.Popen(
                [
                    *here,
                    "_ingest",
                    *common,
                    "--writers",
                    str(args.writers),
                    "--flush",
                    str(args.flush),
                    *(["--profile"] if args.profile and i == 0 else []),
                ],
                stdout=subprocess.PIPE,
            )
            for i in range(args.ingests)
        ]
        time.sleep(2.0)
        broker_cpu0 = cpu_seconds(broker.proc.pid)
        db_cpu0 = backend_cpu(admin_url, name)
        load = subprocess.run(
            [
                *here,
                "_load",
                *common,
                "--rate",
                str(args.rate),
                "--duration",
                str(args.duration),
                "--instruments",
                str(args.instruments),
                "--batch",
                str(args.batch),
            ],
            stdout=subprocess.PIPE,
            check=True,
        )
        db_cpu = backend_cpu(admin_url, name) - db_cpu0
        broker_cpu = cpu_seconds(broker.proc.pid) - broker_cpu0
        for proc in ingests:
            proc.send_signal(signal.SIGTERM)
        parts = [json.loads(proc.communicate(timeout=60)[0]) for proc in ingests]
        gen = json.loads(load.stdout)
        ing = {
            k: sum(p[k] for p in parts)
            for k in ("stored", "flushes", "flush_samples", "commit_s", "cpu_s")
        }
        ing["profile"] = parts[0].get("profile")
        ing["split"] = [p["stored"] for p in parts]

        async def stored() -> int:
            conn = await asyncpg.connect(url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM telemetry"))
            finally:
                await conn.close()

        in_db = asyncio.run(stored())
        wall = gen["publish_s"] + (gen["lags"][-1] if gen["lags"] else 0)
        committed_rate = gen["acked"] * args.batch / wall
        naive_rate = asyncio.run(naive(url, 5.0))
        copy1 = asyncio.run(raw_copy(url, 500_000, 1))
        copy2 = asyncio.run(raw_copy(url, 500_000, 2))
    finally:
        broker.stop()
        asyncio.run(teardown())

    lags = gen["lags"]
    print(
        f"ingest benchmark: {args.instruments} instruments, {args.batch} samples/message, "
        f"offered {args.rate:,.0f} samples/s for {args.duration:g} s, {args.ingests} ingest "
        f"process(es) of {args.writers} writers"
    )
    print(
        f"  published {gen['samples']:,} samples in {gen['messages']:,} messages; "
        f"acked {gen['acked']:,} messages; stored {in_db:,} rows"
    )
    print(
        f"  committed  {committed_rate:12,.0f} samples/s (acked samples / (publish time + "
        "last lag))"
    )
    print(
        f"  lag publish→ack  p50 {pct(lags, 0.5):.3f} s  p99 {pct(lags, 0.99):.3f} s  "
        f"max {lags[-1] if lags else float('nan'):.3f} s"
    )
    flushes = ing["flushes"] or 1
    print(
        f"  flushes {ing['flushes']:,.0f} of {ing['flush_samples'] / flushes:,.0f} samples, "
        f"mean commit {ing['commit_s'] / flushes * 1000:.1f} ms; stored per ingest "
        f"{', '.join(f'{n:,.0f}' for n in ing['split'])}"
    )
    print(
        f"  CPU s: ingest(s) {ing['cpu_s']:.1f}, load generator {gen['cpu_s']:.1f}, "
        f"mosquitto {broker_cpu:.1f}, postgres backends {db_cpu:.1f}  "
        f"(over {gen['publish_s']:.1f} s on {os.cpu_count()} cores)"
    )
    print(
        f"  naive INSERT per sample {naive_rate:10,.0f} samples/s   ingest/naive "
        f"{committed_rate / naive_rate:6.1f}x"
    )
    print(
        f"  raw COPY, 1 connection  {copy1:10,.0f} samples/s   ingest/COPY  "
        f"{committed_rate / copy1:6.2f}"
    )
    print(
        f"  raw COPY, 2 connections {copy2:10,.0f} samples/s   ingest/COPY2 "
        f"{committed_rate / copy2:6.2f}"
    )
    if ing.get("profile"):
        print("  ingest profile (cProfile, by own time):")
        print(ing["profile"])
    _ = statistics


if __name__ == "__main__":
    main()
