"""Where replications run: this process, a local process pool, or an existing Dask cluster.

A replication is a pure function of its task (the site, the horizon and one child of the
scenario's ``SeedSequence``), so the runner only decides *where* it runs, never what it
returns: results come back in task order whatever order the workers finish in, and the same
tasks give bit-identical results on every runner (``tests/integration/test_simulations_dask.py``).

- ``InlineRunner``: in this process; for one worker, tests and the API job when only one core
  is free.
- ``LocalRunner``: a ``ProcessPoolExecutor`` on the ``forkserver`` start method, so that a
  process holding an event loop and database connections (the API's job worker) never forks
  them into children. SimPy is pure Python, so processes, not threads, use the cores.
- ``DaskRunner``: ``distributed.Client`` on ``tcp://host:8786`` (or a client given by the
  caller, such as a ``LocalCluster``'s). Tasks are submitted with ``pure=False`` and explicit
  keys so two identical scenarios in one cluster never share cached futures.

``progress(done, total)`` is called in the caller's thread after each finished task.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Protocol, TypeVar

from pilotshare.core.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[int, int], None]


def _noop(done: int, total: int) -> None:
    del done, total


class Runner(Protocol):
    """Runs ``fn`` over tasks and returns the results in task order."""

    @property
    def description(self) -> str: ...

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]: ...


class InlineRunner:
    """Every task in this process, one after another."""

    description = "this process"

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        report = progress or _noop
        out = []
        for task in tasks:
            out.append(fn(task))
            report(len(out), len(tasks))
        return out


class LocalRunner:
    """A pool of worker processes on this machine (default: one per core)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    @property
    def description(self) -> str:
        return f"{self.workers} local processes"

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        if self.workers == 1 or len(tasks) <= 1:
            return InlineRunner().map(fn, tasks, progress)
        report = progress or _noop
        results: list[Any] = [None] * len(tasks)
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=context) as pool:
            futures: dict[Future[R], int] = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    results[futures[future]] = future.result()
                    report(done, len(tasks))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results


class DaskRunner:
    """Tasks on a Dask cluster: ``address`` (``tcp://host:8786``) or a caller's ``client``."""

    def __init__(
        self, address: str | None = None, *, client: Any = None, timeout_s: float = 10.0
    ) -> None:
        if (address is None) == (client is None):
            raise ValueError("give a Dask address or a client")
        self.address = address
        self.client = client
        self.timeout_s = timeout_s

    @property
    def description(self) -> str:
        where = self.address or getattr(getattr(self.client, "scheduler", None), "address", "")
        return f"Dask cluster {where}".strip()

    def _connect(self) -> Any:
        from distributed import Client

        try:
            return Client(self.address, timeout=self.timeout_s)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"--dask {self.address}: cannot reach the scheduler ({exc})"
            ) from None

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        from distributed import as_completed as dask_completed

        report = progress or _noop
        client = self.client or self._connect()
        try:
            run = uuid.uuid4().hex[:12]
            keys = [f"pilotshare-sim-{run}-{i}" for i in range(len(tasks))]
            futures = [
                client.submit(fn, t, key=k, pure=False) for t, k in zip(tasks, keys, strict=True)
            ]
            index = {f.key: i for i, f in enumerate(futures)}
            results: list[Any] = [None] * len(tasks)
            try:
                finished = dask_completed(futures)  # type: ignore[no-untyped-call]
                for done, future in enumerate(finished, start=1):
                    results[index[future.key]] = future.result()
                    report(done, len(tasks))
            finally:
                client.cancel(futures)
            return results
        finally:
            if self.client is None:
                client.close()


def runner_for(dask: str | None = None, workers: int | None = None) -> Runner:
    """The runner a command line asks for."""
    if dask:
        if not dask.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ConfigError(f"--dask {dask}: expected an address like tcp://host:8786")
        return DaskRunner(dask)
    return LocalRunner(workers)
