"""Every reject reason of CONTRACT §2, produced by a real MQTT client sending raw bytes."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from pilotshare.core.contract.payloads import REASONS
from pilotshare.core.settings import MqttEndpoint
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
