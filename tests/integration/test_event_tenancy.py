"""The event stream (``GET /api/v1/events``) with two organisations: served by a real uvicorn
server, bookings made over HTTP, booking events from the database's ``booking_changes``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import auth as key
from tests.support.api import iso, served, sse_events
from tests.support.instruments import add_instrument


@pytest.fixture
async def server(pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The app on a real socket (an event stream needs one), its clock at the real time: the
    database tells the stream of bookings that start within 15 minutes of its own clock."""
    async with served(pool, FakeClock(datetime.now(UTC))) as base:
        yield base


async def _first_booking_event(
    base: str, headers: dict[str, str], site: str, then: Any
) -> dict[str, Any]:
    """Open a stream of ``site``; once its snapshot is read, run ``then()``; answer the first
    ``booking`` event's data."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        client.stream("GET", "/api/v1/events", params={"site": site}, headers=headers) as stream,
    ):
        assert stream.status_code == 200
        started = False
        async for kind, data in sse_events(stream):
            if kind == "booking":
                return dict(data)
            if kind == "snapshot" and not started:
                started = True
                await then()
    raise AssertionError("the stream ended")


async def test_booking_events_reach_only_their_organisation_and_admins(
    pool: asyncpg.Pool, server: str, site: str
) -> None:
    for n in (1, 2, 3):
        await add_instrument(pool, f"{site}-sem-{n}", site=site, kind="sem")
    acme, globex = f"{site}-acme", f"{site}-globex"
    acme_key = await key(pool, acme, "operator")
    globex_key = await key(pool, globex, "operator")
    admin = await key(pool, "platform", "admin")
    soon = datetime.now(UTC) + timedelta(minutes=2)
    made: dict[str, str] = {}

    async def book(who: dict[str, str], instrument: str, name: str) -> None:
        async with httpx.AsyncClient(base_url=server, timeout=10) as client:
            r = await client.post(
                "/api/v1/bookings",
                json={
                    "instrument": instrument,
                    "start": iso(soon),
                    "end": iso(soon + timedelta(hours=1)),
                    "purpose": f"{name} secret",
                },
                headers=who,
            )
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]

    async def globex_then_acme() -> None:
        await book(globex_key, f"{site}-sem-2", "globex")
        await book(acme_key, f"{site}-sem-1", "acme")

    seen = await _first_booking_event(server, acme_key, site, globex_then_acme)
    # globex's booking was made (and notified) first, yet acme's stream shows acme's
    assert seen["booking"] == made["acme"]
    assert seen["org"] == acme
    assert seen["instrument"] == f"{site}-sem-1"
    assert seen["status"] == "confirmed"
    assert "purpose" not in seen

    async def globex_again() -> None:
        await book(globex_key, f"{site}-sem-3", "globex-2")

    seen = await _first_booking_event(server, admin, site, globex_again)
    assert seen["booking"] == made["globex-2"]  # an admin sees every organisation's
    assert seen["org"] == globex
