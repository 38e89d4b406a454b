"""CONTRACT §6 end to end: a batch the backend can never store is acknowledged as rejected.

A real agent (``edge_agent.runner.Agent``, simulated adapter) publishes through the real
broker for an instrument the backend does not know; the real ingest keeps each batch once as a
reject and acknowledges it as rejected; the agent deletes it from its outbox, counts it and
says so in one line, and resends nothing. Registered afterwards, the instrument's rejects are
replayed over HTTP by an admin, and the twin shows the samples.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import decode_ack
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from tests.support.agents import Finite, agent_running
from tests.support.api import api_client, auth
from tests.support.ingest import raw_client, register, running_ingest, topic

pytestmark = pytest.mark.timeout(120)

READS = 24
BATCH = 6


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


async def test_rejected_batches_leave_the_outbox_once_and_replay_after_registration(
    pool: asyncpg.Pool,
    mqtt_endpoint: MqttEndpoint,
    site: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inst = f"{site}-oven"
    telemetry = topic(site, inst)
    registry = CollectorRegistry()
    clock = SystemClock()
    config = AgentConfig(
        site=site,
        instrument=inst,
        mqtt_url=mqtt_endpoint.url(),
        sample_interval_s=0.05,
        batch_max_samples=BATCH,
        batch_max_age_s=0.3,
        ack_timeout_s=1.0,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        metrics_port=0,
        reconnect_min_s=0.2,
    )
    adapter = Finite(SimulatedAdapter(SimulatedParams(), 7, start=clock.now()), READS)
    agent = Agent(config, adapter, clock, registry=registry)
    caplog.set_level(logging.INFO, logger="pilotshare.edge_agent")
    async with (
        running_ingest(pool, mqtt_endpoint, site),
        raw_client(mqtt_endpoint) as listener,
    ):
        listener.subscribe_now(topic(site, inst, "ack"))
        await asyncio.sleep(0.3)
        async with agent_running(agent):
            await until(lambda: agent.stats.samples == READS, 30, "all samples taken")
            await until(
                lambda: agent.protocol.depth == 0 and not agent.protocol.unacked,
                30,
                "the outbox empties",
            )
            await asyncio.sleep(config.ack_timeout_s * 2.5)  # past the ack timeout: no resend
            resent = agent.stats.resent
        acks = [decode_ack(raw) for _, raw in listener.messages()]

    rejected = [r for a in acks for r in a.rejections]
    assert {r.reason for r in rejected} == {"unknown_instrument"}
    batches = len({r.batch for r in rejected})
    assert batches >= READS // BATCH
    assert all(not a.batches for a in acks)
    assert resent == 0
    assert agent.stats.rejected == batches
    assert agent.stats.acked == 0
    count = registry.get_sample_value(
        "pilotshare_agent_batches_rejected_total",
        {"instrument": inst, "reason": "unknown_instrument"},
    )
    assert count == batches
    said = [r for r in caplog.records if "rejected batch" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert said[0].levelno == logging.WARNING
    rows = await pool.fetch(
        "SELECT batch, reason, repeats FROM rejects WHERE topic = $1", telemetry
    )
    assert sorted(r["batch"] for r in rows) == sorted({r.batch for r in rejected})
    assert {r["reason"] for r in rows} == {"unknown_instrument"}
    assert all(r["repeats"] == 0 for r in rows)

    # registered now: an admin replays what was kept, once; others may not
    await register(pool, site, inst)
    admin = await auth(pool, "platform", "admin")
    operator = await auth(pool, f"{site}-lab", "operator")
    async with api_client(pool, clock=clock) as http:
        body = {"instrument": inst}
        forbidden = await http.post("/api/v1/rejects/replay", json=body, headers=operator)
        assert forbidden.status_code == 403
        assert forbidden.json()["reason"] == "forbidden_role"
        missing = await http.post(
            "/api/v1/rejects/replay", json={"instrument": f"{site}-none"}, headers=admin
        )
        assert missing.status_code == 404
        assert missing.json()["reason"] == "no_instrument"
        elsewhere = await http.post(
            "/api/v1/rejects/replay", json={"instrument": inst, "site": "nowhere"}, headers=admin
        )
        assert elsewhere.status_code == 404
        assert await pool.fetchval("SELECT count(*) FROM telemetry") == 0

        replay = await http.post("/api/v1/rejects/replay", json=body, headers=admin)
        assert replay.status_code == 200, replay.text
        assert replay.json() == {
            "instrument": inst,
            "site": site,
            "replayed": batches,
            "stored_samples": READS,
            "duplicate_samples": 0,
            "still_rejected": {},
        }
        again = await http.post("/api/v1/rejects/replay", json=body, headers=admin)
        assert again.json()["replayed"] == 0
        assert again.json()["stored_samples"] == 0

        start = (clock.now() - timedelta(hours=1)).isoformat()
        shown = await http.get(
            f"/api/v1/instruments/{inst}/telemetry",
            params={"start": start, "bucket": "PT5M"},
            headers=operator,
        )
        assert shown.status_code == 200
        assert sum(b["samples"] for b in shown.json()) == READS
        twin = await http.get(f"/api/v1/instruments/{inst}/twin", headers=operator)
        assert twin.json()["last_seen"] is not None
    assert await pool.fetchval("SELECT count(*) FROM rejects WHERE topic = $1", telemetry) == 0
    assert await pool.fetchval("SELECT count(*) FROM telemetry") == READS
