"""The one LISTEN loop (``core.db.listen``) on a real PostgreSQL: it survives losing its backend."""

from __future__ import annotations

import asyncio
import logging
import secrets

import asyncpg
import pytest

from pilotshare.core.db.listen import Listener


class Heard:
    """What a listener's callbacks saw."""

    def __init__(self) -> None:
        self.notifications: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.connects = 0

    async def on_notify(self, channel: str, payload: str) -> None:
        self.notifications.put_nowait((channel, payload))

    async def on_connect(self) -> None:
        self.connects += 1

    async def next(self) -> tuple[str, str]:
        return await asyncio.wait_for(self.notifications.get(), 5)


async def _listening_backends(pool: asyncpg.Pool, channel: str) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
        f'LISTEN "{channel}"',
    )
    return [r["pid"] for r in rows]


async def _until(check: object, timeout: float = 10.0) -> None:
    assert callable(check)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_notify_after_the_listening_backend_was_killed_is_still_delivered(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    channel = f"test_{secrets.token_hex(4)}"
    heard = Heard()
    listener = Listener(
        pool, [channel], heard.on_notify, on_connect=heard.on_connect, name="test listener"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.ready.wait(), 10)
        assert heard.connects == 1
        await pool.execute("SELECT pg_notify($1, 'before')", channel)
        assert await heard.next() == (channel, "before")

        [backend] = await _listening_backends(pool, channel)
        with caplog.at_level(logging.WARNING, logger="pilotshare.core.db.listen"):
            assert await pool.fetchval("SELECT pg_terminate_backend($1)", backend)
            await _until(lambda: heard.connects == 2 and listener.ready.is_set())
        # the loss is one line, without a traceback
        lost = [r for r in caplog.records if r.name == "pilotshare.core.db.listen"]
        assert len(lost) == 1
        assert lost[0].exc_info is None
        assert lost[0].getMessage().startswith("test listener: database unavailable")

        [again] = await _listening_backends(pool, channel)
        assert again != backend
        await pool.execute("SELECT pg_notify($1, 'after')", channel)
        assert await heard.next() == (channel, "after")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    # a clean stop: not listening any more, and the pool has its connection back
    assert not listener.ready.is_set()
    assert await _listening_backends(pool, channel) == []
    assert pool.get_idle_size() == pool.get_size()


async def test_notifications_are_handed_over_in_order_and_a_failing_one_is_skipped(
    pool: asyncpg.Pool,
) -> None:
    channel = f"test_{secrets.token_hex(4)}"
    heard = Heard()

    async def on_notify(channel: str, payload: str) -> None:
        if payload == "bad":
            raise ValueError("a payload the caller cannot read")
        await asyncio.sleep(0.01)  # a slow callback must not reorder what follows
        await heard.on_notify(channel, payload)

    listener = Listener(pool, [channel], on_notify, name="test listener")
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.ready.wait(), 10)
        async with pool.acquire() as conn, conn.transaction():
            for payload in ("1", "bad", "2", "3"):
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        assert [await heard.next() for _ in range(3)] == [(channel, p) for p in ("1", "2", "3")]
        assert listener.ready.is_set()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
