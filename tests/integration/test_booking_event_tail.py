"""Every booking change reaches ``GET /api/v1/events``, not only those the bookings trigger
notifies (imminent ones): the API tails ``booking_events``. A real uvicorn server, bookings
made, moved and cancelled over HTTP, two organisations and an admin watching."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.domain import BookingStatus
from pilotshare.scheduler import store as booking_store
from tests.support.api import book, iso, served, sse_events
from tests.support.instruments import add_instrument

WAIT_S = 15.0  # how long a test waits for an event that must come (about a second)

Event = dict[str, Any]


@pytest.fixture
async def server(pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The app on a real socket, its clock at the real time (the trigger's)."""
    async with served(pool, FakeClock(datetime.now(UTC))) as base:
        yield base


class Watch:
    """An open stream of one site as one key: the ``booking`` events it got, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.opened = asyncio.Event()
        self._got = asyncio.Condition()

    async def read(self, base: str, headers: dict[str, str], site: str) -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=60) as client,
            client.stream(
                "GET", "/api/v1/events", params={"site": site}, headers=headers
            ) as stream,
        ):
            assert stream.status_code == 200
            async for kind, data in sse_events(stream):
                if kind == "snapshot":
                    self.opened.set()
                elif kind == "booking":
                    async with self._got:
                        self.events.append(data)
                        self._got.notify_all()

    async def wait(self, test: Callable[[Event], bool]) -> Event:
        """The first event passing ``test`` (waiting for it if need be)."""

        def found() -> Event | None:
            return next((e for e in self.events if test(e)), None)

        async with asyncio.timeout(WAIT_S), self._got:
            await self._got.wait_for(lambda: found() is not None)
        event = found()
        assert event is not None
        return event

    def of(self, booking: str) -> list[Event]:
        return [e for e in self.events if e["booking"] == booking]


@contextlib.asynccontextmanager
async def watching(base: str, site: str, *headers: dict[str, str]) -> AsyncIterator[list[Watch]]:
    """Streams of ``site``, one per key, open (their snapshots read) while the block runs."""
    watches = [Watch() for _ in headers]
    tasks = [
        asyncio.create_task(w.read(base, h, site)) for w, h in zip(watches, headers, strict=True)
    ]
    try:
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(w.opened.wait() for w in watches))
        yield watches
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _book(
    base: str, who: dict[str, str], instrument: str, start: datetime, hours: float = 1
) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        r = await book(
            client,
            who,
            instrument=instrument,
            start=start,
            end=start + timedelta(hours=hours),
            purpose="secret",
        )
    assert r.status_code == 201, r.text
    booking: str = r.json()["id"]
    return booking


def _is(booking: str, **fields: str) -> Callable[[Event], bool]:
    return lambda e: e["booking"] == booking and all(e[k] == v for k, v in fields.items())


async def test_a_booking_days_ahead_reaches_its_organisation_and_admins_only(
    pool: asyncpg.Pool,
    server: str,
    *,
    site: str,
    acme: dict[str, str],
    globex: dict[str, str],
    admin: dict[str, str],
) -> None:
    for n in (1, 2):
        await add_instrument(pool, f"{site}-sem-{n}", site=site, kind="sem")
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    async with watching(server, site, acme, globex, admin) as (of_acme, of_globex, of_admin):
        acmes = await _book(server, acme, f"{site}-sem-1", later)
        seen = await of_acme.wait(_is(acmes))
        assert seen["org"] == "acme"
        assert seen["instrument"] == f"{site}-sem-1"
        assert seen["status"] == "confirmed"
        assert seen["start"] == later.isoformat()
        assert "purpose" not in seen
        await of_admin.wait(_is(acmes))
        # globex's own booking, made after acme's, reaches globex's stream: acme's never did
        globexs = await _book(server, globex, f"{site}-sem-2", later)
        await of_globex.wait(_is(globexs))
        assert of_globex.of(acmes) == []
        await of_admin.wait(_is(globexs))
        assert of_acme.of(globexs) == []


async def test_a_far_booking_moved_and_cancelled_reaches_the_stream(
    pool: asyncpg.Pool, server: str, site: str, acme: dict[str, str]
) -> None:
    await add_instrument(pool, f"{site}-sem-1", site=site, kind="sem")
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    moved = later + timedelta(hours=5)
    async with watching(server, site, acme) as (stream,):
        booking = await _book(server, acme, f"{site}-sem-1", later)
        await stream.wait(_is(booking, status="confirmed"))
        async with httpx.AsyncClient(base_url=server, timeout=10) as client:
            r = await client.patch(
                f"/api/v1/bookings/{booking}",
                json={"start": iso(moved), "end": iso(moved + timedelta(hours=1))},
                headers=acme,
            )
            assert r.status_code == 200, r.text
            await stream.wait(_is(booking, start=moved.isoformat()))
            r = await client.delete(f"/api/v1/bookings/{booking}", headers=acme)
            assert r.status_code == 204, r.text
        await stream.wait(_is(booking, status="cancelled"))


async def test_an_imminent_booking_arrives_once(
    pool: asyncpg.Pool, server: str, site: str, acme: dict[str, str]
) -> None:
    """The trigger notifies it (the lifecycle's wake-up) and the tail reads it: one event."""
    for n in (1, 2):
        await add_instrument(pool, f"{site}-sem-{n}", site=site, kind="sem")
    soon = datetime.now(UTC) + timedelta(minutes=2)
    async with watching(server, site, acme) as (stream,):
        imminent = await _book(server, acme, f"{site}-sem-1", soon)
        await stream.wait(_is(imminent))
        # a later change, read after it: whatever the stream had of the first is in by then
        marker = await _book(server, acme, f"{site}-sem-2", soon + timedelta(days=1))
        await stream.wait(_is(marker))
        assert len(stream.of(imminent)) == 1


async def test_a_change_committed_after_a_later_one_still_arrives(
    pool: asyncpg.Pool, server: str, site: str, acme: dict[str, str]
) -> None:
    """``booking_events`` ids are taken before commit: a lower id that becomes visible after a
    higher one was read is read again, not skipped."""
    for n in (1, 2):
        await add_instrument(pool, f"{site}-sem-{n}", site=site, kind="sem")
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    moved = later + timedelta(hours=3)
    async with watching(server, site, acme) as (stream,):
        first = await _book(server, acme, f"{site}-sem-1", later)
        await stream.wait(_is(first))
        async with pool.acquire() as slow:
            tx = slow.transaction()
            await tx.start()
            try:
                # the trigger records the move now, with an id lower than the next booking's
                changed = await booking_store.update_period(
                    slow,
                    UUID(first),
                    BookingStatus.CONFIRMED,
                    (moved, moved + timedelta(hours=1)),
                    at=datetime.now(UTC),
                )
                assert changed is not None
                second = await _book(server, acme, f"{site}-sem-2", later)
                await stream.wait(_is(second))  # the higher id, read past the lower
            except BaseException:
                await tx.rollback()
                raise
            await tx.commit()
        await stream.wait(_is(first, start=moved.isoformat()))
