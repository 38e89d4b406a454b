"""Bookings end to end: simulated agents → broker → ingest → lifecycle → API, and back.

Two simulated instruments follow their interlock: they are locked until the lifecycle sends
``unlock`` at the booking's start. One never shows up (its slot is a no-show); the other
starts a run shortly after the unlock and stops at the end. The booking of the first turns
``no_show``, its slot frees and is booked again; the second turns ``active``, then
``completed`` with a measured running time close to the simulator's own record.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.domain import InstrumentState
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedParams
from pilotshare.edge_agent.adapters.simulated import SimulatedInstrument
from pilotshare.edge_agent.runner import Agent
from pilotshare.scheduler.lifecycle import BookingLifecycle
from tests.support.agents import quick_agent_config
from tests.support.api import auth, iso
from tests.support.ingest import running_ingest, wait_for
from tests.support.instruments import add_instrument

pytestmark = pytest.mark.timeout(120)

S = timedelta(seconds=1)
FOLLOWER = SimulatedParams(
    follow_bookings=True,
    locked_at_start=True,
    p_no_show=0.0,
    late_start_mean_s=0.5,
    p_overrun=0.0,
    run_mean_s=3600.0,
    setup_mean_s=0.0,
    idle_mean_s=0.2,
    mtbf_s=1e9,
)
NO_SHOW = SimulatedParams(
    follow_bookings=True, locked_at_start=True, p_no_show=1.0, idle_mean_s=0.2, mtbf_s=1e9
)


def running_seconds(sim: SimulatedInstrument, start: datetime, end: datetime) -> float:
    """The simulator's own truth: seconds it was running within ``[start, end)``."""
    assert sim.transitions is not None
    total = 0.0
    marks = [*sim.transitions]
    for here, nxt in zip(marks, [*marks[1:], None], strict=True):
        if here.state != InstrumentState.RUNNING:
            continue
        a = max(here.at, start)
        b = min(nxt.at if nxt else end, end)
        total += max((b - a).total_seconds(), 0.0)
    return total


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


async def test_no_show_frees_the_slot_and_a_run_completes_with_true_usage(
    *,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    mqtt_url: str,
    mqtt_endpoint: MqttEndpoint,
    mqtt_is_embedded: bool,
    site: str,
    tmp_path: Path,
) -> None:
    names = {"absent": NO_SHOW, "worker": FOLLOWER}
    for name in names:
        await add_instrument(
            pool, f"{site}-{name}", site=site, kind="furnace", name=name, min_booking_s=1
        )
    acme = await auth(pool, "acme", "operator")
    globex = await auth(pool, "globex", "operator")
    now = datetime.now(UTC)
    agents, sims = [], {}
    for n, (name, params) in enumerate(names.items()):
        adapter = SimulatedAdapter(params, seed=n, start=now)
        adapter.instrument = sims[name] = SimulatedInstrument(params, n, start=now, record=True)
        config = quick_agent_config(
            site=site,
            instrument=f"{site}-{name}",
            mqtt_url=mqtt_url,
            embedded=mqtt_is_embedded,
            outbox=tmp_path / f"{name}.outbox.sqlite",
            sample_interval_s=0.1,
        )
        agents.append(Agent(config, adapter))
    stop = asyncio.Event()
    async with running_ingest(pool, mqtt_endpoint, site) as ingest:
        lifecycle = BookingLifecycle(pool, ingest.publisher, SystemClock(), grace=2 * S)
        ingest.add_listener(lifecycle.on_twin_change)
        tasks = [asyncio.create_task(lifecycle.run(stop))]
        tasks += [asyncio.create_task(a.run(stop)) for a in agents]
        try:
            await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 20)
            t0 = datetime.now(UTC).replace(microsecond=0) + 3 * S
            ids = {}
            for name, length in (("absent", 30), ("worker", 6)):
                body = {
                    "instrument": f"{site}-{name}",
                    "start": iso(t0),
                    "end": iso(t0 + length * S),
                }
                r = await client.post("/api/v1/bookings", json=body, headers=acme)
                assert r.status_code == 201, r.text
                ids[name] = r.json()["id"]

            async def status(name: str) -> str:
                r = await client.get(f"/api/v1/bookings/{ids[name]}", headers=acme)
                return str(r.json()["status"])

            async def is_(name: str, wanted: str) -> bool:
                return await status(name) == wanted

            await wait_for(lambda: is_("worker", "active"), timeout=15)
            await wait_for(lambda: is_("absent", "no_show"), timeout=15)
            # The no-show's slot is free again: another organisation books its remainder.
            start = datetime.now(UTC) + S
            r = await client.post(
                "/api/v1/bookings",
                json={"instrument": f"{site}-absent", "start": iso(start), "end": iso(t0 + 30 * S)},
                headers=globex,
            )
            assert r.status_code == 201, r.text

            await wait_for(lambda: is_("worker", "completed"), timeout=20)
            usage = (
                await client.get(f"/api/v1/bookings/{ids['worker']}/usage", headers=acme)
            ).json()
            truth = running_seconds(sims["worker"], t0, t0 + 6 * S)
            assert truth > 2.0  # it did run for most of the slot
            assert usage["running_seconds"] == pytest.approx(truth, abs=0.6)
            assert usage["booked_seconds"] == 6.0
        finally:
            stop.set()
            await asyncio.gather(*tasks)
