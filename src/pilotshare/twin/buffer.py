"""The ingest's one bounded buffer between the MQTT reader and the database writers.

The reader appends validated items; writers take chunks of up to ``flush_samples`` samples,
or whatever is there once the oldest has waited ``flush_age_s``. A chunk that failed goes
back to the head. The bound counts every sample not yet committed (queued or being written):
while it is reached, ``room()`` blocks the reader, which then stops taking messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from pilotshare.core.clock import Clock
from pilotshare.twin.items import Item


class ItemBuffer:
    """Items waiting to be stored, weighed in samples; see the module docstring."""

    def __init__(
        self, clock: Clock, *, flush_samples: int, flush_age_s: float, max_samples: int
    ) -> None:
        self._clock = clock
        self._flush_samples = flush_samples
        self._flush_age = flush_age_s
        self._max = max_samples
        self._queue: deque[Item] = deque()
        self._queued = 0  # samples waiting in the queue
        self.held = 0  # samples queued or being written: the bound applies to this
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self.draining = False

    def append(self, item: Item) -> None:
        self._queue.append(item)
        self._queued += item.weight
        self.held += item.weight
        if self._queued >= self._flush_samples or len(self._queue) == 1:
            self._wakeup.set()

    async def room(self) -> None:
        """Wait until the buffer holds fewer samples than its bound."""
        while self.held >= self._max:
            self._space.clear()
            await self._space.wait()

    def drain(self) -> None:
        """From now on take whatever is there at once, and end takers when empty."""
        self.draining = True
        self._wakeup.set()

    async def take(self) -> list[Item] | None:
        """The next chunk to store; None when draining and empty."""
        while True:
            if self._queue:
                age = self._clock.monotonic() - self._queue[0].received
                if self._queued >= self._flush_samples or age >= self._flush_age or self.draining:
                    return self._pop_chunk()
                timeout: float | None = self._flush_age - age
            elif self.draining:
                return None
            else:
                timeout = None
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _pop_chunk(self) -> list[Item]:
        chunk: list[Item] = []
        size = 0
        while self._queue and (not chunk or size + self._queue[0].weight <= self._flush_samples):
            item = self._queue.popleft()
            chunk.append(item)
            size += item.weight
        self._queued -= size
        if self._queue:
            self._wakeup.set()  # another writer may take the rest
        return chunk

    def put_back(self, chunk: list[Item]) -> None:
        """Return a chunk that could not be stored to the head of the queue."""
        self._queue.extendleft(reversed(chunk))
        self._queued += sum(i.weight for i in chunk)

    def done(self, chunk: list[Item]) -> None:
        """A chunk was committed: its samples no longer count against the bound."""
        self.held -= sum(i.weight for i in chunk)
        if self.held < self._max:
            self._space.set()
