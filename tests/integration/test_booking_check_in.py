"""Check-in: only a run that starts inside a booking's check-in window makes it active.

Telemetry goes agent (paho) → broker → the real ingest → PostgreSQL → ``BookingLifecycle``,
and bookings are read back over HTTP; the window is shrunk to seconds (``EARLY``, ``GRACE``)
so that real time can play it. The check-in by hand runs on a fake clock at real scale.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.core.clock import FakeClock, SystemClock
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.scheduler.lifecycle import BookingLifecycle
from pilotshare.twin.ingest import Ingest
from tests.support.api import api_client, iso
from tests.support.api import auth as key
from tests.support.ingest import RawClient, batch_bytes, raw_client, running_ingest, topic, wait_for
from tests.support.instruments import add_instrument

S = timedelta(seconds=1)
EARLY = 2 * S
GRACE = 1.5 * S
RUNNING, IDLE = InstrumentState.RUNNING, InstrumentState.IDLE


class Site:
    """The API, an ingest, a lifecycle and a playing agent for one instrument, ``oven``."""

    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, agent: RawClient) -> None:
        self.pool, self.client, self.agent = pool, client, agent
        self.keys: dict[tuple[str, str], dict[str, str]] = {}
        self.state: Callable[[datetime], InstrumentState] = lambda _t: IDLE
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.ingest: Ingest | None = None

    async def start_lifecycle(self, grace: timedelta) -> None:
        assert self.ingest is not None
        lifecycle = BookingLifecycle(
            self.pool, self.ingest.publisher, SystemClock(), grace=grace, early=EARLY
        )
        self.ingest.add_listener(lifecycle.on_twin_change)
        self.tasks.append(asyncio.create_task(lifecycle.run(self.stop)))
        await asyncio.wait_for(lifecycle.ready.wait(), 10)

    async def key(self, org: str, role: str = "operator") -> dict[str, str]:
        if (org, role) not in self.keys:
            self.keys[org, role] = await key(self.pool, org, role)
        return self.keys[org, role]

    async def book(self, org: str, start: datetime, end: datetime) -> str:
        r = await self.client.post(
            "/api/v1/bookings",
            json={"instrument": "oven", "start": iso(start), "end": iso(end)},
            headers=await self.key(org),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def status(self, booking: str, org: str = "acme") -> str:
        r = await self.client.get(f"/api/v1/bookings/{booking}", headers=await self.key(org))
        assert r.status_code == 200, r.text
        return str(r.json()["status"])

    async def becomes(self, booking: str, status: str, timeout: float = 10.0) -> datetime:
        async def check() -> bool:
            return await self.status(booking) == status

        await wait_for(check, timeout=timeout, every=0.05)
        return datetime.now(UTC)

    async def check_in(self, booking: str, org: str = "acme") -> httpx.Response:
        return await self.client.post(
            f"/api/v1/bookings/{booking}/check-in", headers=await self.key(org)
        )

    async def play(self, site: str, stop: asyncio.Event) -> None:
        """One sample of ``self.state(now)`` every 0.2 s, as the agent would send it."""
        batch = 0
        while not stop.is_set():
            now = datetime.now(UTC)
            batch += 1
            payload = batch_bytes(batch, now, 1, state=self.state(now), agent="oven-agent")
            await self.agent.publish(topic(site, "oven"), payload)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


@pytest.fixture
async def unattended(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> AsyncIterator[Site]:
    """The site with its agent playing and the ingest storing, but no lifecycle yet."""
    await add_instrument(pool, "oven", site=site, min_booking_s=1)
    settings = Settings(
        booking_early_s=EARLY.total_seconds(), booking_grace_s=GRACE.total_seconds()
    )
    app = create_app(settings, pool=pool, clock=SystemClock(), registry=CollectorRegistry())
    async with (
        running_ingest(pool, mqtt_endpoint, site) as ingest,
        raw_client(mqtt_endpoint) as agent,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        rig = Site(pool, client, agent)
        rig.ingest = ingest
        rig.tasks.append(asyncio.create_task(rig.play(site, rig.stop)))
        try:
            yield rig
        finally:
            rig.stop.set()
            await asyncio.gather(*rig.tasks)


@pytest.fixture
async def live(unattended: Site) -> Site:
    """The site with its booking lifecycle running."""
    await unattended.start_lifecycle(GRACE)
    return unattended


def soon(seconds: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds + 1)


async def sleep_until(t: datetime) -> None:
    await asyncio.sleep(max(0.0, (t - datetime.now(UTC)).total_seconds()))


async def test_a_run_from_before_the_slot_delays_the_booking_instead_of_checking_it_in(
    live: Site,
) -> None:
    """Someone else's run going on through the start: delayed, never active, and no no-show
    while it lasts; once it ends, the grace counts from then."""
    live.state = lambda _t: RUNNING  # running since before the booking was even made
    t0 = soon(4)  # its window opens well after that run began
    freed = t0 + 4 * S
    live.state = lambda t: RUNNING if t < freed else IDLE
    booking = await live.book("acme", t0, t0 + 30 * S)
    assert await live.status(booking) == "confirmed"
    await live.becomes(booking, "delayed", timeout=10)
    await sleep_until(t0 + GRACE + 1.5 * S)  # past its grace, the carried run goes on
    assert await live.status(booking) == "delayed"
    no_show = await live.becomes(booking, "no_show", timeout=15)
    assert no_show >= freed + GRACE
    usage = await live.client.get(
        f"/api/v1/bookings/{booking}/usage", headers=await live.key("acme")
    )
    assert usage.json()["status"] == "no_show"
    # settled: a check-in by hand is refused
    r = await live.check_in(booking)
    assert r.status_code == 409
    assert r.json()["reason"] == "illegal_transition"


async def test_a_run_that_starts_inside_the_window_before_the_start_checks_in(
    live: Site,
) -> None:
    t0 = soon(3)
    run_start = t0 - EARLY / 2  # as five minutes before a real start, with EARLY = 10 min
    live.state = lambda t: RUNNING if t >= run_start else IDLE
    booking = await live.book("acme", t0, t0 + 20 * S)
    await live.becomes(booking, "active", timeout=10)
    activated = await live.pool.fetchval(
        "SELECT activated_at FROM bookings WHERE id = $1::uuid", booking
    )
    assert t0 <= activated < t0 + 2 * S


async def test_a_run_from_before_the_window_that_carries_over_delays_then_its_own_run_checks_in(
    live: Site,
) -> None:
    t0 = soon(5)
    # as a run starting 20 minutes before a real start (EARLY = 10 min), carried over
    carried = (t0 - 2 * EARLY, t0 + 2 * S)
    own = t0 + 3 * S
    live.state = lambda t: RUNNING if carried[0] <= t < carried[1] or t >= own else IDLE
    booking = await live.book("acme", t0, t0 + 20 * S)
    await live.becomes(booking, "delayed", timeout=10)
    assert datetime.now(UTC) < carried[1] + S
    activated = await live.becomes(booking, "active", timeout=10)
    assert activated >= own


async def test_a_delay_missed_while_the_lifecycle_was_down_is_found_in_stored_telemetry(
    unattended: Site,
) -> None:
    """Its running seconds were someone else's: not active; delayed while its grace (counted
    from the carried run's end) lasts, then a no-show."""
    grace = 3 * S
    unattended.state = lambda _t: RUNNING
    t0 = soon(4)
    freed = t0 + 2 * S
    unattended.state = lambda t: RUNNING if t < freed else IDLE
    booking = await unattended.book("acme", t0, t0 + 30 * S)
    await sleep_until(t0 + grace + 0.5 * S)  # past its grace from the start, not from freed
    await unattended.start_lifecycle(grace)
    await unattended.becomes(booking, "delayed", timeout=1.2)
    no_show = await unattended.becomes(booking, "no_show", timeout=10)
    assert no_show >= freed + grace
    events = await unattended.pool.fetch(
        "SELECT status FROM booking_events WHERE booking_id = $1::uuid ORDER BY id", booking
    )
    assert [e["status"] for e in events] == ["confirmed", "delayed", "no_show"]


