"""Forward-only numbered SQL migrations, each applied once, in a transaction, and recorded.

Files are ``migrations/NNNN_name.sql``. TimescaleDB-only steps live inside the SQL, guarded by
``pilotshare_timescale()`` (a function migration 0001 defines), so one ordered list serves both
databases and a step is never skipped silently: it either does the Timescale thing or the plain
PostgreSQL equivalent. An advisory lock lets several services start at once and migrate once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from pilotshare.core.db.pool import Connection

log = logging.getLogger(__name__)

_LOCK_KEY = 0x70696C6F  # "pilo": one migrator at a time per database
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The packaged migrations, in order; refuses duplicate numbers."""
    found: dict[int, Migration] = {}
    for entry in resources.files("pilotshare.core.db.migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def timescale_available(conn: Connection) -> bool:
    """Whether the server offers the TimescaleDB extension (installed or installable)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        )
    )


def _lists_timescale(preload: str) -> bool:
    """Whether a ``shared_preload_libraries`` value names the TimescaleDB loader."""
    names = (item.strip().strip('"').rsplit("/", 1)[-1] for item in preload.split(","))
    return "timescaledb" in names


async def _enable_timescale(conn: Connection) -> bool:
    """Enable TimescaleDB when the server can run it; otherwise say why not, once.

    ``CREATE EXTENSION timescaledb`` on a server that has the extension's files but does not
    preload its library is not an ordinary error: the server ends the session (FATAL). So the
    extension is created only when ``shared_preload_libraries`` names it; a role that may not
    read that setting cannot create the extension either, unless it already exists here.
    """
    if await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    ):
        return True
    if not await timescale_available(conn):
        return False
    preload = await conn.fetchval(
        "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'"
    )
    if preload is None:
        log.warning(
            "TimescaleDB is installed on the server but this role cannot read "
            "shared_preload_libraries, so it cannot enable the extension; using plain "
            "PostgreSQL (create the extension as a superuser to use TimescaleDB)"
        )
        return False
    if not _lists_timescale(preload):
        log.warning(
            "TimescaleDB is installed on the server but not preloaded "
            "(shared_preload_libraries = %r); using plain PostgreSQL. To use it, add "
            "timescaledb to shared_preload_libraries and restart the server before the "
            "first migration",
            preload,
        )
        return False
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except asyncpg.PostgresError as exc:  # e.g. no privilege to create it
        log.warning(
            "TimescaleDB is preloaded but cannot be enabled (%s); using plain PostgreSQL", exc
        )
        return False
    return True


async def migrate(conn: Connection) -> list[Migration]:
    """Apply every pending migration; returns those applied (empty when up to date)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        await conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        timescale = await _enable_timescale(conn)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied: list[Migration] = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration)
        if applied:
            log.info("schema is current (%s)", "TimescaleDB" if timescale else "PostgreSQL")
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def uses_timescale(conn: Connection) -> bool:
    """Whether this database's telemetry is a hypertable.

    Not merely whether the extension exists: a database migrated on plain PostgreSQL keeps a
    plain telemetry table even if the extension is created later.
    """
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    ):
        return False
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = 'telemetry')"
        )
    )
