"""The live twin over time: silence takes an instrument offline, and a restart loses nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.state import Live
from pilotshare.twin.store import (
    CURRENT_STATE_SQL,
    LIVE_COLUMNS,
    RUNNING_NOW_SQL,
    live_from_row,
    lives,
)
from tests.support.ingest import batch_bytes, raw_client, register, running_ingest, topic, wait_for


async def _live(pool: asyncpg.Pool, inst: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM instrument_live WHERE instrument_id = $1", inst)


async def test_silence_takes_an_instrument_offline_and_says_so(
    pool: asyncpg.Pool, db_url: str, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-oven"
    await register(pool, site, inst)
    listener = await asyncpg.connect(db_url)
    notified: list[dict[str, object]] = []
    await listener.add_listener("twin_changes", lambda *a: notified.append(json.loads(a[3])))
    hooked: list[Live] = []

    async def hook(live: Live) -> None:
        hooked.append(live)

    try:
        async with (
            running_ingest(
                pool, mqtt_endpoint, site, offline_after_s=1.0, sweep_interval_s=0.2
            ) as ingest,
            raw_client(mqtt_endpoint) as agent,
        ):
            ingest.add_listener(hook)
            now = datetime.now(UTC)
            await agent.publish(topic(site, inst), batch_bytes(1, now, 1))

            async def online() -> bool:
                row = await _live(pool, inst)
                return row is not None and row["online"]

            await wait_for(online)

            async def offline() -> bool:
                row = await _live(pool, inst)
                return row is not None and not row["online"]

            await wait_for(offline, timeout=10)
            row = await _live(pool, inst)
            assert row is not None
            assert row["since"] == row["last_seen"]  # offline since it was last heard
            await wait_for(lambda: _ready(len(hooked) >= 2))
    finally:
        await listener.close()
    assert [e["online"] for e in notified[:2]] == [True, False]
    assert notified[1]["state"] == "offline"
    assert [h.effective_state for h in hooked[:2]] == ["running", "offline"]


async def test_the_twin_survives_a_restart_of_the_ingest(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    inst = f"{site}-sem"
    await register(pool, site, inst)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)
    async with running_ingest(pool, mqtt_endpoint, site), raw_client(mqtt_endpoint) as agent:
        await agent.publish(
            topic(site, inst), batch_bytes(1, start, 5, state=InstrumentState.SETUP)
        )

        async def stored() -> bool:
            row = await _live(pool, inst)
            return row is not None and row["last_batch"] == 1

        await wait_for(stored)
    before = await _live(pool, inst)
    async with running_ingest(pool, mqtt_endpoint, site), raw_client(mqtt_endpoint) as agent:
        # same state again: the new process must not restart the clock of the state
        await agent.publish(
            topic(site, inst),
            batch_bytes(2, start + timedelta(seconds=5), 5, state=InstrumentState.SETUP),
        )

        async def second() -> bool:
            row = await _live(pool, inst)
            return row is not None and row["last_batch"] == 2

        await wait_for(second)
    after = await _live(pool, inst)
    assert before is not None
    assert after is not None
    assert after["state"] == "setup"
    assert after["since"] == before["since"] == start
    assert after["last_seen"] == start + timedelta(seconds=9)


async def _ready(value: bool) -> bool:
    return value


async def test_the_sql_of_the_current_state_is_live_current_state(
    pool: asyncpg.Pool, site: str
) -> None:
    """``CURRENT_STATE_SQL`` and ``RUNNING_NOW_SQL`` (the lifecycle's check-in) say what
    ``Live.current_state`` says of the same rows, for every online flag and state."""
    combos = [(online, state) for online in (True, False) for state in [None, *InstrumentState]]
    names = [f"{site}-{n}" for n in range(len(combos))]
    await register(pool, site, *names)
    for name, (online, state) in zip(names, combos, strict=True):
        await pool.execute(
            """INSERT INTO instrument_live (instrument_id, online, state) VALUES ($1, $2, $3)
               ON CONFLICT (instrument_id) DO UPDATE SET online = $2, state = $3""",
            name,
            online,
            state,
        )
    rows = await pool.fetch(
        f"""SELECT {LIVE_COLUMNS}, {CURRENT_STATE_SQL} AS current, {RUNNING_NOW_SQL} AS running
            FROM instrument_live l JOIN instruments i ON i.id = l.instrument_id
            WHERE i.site_id = $1""",
        site,
    )
    assert len(rows) == len(combos)
    for row in rows:
        current = live_from_row(row).current_state
        assert row["current"] == current
        assert bool(row["running"]) is (current is InstrumentState.RUNNING)
    for state in InstrumentState:
        assert [x.instrument for x in await lives(pool, site=site, current=state)] == sorted(
            r["instrument_id"] for r in rows if live_from_row(r).current_state is state
        )
