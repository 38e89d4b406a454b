"""A real agent on a real broker follows the desired interlock state (CONTRACT §6): the newest
``seq`` wins whatever order the broker delivers, and an adapter that cannot switch says so."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pilotshare.core.contract import Command, Sample, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import Adapter, SimulatedAdapter, SimulatedParams
from tests.support.agents import interlock_agent
from tests.support.ingest import raw_client, topic, wait_for


class Gauge(Adapter):
    """An instrument that can be read but has no interlock to switch."""

    async def read(self, now: datetime) -> Sample:
        return Sample(ts=now, state=InstrumentState.IDLE)


def desired(cmd: str, seq: int) -> bytes:
    until = datetime.now(UTC) + timedelta(hours=1)
    return encode(Command(cmd=cmd, booking="b-1", until=until, seq=seq))  # type: ignore[arg-type]


async def test_an_older_seq_arriving_late_does_not_undo_the_newer_state(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    sim = SimulatedAdapter(SimulatedParams(locked_at_start=True), seed=1, start=datetime.now(UTC))
    runner = interlock_agent(tmp_path, site, mqtt_url, sim)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.connected.wait(), 10)
        async with raw_client(mqtt_endpoint) as backend:
            await backend.subscribe(topic(site, "oven-1", "status"))
            cmd = topic(site, "oven-1", "cmd")
            await backend.publish(cmd, desired("unlock", 8), retain=True)
            await backend.publish(cmd, desired("lock", 7))  # a late re-send of an older state
            await backend.publish(cmd, desired("unlock", 8))  # the same state again

            def reports() -> list[object]:
                return [
                    json.loads(raw).get("interlock")
                    for name, raw in backend.messages()
                    if name == topic(site, "oven-1", "status")
                ]

            await wait_for(lambda: _true({"state": "unlocked", "seq": 8} in reports()), timeout=10)
            await asyncio.sleep(0.5)
            assert runner.interlock.seq == 8
            assert not sim.instrument.locked(datetime.now(UTC))  # seq 7 was not applied
            assert reports()[-1] == {"state": "unlocked", "seq": 8}  # and reported once
            assert reports().count({"state": "unlocked", "seq": 8}) == 1
            await backend.publish(cmd, b"", retain=True)  # clear the retained state
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_an_adapter_without_an_interlock_reports_unsupported_with_the_seq_it_saw(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    runner = interlock_agent(tmp_path, site, mqtt_url, Gauge())
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.connected.wait(), 10)
        async with raw_client(mqtt_endpoint) as backend:
            await backend.subscribe(topic(site, "oven-1", "status"))
            await backend.publish(topic(site, "oven-1", "cmd"), desired("unlock", 3))

            def reported() -> bool:
                return any(
                    json.loads(raw).get("interlock") == {"state": "unsupported", "seq": 3}
                    for name, raw in backend.messages()
                    if name.endswith("/status")
                )

            await wait_for(lambda: _true(reported()), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _true(value: bool) -> bool:
    return value
