"""Databases of one test: a scratch clone of the migrated template, and a proxy that cuts it.

``conftest.py`` builds its ``db_url`` fixtures on ``scratch_database``; tests that need more
than one database (or one outside a fixture, as the e2e thin path does) call it directly, so
every scratch database of the suite is made and dropped the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_db(url: str, database: str) -> str:
    """``url`` pointing at ``database`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, template: str | None = None) -> AsyncIterator[str]:
    """A database of its own for one test (a clone of ``template``), dropped afterwards."""
    name = f"ps_t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    clone = f' TEMPLATE "{template}"' if template else ""
    await admin.execute(f'CREATE DATABASE "{name}"{clone}')
    try:
        yield with_db(admin_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class CuttingProxy:
    """A TCP proxy to a database that a test can cut (and refuse) and then restore."""

    def __init__(self, host: str, port: int, *, unix_socket: str | None = None) -> None:
        self._target = (host, port)
        self._unix = unix_socket
        self._links: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.refusing = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            if self._unix:
                up_reader, up_writer = await asyncio.open_unix_connection(self._unix)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links -= {writer, up_writer}

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server would."""
        self.refusing = True
        for link in list(self._links):
            link.transport.abort()

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
