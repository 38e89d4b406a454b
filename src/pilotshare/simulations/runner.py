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
- ``DaskRunner``: ``distributed.Client`` on ``tls://host:8786`` with mutual TLS (``DaskTls``:
  the certificates ``deploy/compose/dask-certs.sh`` makes), ``tcp://`` on a trusted machine,
  or a client given by the caller, such as a ``LocalCluster``'s. A Dask scheduler runs
  whatever its clients send, so the deployed one accepts certified peers only. Tasks are
  submitted with ``pure=False`` and explicit keys so two identical scenarios in one cluster
  never share cached futures.

Both pools send tasks in chunks (several per worker, so the load still balances) because a
replication can take only milliseconds and a round trip to a worker costs about as much.
``progress(done, total)`` is called in the caller's thread after each finished chunk.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

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

    def close(self) -> None: ...


class InlineRunner:
    """Every task in this process, one after another."""

    description = "this process"

    def close(self) -> None:
        """Nothing to release."""

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        report = progress or _noop
        out = []
        for task in tasks:
            out.append(fn(task))
            report(len(out), len(tasks))
        return out


def chunks(count: int, parts: int) -> list[range]:
    """``range(count)`` cut into at most ``parts`` contiguous pieces of near-equal size."""
    parts = max(1, min(parts, count))
    size, extra = divmod(count, parts)
    out, start = [], 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """Run ``fn`` over a chunk of tasks inside one worker (module level: it is shipped)."""
    return [fn(task) for task in chunk]


class LocalRunner:
    """A pool of worker processes on this machine (default: one per core).

    Tasks travel in chunks (``CHUNKS_PER_WORKER`` per worker) so that a replication of a few
    milliseconds does not pay a round trip each; the pool is started on first use and kept
    until :meth:`close`, so a sweep or a benchmark pays the start-up once.
    """

    CHUNKS_PER_WORKER = 8

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def description(self) -> str:
        return f"{self.workers} local processes"

    def close(self) -> None:
        """Stop the worker processes (the next ``map`` starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        if self.workers == 1 or len(tasks) <= 1:
            return InlineRunner().map(fn, tasks, progress)
        report = progress or _noop
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        results: list[Any] = [None] * len(tasks)
        pieces = chunks(len(tasks), self.workers * self.CHUNKS_PER_WORKER)
        futures: dict[Future[list[R]], range] = {
            self._pool.submit(run_chunk, fn, [tasks[i] for i in piece]): piece for piece in pieces
        }
        done = 0
        try:
            for future in as_completed(futures):
                piece = futures[future]
                results[piece.start : piece.stop] = future.result()
                done += len(piece)
                report(done, len(tasks))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return results


@dataclass(frozen=True, slots=True)
class DaskTls:
    """The client's side of mutual TLS to a Dask cluster: the CA that signed the scheduler's
    and workers' certificates, and the client's own certificate and key (PEM files;
    ``PILOTSHARE_DASK_TLS_CA_FILE``, ``…_CERT``, ``…_KEY``)."""

    ca_file: Path
    cert: Path
    key: Path

    def security(self) -> Any:
        """``distributed.security.Security`` requiring encryption, with these files."""
        from distributed.security import Security

        for name, path in (("CA_FILE", self.ca_file), ("CERT", self.cert), ("KEY", self.key)):
            if not path.is_file():
                raise ConfigError(f"PILOTSHARE_DASK_TLS_{name}: {path} is not a readable file")
        return Security(  # type: ignore[no-untyped-call]
            tls_ca_file=str(self.ca_file),
            tls_client_cert=str(self.cert),
            tls_client_key=str(self.key),
            require_encryption=True,
        )


class DaskRunner:
    """Tasks on a Dask cluster: ``address`` (``tls://host:8786`` with ``tls``, or
    ``tcp://…``) or a caller's ``client``.

    Tasks travel in chunks, as on the local pool, sized by the cluster's thread count.
    """

    CHUNKS_PER_WORKER = 8

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Any = None,
        timeout_s: float = 10.0,
        tls: DaskTls | None = None,
    ) -> None:
        if (address is None) == (client is None):
            raise ValueError("give a Dask address or a client")
        if address is not None:
            if address.startswith("tls://") and tls is None:
                raise ConfigError(
                    f"--dask {address}: TLS needs PILOTSHARE_DASK_TLS_CA_FILE, "
                    "PILOTSHARE_DASK_TLS_CERT and PILOTSHARE_DASK_TLS_KEY"
                )
            if tls is not None and not address.startswith("tls://"):
                raise ConfigError(
                    f"--dask {address}: Dask TLS certificates are set, give a tls:// address"
                )
        self.address = address
        self.client = client
        self.timeout_s = timeout_s
        self.tls = tls

    @property
    def description(self) -> str:
        where = self.address or getattr(getattr(self.client, "scheduler", None), "address", "")
        return f"Dask cluster {where}".strip()

    def close(self) -> None:
        """A client given by the caller stays the caller's to close."""

    def _connect(self) -> Any:
        from distributed import Client

        security = self.tls.security() if self.tls else None
        try:
            return Client(  # type: ignore[no-untyped-call]
                self.address, timeout=self.timeout_s, security=security
            )
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
            workers = max(1, sum(client.nthreads().values()))
            pieces = chunks(len(tasks), workers * self.CHUNKS_PER_WORKER)
            futures = [
                client.submit(
                    run_chunk,
                    fn,
                    [tasks[i] for i in piece],
                    key=f"pilotshare-sim-{run}-{k}",
                    pure=False,
                )
                for k, piece in enumerate(pieces)
            ]
            index = {f.key: pieces[k] for k, f in enumerate(futures)}
            results: list[Any] = [None] * len(tasks)
            done = 0
            try:
                finished = dask_completed(futures)  # type: ignore[no-untyped-call]
                for future in finished:
                    piece = index[future.key]
                    results[piece.start : piece.stop] = future.result()
                    done += len(piece)
                    report(done, len(tasks))
            finally:
                client.cancel(futures)
            return results
        finally:
            if self.client is None:
                client.close()


def runner_for(
    dask: str | None = None, workers: int | None = None, *, tls: DaskTls | None = None
) -> Runner:
    """The runner a command line asks for."""
    if dask:
        if not dask.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ConfigError(f"--dask {dask}: expected an address like tls://host:8786")
        return DaskRunner(dask, tls=tls)
    return LocalRunner(workers)
