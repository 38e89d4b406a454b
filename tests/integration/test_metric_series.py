"""Metric series end to end: batches published over MQTT to the real ingest, read back over
HTTP as min/mean/max per bucket and checked against the samples; a resent batch and a late one
keep the hourly rollup exact; two organisations' keys read the same series; bad queries are
422 with their reason; and the migration rolls up what was stored before it."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import Sample, TelemetryBatch, decode_ack, encode
from pilotshare.core.db.migrate import migrate, uses_timescale
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from tests.support.api import api_client, auth
from tests.support.ingest import raw_client, register, running_ingest, topic, wait_for

pytestmark = pytest.mark.timeout(120)

BERLIN = ZoneInfo("Europe/Berlin")
#: 21:00 UTC on a winter Monday: 22:00 in Berlin, so the samples cross local midnight.
T0 = datetime(2026, 1, 5, 21, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
N = 48  # four hours of samples, 21:00 to 00:55 UTC


def power(i: int) -> float:
    return 1000.0 + (i * 37) % 101


def chamber(i: int) -> float:
    return 200.0 + i / 4


def samples(indices: range) -> tuple[Sample, ...]:
    return tuple(
        Sample(
            ts=T0 + i * STEP,
            state=InstrumentState.RUNNING,
            metrics={"power_w": power(i), "chamber_c": chamber(i)},
        )
        for i in indices
    )


def expected(
    values: dict[int, float], start_of: Callable[[datetime], datetime]
) -> list[dict[str, object]]:
    """min/mean/max per bucket of ``values`` (sample index -> value)."""
    by: dict[datetime, list[float]] = defaultdict(list)
    for i, v in values.items():
        by[start_of(T0 + i * STEP)].append(v)
    return [
        {"bucket": b, "n": len(vs), "min": min(vs), "mean": statistics.fmean(vs), "max": max(vs)}
        for b, vs in sorted(by.items())
    ]


def points(body: dict[str, object], name: str) -> list[dict[str, object]]:
    series = body["series"]
    assert isinstance(series, dict)
    return [
        {**p, "bucket": datetime.fromisoformat(p["bucket"]).astimezone(UTC)} for p in series[name]
    ]


def same(got: list[dict[str, object]], want: list[dict[str, object]]) -> None:
    assert [(p["bucket"], p["n"]) for p in got] == [(p["bucket"], p["n"]) for p in want]
    for g, w in zip(got, want, strict=True):
        for key in ("min", "mean", "max"):
            assert g[key] == pytest.approx(w[key]), (g["bucket"], key)


def hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def quarter(t: datetime) -> datetime:
    return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


def local_day(t: datetime) -> datetime:
    local = t.astimezone(BERLIN)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def test_metric_series_from_mqtt_to_http(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    oven, other = f"{site}-oven", f"{site}-other"
    await register(pool, site, oven, other)
    await pool.execute("UPDATE sites SET timezone = 'Europe/Berlin' WHERE id = $1", site)
    acme = await auth(pool, "acme", "operator")
    globex = await auth(pool, "globex", "operator")
    late = range(40, N)
    async with running_ingest(pool, mqtt_endpoint, site), raw_client(mqtt_endpoint) as agent:
        await agent.subscribe(topic(site, oven, "ack"))

        async def acked(*numbers: int) -> None:
            async def check() -> bool:
                seen = {b for _, raw in agent.messages() for b in decode_ack(raw).batches}
                return set(numbers) <= seen

            await wait_for(check)

        def batch(number: int, which: range) -> bytes:
            return encode(TelemetryBatch(agent="oven-agent", batch=number, samples=samples(which)))

        # the first 40 samples in two batches, then the first batch again (a resend) together
        # with the last 8 samples: a flush holding stored samples takes the staging path
        await agent.publish(topic(site, oven), batch(1, range(20)))
        await agent.publish(topic(site, oven), batch(2, range(20, 40)))
        await acked(1, 2)
        await agent.publish(topic(site, oven), batch(1, range(20)))
        await agent.publish(topic(site, oven), batch(3, late))
        await acked(3)
        # another instrument's samples never show in this one's series
        noise = Sample(ts=T0, state=InstrumentState.IDLE, metrics={"power_w": -1.0})
        await agent.publish(
            topic(site, other), encode(TelemetryBatch(agent="x", batch=1, samples=(noise,)))
        )

        async def other_stored() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM telemetry WHERE instrument_id = $1", other
                )
            )

        await wait_for(other_stored)

    powers = {i: power(i) for i in range(N)}
    chambers = {i: chamber(i) for i in range(N)}
    window = {"start": "2026-01-05T21:00:00Z", "end": "2026-01-06T01:00:00Z"}
    async with api_client(pool, clock=FakeClock(T0 + timedelta(days=1))) as client:
        url = f"/api/v1/instruments/{oven}/metrics"
        hourly = await client.get(url, params={**window, "bucket": "PT1H"}, headers=acme)
        assert hourly.status_code == 200, hourly.text
        body = hourly.json()
        assert (body["bucket"], body["timezone"]) == ("PT1H", "Europe/Berlin")
        assert sorted(body["series"]) == ["chamber_c", "power_w"]  # every name seen
        same(points(body, "power_w"), expected(powers, hour))
        same(points(body, "chamber_c"), expected(chambers, hour))
        assert sum(p["n"] for p in points(body, "power_w")) == N  # the resend counted once

        # the other organisation reads the same series (instruments are in the shared catalogue)
        again = await client.get(url, params={**window, "bucket": "1h"}, headers=globex)
        assert again.status_code == 200
        assert again.json()["series"] == body["series"]

        # finer buckets read the raw samples and agree with them
        fine = await client.get(
            url, params={**window, "bucket": "PT15M", "names": "power_w"}, headers=acme
        )
        assert fine.status_code == 200, fine.text
        assert list(fine.json()["series"]) == ["power_w"]
        same(points(fine.json(), "power_w"), expected(powers, quarter))

        # a day is the site's: Berlin's midnight is 23:00 UTC in January
        daily = await client.get(
            url,
            params={
                "start": "2026-01-05T00:00:00Z",
                "end": "2026-01-07T00:00:00Z",
                "bucket": "P1D",
            },
            headers=acme,
        )
        assert daily.status_code == 200, daily.text
        got = points(daily.json(), "chamber_c")
        assert [p["bucket"] for p in got] == [
            datetime(2026, 1, 4, 23, tzinfo=UTC),
            datetime(2026, 1, 5, 23, tzinfo=UTC),
        ]
        same(got, expected(chambers, local_day))

        if await uses_timescale(pool):  # type: ignore[arg-type]
            # the continuous aggregate's materialised rows answer the same as real time did
            await materialise(pool)
            rolled = await client.get(url, params={**window, "bucket": "PT1H"}, headers=acme)
            assert rolled.json()["series"] == body["series"]
            day = await client.get(url, params=daily.request.url.params, headers=acme)
            assert day.json()["series"] == daily.json()["series"]

        # a name asked for without samples answers an empty list
        none = await client.get(
            url, params={**window, "names": "power_w,humidity_pct"}, headers=acme
        )
        assert none.json()["series"]["humidity_pct"] == []
        assert len(none.json()["series"]["power_w"]) == 4

        for params, reason in (
            ({"bucket": "PT7M"}, "bad_bucket"),
            ({"bucket": "P1W"}, "bad_bucket"),
            ({"names": "Power"}, "bad_metric_name"),
            ({"names": ",".join(f"m{i}" for i in range(65))}, "bad_metric_name"),
            ({"bucket": "PT1M", "start": "2026-01-01T00:00:00Z"}, "bad_query"),
            ({"start": "2026-01-06T02:00:00Z"}, "bad_query"),
        ):
            bad = await client.get(url, params={**window, **params}, headers=acme)
            assert bad.status_code == 422, (params, bad.text)
            assert bad.json()["reason"] == reason, params

        missing = await client.get("/api/v1/instruments/nope/metrics", headers=acme)
        assert (missing.status_code, missing.json()["reason"]) == (404, "no_instrument")
        assert (await client.get(url)).status_code == 401


async def test_the_migration_rolls_up_the_samples_stored_before_it(pool: asyncpg.Pool) -> None:
    """Upgrading a database that holds telemetry: 0052 fills the plain rollup from it; on
    TimescaleDB the continuous aggregate answers for it, in real time and once materialised."""
    timescale = await uses_timescale(pool)  # type: ignore[arg-type]
    kind = "MATERIALIZED VIEW" if timescale else "TABLE"
    await pool.execute(
        f"DROP {kind} telemetry_metrics_hourly; DELETE FROM schema_migrations WHERE version = 52"
    )
    await pool.execute(
        """INSERT INTO telemetry (instrument_id, ts, state, metrics, batch)
           SELECT 'old-oven', $1::timestamptz + i * interval '20 minutes', 'running',
                  jsonb_build_object('power_w', i, 'chamber_c', 10 * i), 1
           FROM generate_series(0, 5) AS i""",
        T0,
    )
    await pool.execute(
        "INSERT INTO telemetry (instrument_id, ts, state, batch) "
        "VALUES ('old-oven', $1, 'idle', 1)",
        T0 + timedelta(hours=3),
    )
    async with pool.acquire() as conn:
        applied = await migrate(conn)
    assert [m.version for m in applied] == [52]
    want = [
        (T0, "chamber_c", 3, 30.0, 0.0, 20.0),
        (T0 + timedelta(hours=1), "chamber_c", 3, 120.0, 30.0, 50.0),
        (T0, "power_w", 3, 3.0, 0.0, 2.0),
        (T0 + timedelta(hours=1), "power_w", 3, 12.0, 3.0, 5.0),
    ]
    rollup = (
        "SELECT bucket, name, n, total, lo, hi FROM telemetry_metrics_hourly "
        "WHERE instrument_id = 'old-oven' ORDER BY name, bucket"
    )
    assert [tuple(r) for r in await pool.fetch(rollup)] == want
    if timescale:
        await materialise(pool)
        assert [tuple(r) for r in await pool.fetch(rollup)] == want


async def materialise(pool: asyncpg.Pool) -> None:
    """Materialise the metric aggregate and read only what it materialised from now on (this
    test's database is its own)."""
    await pool.execute("CALL refresh_continuous_aggregate('telemetry_metrics_hourly', NULL, NULL)")
    await pool.execute(
        "ALTER MATERIALIZED VIEW telemetry_metrics_hourly "
        "SET (timescaledb.materialized_only = true)"
    )
