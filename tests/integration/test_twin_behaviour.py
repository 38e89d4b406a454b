"""Learned behaviour in the database: intervals from SQL equal the pure function's, stored
behaviour round-trips, the background refresh covers every instrument once, and the
retention policies follow the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import InstrumentState as S
from pilotshare.twin.items import TelemetryItem
from pilotshare.twin.stats import Interval, intervals
from pilotshare.twin.store import (
    load_intervals,
    refresh_all_behaviours,
    stored_behaviour,
    stored_intervals,
    sync_intervals,
)
from tests.support.ingest import register
from tests.support.twin import telemetry_writer

T0 = datetime(2026, 4, 6, tzinfo=UTC)
GAP = timedelta(seconds=30)


def random_history(seed: int, n: int = 3000) -> list[tuple[datetime, S]]:
    """Samples every 5 s with random states and random silences."""
    rng = np.random.default_rng(seed)
    states = list(S)
    t, out = T0, []
    state = S.IDLE
    for _ in range(n):
        if rng.random() < 0.05:
            state = states[int(rng.integers(len(states)))]
        out.append((t, state))
        t += timedelta(seconds=5 if rng.random() > 0.01 else int(rng.integers(31, 600)))
    return out


async def store_samples(
    pool: asyncpg.Pool, site: str, inst: str, out: list[tuple[datetime, S]]
) -> None:
    writer = await telemetry_writer(pool, GAP)
    t = out[-1][0]
    for n in range(0, len(out), 500):
        samples = tuple(Sample(ts=ts, state=st) for ts, st in out[n : n + 500])
        batch = TelemetryBatch(agent="a", batch=n, samples=samples)
        topic = Topic(site, inst, Channel.TELEMETRY)
        await writer.write([TelemetryItem(topic, batch, encode(batch), t, 0.0)], t)


async def store_random_history(
    pool: asyncpg.Pool, site: str, inst: str, seed: int
) -> list[tuple[datetime, S]]:
    out = random_history(seed)
    await store_samples(pool, site, inst, out)
    return out


async def test_sql_intervals_are_exactly_the_pure_ones(pool: asyncpg.Pool, site: str) -> None:
    inst = f"{site}-x"
    await register(pool, site, inst)
    samples = await store_random_history(pool, site, inst, seed=3)
    end = samples[-1][0] + timedelta(seconds=1)
    from_sql = await load_intervals(pool, inst, T0, end, gap=GAP)
    assert from_sql == intervals(samples, gap=GAP, since=T0, until=end)
    assert len(from_sql) > 50


async def test_silence_of_exactly_the_gap_is_no_silence_and_a_longer_one_is(
    pool: asyncpg.Pool, site: str
) -> None:
    """The rule at its boundary, in SQL and in Python alike: a sample's state lasts until
    the next sample when that comes within the gap (inclusive); after a longer silence the
    instrument was offline from its last sample on, and nothing of the silence is counted."""
    inst = f"{site}-gap"
    await register(pool, site, inst)
    tick = timedelta(microseconds=1)
    samples = [
        (T0, S.RUNNING),
        (T0 + GAP, S.RUNNING),  # exactly the gap: the run goes on
        (T0 + 2 * GAP + tick, S.RUNNING),  # just over: offline from T0 + GAP
        (T0 + 3 * GAP + tick, S.IDLE),
    ]
    await store_samples(pool, site, inst, samples)
    expected = [
        Interval(S.RUNNING, T0, T0 + GAP),
        Interval(S.RUNNING, T0 + 2 * GAP + tick, T0 + 3 * GAP + tick),
    ]
    assert intervals(samples, gap=GAP) == expected
    # the window ends over the gap after the last sample: offline by then, it ends there
    until = T0 + 4 * GAP + 2 * tick
    assert intervals(samples, gap=GAP, since=T0, until=until) == expected
    assert await load_intervals(pool, inst, T0, until, gap=GAP) == expected
    # exactly the gap after it: not offline yet, the last state lasts to the window's end
    until = T0 + 4 * GAP + tick
    lasting = [*expected, Interval(S.IDLE, T0 + 3 * GAP + tick, until)]
    assert intervals(samples, gap=GAP, since=T0, until=until) == lasting
    assert await load_intervals(pool, inst, T0, until, gap=GAP) == lasting


async def test_incremental_intervals_equal_those_learned_from_scratch(
    pool: asyncpg.Pool, site: str
) -> None:
    inst = f"{site}-inc"
    await register(pool, site, inst)
    samples = random_history(seed=11, n=6000)
    cuts = [1500, 3100, 4700, 6000]
    done = 0
    for cut in cuts:  # the ingest stores a part, then a refresh brings the intervals up
        await store_samples(pool, site, inst, samples[done:cut])
        done = cut
        now = samples[cut - 1][0] + timedelta(seconds=1)
        await sync_intervals(pool, inst, now, gap=GAP, lookback=timedelta(minutes=10))
    end = samples[-1][0] + timedelta(seconds=1)
    assert await stored_intervals(pool, inst, T0, end) == intervals(samples, gap=GAP, until=end)


async def test_refresh_stores_each_instruments_behaviour_once(
    pool: asyncpg.Pool, site: str
) -> None:
    names = [f"{site}-a", f"{site}-b"]
    await register(pool, site, *names)
    for seed, inst in enumerate(names):
        await store_random_history(pool, site, inst, seed=seed)
    now = T0 + timedelta(days=2)
    assert await refresh_all_behaviours(pool, now, gap=GAP, older_than=timedelta(hours=1)) == 2
    assert await refresh_all_behaviours(pool, now, gap=GAP, older_than=timedelta(hours=1)) == 0
    for inst in names:
        learned = await stored_behaviour(pool, inst)
        assert learned is not None
        assert learned.failures > 0
        assert len(learned.hourly_profile) == 168
        row = await pool.fetchrow(
            "SELECT mtbf_hours, failures FROM instrument_behaviour WHERE instrument_id = $1", inst
        )
        assert row["failures"] == learned.failures
        assert row["mtbf_hours"] == pytest.approx(learned.mtbf_hours)
