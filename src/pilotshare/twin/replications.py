"""Replications of the site model on a process pool, in order, reproducibly.

Replication ``i`` always draws from stream ``i`` of ``SeedSequence(seed)``, so the result is
the same on one process or many, and in any chunking. Workers come from a ``forkserver``
(safe beside asyncio and asyncpg threads, unlike ``fork``) that preloads this module and
the desk's, so each worker starts in milliseconds instead of importing the world; the site
is sent once per worker (pool initializer), then only seeds travel.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import numpy as np

from pilotshare.twin.model import DeskFactory, Replication, SiteSpec, replicate, seeds

_site: SiteSpec | None = None
_factory: DeskFactory | None = None


def _init(site: SiteSpec, factory: DeskFactory) -> None:
    global _site, _factory
    _site, _factory = site, factory


def _chunk(chunk: Sequence[np.random.SeedSequence]) -> list[Replication]:
    if _site is None or _factory is None:
        raise RuntimeError("worker process not initialised")
    return [replicate(_site, _factory, s) for s in chunk]


def run_replications(
    site: SiteSpec,
    factory: DeskFactory,
    replications: int,
    seed: int,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    preload: Sequence[str] = (),
) -> list[Replication]:
    """``replications`` runs of ``site``; ``progress(done)`` is called as chunks finish.

    ``preload`` names modules the forkserver imports once (the desk factory's module).
    """
    streams = seeds(seed, replications)
    if workers <= 1 or replications < 2 * workers:
        out = []
        for n, s in enumerate(streams, 1):
            out.append(replicate(site, factory, s))
            if progress:
                progress(n)
        return out
    # Small chunks: the last one finishes alone, so its length is idle time on the others.
    size = max(1, min(4, math.ceil(replications / (workers * 12))))
    chunks = [streams[i : i + size] for i in range(0, replications, size)]
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *preload])
    results: dict[int, list[Replication]] = {}
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init, initargs=(site, factory)
    ) as pool:
        pending: dict[Future[list[Replication]], int] = {
            pool.submit(_chunk, c): n for n, c in enumerate(chunks)
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                results[pending.pop(fut)] = fut.result()
            if progress:
                progress(sum(len(v) for v in results.values()))
    return [r for n in range(len(chunks)) for r in results[n]]
