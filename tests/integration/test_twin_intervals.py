"""The one rule from samples to state intervals, in SQL and in Python: equal on any stream.

``twin.store.load_intervals`` runs ``twin.stats.intervals`` in PostgreSQL for speed; the
booking usage, the stored intervals and the learned behaviour all read it. Random sample
streams and windows (boundaries on samples and at exactly the gap included) must give the
same intervals from both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from pilotshare.core.domain import InstrumentState as S
from pilotshare.twin.stats import intervals
from pilotshare.twin.store import load_intervals
from tests.support.ingest import register

T0 = datetime(2026, 4, 6, tzinfo=UTC)
S1 = timedelta(seconds=1)

steps = hs.lists(hs.tuples(hs.integers(1, 60), hs.sampled_from(list(S))), max_size=40)
#: A window bound: seconds after T0, or (index of a sample, seconds after it plus the gap,
#: from -1 to 1), so that bounds on samples and at exactly the gap come up often.
bound = hs.one_of(hs.integers(-20, 900), hs.tuples(hs.integers(0, 39), hs.sampled_from([-1, 0, 1])))


def at(b: int | tuple[int, int], samples: list[datetime], gap: timedelta) -> datetime:
    if isinstance(b, int) or not samples:
        return T0 + (b if isinstance(b, int) else 0) * S1
    return samples[b[0] % len(samples)] + gap + b[1] * S1


@pytest.fixture
async def inst(pool: asyncpg.Pool, site: str) -> str:
    name = f"{site}-x"
    await register(pool, site, name)
    return name


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps, hs.integers(1, 40), hs.tuples(bound, bound))
async def test_sql_and_python_intervals_agree_on_any_stream_and_window(
    pool: asyncpg.Pool,
    inst: str,
    stream: list[tuple[int, S]],
    gap_s: int,
    window: tuple[int | tuple[int, int], int | tuple[int, int]],
) -> None:
    t, samples = T0, []
    for dt, state in stream:
        t += dt * S1
        samples.append((t, state))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM telemetry WHERE instrument_id = $1", inst)
        await conn.copy_records_to_table(
            "telemetry",
            records=[(inst, ts, state.value, 0) for ts, state in samples],
            columns=("instrument_id", "ts", "state", "batch"),
        )
    gap = gap_s * S1
    times = [ts for ts, _ in samples]
    since, until = sorted(at(b, times, gap) for b in window)
    expected = intervals(samples, gap=gap, since=since, until=until)
    assert await load_intervals(pool, inst, since, until, gap=gap) == expected
