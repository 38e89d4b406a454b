"""Runners: chunks that partition the tasks, and results in task order on every runner."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pilotshare.simulations.runner import InlineRunner, LocalRunner, chunks


@given(st.integers(0, 500), st.integers(1, 64))
def test_chunks_partition_the_tasks_in_order_and_evenly(count: int, parts: int) -> None:
    pieces = chunks(count, parts)
    assert [i for piece in pieces for i in piece] == list(range(count))
    assert len(pieces) == max(1, min(parts, count))
    sizes = [len(p) for p in pieces]
    assert max(sizes) - min(sizes) <= 1


def square(x: int) -> int:
    return x * x


def test_results_come_back_in_task_order_with_progress() -> None:
    seen: list[tuple[int, int]] = []
    tasks = list(range(37))
    with LocalRunner(2) as pool:
        got = pool.map(square, tasks, lambda done, total: seen.append((done, total)))
        again = pool.map(square, tasks[:5])  # the pool is reused
    assert got == [x * x for x in tasks] == InlineRunner().map(square, tasks)
    assert again == [0, 1, 4, 9, 16]
    assert seen[-1] == (37, 37)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
