"""Database access: the asyncpg pool, migrations, TimescaleDB detection, the one ``LISTEN``
loop (``listen.Listener``) and the one set of transient errors (``errors.TRANSIENT``, with
``errors.Retry``, the way a loop reacts to one), and the two types store functions take:
``Connection`` (one connection, alone or from the pool) and ``Executor`` (that or the pool)."""

from pilotshare.core.db.errors import TRANSIENT, Backoff, Retry, pause
from pilotshare.core.db.listen import Listener
from pilotshare.core.db.pool import Connection, Executor, connect, create_pool

__all__ = [
    "TRANSIENT",
    "Backoff",
    "Connection",
    "Executor",
    "Listener",
    "Retry",
    "connect",
    "create_pool",
    "pause",
]
