"""Database access: the asyncpg pool, migrations, TimescaleDB detection, the one ``LISTEN``
loop (``listen.Listener``) and the one set of transient errors (``errors.TRANSIENT``, with
``errors.Retry``, the way a loop reacts to one)."""

from pilotshare.core.db.errors import TRANSIENT, Backoff, Retry, pause
from pilotshare.core.db.listen import Listener
from pilotshare.core.db.pool import connect, create_pool

__all__ = ["TRANSIENT", "Backoff", "Listener", "Retry", "connect", "create_pool", "pause"]
