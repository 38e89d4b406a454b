"""``pilotshare forecast`` on a real database: JSON on standard output, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import asyncpg

from pilotshare.registry import ensure_organisation
from tests.support.instruments import add_instrument

H = timedelta(hours=1)


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PILOTSHARE_DATABASE_URL": db_url, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "pilotshare.cli", "forecast", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_forecast_command_prints_the_result(pool: asyncpg.Pool, db_url: str) -> None:
    start = datetime.now(UTC) + 3 * H
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO sites (id, name) VALUES ('lab', 'Lab')")
        await ensure_organisation(conn, "acme", "Acme")
        await add_instrument(conn, "oven-1", site="lab", name="Oven 1")
        booking = str(
            await conn.fetchval(
                """INSERT INTO bookings (instrument_id, org_id, period)
               VALUES ('oven-1', 'acme', tstzrange($1, $2)) RETURNING id""",
                start,
                start + 2 * H,
            )
        )
    done = _cli(
        db_url, "--horizon-days", "3", "--replications", "10", "--seed", "4", "--workers", "1"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["params"] == {"horizon_days": 3, "replications": 10, "seed": 4}
    assert [i["instrument"] for i in result["instruments"]] == ["oven-1"]
    assert [b["booking"] for b in result["bookings"]] == [booking]
    assert "10 replications" in done.stderr


async def test_bad_arguments_exit_2_with_one_line(db_url: str) -> None:
    done = _cli(db_url, "--replications", "1")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--replications" in done.stderr


async def test_an_empty_platform_is_a_one_line_error(db_url: str) -> None:
    done = _cli(db_url, "--replications", "2")
    assert done.returncode == 1
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("pilotshare: error:")]
    assert errors == ["pilotshare: error: no_instruments: there are no instruments to forecast"]
    assert "Traceback" not in done.stderr
