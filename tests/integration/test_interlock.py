"""The interlock is desired state (CONTRACT §6): retained on ``…/cmd``, numbered, re-sent until
the agent reports it, never lost to a failed publish, and shown on the booking.

paho plays the agent (tests/support/ingest.py): it reads ``…/cmd`` and publishes the retained
status an agent would. The lifecycle publishes through the ingest's real MQTT connection; the
publisher in front of it refuses its first publishes, as an unreachable broker does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import SystemClock
from pilotshare.core.messaging import Publisher
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.scheduler.lifecycle import BookingLifecycle
from tests.support.api import iso
from tests.support.ingest import RawClient, raw_client, running_ingest, topic, wait_for
from tests.support.instruments import add_instrument

pytestmark = pytest.mark.timeout(90)

S = timedelta(seconds=1)
RESEND = timedelta(seconds=0.2)
RESEND_MAX = timedelta(seconds=0.8)


@dataclass
class FlakyPublisher:
    """Refuses the first ``failures`` publishes as an unreachable broker does, then passes
    every publish on to the real connection."""

    inner: Publisher
    failures: int
    refused: int = 0
    passed: list[str] = field(default_factory=list)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        if self.refused < self.failures:
            self.refused += 1
            raise ConnectionError("not connected to the MQTT broker")
        await self.inner.publish(topic, payload, qos=qos, retain=retain)
        self.passed.append(topic)


@dataclass
class Rig:
    pool: asyncpg.Pool
    site: str
    client: httpx.AsyncClient
    agent: RawClient
    publisher: FlakyPublisher
    keys: dict[str, dict[str, str]]

    async def book(self, org: str, instrument: str, start: datetime, end: datetime) -> str:
        r = await self.client.post(
            "/api/v1/bookings",
            json={"instrument": instrument, "start": iso(start), "end": iso(end)},
            headers=self.keys[org],
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def interlock(self, org: str, booking: str) -> dict[str, object]:
        r = await self.client.get(f"/api/v1/bookings/{booking}", headers=self.keys[org])
        assert r.status_code == 200, r.text
        return dict(r.json()["interlock"])

    def commands(self, instrument: str) -> list[dict[str, object]]:
        cmd = topic(self.site, instrument, "cmd")
        return [json.loads(raw) for name, raw in self.agent.messages() if name == cmd]

    async def report(self, instrument: str, state: str, seq: int) -> None:
        """Publish the retained status of an agent that applied ``seq``."""
        status = {
            "v": 1,
            "online": True,
            "agent": f"{instrument}-agent",
            "agent_version": "9.9.9",
            "ts": iso(datetime.now(UTC)),
            "interlock": {"state": state, "seq": seq},
        }
        await self.agent.publish(
            topic(self.site, instrument, "status"), json.dumps(status).encode(), retain=True
        )


@pytest.fixture
async def rig(pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str) -> AsyncIterator[Rig]:
    for name in ("inst-1", "inst-2"):
        await add_instrument(pool, name, site=site, min_booking_s=1)
    async with pool.acquire() as conn:
        keys = {
            org: {"Authorization": f"Bearer {await create_key(conn, org=org, role='operator')}"}
            for org in ("acme", "globex")
        }
    app = create_app(Settings(), pool=pool, clock=SystemClock(), registry=CollectorRegistry())
    stop = asyncio.Event()
    async with (
        running_ingest(pool, mqtt_endpoint, site) as ingest,
        raw_client(mqtt_endpoint) as agent,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        publisher = FlakyPublisher(ingest.publisher, failures=3)
        lifecycle = BookingLifecycle(
            pool, publisher, SystemClock(), resend=RESEND, resend_max=RESEND_MAX
        )
        ingest.add_listener(lifecycle.on_twin_change)
        await agent.subscribe(topic(site, "+", "cmd"))
        task = asyncio.create_task(lifecycle.run(stop))
        await asyncio.wait_for(lifecycle.ready.wait(), 10)
        try:
            yield Rig(pool, site, client, agent, publisher, keys)
        finally:
            stop.set()
            await task


def soon(seconds: float = 1.0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds + 1)


async def test_a_failed_publish_is_retried_and_resent_until_the_agent_reports_its_seq(
    rig: Rig, mqtt_endpoint: MqttEndpoint
) -> None:
    t0 = soon()
    booking = await rig.book("acme", "inst-1", t0, t0 + 30 * S)
    # Marked unlocked at its start, while the broker refuses: the command is not lost.
    await wait_for(lambda: _true(bool(rig.commands("inst-1"))), timeout=10)
    assert rig.publisher.refused == 3
    [first, *_] = rig.commands("inst-1")
    seq = first["seq"]
    assert isinstance(seq, int)
    assert first == {"v": 1, "cmd": "unlock", "booking": booking, "until": iso(t0 + 30 * S),
                     "seq": seq}  # fmt: skip
    assert await rig.interlock("acme", booking) == {
        "desired": "unlocked",
        "reported": None,
        "seq": seq,
    }
    # Nobody reported it: it is published again, the same seq each time.
    await wait_for(lambda: _true(len(rig.commands("inst-1")) >= 3), timeout=10)
    assert {c["seq"] for c in rig.commands("inst-1")} == {seq}
    # It is retained: a client that subscribes only now still gets the desired state.
    async with raw_client(mqtt_endpoint) as late:
        await late.subscribe(topic(rig.site, "inst-1", "cmd"))
        await wait_for(lambda: _true(bool(late.messages())), timeout=5)
        assert json.loads(late.messages()[0][1])["seq"] == seq

    await rig.report("inst-1", "unlocked", seq)

    async def reported() -> bool:
        return (await rig.interlock("acme", booking))["reported"] == "unlocked"

    await wait_for(reported, timeout=5)
    await wait_for(
        lambda: _true(
            rig.pool.fetchval(
                "SELECT next_send_at IS NULL FROM interlocks WHERE instrument_id = 'inst-1'"
            )
        ),
        timeout=5,
    )
    sent = len(rig.commands("inst-1"))
    await asyncio.sleep(3 * RESEND_MAX.total_seconds())
    assert len(rig.commands("inst-1")) == sent  # reported: no more re-sends


async def test_each_change_takes_the_next_seq_also_across_a_lifecycle_restart(
    rig: Rig, pool: asyncpg.Pool
) -> None:
    t0 = soon()
    first = await rig.book("acme", "inst-2", t0, t0 + 2 * S)

    def seqs() -> list[object]:
        out: list[object] = []
        for c in rig.commands("inst-2"):
            if c["seq"] not in out:
                out.append(c["seq"])
        return out

    await wait_for(lambda: _true(len(seqs()) >= 2), timeout=15)  # unlock, then lock
    n = seqs()[0]
    assert isinstance(n, int)
    assert seqs()[:2] == [n, n + 1]
    assert await rig.interlock("acme", first) == {"desired": "locked", "reported": None,
                                                  "seq": n + 1}  # fmt: skip
    # A second lifecycle (a restarted backend) goes on counting from the database.
    again = BookingLifecycle(pool, rig.publisher, SystemClock(), resend=RESEND)
    t1 = soon()
    second = await rig.book("globex", "inst-2", t1, t1 + 20 * S)
    while datetime.now(UTC) < t1:
        await asyncio.sleep(0.1)
    await again.settle()
    assert (await rig.interlock("globex", second))["seq"] == n + 2
    await wait_for(lambda: _true(len(seqs()) >= 3), timeout=10)
    assert seqs()[:3] == [n, n + 1, n + 2]


async def test_the_interlock_shows_only_on_the_organisations_own_booking(rig: Rig) -> None:
    t0 = soon()
    ours = await rig.book("acme", "inst-1", t0, t0 + 4 * S)
    theirs = await rig.book("globex", "inst-1", t0 + 10 * S, t0 + 20 * S)
    await wait_for(lambda: _true(bool(rig.commands("inst-1"))), timeout=10)
    seq = rig.commands("inst-1")[0]["seq"]
    assert isinstance(seq, int)
    await rig.report("inst-1", "unlocked", seq)

    async def reported() -> bool:
        return (await rig.interlock("acme", ours))["reported"] == "unlocked"

    await wait_for(reported, timeout=5)
    # The other organisation sees neither the booking nor, on its own booking of the same
    # instrument, the interlock state the instrument reports for ours.
    r = await rig.client.get(f"/api/v1/bookings/{ours}", headers=rig.keys["globex"])
    assert r.status_code == 404
    listed = await rig.client.get("/api/v1/bookings", headers=rig.keys["globex"])
    assert [b["id"] for b in listed.json()] == [theirs]
    assert listed.json()[0]["interlock"] == {"desired": None, "reported": None, "seq": None}
    mine = await rig.client.get("/api/v1/bookings", headers=rig.keys["acme"])
    assert [(b["id"], b["interlock"]) for b in mine.json()] == [
        (ours, {"desired": "unlocked", "reported": "unlocked", "seq": seq})
    ]


async def _true(value: object) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)