async def test_a_delayed_booking_is_checked_in_by_hand(live: Site) -> None:
    live.state = lambda _t: RUNNING
    t0 = soon(4)  # its window opens well after that run began
    booking = await live.book("acme", t0, t0 + 30 * S)
    await live.becomes(booking, "delayed", timeout=10)
    assert (await live.check_in(booking, "globex")).status_code == 404
    r = await live.check_in(booking)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert await live.status(booking) == "active"


async def test_an_overrun_delays_the_next_booking_until_its_own_run(live: Site) -> None:
    """A run begun inside the next booking's window, but by the previous booking, is not it."""
    t0 = soon(2)
    # Its own run starts 0.4 s after the carried one ends, well inside the 1.5 s grace from
    # then, so a busy machine's ingest lag cannot turn it into a no-show first.
    runs = [(t0 + 0.5 * S, t0 + 5 * S), (t0 + 5.4 * S, t0 + 7.5 * S)]
    live.state = lambda t: RUNNING if any(a <= t < b for a, b in runs) else IDLE
    first = await live.book("acme", t0, t0 + 3 * S)
    second = await live.book("globex", t0 + 3 * S, t0 + 12 * S)
    await live.becomes(first, "completed", timeout=10)
    r = await live.client.get(f"/api/v1/bookings/{first}", headers=await live.key("acme"))
    assert r.json()["flags"] == ["overrun"]

    async def second_is(status: str) -> bool:
        r = await live.client.get(f"/api/v1/bookings/{second}", headers=await live.key("globex"))
        return bool(r.json()["status"] == status)

    await wait_for(lambda: second_is("delayed"), timeout=5, every=0.05)
    await sleep_until(t0 + 4.8 * S)  # past its grace while the previous run goes on
    assert await second_is("delayed")
    await wait_for(lambda: second_is("active"), timeout=10, every=0.05)
    await wait_for(lambda: second_is("completed"), timeout=15, every=0.05)


