"""The ingest buffer: chunks by size and age, failed chunks back at the head, a hard bound."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as hs

from pilotshare.core.clock import FakeClock
from pilotshare.twin.buffer import ItemBuffer
from pilotshare.twin.items import RejectItem

T = datetime(2026, 1, 1, tzinfo=UTC)


def item(n: int, clock: FakeClock, weight: int = 1) -> RejectItem:
    return RejectItem(f"t/{n}", "bad_json", "", b"", T, clock.monotonic(), weight=weight)


async def test_a_chunk_is_taken_when_full_or_old_enough() -> None:
    clock = FakeClock()
    buf = ItemBuffer(clock, flush_samples=10, flush_age_s=1.0, max_samples=100)
    buf.append(item(1, clock, weight=4))
    taker = asyncio.create_task(buf.take())
    await asyncio.sleep(0.01)
    assert not taker.done()  # neither full nor old
    buf.append(item(2, clock, weight=6))
    chunk = await asyncio.wait_for(taker, 1)
    assert [i.topic for i in chunk] == ["t/1", "t/2"]
    buf.append(item(3, clock))
    clock.advance(1.0)
    chunk = await asyncio.wait_for(buf.take(), 1)
    assert [i.topic for i in chunk] == ["t/3"]


async def test_a_failed_chunk_goes_back_to_the_head_and_the_bound_holds_until_done() -> None:
    clock = FakeClock()
    buf = ItemBuffer(clock, flush_samples=2, flush_age_s=0.0, max_samples=3)
    for n in range(3):
        buf.append(item(n, clock))
    reader = asyncio.create_task(buf.room())
    await asyncio.sleep(0.01)
    assert not reader.done()  # full: the reader waits
    chunk = await buf.take()
    assert chunk is not None
    buf.put_back(chunk)
    again = await buf.take()
    assert again == chunk
    await asyncio.sleep(0.01)
    assert not reader.done()  # taken is not stored: still counted
    buf.done(again)
    await asyncio.wait_for(reader, 1)
    assert buf.held == 1


async def test_draining_takes_everything_then_ends() -> None:
    clock = FakeClock()
    buf = ItemBuffer(clock, flush_samples=100, flush_age_s=60, max_samples=1000)
    buf.append(item(1, clock))
    buf.drain()
    assert await buf.take() is not None
    assert await buf.take() is None


@settings(max_examples=100, deadline=None)
@given(hs.lists(hs.integers(1, 50), min_size=1, max_size=40), hs.integers(1, 120))
def test_chunks_keep_order_and_respect_the_size(weights: list[int], flush: int) -> None:
    async def run() -> list[list[RejectItem]]:
        clock = FakeClock()
        buf = ItemBuffer(clock, flush_samples=flush, flush_age_s=0.0, max_samples=10**6)
        for n, w in enumerate(weights):
            buf.append(item(n, clock, weight=w))
        buf.drain()
        chunks = []
        while (chunk := await buf.take()) is not None:
            chunks.append(chunk)
        return chunks  # type: ignore[return-value]

    chunks = asyncio.run(run())
    flat = [i.topic for c in chunks for i in c]
    assert flat == [f"t/{n}" for n in range(len(weights))]
    for chunk in chunks:  # a chunk is over the size only when one item alone is
        assert sum(i.weight for i in chunk) <= flush or len(chunk) == 1
