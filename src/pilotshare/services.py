"""Long-running services, wired in the composition root: the API and the ingest.

Each opens its own resources (pool, registry, MQTT connection) from ``Settings`` through
``pilotshare.runtime`` and hands them to the packages below; ``pilotshare.demo`` reuses these
pieces to run everything in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.db import apply_policies, create_pool
from pilotshare.core.messaging import Publisher
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.runtime import runtime, stop_on_signals

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process's ``stop`` event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_app(
    app: FastAPI, *, host: str, port: int, stop: asyncio.Event | None = None
) -> None:
    """Serve ``app`` with uvicorn until cancelled or ``stop`` is set."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,  # open event streams (SSE) never finish by themselves
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        if stop is None:
            await task
        else:
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
    finally:
        server.should_exit = True
        await task


async def run_jobs(
    pool: asyncpg.Pool, *, clock: Clock, stop: asyncio.Event, workers: int = 2
) -> None:
    """The job worker of this process: forecasts and what-if simulations, until ``stop``;
    and the risk watch, which queues a forecast when an instrument with bookings goes down.

    Any number of API processes may each run one; the queue hands every job to one of them.
    """
    from pilotshare.core.jobs import Worker
    from pilotshare.scheduler.forecast import forecast_handler
    from pilotshare.scheduler.forecast.risk_watch import RiskWatch
    from pilotshare.simulations.job import simulation_handler

    handlers = {
        "forecast": forecast_handler(pool, clock=clock, workers=workers),
        "simulation": simulation_handler(pool, clock=clock, workers=workers),
    }
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(Worker(pool, handlers).run(stop))
        tasks.create_task(RiskWatch(pool, clock=clock).run(stop))


async def serve_api(
    settings: Settings,
    *,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    publisher: Publisher | None = None,
) -> None:
    """``pilotshare api``: the HTTP API on the configured (or embedded) services."""
    async with runtime(settings) as rt:
        pool = await create_pool(rt.database_url, min_size=2, max_size=20)
        try:
            registry = CollectorRegistry()
            app = create_app(
                settings,
                pool=pool,
                clock=SystemClock(),
                registry=registry,
                publisher=publisher,
                mqtt=MqttEndpoint.parse(rt.mqtt_url),
            )
            log.info("API on http://%s:%d (docs at /docs)", host, port)
            jobs_stop = asyncio.Event()
            worker = asyncio.create_task(run_jobs(pool, clock=SystemClock(), stop=jobs_stop))
            try:
                await serve_app(app, host=host, port=port, stop=stop)
            finally:
                jobs_stop.set()
                await worker
        finally:
            await pool.close()


async def run_ingest(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    registry: CollectorRegistry | None = None,
    metrics_port: int = 0,
) -> None:
    """``pilotshare ingest``: MQTT telemetry into the database, the live twin kept current,
    and the booking lifecycle driven by it (``scheduler.lifecycle``: active, no-show,
    completed with measured usage, interlock commands).

    Stops cleanly (storing and acknowledging what it holds) on Ctrl-C, SIGTERM or when
    ``stop`` is set.
    ``metrics_port`` (0: none) serves the Prometheus metrics at ``/metrics``.
    """
    from prometheus_client import start_http_server

    from pilotshare.scheduler.lifecycle import BookingLifecycle
    from pilotshare.twin.ingest import Ingest

    stop = stop or stop_on_signals()
    registry = registry or CollectorRegistry()
    metrics = None
    if metrics_port:
        try:
            metrics, _ = start_http_server(metrics_port, addr=settings.api_host, registry=registry)
        except OSError as exc:  # a busy port must not stop the ingest
            log.warning("no /metrics on %s:%d: %s", settings.api_host, metrics_port, exc)
    async with runtime(settings) as rt:
        pool = await create_pool(rt.database_url, min_size=2, max_size=8)
        try:
            async with pool.acquire() as conn:  # the same policies `pilotshare migrate` sets
                await apply_policies(
                    conn,
                    compress_after_days=settings.compress_after_days,
                    retention_days=settings.retention_days,
                )
            ingest = Ingest(
                pool,
                rt.mqtt,
                clock=SystemClock(),
                registry=registry,
                group=settings.ingest_group,
                offline_after_s=settings.offline_after_s,
                rejects_retention_days=settings.rejects_retention_days,
            )
            # Bookings follow the twin: same process, woken by the ingest's change hook.
            lifecycle = BookingLifecycle(
                pool,
                ingest.publisher,
                SystemClock(),
                registry=registry,
                grace=timedelta(seconds=settings.booking_grace_s),
                early=timedelta(seconds=settings.booking_early_s),
                max_gap=timedelta(seconds=settings.offline_after_s),
            )
            ingest.add_listener(lifecycle.on_twin_change)
            log.info("ingest from %s", rt.mqtt.url())
            await asyncio.gather(ingest.run(stop), lifecycle.run(stop))
        finally:
            await pool.close()
            if metrics is not None:
                metrics.shutdown()


async def run_sparkplug(
    settings: Settings,
    mapping_file: Path,
    *,
    stop: asyncio.Event | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """``pilotshare sparkplug --config FILE``: a Sparkplug B host application whose mapped
    metrics become telemetry of registered instruments (docs/sparkplug.md).

    The mapping is read before anything starts (a bad file is exit 2); the database and the
    broker come from ``PILOTSHARE_DATABASE_URL`` and ``PILOTSHARE_MQTT_URL``. Stops cleanly
    (announcing the host offline, storing what it holds) on Ctrl-C, SIGTERM or ``stop``.
    """
    from pilotshare.twin.sparkplug.bridge import SparkplugBridge
    from pilotshare.twin.sparkplug.mapping import load_mapping

    mapping = load_mapping(mapping_file)
    stop = stop or stop_on_signals()
    async with runtime(settings) as rt:
        pool = await create_pool(rt.database_url, min_size=1, max_size=4)
        try:
            bridge = SparkplugBridge(
                pool,
                rt.mqtt,
                mapping,
                site=mapping.host.site or settings.site,
                clock=SystemClock(),
                registry=registry,
                offline_after_s=settings.offline_after_s,
            )
            log.info("Sparkplug host %s from %s", bridge.host_id, rt.mqtt.url())
            await bridge.run(stop)
        finally:
            await pool.close()
