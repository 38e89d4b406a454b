"""``pilotshare demo``: the whole platform in one process, on embedded defaults.

It starts (or joins) the embedded PostgreSQL and MQTT broker unless ``PILOTSHARE_DATABASE_URL``
/ ``PILOTSHARE_MQTT_URL`` name real ones, migrates, seeds the city's pilot network once (the
operator, three platforms at two sites with their public profiles, instruments and service
items, client organisations, qualifications, one API key per role printed only when created,
eight weeks of history through ``backfill`` with the vouchers that paid it, the coming week's
bookings, and requests with offers), then runs a simulated edge agent per instrument
at its own site, the ingest of every site with the live twin, the booking lifecycle, the job
worker and the API. Ctrl-C stops everything; a second run reuses the data
directory and its keys.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import timedelta
from typing import TextIO

import asyncpg
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.catalog import list_instruments
from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.db import create_pool
from pilotshare.core.errors import PilotshareError
from pilotshare.core.settings import Settings
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from pilotshare.runtime import Runtime, runtime, stop_on_signals
from pilotshare.scheduler.lifecycle import BookingLifecycle
from pilotshare.scheduler.requests import BookingRequest
from pilotshare.scheduler.service import BookingService, Caller
from pilotshare.seeding import (
    ALL_CLIENTS,
    DEMO_INSTRUMENTS,
    HISTORY,
    KEYS,
    ORGANISATIONS,
    REQUESTS,
    SERVICE_ITEMS,
    SITES,
    VOUCHERS,
    DemoInstrument,
    seed_history,
    seed_network,
    seed_platforms,
    seed_requests,
    seed_vouchers,
)
from pilotshare.services import run_jobs, serve_app
from pilotshare.twin.ingest import Ingest

log = logging.getLogger(__name__)


async def seed_bookings(pool: asyncpg.Pool, clock: Clock, *, days: int = 7) -> int:
    """A week of client bookings, placed by the scheduler itself (kind, duration, window).

    Gives availability, the booking lifecycle and forecasts something real to work on; the
    first starts in two minutes on an SEM, so a booking turns active (or no-show) during the
    demo. Deterministic, so two fresh demos book the same week.
    """
    service = BookingService(pool, clock)
    now = clock.now().replace(second=0, microsecond=0)
    requests: list[tuple[str, BookingRequest]] = [
        (
            "acme-electronics",
            BookingRequest(
                instrument="sem-1",
                start=now + timedelta(minutes=2),
                end=now + timedelta(minutes=32),
                purpose="solder-joint cross sections",
            ),
        )
    ]
    plan = (
        ("acme-electronics", "reflow-oven", 3, "reflow profile trials"),
        ("acme-electronics", "sem", 2, "failure analysis"),
        ("acme-electronics", "3d-printer", 6, "fixture prints"),
        ("greenbio", "bioreactor", 10, "fed-batch run"),
        ("greenbio", "coating-line", 4, "barrier coating trial"),
        ("greenbio", "sem", 1, "cell morphology"),
        ("pearl-robotics", "3d-printer", 4, "gripper prototypes"),
        ("dg-newenergy", "coating-line", 3, "electrode coating"),
    )
    for day in range(days):
        for org, kind, hours, purpose in plan:
            earliest = now + timedelta(days=day, hours=1)
            requests.append(
                (
                    org,
                    BookingRequest(
                        kind=kind,
                        duration=timedelta(hours=hours),
                        earliest=earliest,
                        latest=earliest + timedelta(days=2),
                        purpose=purpose,
                    ),
                )
            )
    made = 0
    for org, request in requests:
        try:
            await service.create(Caller(org=org), request)
            made += 1
        except PilotshareError as exc:  # a full week is a fine demo too
            log.info("demo booking not placed: %s", exc)
    return made


async def seed(pool: asyncpg.Pool, clock: Clock, settings: Settings) -> dict[str, str] | None:
    """Seed everything on first start (the new keys by label), nothing on a restart (None).

    The order matters: the network with its profiles and service items, then its past and
    the vouchers that paid it, then the coming week's bookings and the requests answered
    around them.
    """
    # the network and its profiles all or nothing: a start failing there is seeded again
    async with pool.acquire() as conn, conn.transaction():
        keys = await seed_network(conn, operator=settings.operator_org, now=clock.now())
        if keys is None:
            return None
        await seed_platforms(conn, clock.now())
    stored = await seed_history(
        pool, clock.now(), offline_after=timedelta(seconds=settings.offline_after_s)
    )
    log.info(
        "seeded %d weeks of history: %d samples, %d bookings in %.1f s",
        HISTORY.days // 7,
        stored.samples,
        stored.bookings,
        stored.seconds,
    )
    began = time.perf_counter()
    async with pool.acquire() as conn:
        await seed_vouchers(conn, clock.now())
    log.info("seeded %d demo bookings", await seed_bookings(pool, clock))
    offers = await seed_requests(pool, clock)
    log.info(
        "seeded %d service items, %d vouchers, %d requests with %d offers (%.1f s)",
        len(SERVICE_ITEMS),
        len(VOUCHERS),
        len(REQUESTS),
        offers,
        time.perf_counter() - began,
    )
    return keys


def banner(url: str, keys: dict[str, str] | None, *, operator: str = "platform") -> str:
    """What the demo tells a person once everything is up (short; labels in both languages)."""
    per_site = {site: ", ".join(i.id for i in DEMO_INSTRUMENTS if i.site == site) for site in SITES}
    platforms, instruments = len(ORGANISATIONS) - len(ALL_CLIENTS), len(DEMO_INSTRUMENTS)
    network = f"  中试平台网络 pilot network: {platforms} platforms, {instruments} simulated"
    network += f" instruments, {HISTORY.days // 7} weeks of history"
    market = f"    {len(SERVICE_ITEMS)} service items 服务项目, {len(REQUESTS)} requests 中试需求,"
    market += f" {len(VOUCHERS)} vouchers 服务券"
    lines = [
        "",
        f"pilotshare demo 演示 is running: {url}/docs   (Ctrl-C stops it 停止)",
        network,
        *(f"    {site}: {ids}" for site, ids in per_site.items()),
        market,
    ]
    if keys:
        lines.append("  API keys 密钥 (shown once; keep them 仅显示一次):")
        labels = {label: (zh, org) for label, zh, org, _ in KEYS}
        for label, key in keys.items():
            zh, org = labels[label]
            lines.append(f"    {label:<14} {zh}  {org or operator:<16} {key}")
        example = keys["operator"]
    else:
        lines.append("  API keys were printed when this data directory was first seeded;")
        lines.append("  make more with: pilotshare keys create --org ORG --role ROLE")
        example = "$KEY"
    lines += [
        "  try:",
        f"    curl -H 'Authorization: Bearer {example}' {url}/api/v1/instruments/sem-1/twin",
        f"    curl {url}/api/v1/public/platforms   (公开目录 public directory, no key)",
        "",
    ]
    return "\n".join(lines)


def _agent(
    spec: DemoInstrument,
    index: int,
    *,
    site: str,  # as the catalogue has it (a data directory seeded before may differ)
    runtime: Runtime,
    settings: Settings,
    clock: Clock,
) -> Agent:
    """A simulated agent for one demo instrument, its outbox in the data directory."""
    outboxes = settings.data_dir.resolve() / "agents"
    outboxes.mkdir(parents=True, exist_ok=True)
    config = AgentConfig(
        site=site,
        instrument=spec.id,
        mqtt_url=runtime.mqtt_url,
        # the embedded amqtt speaks 3.1.1 only: skip the MQTT 5 attempt
        mqtt_protocol="3.1.1" if runtime.mqtt_311_only else "auto",
        sample_interval_s=1.0,
        batch_max_age_s=1.0,
        metrics_port=0,
        outbox_path=str(outboxes / f"{spec.id}.outbox.sqlite"),
    )
    params = SimulatedParams(
        run_mean_s=spec.run_mean_s,
        idle_mean_s=spec.idle_mean_s,
        setup_mean_s=spec.idle_mean_s / 4,
        mtbf_s=spec.mtbf_s,
        mttr_s=spec.mttr_s,
    )
    adapter = SimulatedAdapter(params, seed=1000 + index, start=clock.now())
    return Agent(config, adapter=adapter, clock=clock)


async def _announce_when_up(
    ingest: Ingest, host: str, port: int, *, text: str, out: TextIO, stop: asyncio.Event
) -> None:
    """Print the banner once the ingest is subscribed and the API accepts connections."""
    await ingest.ready.wait()
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        break
    print(text, file=out, flush=True)


async def run_demo(
    settings: Settings,
    *,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Run the demo until ``stop`` is set (by default: until Ctrl-C or SIGTERM)."""
    stop = stop or stop_on_signals()
    async with runtime(settings) as rt:
        pool = await create_pool(rt.database_url, min_size=2, max_size=20)
        try:
            clock = SystemClock()
            keys = await seed(pool, clock, settings)
            async with pool.acquire() as conn:
                sites = {i.id: i.site for i in await list_instruments(conn)}
            registry = CollectorRegistry()
            ingest = Ingest(
                pool,
                rt.mqtt,
                clock=clock,
                registry=registry,
                group=settings.ingest_group,
                offline_after_s=settings.offline_after_s,
                rejects_retention_days=settings.rejects_retention_days,
            )
            lifecycle = BookingLifecycle(
                pool,
                ingest.publisher,
                clock,
                registry=registry,
                grace=timedelta(seconds=settings.booking_grace_s),
                early=timedelta(seconds=settings.booking_early_s),
                max_gap=timedelta(seconds=settings.offline_after_s),
            )
            ingest.add_listener(lifecycle.on_twin_change)
            agents = [  # the ingest takes every site's topics
                _agent(spec, n, site=sites[spec.id], runtime=rt, settings=settings, clock=clock)
                for n, spec in enumerate(DEMO_INSTRUMENTS)
                if spec.id in sites
            ]
            app = create_app(
                settings,
                pool=pool,
                clock=clock,
                registry=registry,
                publisher=ingest.publisher,
                mqtt=rt.mqtt,
            )
            text = banner(f"http://{host}:{port}", keys, operator=settings.operator_org)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(ingest.run(stop))
                tasks.create_task(lifecycle.run(stop))
                for agent in agents:
                    tasks.create_task(agent.run(stop))
                tasks.create_task(serve_app(app, host=host, port=port, stop=stop))
                tasks.create_task(run_jobs(pool, clock=clock, stop=stop))
                tasks.create_task(
                    _announce_when_up(ingest, host, port, text=text, out=out, stop=stop)
                )
        finally:
            await pool.close()
    print("demo stopped", file=sys.stderr)
