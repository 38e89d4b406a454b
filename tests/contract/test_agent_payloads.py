"""What the agent puts on the wire decodes with the contract, and samples survive its outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import MAX_PAYLOAD_BYTES, Sample, decode_status, decode_telemetry
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.outbox import Outbox
from pilotshare.edge_agent.protocol import Seal
from pilotshare.edge_agent.runner import Agent
from tests.support.golden import statuses, valid_telemetry

FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(valid_telemetry()))
def test_golden_samples_survive_the_outbox_unchanged(name: str, tmp_path: Path) -> None:
    golden = decode_telemetry(valid_telemetry()[name], FAR)
    number = min(golden.batch, 2**62)  # the outbox stores the next number too: leave room
    box = Outbox(tmp_path / "o.sqlite", first_batch=number)
    for sample in golden.samples:
        box.append(sample)
    box.apply(Seal(number, len(golden.samples)))
    again = decode_telemetry(box.payload(number, golden.agent), FAR)
    box.close()
    assert (again.agent, again.samples) == (golden.agent, golden.samples)


def test_the_agents_batches_and_status_decode(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    config = AgentConfig(
        site="demo",
        instrument="oven-1",
        mqtt_url="mqtt://127.0.0.1:1",
        outbox_path=str(tmp_path / "o.sqlite"),
        metrics_port=0,
        batch_max_samples=50,
    )
    adapter = SimulatedAdapter(SimulatedParams(), 4, start=clock.now())
    agent = Agent(config, adapter, clock)
    for _ in range(120):
        clock.advance(1)
        agent.recorder.record(adapter.instrument.step(clock.now()))
    for number in agent.protocol.unacked:
        batch = decode_telemetry(agent.outbox.payload(number, config.agent_name), clock.now())
        assert batch.batch == number
        assert batch.agent == "oven-1-agent"
        assert len(batch.samples) == 50
        assert all(s.ts <= clock.now() for s in batch.samples)
    online, will = (
        decode_status(agent._status(online=True)),
        decode_status(agent._status(online=False)),
    )
    assert (online.online, will.online) == (True, False)
    assert online.agent == "oven-1-agent"
    golden_keys = {decode_status(raw).__struct_fields__ for raw in statuses().values()}
    assert golden_keys == {online.__struct_fields__}
    agent.outbox.close()


def test_the_largest_samples_still_make_batches_the_backend_takes(tmp_path: Path) -> None:
    """64 long-named metrics per sample and 10,000 samples per batch allowed: no batch > 256 KiB."""
    clock = FakeClock(datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    config = AgentConfig(
        site="demo",
        instrument="oven-1",
        mqtt_url="mqtt://127.0.0.1:1",
        outbox_path=str(tmp_path / "o.sqlite"),
        metrics_port=0,
        batch_max_samples=10_000,
    )
    agent = Agent(config, SimulatedAdapter(SimulatedParams(), 4, start=clock.now()), clock)
    metrics = {f"m{i:02d}_" + "x" * 59: -1.2345678901234567e-300 * (i + 1) for i in range(64)}
    for _ in range(300):
        clock.advance(1)
        agent.recorder.record(
            Sample(
                ts=clock.now(),
                state=InstrumentState.RUNNING,
                utilization=0.123456789,
                metrics=metrics,
            )
        )
    assert len(agent.protocol.unacked) >= 2
    for number in agent.protocol.unacked:
        raw = agent.outbox.payload(number, config.agent_name)
        assert len(raw) <= MAX_PAYLOAD_BYTES
        assert decode_telemetry(raw, clock.now()).batch == number
    agent.outbox.close()
