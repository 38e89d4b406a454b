"""Agents as the end-to-end tests run them: on the session's broker, a known number of
reads, and a run in a block; and the site they run against in the interlock tests (the
ingest, the booking lifecycle re-sending quickly, a client watching the broker)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import Sample
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import Adapter
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent
from pilotshare.scheduler.lifecycle import BookingLifecycle
from pilotshare.twin.ingest import Ingest
from tests.support.api import iso
from tests.support.ingest import RawClient, raw_client, running_ingest, wait_for

S = timedelta(seconds=1)


def quick_agent_config(
    *,
    site: str,
    instrument: str,
    mqtt_url: str,
    embedded: bool,
    outbox: Path,
    sample_interval_s: float,
) -> AgentConfig:
    """An agent on the session's broker (MQTT 3.1.1 on the embedded one) that sends small
    batches at once and serves no metrics port."""
    return AgentConfig(
        site=site,
        instrument=instrument,
        mqtt_url=mqtt_url,
        mqtt_protocol="3.1.1" if embedded else "auto",
        sample_interval_s=sample_interval_s,
        batch_max_samples=10,
        batch_max_age_s=0.1,
        metrics_port=0,
        outbox_path=str(outbox),
    )


class Finite(Adapter):
    """Reads the wrapped adapter ``reads`` times, then reports nothing: a known total."""

    def __init__(self, inner: Adapter, reads: int) -> None:
        self.inner = inner
        self.left = reads

    async def read(self, now: datetime) -> Sample | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return await self.inner.read(now)

    def next_change(self) -> datetime | None:
        return self.inner.next_change() if self.left > 0 else None


@contextlib.asynccontextmanager
async def agent_running(agent: Agent) -> AsyncIterator[Agent]:
    """``agent`` running for the block; stopped (and awaited) after it."""
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def new_agent(config: AgentConfig, adapter: Adapter) -> Agent:
    """An agent with a registry of its own (several agents of one test never collide)."""
    return Agent(config, adapter, registry=CollectorRegistry())


def interlock_agent(
    tmp_path: Path, site: str, mqtt_url: str, adapter: Adapter, instrument: str = "oven-1"
) -> Agent:
    """An agent of ``instrument`` sampling every 0.5 s over MQTT 3.1.1, for the interlock
    tests of each adapter."""
    config = AgentConfig(
        site=site,
        instrument=instrument,
        mqtt_url=mqtt_url,
        mqtt_protocol="3.1.1",
        sample_interval_s=0.5,
        metrics_port=0,
        outbox_path=str(tmp_path / f"{instrument}.outbox.sqlite"),
    )
    return new_agent(config, adapter)


def reported_interlocks(messages: list[tuple[str, bytes]]) -> list[object]:
    """The ``interlock`` of every online status among ``(topic, payload)`` messages."""
    return [
        json.loads(raw).get("interlock")
        for name, raw in messages
        if name.endswith("/status") and json.loads(raw)["online"]
    ]


@dataclass(frozen=True)
class BookedSite:
    """What an interlock test runs against: the ingest, the lifecycle and a watcher."""

    ingest: Ingest
    lifecycle: BookingLifecycle
    watcher: RawClient


@contextlib.asynccontextmanager
async def lifecycle_running(
    pool: asyncpg.Pool, endpoint: MqttEndpoint, site: str
) -> AsyncIterator[BookedSite]:
    """The ingest of ``site`` and the booking lifecycle on the wall clock, re-sending the
    desired interlock state every 0.5 s (at most 2 s), for the block; stopped after it."""
    stop = asyncio.Event()
    async with running_ingest(pool, endpoint, site) as ingest, raw_client(endpoint) as watcher:
        lifecycle = BookingLifecycle(
            pool, ingest.publisher, SystemClock(), resend=0.5 * S, resend_max=2 * S
        )
        ingest.add_listener(lifecycle.on_twin_change)
        task = asyncio.create_task(lifecycle.run(stop))
        try:
            yield BookedSite(ingest, lifecycle, watcher)
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)


async def booking_interlock(
    client: httpx.AsyncClient, who: dict[str, str], booking: str
) -> dict[str, object]:
    """A booking's ``interlock`` view (desired, reported, seq) as ``who`` reads it."""
    r = await client.get(f"/api/v1/bookings/{booking}", headers=who)
    assert r.status_code == 200, r.text
    return dict(r.json()["interlock"])


async def book_until_unlocked(
    client: httpx.AsyncClient,
    who: dict[str, str],
    instrument: str,
    start: datetime,
    end: datetime,
    *,
    timeout: float = 15.0,
) -> tuple[str, int]:
    """Book ``[start, end)`` as ``who`` over HTTP, then wait until the booking's interlock is
    unlocked as desired and as the agent reports it; the booking's id and the ``seq``."""
    body = {"instrument": instrument, "start": iso(start), "end": iso(end)}
    r = await client.post("/api/v1/bookings", json=body, headers=who)
    assert r.status_code == 201, r.text
    booking = str(r.json()["id"])

    view = await until_interlock(client, who, booking, "unlocked", timeout=timeout)
    seq = view["seq"]
    assert isinstance(seq, int)
    return booking, seq


async def until_interlock(
    client: httpx.AsyncClient,
    who: dict[str, str],
    booking: str,
    state: str,
    *,
    seq: int | None = None,
    timeout: float = 15.0,
) -> dict[str, object]:
    """Wait until the booking's interlock is ``state`` as desired and as the agent reports
    it (and at ``seq`` when given); that view."""
    found: dict[str, object] = {}

    async def reached() -> bool:
        nonlocal found
        found = await booking_interlock(client, who, booking)
        return found["desired"] == found["reported"] == state and seq in (None, found["seq"])

    await wait_for(reached, timeout=timeout)
    return found