# -- by hand, on a fake clock at the real scale (EARLY 600 s, GRACE 900 s) -------------------

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 - 60 * MIN)


@pytest.fixture
async def client(pool: asyncpg.Pool, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    await add_instrument(pool, "oven", site="demo", min_booking_s=60)
    await add_instrument(pool, "kiln", site="demo", min_booking_s=60)
    async with api_client(pool, clock=clock) as c:
        yield c


async def _book(
    client: httpx.AsyncClient, headers: dict[str, str], instrument: str = "oven"
) -> str:
    """A booking of ``instrument`` for the hour from T0."""
    r = await client.post(
        "/api/v1/bookings",
        json={"instrument": instrument, "start": iso(T0), "end": iso(T0 + 60 * MIN)},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_check_in_by_hand_inside_the_window_makes_it_active(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    acme = await key(pool, "acme", "operator")
    booking = await _book(client, acme)
    clock.advance((55 * MIN).total_seconds())  # five minutes before its start
    r = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=acme)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == booking
    assert r.json()["status"] == "active"
    again = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=acme)
    assert (again.status_code, again.json()["status"]) == (200, "active")
    got = await client.get(f"/api/v1/bookings/{booking}", headers=acme)
    assert got.json()["status"] == "active"
    activated = await pool.fetchval(
        "SELECT activated_at FROM bookings WHERE id = $1::uuid", booking
    )
    assert activated == T0 - 5 * MIN


async def test_check_in_by_hand_outside_the_window_is_refused_with_a_reason(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    acme = await key(pool, "acme", "operator")
    booking = await _book(client, acme)
    clock.advance((40 * MIN).total_seconds())  # twenty minutes before its start
    r = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=acme)
    assert r.status_code == 409
    assert r.json()["reason"] == "outside_check_in_window"
    assert "2026-01-05T09:50:00Z" in r.json()["detail"]
    clock.advance((20 * MIN + 15 * MIN).total_seconds())  # the grace has just ended
    r = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=acme)
    assert (r.status_code, r.json()["reason"]) == (409, "outside_check_in_window")
    got = await client.get(f"/api/v1/bookings/{booking}", headers=acme)
    assert got.json()["status"] == "confirmed"


async def test_check_in_by_hand_is_for_the_owning_organisation_or_an_admin(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    acme_planner = await key(pool, "acme", "planner")
    globex = await key(pool, "globex", "operator")
    booking = await _book(client, await key(pool, "acme", "operator"))
    other = await _book(client, await key(pool, "acme", "operator"), "kiln")  # same org, same time
    clock.advance((60 * MIN).total_seconds())  # at the start
    r = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=globex)
    assert (r.status_code, r.json()["reason"]) == (404, "no_booking")
    unknown = "00000000-0000-4000-8000-000000000000"
    r = await client.post(f"/api/v1/bookings/{unknown}/check-in", headers=acme_planner)
    assert (r.status_code, r.json()["reason"]) == (404, "no_booking")
    r = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=acme_planner)
    assert (r.status_code, r.json()["status"]) == (200, "active")
    admin = await key(pool, "platform", "admin")
    r = await client.post(f"/api/v1/bookings/{other}/check-in", headers=admin)
    assert (r.status_code, r.json()["status"]) == (200, "active")


async def test_a_cancelled_booking_cannot_be_checked_in(
    pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    acme = await key(pool, "acme", "operator")
    booking = await _book(client, acme)
    assert (await client.delete(f"/api/v1/bookings/{booking}", headers=acme)).status_code == 204
    clock.advance((60 * MIN).total_seconds())
    r = await client.post(f"/api/v1/bookings/{booking}/check-in", headers=acme)
    assert (r.status_code, r.json()["reason"]) == (409, "illegal_transition")
    assert (await client.get(f"/api/v1/bookings/{booking}", headers=acme)).json()[
        "status"
    ] == "cancelled"
