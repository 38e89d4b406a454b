"""Which backend a migration picks, and that a half-installed TimescaleDB never breaks it.

A server can list TimescaleDB among its available extensions without preloading its library
(the package is installed, postgresql.conf not changed). Creating the extension there ends
the session, so the migration must notice first, warn once with what to do, and go on with
plain PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest

from pilotshare.core.db.migrate import (
    _lists_timescale,
    migrate,
    timescale_available,
    uses_timescale,
)
from pilotshare.core.db.pool import connect


@pytest.mark.parametrize(
    ("preload", "listed"),
    [
        ("", False),
        ("timescaledb", True),
        ("pg_stat_statements, timescaledb", True),
        ('"$libdir/timescaledb"', True),
        ("timescaledb_toolkit", False),
        ("pg_stat_statements", False),
    ],
)
def test_preload_setting_is_read_by_library_name(preload: str, listed: bool) -> None:
    assert _lists_timescale(preload) is listed


async def test_migration_uses_what_the_server_can_run(
    empty_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await connect(empty_db_url)
    try:
        offered = await timescale_available(conn)
        preload = await conn.fetchval(
            "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'"
        )
        with caplog.at_level(logging.WARNING, logger="pilotshare.core.db.migrate"):
            await migrate(conn)
        timescale = await uses_timescale(conn)
        warned = [r.getMessage() for r in caplog.records if "TimescaleDB" in r.getMessage()]
        if offered and preload is not None and _lists_timescale(preload):
            assert timescale
            assert not warned
        elif offered:
            assert not timescale
            assert len(warned) == 1
            assert "plain PostgreSQL" in warned[0]
        else:
            assert not timescale
            assert not warned  # nothing offered: nothing to say
        # the session survived whatever the server is, and the schema is usable
        assert await conn.fetchval("SELECT count(*) FROM telemetry_hourly") == 0
    finally:
        await conn.close()
