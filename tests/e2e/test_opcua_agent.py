"""An OPC UA instrument end to end: asyncua's server as the PLC, a real agent with the
``opcua`` adapter, the broker, the real ingest, and the API.

The PLC's state changes show in the twin; a booking unlocks it (the interlock node written and
read back, the agent's status reports it), the PLC reboots into its locked default during the
booking and is unlocked again, and the booking's end locks it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import build_adapter
from pilotshare.edge_agent.config import OpcUaConfig, OpcUaInterlock
from tests.support.agents import (
    S,
    agent_running,
    book_until_unlocked,
    lifecycle_running,
    new_agent,
    quick_agent_config,
    until_interlock,
)
from tests.support.api import auth
from tests.support.ingest import running_ingest, wait_for
from tests.support.instruments import add_instrument
from tests.support.opcua import LOAD, LOCK, POWER, STATE, running_plc

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


def opcua(endpoint: str, *, interlock: OpcUaInterlock | None = None) -> OpcUaConfig:
    return OpcUaConfig(
        endpoint=endpoint,
        state=STATE,
        utilization=LOAD,
        utilization_scale=0.01,
        metrics={"power_w": POWER},
        publishing_interval_s=0.05,
        timeout_s=3.0,
        watchdog_s=0.5,
        reconnect_min_s=0.2,
        reconnect_max_s=1.0,
        interlock=interlock,
    )


async def test_the_plcs_state_shows_in_the_twin(
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
    await add_instrument(pool, instrument, site=site)
    acme = await auth(pool, "acme", "operator")
    config = quick_agent_config(
        site=site,
        instrument=instrument,
        mqtt_url=mqtt_url,
        embedded=mqtt_is_embedded,
        outbox=tmp_path / "oven.outbox.sqlite",
        sample_interval_s=0.2,
    )
    url = f"/api/v1/instruments/{instrument}/twin"

    async def twin() -> dict[str, object]:
        r = await client.get(url, headers=acme)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async with running_plc() as plc, running_ingest(pool, mqtt_endpoint, site):
        adapter = build_adapter(opcua(plc.endpoint), now=datetime.now(UTC))
        async with agent_running(new_agent(config, adapter)) as agent:

            async def shows(state: str) -> bool:
                body = await twin()
                return body["online"] is True and body["state"] == state

            await wait_for(lambda: shows("running"), timeout=20)  # PackML 6, Execute
            await plc.set("State", 11)  # Held
            await wait_for(lambda: shows("down"), timeout=20)
            await plc.set("State", 4)
            await plc.set("Power", 150.0)
            await wait_for(lambda: shows("idle"), timeout=20)
        assert agent.stats.samples > 5
        row = await pool.fetchrow(
            "SELECT state, utilization, metrics FROM telemetry WHERE instrument_id = $1 "
            "AND state = 'running' ORDER BY ts LIMIT 1",
            instrument,
        )
        assert row["utilization"] == pytest.approx(0.83)


async def test_a_booking_unlocks_the_plc_across_its_reboot_and_its_end_locks_it(
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

    async with (
        running_plc(lock_default=True) as plc,
        lifecycle_running(pool, mqtt_endpoint, site),
    ):
        adapter = build_adapter(
            opcua(plc.endpoint, interlock=OpcUaInterlock(node=LOCK)), now=datetime.now(UTC)
        )
        async with agent_running(new_agent(config, adapter)) as agent:
            await asyncio.wait_for(agent.connected.wait(), 20)
            assert await plc.get("Lock") is True  # the PLC boots locked
            t0 = datetime.now(UTC).replace(microsecond=0) + 2 * S
            booking, n = await book_until_unlocked(
                client, acme, instrument, t0, t0 + 12 * S, timeout=20
            )
            assert await plc.get("Lock") is False  # written and read back on the PLC

            # the PLC reboots, locked by its own default; the agent unlocks it again
            await plc.restart()
            assert await plc.get("Lock") is True

            async def lock_is(value: bool) -> bool:
                return bool(plc.nodes) and await plc.get("Lock") is value

            await wait_for(lambda: lock_is(False), timeout=15)
            assert datetime.now(UTC) < t0 + 12 * S  # still inside the booking

            await until_interlock(client, acme, booking, "locked", seq=n + 1, timeout=30)
            assert await plc.get("Lock") is True
            assert agent.interlock.seq == n + 1  # type: ignore[operator]
