"""Resolve the services a command needs: the configured ones, or embedded ones.

CONTRACT §1: an unset ``PILOTSHARE_DATABASE_URL`` means an embedded PostgreSQL under
``PILOTSHARE_DATA_DIR/pg``; an unset ``PILOTSHARE_MQTT_URL`` an in-process amqtt broker. A
broker started this way writes its URL to ``PILOTSHARE_DATA_DIR/broker.url`` so that a second
command on the same data directory (say ``pilotshare agent`` beside ``pilotshare demo``) joins
it instead of starting a broker nobody else sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pilotshare.core.db import connect
from pilotshare.core.db.migrate import migrate
from pilotshare.core.embedded import EmbeddedPostgres, embedded_broker
from pilotshare.core.probe import reachable
from pilotshare.core.settings import MqttEndpoint, Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "pilotshare"


@dataclass(frozen=True, slots=True)
class Runtime:
    """Where the services of this process are."""

    database_url: str
    mqtt_url: str
    embedded_database: bool
    embedded_broker: bool

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint.parse(self.mqtt_url)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[tuple[str, bool]]:
    """The database URL, starting the embedded server when none is configured."""
    if settings.database_url:
        yield settings.database_url, False
        return
    server = await asyncio.to_thread(EmbeddedPostgres, settings.data_dir)
    try:
        url = await asyncio.to_thread(server.create_database, EMBEDDED_DATABASE)
        yield url, True
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def broker(settings: Settings) -> AsyncIterator[tuple[str, bool]]:
    """The MQTT URL, joining or starting the embedded broker when none is configured."""
    if settings.mqtt_url:
        yield settings.mqtt_url, False
        return
    marker = settings.data_dir / "broker.url"
    if marker.exists():
        url = marker.read_text().strip()
        endpoint = MqttEndpoint.parse(url)
        if await reachable(endpoint.host, endpoint.port, within_s=1):
            log.info("joining the embedded broker at %s", url)
            yield url, True
            return
    async with embedded_broker() as url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(url + "\n")
        log.info("embedded MQTT broker (MQTT 3.1.1) at %s", url)
        try:
            yield url, True
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()


@contextlib.asynccontextmanager
async def runtime(settings: Settings, *, migrate_first: bool = True) -> AsyncIterator[Runtime]:
    """Both services; the schema is brought up to date first unless told otherwise."""
    async with database(settings) as (db_url, db_embedded), broker(settings) as (mq_url, mq_emb):
        if migrate_first:
            conn = await connect(db_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
        yield Runtime(db_url, mq_url, db_embedded, mq_emb)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so services stop cleanly on Ctrl-C and ``kill``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
