"""The ingest on a real broker and database: store once, ack after commit, reject bad input."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import pytest

from pilotshare.core.contract import decode_ack
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from tests.support.ingest import (
    batch_bytes,
    now_utc,
    raw_client,
    register,
    running_ingest,
    topic,
    wait_for,
)


async def _count(pool: asyncpg.Pool, instrument: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM telemetry WHERE instrument_id = $1", instrument)
    )


async def test_batches_are_stored_once_and_acknowledged_after_commit(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-oven"
    await register(pool, site, inst)
    start = now_utc() - timedelta(minutes=2)
    async with (
        running_ingest(pool, mqtt_endpoint, site) as ingest,
        raw_client(mqtt_endpoint) as agent,
    ):
        await agent.subscribe(topic(site, inst, "ack"))
        await agent.publish(topic(site, inst), batch_bytes(1, start, 50))
        await agent.publish(topic(site, inst), batch_bytes(2, start + timedelta(seconds=50), 50))
        await agent.publish(topic(site, inst), batch_bytes(1, start, 50))  # resent

        async def acked() -> bool:
            got = {b for _, raw in agent.messages() for b in decode_ack(raw).batches}
            return got >= {1, 2}

        await wait_for(acked)
        # every acked batch is already in the database
        assert await _count(pool, inst) == 100
    first = await pool.fetchrow(
        "SELECT state, utilization, metrics, batch FROM telemetry WHERE instrument_id = $1 "
        "ORDER BY ts LIMIT 1",
        inst,
    )
    assert dict(first) == {
        "state": "running",
        "utilization": 0.5,
        "metrics": {"power_w": 100.0},
        "batch": 1,
    }
    assert ingest.metrics.samples._value.get() == 100
    hourly = await pool.fetchval(
        "SELECT sum(samples) FROM telemetry_hourly WHERE instrument_id = $1", inst
    )
    assert hourly == 100


async def test_live_state_follows_samples_and_status(
    pool: asyncpg.Pool, db_url: str, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-sem"
    await register(pool, site, inst)
    start = now_utc() - timedelta(seconds=20)
    conn = await asyncpg.connect(db_url)
    events: list[dict[str, object]] = []
    await conn.add_listener("twin_changes", lambda *a: events.append(json.loads(a[3])))
    try:
        async with running_ingest(pool, mqtt_endpoint, site) as ingest:
            hooked: list[str | None] = []

            async def hook(live: object) -> None:
                hooked.append(getattr(live, "effective_state", None))

            ingest.add_listener(hook)
            async with raw_client(mqtt_endpoint) as agent:
                state = lambda i: InstrumentState.IDLE if i < 5 else InstrumentState.RUNNING  # noqa: E731
                await agent.publish(topic(site, inst), batch_bytes(1, start, 10, state=state))

                async def running() -> bool:
                    row = await pool.fetchrow(
                        "SELECT * FROM instrument_live WHERE instrument_id = $1", inst
                    )
                    return row is not None and row["state"] == "running" and row["online"]

                await wait_for(running)
                row = await pool.fetchrow(
                    "SELECT * FROM instrument_live WHERE instrument_id = $1", inst
                )
                assert row["since"] == start + timedelta(seconds=5)
                assert row["last_seen"] == start + timedelta(seconds=9)
                will = (
                    b'{"v":1,"online":false,"agent":"a","agent_version":"1.0",'
                    b'"ts":"2026-01-01T00:00:00Z"}'
                )
                await agent.publish(topic(site, inst, "status"), will)

                async def offline() -> bool:
                    return not await pool.fetchval(
                        "SELECT online FROM instrument_live WHERE instrument_id = $1", inst
                    )

                await wait_for(offline)
        await wait_for(lambda: _true(len(events) >= 2))
    finally:
        await conn.close()
    assert [e["state"] for e in events][:2] == ["running", "offline"]
    assert events[0]["instrument"] == inst
    assert events[0]["site"] == site
    assert set(events[0]) >= {"instrument", "site", "state", "since", "online", "last_seen"}
    assert hooked[:2] == ["running", "offline"]


async def _true(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def test_a_message_the_database_refuses_becomes_a_reject_and_the_rest_is_stored(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-odd"
    await register(pool, site, inst)
    # a rule of this test's database that validation does not know about
    await pool.execute(
        "ALTER TABLE telemetry ADD CONSTRAINT no_odd_value CHECK (utilization <> 0.25)"
    )
    start = now_utc() - timedelta(minutes=5)
    async with (
        running_ingest(pool, mqtt_endpoint, site, flush_age_s=0.5) as ingest,
        raw_client(mqtt_endpoint) as agent,
    ):
        await agent.subscribe(topic(site, inst, "ack"))
        await agent.publish(topic(site, inst), batch_bytes(1, start, 10))
        await agent.publish(
            topic(site, inst), batch_bytes(2, start + timedelta(seconds=10), 10, utilization=0.25)
        )
        await agent.publish(topic(site, inst), batch_bytes(3, start + timedelta(seconds=20), 10))

        async def settled() -> bool:
            rejected = await pool.fetchval("SELECT count(*) FROM rejects")
            return rejected == 1 and await _count(pool, inst) == 20

        await wait_for(settled)
        reject = await pool.fetchrow("SELECT reason, detail FROM rejects")
        assert reject["reason"] == "bad_field"
        assert "no_odd_value" in reject["detail"]
        acked = {b for _, raw in agent.messages() for b in decode_ack(raw).batches}
        await wait_for(lambda: _true(ingest.buffered_samples == 0))
    assert 2 not in acked
    assert await pool.fetchval(
        "SELECT array_agg(DISTINCT batch ORDER BY batch) FROM telemetry WHERE instrument_id = $1",
        inst,
    ) == [1, 3]


async def test_the_ingest_lends_its_connection_to_publish_commands(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    from pilotshare.core.contract import Command, decode_command, encode
    from pilotshare.twin.ingest import Ingest

    inst = f"{site}-lock"
    cmd = Command(cmd="unlock", booking="b-1", until=now_utc() + timedelta(hours=1))
    async with (
        running_ingest(pool, mqtt_endpoint, site) as ingest,
        raw_client(mqtt_endpoint) as agent,
    ):
        await agent.subscribe(topic(site, inst, "cmd"))
        await ingest.publisher.publish(topic(site, inst, "cmd"), encode(cmd))

        async def got() -> bool:
            return bool(agent.messages())

        await wait_for(got)
        [(name, raw)] = agent.messages()
        assert name == topic(site, inst, "cmd")
        assert decode_command(raw) == cmd
    idle = Ingest(pool, mqtt_endpoint)
    with pytest.raises(ConnectionError):
        await idle.publisher.publish(topic(site, inst, "cmd"), encode(cmd))
