"""An instrument that goes down concerns every organisation with a booking on it, from its
telemetry to each organisation's event stream: the agent reports ``down`` over MQTT, the
ingest stores it, the risk watch queues one forecast shared with acme and globex, the job
worker runs it, and each organisation reads its own bookings in the job and gets its own
``at_risk`` event (an admin gets both); neither sees the other's."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.db.pool import create_pool
from pilotshare.core.domain import InstrumentState
from pilotshare.core.jobs import Worker
from pilotshare.core.settings import MqttEndpoint
from pilotshare.scheduler.forecast import forecast_handler
from pilotshare.scheduler.forecast.risk_watch import RiskWatch
from tests.support.api import auth, iso, served, sse_events
from tests.support.ingest import batch_bytes, raw_client, running_ingest, topic, wait_for
from tests.support.instruments import add_instrument

H = timedelta(hours=1)


class Stream:
    """An open ``GET /api/v1/events`` of one key, collecting its ``at_risk`` events."""

    def __init__(self) -> None:
        self.at_risk: list[dict[str, Any]] = []
        self.snapshot = asyncio.Event()

    async def read(self, base: str, headers: dict[str, str], **params: str) -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=60) as client,
            client.stream("GET", "/api/v1/events", params=params, headers=headers) as r,
        ):
            assert r.status_code == 200
            async for kind, data in sse_events(r):
                if kind == "snapshot":
                    self.snapshot.set()
                elif kind == "at_risk":
                    self.at_risk.append(data)


@contextlib.asynccontextmanager
async def streams(base: str, **keys: dict[str, str]) -> AsyncIterator[dict[str, Stream]]:
    """One open event stream per key, each past its snapshot."""
    opened = {name: Stream() for name in keys}
    tasks = [asyncio.create_task(opened[name].read(base, key)) for name, key in keys.items()]
    try:
        for s in opened.values():
            await asyncio.wait_for(s.snapshot.wait(), 10)
        yield opened
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def risk_watch_and_worker(pool: asyncpg.Pool, clock: FakeClock) -> AsyncIterator[None]:
    """What ``pilotshare api`` runs beside the API: the risk watch and the job worker."""
    stop = asyncio.Event()
    watch = RiskWatch(pool, clock=clock, replications=40)
    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock, workers=1)}, poll_s=0.1)
    tasks = [asyncio.create_task(watch.run(stop)), asyncio.create_task(worker.run(stop))]
    try:
        await asyncio.sleep(0.3)  # listening
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool large enough for the API's listener, the risk watch's, the worker's (and the
    job it runs) and the ingest's connections at once."""
    p = await create_pool(db_url, min_size=1, max_size=16)
    try:
        yield p
    finally:
        await p.close()


async def test_every_organisation_with_a_booking_on_a_failed_instrument_is_told_its_own(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    sem1, sem2 = f"{site}-sem-1", f"{site}-sem-2"
    for ident in (sem1, sem2):
        await add_instrument(pool, ident, site=site, kind="sem")
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(now)  # the real time: the ingest refuses samples from the future
    acme, globex = await auth(pool, "acme", "operator"), await auth(pool, "globex", "operator")
    admin = await auth(pool, "platform", "admin")
    async with served(pool, clock) as base:
        ids: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for name, who, inst, start in (
                ("acme-soon", acme, sem1, now + H),
                ("globex-soon", globex, sem1, now + 4 * H),
                ("globex-elsewhere", globex, sem2, now + H),
                ("acme-next-week", acme, sem1, now + timedelta(days=9)),
            ):
                r = await client.post(
                    "/api/v1/bookings",
                    json={"instrument": inst, "start": iso(start), "end": iso(start + 2 * H)},
                    headers=who,
                )
                assert r.status_code == 201, r.text
                ids[name] = r.json()["id"]

        async with (
            streams(base, acme=acme, globex=globex, admin=admin) as seen,
            risk_watch_and_worker(pool, clock),
            running_ingest(pool, mqtt_endpoint, site),  # on the real clock: it flushes in time
            raw_client(mqtt_endpoint) as agent,
        ):
            down = batch_bytes(1, now - timedelta(seconds=5), 1, state=InstrumentState.DOWN)
            await agent.publish(topic(site, sem1), down)

            async def told() -> bool:
                return bool(seen["acme"].at_risk and seen["globex"].at_risk) and (
                    len(seen["admin"].at_risk) >= 2
                )

            await wait_for(told, timeout=60)
            await asyncio.sleep(0.3)  # nothing more arrives

        jobs = await pool.fetch("SELECT id, org_id, audience FROM jobs WHERE kind = 'forecast'")
        assert len(jobs) == 1  # one forecast, shared
        job = str(jobs[0]["id"])
        assert jobs[0]["org_id"] == "acme"  # the first affected booking's
        assert list(jobs[0]["audience"]) == ["globex"]

        # Each stream got one event, with its own organisation's bookings at risk only.
        (mine,) = seen["acme"].at_risk
        assert mine["org"] == "acme"
        assert mine["job"] == job
        assert mine["href"] == f"/api/v1/forecasts/{job}"
        assert [b["booking"] for b in mine["bookings"]] == [ids["acme-soon"]]
        row = mine["bookings"][0]
        assert row["instrument"] == sem1
        assert row["site"] == site
        assert datetime.fromisoformat(row["start"]) == now + H
        assert row["p_served"] < 0.8
        assert row["cause"] == "instrument down now"
        (theirs,) = seen["globex"].at_risk
        assert theirs["org"] == "globex"
        assert [b["booking"] for b in theirs["bookings"]] == [ids["globex-soon"]]
        assert {e["org"] for e in seen["admin"].at_risk} == {"acme", "globex"}
        text = json.dumps(seen["globex"].at_risk)
        assert ids["acme-soon"] not in text
        assert "acme" not in text

        # Both organisations' planners find the job and read their own bookings in it.
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for org, own, others in (
                ("acme", {"acme-soon"}, {"globex-soon", "globex-elsewhere"}),
                ("globex", {"globex-soon", "globex-elsewhere"}, {"acme-soon"}),
            ):
                planner = await auth(pool, org, "planner")
                listed = (await client.get("/api/v1/forecasts", headers=planner)).json()
                assert [x["id"] for x in listed] == [job]
                body = (await client.get(f"/api/v1/forecasts/{job}", headers=planner)).json()
                assert body["status"] == "done"
                result = body["result"]
                rows = {b["booking"] for b in result["bookings"]}
                assert rows == {ids[n] for n in own}
                assert rows.isdisjoint({ids[n] for n in others})
                assert {r["org"] for r in result["at_risk"]} == {org}
                assert result["other_organisations"] == {"bookings": len(others)}
            outsider = await auth(pool, "initech", "planner")
            assert (
                await client.get(f"/api/v1/forecasts/{job}", headers=outsider)
            ).status_code == 404
            assert (await client.get("/api/v1/forecasts", headers=outsider)).json() == []

            # The booking nine days out is outside the watch's week: out of range, not at risk.
            acme_planner = await auth(pool, "acme", "planner")
            result = (await client.get(f"/api/v1/forecasts/{job}", headers=acme_planner)).json()[
                "result"
            ]
            assert [r["booking"] for r in result["out_of_range"]] == [ids["acme-next-week"]]
            assert ids["acme-next-week"] not in {r["booking"] for r in result["at_risk"]}
