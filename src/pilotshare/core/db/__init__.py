"""Database access: the asyncpg pool, migrations, TimescaleDB detection and its policies, the
one ``LISTEN`` loop (``Listener``) and the one set of transient errors (``TRANSIENT``, with
``Retry``, the way a loop reacts to one), and the two types store functions take:
``Connection`` (one connection, alone or from the pool) and ``Executor`` (that or the pool).

Other packages import these names from here; ``migrate`` is public as the module of the
migration runner (``migrate.migrate``), the other modules are this package's own.
"""

from pilotshare.core.db.errors import RETRY_IN_TRANSACTION, TRANSIENT, Backoff, Retry, pause
from pilotshare.core.db.listen import Listener
from pilotshare.core.db.migrate import uses_timescale
from pilotshare.core.db.policies import apply_policies
from pilotshare.core.db.pool import Connection, Executor, connect, create_pool, ping

__all__ = [
    "RETRY_IN_TRANSACTION",
    "TRANSIENT",
    "Backoff",
    "Connection",
    "Executor",
    "Listener",
    "Retry",
    "apply_policies",
    "connect",
    "create_pool",
    "migrate",
    "pause",
    "ping",
    "uses_timescale",
]
