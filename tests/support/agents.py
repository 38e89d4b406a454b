"""Agents as the end-to-end tests run them: on the session's broker, a known number of
reads, and a run in a block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from pilotshare.core.contract import Sample
from pilotshare.edge_agent.adapters import Adapter
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.runner import Agent


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
