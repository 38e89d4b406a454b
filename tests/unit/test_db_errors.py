"""Which database errors are transient, and the one way a loop reacts to them."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from asyncpg import exceptions as pg

from pilotshare.core.db.errors import RETRY_IN_TRANSACTION, TRANSIENT, Backoff, Retry


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "connection refused"),
        ConnectionResetError(104, "connection reset by peer"),
        TimeoutError(),
        OSError(113, "no route to host"),
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        pg.ConnectionFailureError("connection failure"),
        pg.ClientCannotConnectError("cannot connect"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
        pg.AdminShutdownError("terminating connection due to administrator command"),
        pg.CrashShutdownError("terminating connection because of crash of another process"),
        pg.CannotConnectNowError("the database system is starting up"),
        pg.QueryCanceledError("canceling statement due to statement timeout"),
        pg.SerializationError("could not serialize access due to concurrent update"),
        pg.DeadlockDetectedError("deadlock detected"),
        pg.TooManyConnectionsError("sorry, too many clients already"),
        pg.OutOfMemoryError("out of memory"),
        pg.DiskFullError("could not extend file"),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(e)[:24],
)
def test_lost_connections_restarts_conflicts_and_exhaustion_are_transient(
    exc: BaseException,
) -> None:
    assert _transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        pg.UniqueViolationError("duplicate key value"),
        pg.ExclusionViolationError("conflicting key value violates exclusion constraint"),
        pg.CheckViolationError("new row violates check constraint"),
        pg.UndefinedTableError('relation "jobs" does not exist'),
        pg.PostgresSyntaxError("syntax error"),
        pg.InvalidTextRepresentationError("invalid input syntax for type uuid"),
        pg.InsufficientPrivilegeError("permission denied"),
        ValueError("bad value"),
        KeyError("column"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_what_the_statement_itself_got_wrong_is_not_transient(exc: BaseException) -> None:
    assert not _transient(exc)


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    b = Backoff(0.2, 1.0)
    assert [b.next() for _ in range(5)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    b.reset()
    assert b.next() == pytest.approx(0.2)


def test_retry_logs_one_line_without_traceback_and_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.retry")
    retry = Retry(log, "the loop", first=0.01, cap=0.02)

    async def run() -> list[float]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        waits = []
        for _ in range(3):
            t0 = loop.time()
            await retry.after(pg.DeadlockDetectedError("deadlock detected"), stop)
            waits.append(loop.time() - t0)
        return waits

    with caplog.at_level(logging.WARNING, logger="test.retry"):
        waits = asyncio.run(run())
    assert min(waits) >= 0.009
    assert [r.exc_info for r in caplog.records] == [None, None, None]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        "the loop: database unavailable (DeadlockDetectedError: deadlock detected); "
        "retrying in 0.0 s"
    )
    assert all("\n" not in m for m in messages)


def test_retry_stops_waiting_when_its_loop_stops() -> None:
    retry = Retry(logging.getLogger("test.retry"), "the loop", first=30.0, cap=30.0)

    async def run() -> float:
        stop = asyncio.Event()
        stop.set()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await retry.after(OSError("down"), stop)
        return loop.time() - t0

    assert asyncio.run(run()) < 1.0


def test_what_a_request_retries_is_transient_but_an_outage_is_not_retried() -> None:
    rolled_back = [pg.SerializationError("could not serialize"), pg.DeadlockDetectedError("x")]
    assert all(isinstance(e, RETRY_IN_TRANSACTION) and _transient(e) for e in rolled_back)
    outage = [pg.AdminShutdownError("shutdown"), ConnectionResetError(104, "reset")]
    assert not any(isinstance(e, RETRY_IN_TRANSACTION) for e in outage)
