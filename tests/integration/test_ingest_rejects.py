"""Every reject reason of CONTRACT §2, produced by a real MQTT client sending raw bytes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import decode_ack
from pilotshare.core.contract.payloads import REASONS
from pilotshare.core.db import uses_timescale
from pilotshare.core.domain import OFFLINE_AFTER
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.ingest import Replayed, replay_rejects
from pilotshare.twin.items import RejectItem
from pilotshare.twin.writer import TelemetryWriter
from tests.support.golden import invalid_telemetry, too_large
from tests.support.ingest import (
    batch_bytes,
    now_utc,
    raw_client,
    register,
    running_ingest,
    topic,
    wait_for,
)


async def test_every_reason_is_stored_with_its_payload_and_counted(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst, elsewhere = f"{site}-oven", f"{site}-far"
    await register(pool, site, inst)
    await register(pool, f"{site}x", elsewhere)  # registered, but at another site
    sent: dict[str, tuple[str, bytes]] = {
        reason: (topic(site, inst), raw) for reason, raw in invalid_telemetry().items()
    }
    sent["too_large"] = (topic(site, inst), too_large())
    good = batch_bytes(7, now_utc() - timedelta(minutes=1), 3)
    sent["bad_topic"] = (f"pilotshare/v1/{site}/Not_A_Slug/telemetry", good)
    sent["unknown_instrument"] = (topic(site, elsewhere), good)
    assert set(sent) == set(REASONS)
    registry = CollectorRegistry()
    async with (
        running_ingest(pool, mqtt_endpoint, site, registry=registry),
        raw_client(mqtt_endpoint) as agent,
    ):
        for name, raw in sent.values():
            await agent.publish(name, raw)
        await agent.publish(topic(site, inst), good)  # the stream goes on after bad input

        async def all_in() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM rejects")
            stored = await pool.fetchval("SELECT count(*) FROM telemetry")
            return n >= len(sent) and stored == 3

        await wait_for(all_in)
    rows = await pool.fetch("SELECT topic, reason, detail, payload FROM rejects")
    by_reason = {r["reason"]: r for r in rows}
    assert set(by_reason) == set(REASONS)
    assert len(rows) == len(sent)
    for reason, (name, raw) in sent.items():
        assert by_reason[reason]["topic"] == name, reason
        assert bytes(by_reason[reason]["payload"]) == raw, reason
        assert by_reason[reason]["detail"], reason
        count = registry.get_sample_value("pilotshare_ingest_rejects_total", {"reason": reason})
        assert count == 1, reason


def _acks(raws: list[tuple[str, bytes]]) -> tuple[set[int], dict[int, str]]:
    acked: set[int] = set()
    rejected: dict[int, str] = {}
    for _, raw in raws:
        ack = decode_ack(raw)
        acked.update(ack.batches)
        rejected.update({r.batch: r.reason for r in ack.rejections})
    return acked, rejected


async def test_every_batch_is_acknowledged_one_way_or_the_other(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    """CONTRACT §6: stored (even in part) → "batches"; nothing storable → "rejected"; a
    message whose number cannot be read is kept as a reject only; resends add no rows."""
    inst, unknown = f"{site}-oven", f"{site}-ghost"
    await register(pool, site, inst)
    t0 = now_utc() - timedelta(minutes=2)
    good = batch_bytes(10, t0, 2)
    ahead = (now_utc() + timedelta(hours=1)).isoformat()
    part = (
        b'{"v":1,"agent":"a","batch":11,"samples":['
        b'{"ts":"' + (t0 + timedelta(seconds=9)).isoformat().encode() + b'","state":"idle"},'
        b'{"ts":"' + ahead.encode() + b'","state":"idle"},'
        b'{"ts":"' + (t0 + timedelta(seconds=8)).isoformat().encode() + b'","state":"on"}]}'
    )
    future = (
        b'{"v":1,"agent":"a","batch":12,"samples":[{"ts":"'
        + ahead.encode()
        + b'","state":"idle"}]}'
    )
    fielded = b'{"v":1,"agent":"a","batch":13,"samples":[],"extra":1}'
    unreadable = b'{"v":1,"agent":"a","batch":14,"samples":['
    elsewhere = batch_bytes(15, t0, 3)
    async with (
        running_ingest(pool, mqtt_endpoint, site),
        raw_client(mqtt_endpoint) as agent,
    ):
        await agent.subscribe(f"pilotshare/v1/{site}/+/ack")
        for _ in range(3):  # an agent that hears no ack resends: rows must not pile up
            for payload in (good, part, future, fielded, unreadable):
                await agent.publish(topic(site, inst), payload)
            await agent.publish(topic(site, unknown), elsewhere)

        async def all_acked() -> bool:
            acked, rejected = _acks(agent.messages())
            return {10, 11} <= acked and {12, 13, 15} <= set(rejected)

        await wait_for(all_acked)
        await asyncio.sleep(0.5)
        acked, rejected = _acks(agent.messages())
    assert acked == {10, 11}
    assert rejected == {12: "future_ts", 13: "bad_field", 15: "unknown_instrument"}
    stored = await pool.fetch("SELECT ts, batch FROM telemetry ORDER BY ts")
    assert [r["batch"] for r in stored] == [10, 10, 11]  # batch 11's one valid sample
    rows = await pool.fetch("SELECT topic, batch, reason, repeats, detail FROM rejects")
    by_batch = {r["batch"]: r for r in rows if r["batch"] is not None}
    assert set(by_batch) == {11, 12, 13, 15}
    assert by_batch[11]["reason"] == "future_ts"
    assert "2 of 3 samples refused" in by_batch[11]["detail"]
    assert all(r["repeats"] == 2 for r in by_batch.values())
    unnumbered = [r for r in rows if r["batch"] is None]
    assert {r["reason"] for r in unnumbered} == {"bad_json"}
    assert len(unnumbered) == 3  # no number to keep it by: one row per message


async def test_rejects_are_deleted_after_the_retention(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    """``rejects_retention_days``: the ingest deletes older rejects itself, now and then."""
    clock = FakeClock(now_utc())
    old = [batch_bytes(n, now_utc(), 1) for n in (1, 2)]
    async with (
        running_ingest(
            pool,
            mqtt_endpoint,
            site,
            clock=clock,
            sweep_interval_s=0.05,
            prune_every_s=3600,
            rejects_retention_days=30,
        ),
        raw_client(mqtt_endpoint) as agent,
    ):

        async def count(n: int) -> bool:
            clock.advance(1.0)  # the buffer flushes by the ingest's clock
            return bool(await pool.fetchval("SELECT count(*) FROM rejects") == n)

        for raw in old:
            await agent.publish(topic(site, f"{site}-ghost"), raw)
        await wait_for(lambda: count(2))
        clock.advance(29 * 86400)  # younger than the retention: kept (and pruned just now)
        await asyncio.sleep(0.3)
        await agent.publish(topic(site, f"{site}-ghost"), batch_bytes(3, now_utc(), 1))
        await wait_for(lambda: count(3))
        clock.advance(2 * 86400)  # the first two are 31 days old, the third 2 days
        await wait_for(lambda: count(1))
        assert await pool.fetchval("SELECT batch FROM rejects") == 3


async def test_replay_keeps_what_is_still_invalid_and_stores_the_valid_part_once(
    pool: asyncpg.Pool, site: str
) -> None:
    inst = f"{site}-oven"
    await register(pool, site, inst)
    now = now_utc()
    name = topic(site, inst)
    # one valid sample and one too far ahead; and a batch with nothing valid
    partial = batch_bytes(1, now + timedelta(minutes=4), 2, step_s=120.0)
    hopeless = batch_bytes(2, now + timedelta(minutes=10), 1)
    async with pool.acquire() as conn:
        timescale = await uses_timescale(conn)
    writer = TelemetryWriter(pool, timescale=timescale, offline_after=OFFLINE_AFTER)
    kept = [
        RejectItem(name, "future_ts", "kept", raw, now, 0.0, batch=n)
        for n, raw in ((1, partial), (2, hopeless))
    ]
    await writer.write(kept, now)

    done = await replay_rejects(pool, site, inst, now=now)
    assert done == Replayed(
        replayed=0, stored_samples=1, duplicate_samples=0, still_rejected={"future_ts": 2}
    )
    again = await replay_rejects(pool, site, inst, now=now)
    assert again == Replayed(
        replayed=0, stored_samples=0, duplicate_samples=1, still_rejected={"future_ts": 2}
    )
    assert await pool.fetchval("SELECT count(*) FROM rejects WHERE topic = $1", name) == 2
    assert await pool.fetchval("SELECT count(*) FROM telemetry") == 1


async def test_replay_for_an_instrument_not_registered_loses_nothing(
    pool: asyncpg.Pool, site: str
) -> None:
    """Registration is checked before a replay, but the instrument may go meanwhile: a message
    the writer still refuses keeps its reject."""
    now = now_utc()
    name = topic(site, f"{site}-gone")
    raw = batch_bytes(3, now - timedelta(minutes=1), 2)
    async with pool.acquire() as conn:
        timescale = await uses_timescale(conn)
    writer = TelemetryWriter(pool, timescale=timescale, offline_after=OFFLINE_AFTER)
    await writer.write(
        [RejectItem(name, "unknown_instrument", "kept", raw, now, 0.0, batch=3)], now
    )

    done = await replay_rejects(pool, site, f"{site}-gone", now=now)
    assert done == Replayed(still_rejected={"unknown_instrument": 1})
    rows = await pool.fetch("SELECT reason, payload FROM rejects WHERE topic = $1", name)
    assert [(r["reason"], bytes(r["payload"])) for r in rows] == [("unknown_instrument", raw)]
