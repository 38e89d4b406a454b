"""Which database errors are transient, and what a long-running loop does about one.

A transient error says nothing about the statement: run again later, unchanged, it may well
succeed. Every loop that outlives a database hiccup (the ingest's writers and sweeps, the
booking lifecycle, the job worker, the risk watch, every ``Listener``) catches ``TRANSIENT``
and reacts the one way ``Retry`` does: one log line, no traceback (the cause is outside the
code), then a wait that grows from ``first`` to ``cap`` and ends early when the loop stops.
Any other error is a bug or bad data, and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import asyncpg
from asyncpg import exceptions as pg

TRANSIENT: Final[tuple[type[Exception], ...]] = (
    # The network: refused, reset, unreachable, timed out (TimeoutError is an OSError).
    OSError,
    # SQLSTATE class 08, connection exception; asyncpg also raises its 08003
    # (ConnectionDoesNotExistError) when a connection is lost in the middle of a statement.
    asyncpg.PostgresConnectionError,
    # asyncpg's own "connection is closed" and "pool is closing" have no class of their own.
    # The class also covers local misuse and arguments it cannot encode (DataError): those
    # are bugs, and a loop then logs them once per backoff instead of dying.
    asyncpg.InterfaceError,
    # Class 57, operator intervention: admin shutdown (a restart, pg_terminate_backend),
    # crash shutdown, "cannot connect now" (the server is starting or recovering), and a
    # statement cancelled by statement_timeout or pg_cancel_backend.
    pg.OperatorInterventionError,
    # Class 40, transaction rollback: serialization failure and deadlock. The transaction was
    # rolled back as a whole, so running it again is exactly what PostgreSQL asks for.
    pg.TransactionRollbackError,
    # Class 53, insufficient resources: too many connections, out of memory, disk full.
    pg.InsufficientResourcesError,
)

#: The part of ``TRANSIENT`` a request retries at once, inside its own time: PostgreSQL rolled
#: its transaction back because of another one (a serialisation failure, a deadlock), so
#: running it again now is the remedy. The rest of ``TRANSIENT`` is an outage, which a loop
#: waits out and a request reports.
RETRY_IN_TRANSACTION: Final[tuple[type[BaseException], ...]] = (
    pg.SerializationError,
    pg.DeadlockDetectedError,
)


class Backoff:
    """Exponential backoff from ``first`` to ``cap`` seconds."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first, self.cap, self._next = first, cap, first

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Retry:
    """A loop's one reaction to a transient database error: one line, then back off.

    ``what`` names the loop in the log line; call ``reset`` once it works again.
    """

    def __init__(
        self, log: logging.Logger, what: str, *, first: float = 0.2, cap: float = 5.0
    ) -> None:
        self._log = log
        self._what = what
        self._backoff = Backoff(first, cap)

    async def after(self, exc: BaseException, stop: asyncio.Event) -> None:
        """Log ``exc`` in one line and wait the next delay (or until ``stop`` is set)."""
        delay = self._backoff.next()
        self._log.warning(
            "%s: database unavailable (%s: %s); retrying in %.1f s",
            self._what,
            type(exc).__name__,
            exc,
            delay,
        )
        await pause(stop, delay)

    async def wait(self, stop: asyncio.Event) -> None:
        """Wait the next delay without logging (the caller said what failed)."""
        await pause(stop, self._backoff.next())

    def reset(self) -> None:
        self._backoff.reset()


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
