"""The interlock switching a real coil, end to end through the public contract.

A booking made over the HTTP API starts; the scheduler's lifecycle makes ``unlock`` the
desired state (retained on ``…/cmd``); the agent's Modbus adapter writes the coil of
pymodbus's own server and reads it back; the agent reports it and the booking shows reported
== desired. Then the PLC restarts (its coil back at power-on, locked) and so does the agent:
the retained unlock is applied again. When the booking ends, the coil is locked.
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
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import build_adapter
from pilotshare.edge_agent.config import ModbusConfig, ModbusInterlock, ModbusPoint
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
from tests.support.api import auth
from tests.support.ingest import topic, wait_for
from tests.support.instruments import add_instrument
from tests.support.modbus import ModbusDevice

pytestmark = pytest.mark.timeout(120)

COIL = 3


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


async def test_a_booking_unlocks_the_coil_across_plc_and_agent_restarts_and_locks_it_after(
    *,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    mqtt_url: str,
    mqtt_endpoint: MqttEndpoint,
    mqtt_is_embedded: bool,
    site: str,
    tmp_path: Path,
) -> None:
    instrument = f"{site}-press"
    await add_instrument(pool, instrument, site=site, min_booking_s=1)
    acme = await auth(pool, "acme", "operator")
    plc = ModbusDevice(coils=[True] * 20)  # power-on: the output holds the press locked
    await plc.start()
    config = quick_agent_config(
        site=site,
        instrument=instrument,
        mqtt_url=mqtt_url,
        embedded=mqtt_is_embedded,
        outbox=tmp_path / "press.outbox.sqlite",
        sample_interval_s=0.2,
    )
    adapter_config = ModbusConfig(
        host="127.0.0.1",
        port=plc.port,
        timeout_s=0.5,
        state=ModbusPoint(address=0),
        state_map={"0": InstrumentState.IDLE, "1": InstrumentState.RUNNING},
        interlock=ModbusInterlock(address=COIL, lock=1, unlock=0, start_wait_s=30, retry_s=0.3),
    )

    def agent() -> Agent:
        return new_agent(config, build_adapter(adapter_config, now=datetime.now(UTC)))

    async def interlock(booking: str) -> dict[str, object]:
        return await booking_interlock(client, acme, booking)

    try:
        async with lifecycle_running(pool, mqtt_endpoint, site) as world:
            watcher = world.watcher
            async with agent_running(agent()) as first:
                await asyncio.wait_for(first.connected.wait(), 20)
                t0 = datetime.now(UTC).replace(microsecond=0) + 2 * S
                end = t0 + 16 * S
                booking, n = await book_until_unlocked(client, acme, instrument, t0, end)
                assert await plc.coil(COIL) is False  # the agent wrote it and read it back
                await watcher.subscribe(topic(site, instrument, "status"))
                await wait_for(lambda: _true(bool(watcher.messages())), timeout=5)
                status = json.loads(dict(watcher.messages())[topic(site, instrument, "status")])
                assert status["interlock"] == {"state": "unlocked", "seq": n}

            # The agent has gone away and the PLC restarts: its coil is back at power-on, locked.
            await plc.stop()
            await plc.start()
            assert await plc.coil(COIL) is True
            watcher.take()

            # Back on the same outbox: the retained unlock is applied again, and reported.
            async with agent_running(agent()) as second:

                async def unlocked_again() -> bool:
                    return not await plc.coil(COIL)

                await wait_for(unlocked_again, timeout=15)
                assert datetime.now(UTC) < end  # still inside the booking
                assert second.interlock.seq == n

                def reported_again() -> bool:
                    return any(
                        json.loads(raw).get("interlock") == {"state": "unlocked", "seq": n}
                        for name, raw in watcher.messages()
                        if name.endswith("/status")
                    )

                await wait_for(lambda: _true(reported_again()), timeout=5)
                assert await interlock(booking) == {
                    "desired": "unlocked",
                    "reported": "unlocked",
                    "seq": n,
                }

                # The booking ends: lock (seq N+1) reaches the coil and is reported.
                await until_interlock(client, acme, booking, "locked", seq=n + 1, timeout=40)
                assert await plc.coil(COIL) is True
                assert second.interlock.seq == n + 1
    finally:
        await plc.stop()


async def _true(value: bool) -> bool:
    return value
