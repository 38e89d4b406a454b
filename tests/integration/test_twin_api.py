"""The twin's HTTP API on a real database: twin, telemetry buckets, rejects, event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import InstrumentState as S
from pilotshare.core.settings import Settings
from pilotshare.edge_agent.adapters.simulated import SimulatedParams
from pilotshare.twin.items import RejectItem, TelemetryItem
from pilotshare.twin.stats import intervals, learn
from tests.support.api import served, sse_events
from tests.support.ingest import register
from tests.support.instruments import add_instrument
from tests.support.learned import samples, simulate
from tests.support.twin import telemetry_writer

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
GAP_30 = timedelta(seconds=30)  # the settings' offline_after_s


def _item(site: str, inst: str, batch: int, samples: list[Sample]) -> TelemetryItem:
    b = TelemetryBatch(agent="a", batch=batch, samples=tuple(samples))
    return TelemetryItem(Topic(site, inst, Channel.TELEMETRY), b, encode(b), T0, 0.0)


async def write_history(
    pool: asyncpg.Pool, site: str, inst: str, states: list[tuple[S, int]], *, start: datetime
) -> datetime:
    """Store 1 Hz samples: each (state, seconds) in turn; returns the end time."""
    writer = await telemetry_writer(pool, timedelta(seconds=30))
    t, batch, pending = start, 0, []
    for state, seconds in states:
        for _ in range(seconds):
            util = 0.8 if state is S.RUNNING else 0.0
            pending.append(Sample(ts=t, state=state, utilization=util))
            t += timedelta(seconds=1)
            if len(pending) == 3600:
                batch += 1
                await writer.write([_item(site, inst, batch, pending)], t)
                pending = []
    if pending:
        await writer.write([_item(site, inst, batch + 1, pending)], t)
    return t


@pytest.fixture
async def api(pool: asyncpg.Pool, site: str) -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock]]:
    clock = FakeClock(T0)
    # the key is the network operator's admin: it reads every reject, unknown instruments' too
    settings = Settings(operator_org=f"{site}-org")
    app = create_app(settings, pool=pool, clock=clock, registry=CollectorRegistry())
    async with pool.acquire() as conn:
        key = await create_key(conn, org=f"{site}-org", role="admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client, clock


async def test_twin_reports_state_utilisation_and_learned_behaviour(
    api: tuple[httpx.AsyncClient, FakeClock], pool: asyncpg.Pool, site: str
) -> None:
    client, clock = api
    inst = f"{site}-oven"
    await register(pool, site, inst)
    cycle = [(S.RUNNING, 1800), (S.DOWN, 600), (S.IDLE, 1200)]
    end = await write_history(pool, site, inst, cycle * 4, start=T0)
    clock.advance((end - T0).total_seconds())
    r = await client.get(f"/api/v1/instruments/{inst}/twin")
    assert r.status_code == 200, r.text
    twin = r.json()
    assert twin["instrument"] == inst
    assert twin["online"] is True
    assert twin["state"] == "idle"
    assert datetime.fromisoformat(twin["since"]) == end - timedelta(seconds=1200)
    assert datetime.fromisoformat(twin["last_seen"]) == end - timedelta(seconds=1)
    # the last hour: 20 min idle (0.0) and before it 10 min down and 30 min running (0.8)
    assert twin["utilization"]["1h"] == pytest.approx(0.8 * 1800 / 3600, abs=0.01)
    assert twin["utilization"]["24h"] == pytest.approx(0.8 * 1800 / 3600, abs=0.01)
    # 4 failures, each after 30 min running + 20 min idle (the first has none before it)
    assert twin["failures"] == 4
    operating_h = (4 * 1800 + 3 * 1200 + 1199) / 3600
    assert twin["mtbf_hours"] == pytest.approx(operating_h / 4, rel=0.01)
    assert twin["mttr_hours"] == pytest.approx(600 / 3600, rel=0.01)
    assert twin["state_seconds_24h"]["down"] == pytest.approx(2400, abs=5)


async def test_twin_of_a_silent_or_unknown_instrument(
    api: tuple[httpx.AsyncClient, FakeClock], pool: asyncpg.Pool, site: str
) -> None:
    client, clock = api
    inst = f"{site}-sem"
    await register(pool, site, inst)
    r = await client.get(f"/api/v1/instruments/{inst}/twin")
    assert r.status_code == 200
    assert r.json()["online"] is False
    assert r.json()["state"] is None
    assert r.json()["mtbf_hours"] is None
    end = await write_history(pool, site, inst, [(S.RUNNING, 60)], start=T0)
    clock.advance((end - T0).total_seconds() + 31)  # silent for longer than offline_after_s
    twin = (await client.get(f"/api/v1/instruments/{inst}/twin")).json()
    assert twin["online"] is False
    assert twin["state"] == "offline"
    assert (await client.get("/api/v1/instruments/nope/twin")).status_code == 404


async def test_telemetry_buckets_agree_between_rollup_and_raw(
    api: tuple[httpx.AsyncClient, FakeClock], pool: asyncpg.Pool, site: str
) -> None:
    client, clock = api
    inst = f"{site}-press"
    await register(pool, site, inst)
    end = await write_history(
        pool, site, inst, [(S.RUNNING, 5400), (S.IDLE, 3600), (S.DOWN, 1800)], start=T0
    )
    clock.advance(86400)
    params = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=4)).isoformat()}
    hourly = (
        await client.get(
            f"/api/v1/instruments/{inst}/telemetry", params=params | {"bucket": "PT1H"}
        )
    ).json()
    fine = (
        await client.get(
            f"/api/v1/instruments/{inst}/telemetry", params=params | {"bucket": "PT30M"}
        )
    ).json()
    assert [b["samples"] for b in hourly] == [3600, 3600, 3600, 0]
    assert sum(b["samples"] for b in fine) == (end - T0).total_seconds()
    assert hourly[1]["utilization"] == pytest.approx(0.4, abs=1e-6)
    assert hourly[1]["state_seconds"]["running"] == pytest.approx(1800, abs=2)
    assert hourly[1]["state_seconds"]["idle"] == pytest.approx(1800, abs=2)
    for state in ("running", "idle", "down"):
        total_h = sum(b["state_seconds"][state] for b in hourly)
        total_f = sum(b["state_seconds"][state] for b in fine)
        assert total_h == pytest.approx(total_f, abs=5), state
    day = (
        await client.get(
            f"/api/v1/instruments/{inst}/telemetry",
            params={
                "start": T0.isoformat(),
                "end": (T0 + timedelta(days=2)).isoformat(),
                "bucket": "P1D",
            },
        )
    ).json()
    assert [b["samples"] for b in day] == [10800, 0]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (
            {"bucket": "PT1S", "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
            "buckets",
        ),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "after start"),
        ({"start": "2026-01-01T00:00:00"}, "timezone"),
        ({"bucket": "often"}, "iso 8601 duration"),
        ({"bucket": "3600"}, "iso 8601 duration"),  # bare seconds are not a duration
    ],
)
async def test_bad_telemetry_queries_are_422_with_a_reason(
    api: tuple[httpx.AsyncClient, FakeClock],
    pool: asyncpg.Pool,
    site: str,
    params: dict[str, str],
    fragment: str,
) -> None:
    client, _ = api
    inst = f"{site}-x"
    await register(pool, site, inst)
    r = await client.get(f"/api/v1/instruments/{inst}/telemetry", params=params)
    assert r.status_code == 422
    assert fragment in json.dumps(r.json()["detail"]).lower()


async def test_rejects_are_listed_for_admins_only(
    api: tuple[httpx.AsyncClient, FakeClock], pool: asyncpg.Pool, site: str
) -> None:
    client, _ = api
    writer = await telemetry_writer(pool, timedelta(seconds=30))
    raw = b'{"v":1,"agent":"a","batch":1,"samples":[' + b"\xff" * 20000
    await writer.write(
        [RejectItem(f"pilotshare/v1/{site}/x/telemetry", "bad_json", "truncated", raw, T0, 0.0)],
        T0,
    )
    r = await client.get("/api/v1/rejects", params={"limit": 5})
    assert r.status_code == 200
    [reject] = r.json()
    assert reject["reason"] == "bad_json"
    assert reject["payload_size"] == len(raw)
    assert reject["payload"].startswith('{"v":1')
    assert (await client.get("/api/v1/rejects", params={"limit": 0})).status_code == 422
    async with pool.acquire() as conn:
        operator = await create_key(conn, org=f"{site}-ops", role="operator")
    r = await client.get("/api/v1/rejects", headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 403


async def test_event_stream_sends_snapshot_then_changes(pool: asyncpg.Pool, site: str) -> None:
    inst = f"{site}-lathe"
    await register(pool, site, inst)
    now = datetime.now(UTC)
    writer = await telemetry_writer(pool, timedelta(seconds=30))
    await writer.write([_item(site, inst, 1, [Sample(ts=now, state=S.IDLE)])], now)
    async with pool.acquire() as conn:
        key = await create_key(conn, org=f"{site}-org", role="operator")
    async with served(pool, FakeClock(now)) as base:
        events: list[tuple[str, dict[str, object]]] = []
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as client,
            client.stream(
                "GET",
                "/api/v1/events",
                params={"site": site},
                headers={"Authorization": f"Bearer {key}"},
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for kind, data in sse_events(response):
                events.append((kind, data))
                if kind == "snapshot":
                    later = now + timedelta(seconds=1)
                    running = [Sample(ts=later, state=S.RUNNING)]
                    await writer.write([_item(site, inst, 2, running)], later)
                if kind == "twin":
                    break
        assert events[0] == ("snapshot", events[0][1])
        assert events[0][1]["state"] == "idle"
        assert events[1][0] == "twin"
        assert events[1][1]["state"] == "running"
        assert events[1][1]["instrument"] == inst


async def test_twin_serves_the_learned_behaviour_in_full_to_every_organisation(
    api: tuple[httpx.AsyncClient, FakeClock], pool: asyncpg.Pool, site: str
) -> None:
    """A day of 1 Hz telemetry of a simulated instrument, stored as the ingest stores it:
    the twin serves the intervals, fits and profile that the twin's own learning gives for
    the same samples, in the site's time zone, to a key of another organisation alike."""
    client, clock = api
    inst = f"{site}-kiln"
    zone = "Asia/Shanghai"
    await add_instrument(pool, inst, site=site, site_timezone=zone)
    truth = SimulatedParams(mtbf_s=3600, mttr_s=900, setup_mean_s=0, idle_mean_s=600)
    trace = simulate(truth, 3, days=1, start=T0, outage_every_h=8, outage_mean_s=600)
    seen = list(samples(trace))
    writer = await telemetry_writer(pool, timedelta(seconds=30))
    for n in range(0, len(seen), 3600):
        part = [Sample(ts=ts, state=st) for ts, st in seen[n : n + 3600]]
        await writer.write([_item(site, inst, n // 3600 + 1, part)], part[-1].ts)
    clock.advance(trace.seconds)
    async with pool.acquire() as conn:
        other = await create_key(conn, org=f"{site}-client", role="operator")
    mine = (await client.get(f"/api/v1/instruments/{inst}/twin")).json()
    r = await client.get(
        f"/api/v1/instruments/{inst}/twin", headers={"Authorization": f"Bearer {other}"}
    )
    assert r.status_code == 200
    assert r.json()["behaviour"] == mine["behaviour"]  # instruments are everyone's to see

    expected = learn(
        intervals(seen, gap=GAP_30, since=trace.end - timedelta(days=30), until=trace.end),
        timezone=zone,
    )
    b = mine["behaviour"]
    assert datetime.fromisoformat(b["window_end"]) == trace.end
    assert b["failures"] == expected.failures > 8
    assert b["repairs"] == expected.repairs
    assert mine["failures"] == b["failures"]
    for name, hours, ci in (
        ("mtbf", expected.mtbf_hours, expected.mtbf_ci),
        ("running_mtbf", expected.running_mtbf_hours, expected.running_mtbf_ci),
        ("mttr", expected.mttr_hours, expected.mttr_ci),
    ):
        assert b[name]["hours"] == pytest.approx(hours), name
        assert b[name]["interval"] == pytest.approx(list(ci or ())), name
        assert b[name]["confidence"] == 0.9
        assert b[name]["interval"][0] < b[name]["hours"] < b[name]["interval"][1]
    assert mine["mtbf_hours"] == pytest.approx(b["mtbf"]["hours"])
    for name in ("run_length", "idle_length", "repair_length"):
        fitted = getattr(expected, name)
        assert b[name]["family"] == fitted.family
        assert b[name]["params"] == pytest.approx(fitted.params)
        assert b[name]["n"] == fitted.n
    assert b["hour_of_week"]["timezone"] == zone
    assert b["hour_of_week"]["values"] == pytest.approx(list(expected.hourly_profile))
    # T0 is Monday 00:00 UTC, Monday 08:00 in Shanghai: the day lies in the local Monday
    # from 08:00 on and the Tuesday before 08:00; other hours were never observed
    observed = {0 * 24 + h for h in range(8, 24)} | {1 * 24 + h for h in range(8)}
    overall = b["state_hours"]["running"] / b["observed_hours"]
    for slot, share in enumerate(b["hour_of_week"]["values"]):
        if slot not in observed:
            assert share == pytest.approx(overall), slot


async def test_the_twin_answer_is_typed_in_openapi(
    api: tuple[httpx.AsyncClient, FakeClock],
) -> None:
    client, _ = api
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    twin = schemas["TwinPublic"]["properties"]["behaviour"]
    assert {"$ref": "#/components/schemas/LearnedBehaviour"} in twin["anyOf"]
    learned = schemas["LearnedBehaviour"]["properties"]
    for name in ("mtbf", "running_mtbf", "mttr"):
        assert learned[name]["$ref"] == "#/components/schemas/Estimate"
    assert set(schemas["Estimate"]["properties"]) == {"hours", "interval", "confidence"}
    assert schemas["DurationFit"]["properties"]["family"]["enum"] == [
        "exponential", "weibull", "lognormal", "gamma",
    ]  # fmt: skip
    assert schemas["HourOfWeek"]["properties"]["values"]["minItems"] == 168
