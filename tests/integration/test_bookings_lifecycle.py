"""Bookings driven by what instruments do: telemetry over MQTT → ingest → lifecycle → API.

A paho client plays the instrument's agent (telemetry in, interlock commands out); the real
ingest stores the samples and announces twin changes; ``BookingLifecycle`` settles bookings
from those events and its own deadline timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import SystemClock
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.registry import ensure_organisation
from pilotshare.scheduler.lifecycle import BookingLifecycle
from tests.support.api import iso
from tests.support.ingest import RawClient, batch_bytes, raw_client, running_ingest, topic, wait_for
from tests.support.instruments import add_instrument

S = timedelta(seconds=1)
GRACE = timedelta(seconds=1.5)
StateAt = Callable[[datetime], InstrumentState]


class Rig:
    """The API, an ingest, a lifecycle and an agent for one instrument of this test's site."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        site: str,
        client: httpx.AsyncClient,
        agent: RawClient,
        registry: CollectorRegistry,
    ) -> None:
        self.pool, self.site, self.client, self.agent = pool, site, client, agent
        self.registry = registry
        self.keys: dict[str, dict[str, str]] = {}
        self.state: StateAt = lambda _t: InstrumentState.IDLE

    async def key(self, org: str, role: str = "operator") -> dict[str, str]:
        if org not in self.keys:
            async with self.pool.acquire() as conn:
                secret = await create_key(conn, org=org, role=role)
            self.keys[org] = {"Authorization": f"Bearer {secret}"}
        return self.keys[org]

    async def book(self, org: str, instrument: str, start: datetime, end: datetime) -> str:
        r = await self.client.post(
            "/api/v1/bookings",
            json={"instrument": instrument, "start": iso(start), "end": iso(end)},
            headers=await self.key(org),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def booking(self, booking_id: str) -> dict[str, object]:
        r = await self.client.get(
            f"/api/v1/bookings/{booking_id}", headers=await self.key("platform", "admin")
        )
        assert r.status_code == 200
        return dict(r.json())

    async def status_is(self, booking_id: str, status: str, timeout: float = 10.0) -> None:
        async def check() -> bool:
            return (await self.booking(booking_id))["status"] == status

        await wait_for(check, timeout=timeout, every=0.05)

    async def play(self, instrument: str, stop: asyncio.Event) -> None:
        """Publish one sample of ``self.state(now)`` every 0.2 s, as an agent would."""
        batch = 0
        while not stop.is_set():
            now = datetime.now(UTC)
            batch += 1
            payload = batch_bytes(batch, now, 1, state=self.state(now), agent=f"{instrument}-a")
            await self.agent.publish(topic(self.site, instrument), payload)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    def commands(self, instrument: str) -> list[tuple[str, str]]:
        """The desired interlock states received, each once (nobody reports them here, so
        the lifecycle re-sends each until the next change)."""
        out, seen = [], set()
        for name, raw in self.agent.messages():
            if name == topic(self.site, instrument, "cmd"):
                body = json.loads(raw)
                if body["seq"] not in seen:
                    seen.add(body["seq"])
                    out.append((body["cmd"], body["booking"]))
        return out


@pytest.fixture
async def rig(pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str) -> AsyncIterator[Rig]:
    await add_instrument(pool, "inst-1", site=site, min_booking_s=1)
    registry = CollectorRegistry()
    app = create_app(Settings(), pool=pool, clock=SystemClock(), registry=registry)
    stop = asyncio.Event()
    async with (
        running_ingest(pool, mqtt_endpoint, site) as ingest,
        raw_client(mqtt_endpoint) as agent,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        lifecycle = BookingLifecycle(
            pool, ingest.publisher, SystemClock(), grace=GRACE, registry=registry
        )
        ingest.add_listener(lifecycle.on_twin_change)
        await agent.subscribe(topic(site, "+", "cmd"))
        rig = Rig(pool, site, client, agent, registry)
        tasks = [
            asyncio.create_task(lifecycle.run(stop)),
            asyncio.create_task(rig.play("inst-1", stop)),
        ]
        await asyncio.wait_for(lifecycle.ready.wait(), 10)
        try:
            yield rig
        finally:
            stop.set()
            await asyncio.gather(*tasks)


def soon(seconds: float = 2.0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds + 1)


async def test_never_started_is_a_no_show_and_its_slot_is_booked_again(rig: Rig) -> None:
    t0 = soon()
    first = await rig.book("acme", "inst-1", t0, t0 + 30 * S)
    await rig.status_is(first, "no_show", timeout=15)
    ended = await rig.pool.fetchval("SELECT ended_at FROM bookings WHERE id = $1::uuid", first)
    # Event-driven: settled at start + grace, not on some later sweep.
    assert timedelta(0) <= ended - (t0 + GRACE) < 2.0 * S  # the resync is minutes
    await wait_for(lambda: _true(len(rig.commands("inst-1")) >= 2), timeout=5)
    assert rig.commands("inst-1") == [("unlock", first), ("lock", first)]
    # The rest of the slot is free at once, and another organisation can book it.
    r = await rig.client.get(
        "/api/v1/availability",
        params={"instrument": "inst-1", "duration": "PT10S", "latest": iso(t0 + 30 * S)},
        headers=await rig.key("globex"),
    )
    assert r.status_code == 200
    [slot] = r.json()
    assert datetime.fromisoformat(slot["end"]) == t0 + 30 * S
    start = datetime.now(UTC) + S
    second = await rig.book("globex", "inst-1", start, t0 + 30 * S)
    assert (await rig.booking(second))["status"] == "confirmed"
    text = generate_latest(rig.registry).decode()
    assert "pilotshare_booking_no_shows_total 1.0" in text


async def _true(value: bool) -> bool:
    return value


async def test_a_run_makes_it_active_then_completed_with_measured_usage(rig: Rig) -> None:
    t0 = soon()
    run = (t0 + 1 * S, t0 + 4 * S)
    rig.state = lambda t: InstrumentState.RUNNING if run[0] <= t < run[1] else InstrumentState.IDLE
    booking = await rig.book("acme", "inst-1", t0, t0 + 6 * S)
    await rig.status_is(booking, "active", timeout=10)
    activated = await rig.pool.fetchval(
        "SELECT activated_at FROM bookings WHERE id = $1::uuid", booking
    )
    assert run[0] <= activated < run[0] + 2.0 * S
    await rig.status_is(booking, "completed", timeout=10)
    usage = (
        await rig.client.get(f"/api/v1/bookings/{booking}/usage", headers=await rig.key("acme"))
    ).json()
    assert usage["status"] == "completed"
    assert usage["booked_seconds"] == 6.0
    assert usage["running_seconds"] == pytest.approx(3.0, abs=0.6)
    assert usage["used_seconds"] == pytest.approx(3.0, abs=0.6)
    assert (await rig.booking(booking))["flags"] == []
    await wait_for(lambda: _true(len(rig.commands("inst-1")) >= 2), timeout=5)
    assert rig.commands("inst-1") == [("unlock", booking), ("lock", booking)]
    text = generate_latest(rig.registry).decode()
    assert 'pilotshare_booking_transitions_total{status="completed"} 1.0' in text


async def test_an_overrun_is_flagged_and_delays_the_next_booking(rig: Rig) -> None:
    t0 = soon()
    # The second booking's own run starts 0.4 s after the carried one ends: its grace
    # (1.5 s from then) leaves a second for the ingest to store that start on a busy machine.
    runs = [(t0 + 0.5 * S, t0 + 5 * S), (t0 + 5.4 * S, t0 + 7.5 * S)]
    rig.state = lambda t: (
        InstrumentState.RUNNING if any(a <= t < b for a, b in runs) else InstrumentState.IDLE
    )
    first = await rig.book("acme", "inst-1", t0, t0 + 3 * S)
    second = await rig.book("globex", "inst-1", t0 + 3 * S, t0 + 9 * S)
    await rig.status_is(first, "completed", timeout=10)
    assert (await rig.booking(first))["flags"] == ["overrun"]
    await rig.status_is(second, "delayed", timeout=5)
    # Past its grace while the previous run goes on: not a no-show, not active either.
    await asyncio.sleep(max(0.0, (t0 + 4.8 * S - datetime.now(UTC)).total_seconds()))
    assert (await rig.booking(second))["status"] == "delayed"
    # Its own run makes it active, and it completes normally.
    await rig.status_is(second, "active", timeout=10)
    await rig.status_is(second, "completed", timeout=10)


async def test_lifecycle_survives_losing_its_database_connection(
    pool: asyncpg.Pool, site: str
) -> None:
    await add_instrument(pool, "lone", site=site, min_booking_s=1)
    await ensure_organisation(pool, "acme")
    lifecycle = BookingLifecycle(pool, None, SystemClock(), grace=GRACE)
    stop = asyncio.Event()
    task = asyncio.create_task(lifecycle.run(stop))
    try:
        await asyncio.wait_for(lifecycle.ready.wait(), 10)
        # Cut the connection it listens on, as a database restart or a proxy would.
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert killed >= 1
        t0 = datetime.now(UTC) + S
        booking = await pool.fetchval(
            "INSERT INTO bookings (instrument_id, org_id, period) VALUES ('lone', 'acme', $1) "
            "RETURNING id",
            asyncpg.Range(t0, t0 + 20 * S),
        )

        async def no_show() -> bool:
            status = await pool.fetchval("SELECT status FROM bookings WHERE id = $1", booking)
            return bool(status == "no_show")

        await wait_for(no_show, timeout=15)
    finally:
        stop.set()
        await task


async def test_releasing_an_active_booking_locks_at_once(rig: Rig) -> None:
    t0 = soon()
    rig.state = lambda t: InstrumentState.RUNNING if t >= t0 + 0.5 * S else InstrumentState.IDLE
    booking = await rig.book("acme", "inst-1", t0, t0 + 60 * S)
    await rig.status_is(booking, "active", timeout=10)
    await asyncio.sleep(1.0)
    r = await rig.client.delete(f"/api/v1/bookings/{booking}", headers=await rig.key("acme"))
    assert r.status_code == 204
    released_at = datetime.now(UTC)
    assert (await rig.booking(booking))["status"] == "released"
    await wait_for(lambda: _true(len(rig.commands("inst-1")) >= 2), timeout=3)
    assert rig.commands("inst-1") == [("unlock", booking), ("lock", booking)]
    usage = (
        await rig.client.get(f"/api/v1/bookings/{booking}/usage", headers=await rig.key("acme"))
    ).json()
    assert usage["status"] == "released"
    expected = (released_at - (t0 + 0.5 * S)).total_seconds()
    assert usage["running_seconds"] == pytest.approx(expected, abs=0.6)
