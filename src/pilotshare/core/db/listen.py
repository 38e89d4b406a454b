"""The one ``LISTEN`` loop: a connection that stays listening across database failures.

``Listener`` takes a connection from the pool, ``LISTEN``s on its channels and hands every
notification to ``on_notify(channel, payload)``, one at a time, in the order PostgreSQL sent
them. When the connection is lost (a restart, ``pg_terminate_backend``, a network cut, found
by asyncpg or by a ``SELECT 1`` every ``check_s`` of silence) it says so in one line and
listens again on a new connection, with backoff (``core.db.errors.Retry``).

Notifications sent while nobody listened are gone for good, so after every (re)connect,
once ``LISTEN`` is in place, it awaits ``on_connect()``: the caller catches up there (reads
what it may have missed) without a gap in which a change could slip through. ``ready`` is
set from then until the connection is lost.

    listener = Listener(pool, [TWIN_CHANGES], on_notify, on_connect=catch_up, name="...")
    await listener.run(stop)               # until the asyncio.Event ``stop`` is set

A callback that raises a transient error makes the listener reconnect (and catch up); any
other error is logged with its traceback and the next notification is delivered as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from pilotshare.core.db.errors import TRANSIENT, Retry
from pilotshare.core.db.pool import Connection

log = logging.getLogger(__name__)

OnNotify = Callable[[str, str], Awaitable[None]]
OnConnect = Callable[[], Awaitable[None]]


class Listener:
    """Listens on ``channels`` until stopped; see the module docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        channels: Sequence[str],
        on_notify: OnNotify,
        *,
        name: str,
        on_connect: OnConnect | None = None,
        check_s: float = 30.0,
        first: float = 0.2,
        cap: float = 5.0,
    ) -> None:
        if not channels:
            raise ValueError("a Listener needs at least one channel")
        self._pool = pool
        self.channels = tuple(channels)
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._name = name
        self._check_s = check_s
        self._retry = Retry(log, name, first=first, cap=cap)
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting after every transient failure."""
        while not stop.is_set():
            try:
                await self._listen(stop)
            except TRANSIENT as exc:
                await self._retry.after(exc, stop)

    async def _listen(self, stop: asyncio.Event) -> None:
        inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        lost = asyncio.Event()

        def notified(_conn: object, _pid: int, channel: str, payload: object) -> None:
            inbox.put_nowait((channel, str(payload)))  # a NOTIFY payload is always text

        def terminated(_conn: object) -> None:
            lost.set()

        async with self._pool.acquire() as conn:
            conn.add_termination_listener(terminated)
            try:
                for channel in self.channels:
                    await conn.add_listener(channel, notified)
                if self._on_connect is not None:
                    await self._on_connect()
                self.ready.set()
                self._retry.reset()
                await self._deliver(conn, inbox, lost, stop)
            finally:
                self.ready.clear()
                conn.remove_termination_listener(terminated)
                if not conn.is_closed():
                    with contextlib.suppress(*TRANSIENT):
                        for channel in self.channels:
                            await conn.remove_listener(channel, notified)

    async def _deliver(
        self,
        conn: Connection,
        inbox: asyncio.Queue[tuple[str, str]],
        lost: asyncio.Event,
        stop: asyncio.Event,
    ) -> None:
        ends = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())}
        try:
            while not stop.is_set():
                if lost.is_set():
                    raise ConnectionError(
                        "the listening connection was closed"
                    )  # an OSError: TRANSIENT
                getting = asyncio.ensure_future(inbox.get())
                done, _ = await asyncio.wait(
                    {getting, *ends}, timeout=self._check_s, return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in done:
                    getting.cancel()
                    if not done:  # silence: make sure the connection is still there
                        await conn.execute("SELECT 1", timeout=self._check_s)
                    continue
                channel, payload = getting.result()
                try:
                    await self._on_notify(channel, payload)
                except TRANSIENT:
                    raise
                except Exception:
                    log.exception("%s: handling a notification on %s failed", self._name, channel)
        finally:
            for end in ends:
                end.cancel()
