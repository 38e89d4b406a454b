"""The interlock end to end through a real broker and a real agent, also across its restart.

A simulated instrument that is locked until its booking starts: the lifecycle makes ``unlock``
the desired state (retained on ``…/cmd`` with seq N), the agent applies it and reports
``{"state": "unlocked", "seq": N}`` in its retained status, and the booking shows it. The
agent is stopped; the booking ends while it is away (``lock``, seq N+1, retained). A new agent
on the same outbox file applies the retained lock on subscribing and reports it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.runner import Agent
from tests.support.agents import (
    S,
    agent_running,
    book_until_unlocked,
    booking_interlock,
    lifecycle_running,
    new_agent,
    quick_agent_config,
    until_interlock,
)
from tests.support.api import auth, iso
from tests.support.ingest import topic, wait_for
from tests.support.instruments import add_instrument

pytestmark = pytest.mark.timeout(120)

LOCKED = SimulatedParams(
    follow_bookings=True,
    locked_at_start=True,
    p_no_show=0.0,
    late_start_mean_s=0.2,
    p_overrun=0.0,
    setup_mean_s=0.0,
    idle_mean_s=0.2,
    mtbf_s=1e9,
)


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


async def test_the_agent_applies_the_desired_interlock_and_catches_up_after_a_restart(
    *,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    mqtt_url: str,
    mqtt_endpoint: MqttEndpoint,
    mqtt_is_embedded: bool,
    site: str,
    tmp_path: Path,
) -> None:
    instrument = f"{site}-oven"
    await add_instrument(pool, instrument, site=site, min_booking_s=1)
    acme = await auth(pool, "acme", "operator")
    config = quick_agent_config(
        site=site,
        instrument=instrument,
        mqtt_url=mqtt_url,
        embedded=mqtt_is_embedded,
        outbox=tmp_path / "oven.outbox.sqlite",
        sample_interval_s=0.2,
    )

    def agent() -> Agent:
        return new_agent(config, SimulatedAdapter(LOCKED, seed=3, start=datetime.now(UTC)))

    async def interlock(booking: str) -> dict[str, object]:
        return await booking_interlock(client, acme, booking)

    async with lifecycle_running(pool, mqtt_endpoint, site) as world:
        watcher = world.watcher
        async with agent_running(agent()) as first:
            await asyncio.wait_for(first.connected.wait(), 20)
            assert first.adapter.instrument.locked(datetime.now(UTC))  # type: ignore[attr-defined]
            t0 = datetime.now(UTC).replace(microsecond=0) + 2 * S
            booking, n = await book_until_unlocked(client, acme, instrument, t0, t0 + 6 * S)
            assert first.interlock.seq == n
            assert not first.adapter.instrument.locked(datetime.now(UTC))  # type: ignore[attr-defined]
            # On the broker: the retained desired state, and the agent's retained report.
            await watcher.subscribe(topic(site, instrument, "cmd"))
            await watcher.subscribe(topic(site, instrument, "status"))
            await wait_for(lambda: _true(len(watcher.messages()) >= 2), timeout=5)
            retained = dict(watcher.messages())
            assert json.loads(retained[topic(site, instrument, "cmd")]) == {
                "v": 1,
                "cmd": "unlock",
                "booking": booking,
                "until": iso(t0 + 6 * S),
                "seq": n,
            }
            status = json.loads(retained[topic(site, instrument, "status")])
            assert status["interlock"] == {"state": "unlocked", "seq": n}

        # The agent has gone away; its booking ends (lock, seq N+1) while nobody listens.
        async def locked_while_away() -> bool:
            return (await interlock(booking))["desired"] == "locked"

        await wait_for(locked_while_away, timeout=15)
        # What the instrument last reported is shown: the lock has not reached it.
        assert await interlock(booking) == {
            "desired": "locked",
            "reported": "unlocked",
            "seq": n + 1,
        }

        # Back on the same outbox: the retained lock is applied on subscribing.
        async with agent_running(agent()) as second:
            await until_interlock(client, acme, booking, "locked", seq=n + 1, timeout=20)
            assert second.interlock.seq == n + 1
            assert second.adapter.instrument.locked(datetime.now(UTC))  # type: ignore[attr-defined]

            async def settled() -> bool:  # reported: the lifecycle stops re-sending
                done: bool = await pool.fetchval(
                    "SELECT next_send_at IS NULL FROM interlocks WHERE instrument_id = $1",
                    instrument,
                )
                return done

            await wait_for(settled, timeout=5)


async def _true(value: bool) -> bool:
    return value
