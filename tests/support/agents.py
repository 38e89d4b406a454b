"""Agents as the end-to-end tests run them: a known number of reads, and a run in a block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from pilotshare.core.contract import Sample
from pilotshare.edge_agent.adapters import Adapter
from pilotshare.edge_agent.runner import Agent


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
