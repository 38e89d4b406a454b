"""``pilotshare demo``: the whole platform in one process, on embedded defaults.

It starts (or joins) the embedded PostgreSQL and MQTT broker unless ``PILOTSHARE_DATABASE_URL``
/ ``PILOTSHARE_MQTT_URL`` name real ones, migrates, seeds a demo site once (instruments of
several kinds, two client organisations, one API key per role, printed only when created),
then runs a simulated edge agent per instrument, the ingest with the live twin, the booking
lifecycle, the job worker and the API. Ctrl-C stops everything; a second run reuses the data
directory and its keys.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TextIO

import asyncpg
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.catalog import create_instrument, list_instruments
from pilotshare.api.keys import create_key
from pilotshare.api.schemas import InstrumentCreate
from pilotshare.core.audit import SYSTEM
from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.db import Connection, create_pool
from pilotshare.core.domain import Role
from pilotshare.core.errors import PilotshareError
from pilotshare.core.settings import Settings
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from pilotshare.registry import OrgKind, ensure_organisation, grant_qualification
from pilotshare.runtime import Runtime, runtime, stop_on_signals
from pilotshare.scheduler.lifecycle import BookingLifecycle
from pilotshare.scheduler.requests import BookingRequest
from pilotshare.scheduler.service import BookingService, Caller
from pilotshare.services import run_jobs, serve_app
from pilotshare.twin.ingest import Ingest

log = logging.getLogger(__name__)

WEEKDAYS_8_TO_20 = {d: [("08:00", "20:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = None


@dataclass(frozen=True, slots=True)
class DemoInstrument:
    """One seeded instrument and how its simulated twin behaves (demo-fast dynamics)."""

    id: str
    name: str
    kind: str
    capabilities: tuple[str, ...]
    hourly_rate: int
    run_mean_s: float
    idle_mean_s: float
    mtbf_s: float
    mttr_s: float
    requires_qualification: bool = False
    operating_hours: dict[str, list[tuple[str, str]]] | None = ALWAYS


DEMO_INSTRUMENTS: tuple[DemoInstrument, ...] = (
    DemoInstrument("sem-1", "Field-emission SEM", "sem", ("eds", "ebsd"), 650, 90, 40, 1800, 120),
    DemoInstrument("sem-2", "Tabletop SEM", "sem", ("eds",), 380, 60, 60, 2400, 90),
    DemoInstrument(
        "reflow-1", "Reflow oven, 10 zones", "reflow-oven", ("nitrogen",), 180, 45, 30, 3600, 60
    ),
    DemoInstrument("reflow-2", "Reflow oven, 8 zones", "reflow-oven", (), 150, 45, 45, 3000, 60),
    DemoInstrument(
        "printer-1", "Metal 3D printer (LPBF)", "3d-printer", ("metal",), 420, 120, 30, 2700, 150
    ),
    DemoInstrument(
        "printer-2", "Polymer 3D printer (SLS)", "3d-printer", ("polymer",), 160, 100, 40, 3600, 90
    ),
    DemoInstrument(
        "coater-1",
        "Roll-to-roll coating line",
        "coating-line",
        ("slot-die",),
        520,
        80,
        50,
        2000,
        180,
        operating_hours=WEEKDAYS_8_TO_20,
    ),
    DemoInstrument(
        "bioreactor-1",
        "50 L bioreactor",
        "bioreactor",
        ("gmp",),
        300,
        150,
        30,
        5400,
        240,
        requires_qualification=True,
    ),
)
ORGANISATIONS: tuple[tuple[str, str, OrgKind], ...] = (
    ("platform", "Songshan Lake Pilot Platform", "operator"),  # PILOTSHARE_OPERATOR_ORG's default
    ("acme-electronics", "Acme Electronics", "client"),
    ("greenbio", "GreenBio Lab", "client"),
)
KEYS = (("platform", Role.ADMIN), ("acme-electronics", Role.PLANNER), ("greenbio", Role.OPERATOR))


async def seed(conn: Connection, site: str) -> dict[str, str] | None:
    """Seed the demo site once; returns the new keys by role, or None when already seeded."""
    if await list_instruments(conn, site=site, include_retired=True):
        return None
    for org, name, kind in ORGANISATIONS:
        await ensure_organisation(conn, org, name, kind)
    for spec in DEMO_INSTRUMENTS:
        await create_instrument(
            conn,
            InstrumentCreate(
                id=spec.id,
                site=site,
                site_timezone="Asia/Shanghai",
                kind=spec.kind,
                name=spec.name,
                capabilities=list(spec.capabilities),
                hourly_rate=Decimal(spec.hourly_rate),
                owner_org="platform",
                requires_qualification=spec.requires_qualification,
                operating_hours=spec.operating_hours,
                setup_buffer_s=600,
            ),
        )
    await grant_qualification(conn, "bioreactor-1", "greenbio", actor=SYSTEM, at=datetime.now(UTC))
    return {role.value: await create_key(conn, org=org, role=role) for org, role in KEYS}


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


def banner(url: str, keys: dict[str, str] | None, site: str) -> str:
    """What the demo tells a person once everything is up."""
    lines = [
        "",
        f"pilotshare demo is running: {url}/docs   (Ctrl-C stops it)",
        f"  site {site!r} with {len(DEMO_INSTRUMENTS)} simulated instruments: "
        + ", ".join(i.id for i in DEMO_INSTRUMENTS),
    ]
    if keys:
        lines.append("  API keys (shown once; keep them):")
        lines += [f"    {role:<9} {key}" for role, key in keys.items()]
        example = keys["operator"]
    else:
        lines.append("  API keys were printed when this data directory was first seeded;")
        lines.append("  make more with: pilotshare keys create --org ORG --role ROLE")
        example = "$KEY"
    lines += [
        "  try:",
        f"    curl -H 'Authorization: Bearer {example}' {url}/api/v1/instruments/sem-1/twin",
        "",
    ]
    return "\n".join(lines)


def _agent(
    spec: DemoInstrument,
    index: int,
    *,
    site: str,
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
        # the embedded broker speaks 3.1.1 only: skip the MQTT 5 attempt
        mqtt_protocol="3.1.1" if runtime.embedded_broker else "auto",
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
    site = settings.site
    async with runtime(settings) as rt:
        pool = await create_pool(rt.database_url, min_size=2, max_size=20)
        try:
            clock = SystemClock()
            async with pool.acquire() as conn:
                keys = await seed(conn, site)
            if keys is not None:
                log.info("seeded %d demo bookings", await seed_bookings(pool, clock))
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
            agents = [
                _agent(spec, n, site=site, runtime=rt, settings=settings, clock=clock)
                for n, spec in enumerate(DEMO_INSTRUMENTS)
            ]
            app = create_app(
                settings,
                pool=pool,
                clock=clock,
                registry=registry,
                publisher=ingest.publisher,
                mqtt=rt.mqtt,
            )
            text = banner(f"http://{host}:{port}", keys, site)
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
