"""Migrations on a real PostgreSQL: apply on empty, re-apply as a no-op, and the schema's
last line of defence against double booking."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from pilotshare.core.db.migrate import available_migrations, migrate, uses_timescale
from pilotshare.core.db.pool import connect
from tests.support.instruments import add_instrument


async def test_apply_on_empty_then_again_is_a_noop(empty_db_url: str) -> None:
    conn = await connect(empty_db_url)
    try:
        first = await migrate(conn)
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert await migrate(conn) == []
        recorded = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in recorded] == [m.version for m in first]
        # the same query answers whichever backend the telemetry history uses
        assert await conn.fetchval("SELECT count(*) FROM telemetry_hourly") == 0
    finally:
        await conn.close()


async def _seed(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO organisations (id, name) VALUES ('acme', 'Acme')")
    await conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
    await add_instrument(conn, "sem-1", site="s1", kind="sem", name="SEM 1")


async def test_database_refuses_overlapping_confirmed_bookings(db_url: str) -> None:
    conn = await connect(db_url)
    try:
        await _seed(conn)
        insert = (
            "INSERT INTO bookings (instrument_id, org_id, period, status) "
            "VALUES ('sem-1', 'acme', tstzrange($1::timestamptz, $2::timestamptz), $3)"
        )

        def at(hour: int) -> datetime:
            return datetime(2026, 12, 1, hour, tzinfo=UTC)

        await conn.execute(insert, at(8), at(12), "confirmed")
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(insert, at(11), at(13), "confirmed")
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(insert, at(9), at(10), "active")
        # touching ends do not overlap ([) ranges), and cancelled bookings hold nothing
        await conn.execute(insert, at(12), at(13), "active")
        await conn.execute(insert, at(8), at(12), "cancelled")
    finally:
        await conn.close()


async def test_timescale_steps_when_offered(db_url: str) -> None:
    conn = await connect(db_url)
    try:
        if not await uses_timescale(conn):
            pytest.skip("the test database does not offer TimescaleDB; plain PostgreSQL path used")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = 'telemetry'"
            )
            == 1
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.continuous_aggregates "
                "WHERE view_name = 'telemetry_hourly'"
            )
            == 1
        )
        jobs = {
            r["proc_name"]
            for r in await conn.fetch("SELECT proc_name FROM timescaledb_information.jobs")
        }
        assert {
            "policy_compression",
            "policy_retention",
            "policy_refresh_continuous_aggregate",
        } <= jobs
    finally:
        await conn.close()
