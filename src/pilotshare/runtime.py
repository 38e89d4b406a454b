"""Resolve the services a command needs: the configured ones, or embedded ones.

CONTRACT §1: an unset ``PILOTSHARE_DATABASE_URL`` means an embedded PostgreSQL under
``PILOTSHARE_DATA_DIR/pg``; an unset ``PILOTSHARE_MQTT_URL`` an embedded broker: a private
Mosquitto (``core.mosquitto``, its configuration and retained messages under
``PILOTSHARE_DATA_DIR/mosquitto``) where the binary is installed, else amqtt in-process
(``PILOTSHARE_EMBEDDED_BROKER`` chooses). amqtt ignores keepalive expiry, so a hung agent's
last will never comes; the twin's silence rule (``offline_after_s``) takes it offline all the
same. A broker started this way writes its URL (and which one it is) to
``PILOTSHARE_DATA_DIR/broker.url`` so that a second command on the same data directory (say
``pilotshare agent`` beside ``pilotshare demo``) joins it instead of starting a broker nobody
else sees.
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
from pilotshare.core.errors import ConfigError
from pilotshare.core.mosquitto import Mosquitto, find_mosquitto
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
    #: The broker speaks MQTT 3.1.1 only (the embedded amqtt): clients skip the MQTT 5 try.
    mqtt_311_only: bool = False

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
async def embedded_mqtt(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """Start the embedded broker: yields its URL and which one it is (``mosquitto``/``amqtt``)."""
    binary = None if settings.embedded_broker == "amqtt" else find_mosquitto()
    if binary is None and settings.embedded_broker == "mosquitto":
        raise ConfigError("PILOTSHARE_EMBEDDED_BROKER=mosquitto but no mosquitto binary is on PATH")
    if binary is None:
        async with embedded_broker() as url:
            yield url, "amqtt"
        return
    home = settings.data_dir.resolve() / "mosquitto"
    server = Mosquitto(home, binary=binary, persistence=home / "data")
    await server.astart()
    try:
        yield server.url(), "mosquitto"
    finally:
        await server.astop()


@contextlib.asynccontextmanager
async def broker(settings: Settings) -> AsyncIterator[tuple[str, bool, bool]]:
    """The MQTT URL, joining or starting the embedded broker when none is configured; also
    whether it is embedded and whether it speaks MQTT 3.1.1 only."""
    if settings.mqtt_url:
        yield settings.mqtt_url, False, False
        return
    marker = settings.data_dir / "broker.url"
    if marker.exists():
        lines = marker.read_text().split()
        url = lines[0] if lines else ""
        endpoint = MqttEndpoint.parse(url) if url else None
        if endpoint and await reachable(endpoint.host, endpoint.port, within_s=1):
            log.info("joining the embedded broker at %s", url)
            yield url, True, lines[1:] != ["mosquitto"]
            return
    async with embedded_mqtt(settings) as (url, kind):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{url} {kind}\n")
        if kind == "mosquitto":
            log.info("embedded MQTT broker (a private Mosquitto) at %s", url)
        else:
            log.info(
                "embedded MQTT broker (amqtt, MQTT 3.1.1; install mosquitto for keepalive "
                "expiry and last wills) at %s",
                url,
            )
        try:
            yield url, True, kind == "amqtt"
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()


@contextlib.asynccontextmanager
async def runtime(settings: Settings, *, migrate_first: bool = True) -> AsyncIterator[Runtime]:
    """Both services; the schema is brought up to date first unless told otherwise."""
    async with (
        database(settings) as (db_url, db_embedded),
        broker(settings) as (mq_url, mq_emb, mq_311),
    ):
        if migrate_first:
            conn = await connect(db_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
        yield Runtime(db_url, mq_url, db_embedded, mq_emb, mqtt_311_only=mq_311)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so services stop cleanly on Ctrl-C and ``kill``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
