"""``pilotshare api`` stopped (SIGTERM) while its job worker runs a simulation: a real process.

The running job must go back to the queue, the process must exit 0 at once, and no traceback
(such as progress writes on the closed pool) may reach the log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx

from pilotshare.core.embedded import free_port
from tests.support.api import auth

#: Long enough (minutes on a busy machine) to be mid-run when the process is stopped.
LONG = """\
name: long-run
horizon_days: 365
warmup_days: 0
replications: 400
seed: 3
site:
  id: lab
  instruments:
    - {kind: sem, count: 2, hourly_rate: 100, mtbf_hours: 120, mttr_hours: 4}
  demand:
    - {kind: sem, per_week: 60, duration_hours: {mean: 3}}
changes:
  - add_instruments: {kind: sem, count: 1}
"""


async def _until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigterm_mid_simulation_requeues_the_job_without_a_traceback(
    db_url: str, pool: asyncpg.Pool, mqtt_url: str, tmp_path: Path
) -> None:
    planner = await auth(pool, "acme", "planner")
    port = free_port()
    env = {
        **os.environ,
        "PILOTSHARE_DATABASE_URL": db_url,
        "PILOTSHARE_MQTT_URL": mqtt_url,
        "PILOTSHARE_LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "api.log"
    argv = [sys.executable, "-m", "pilotshare.cli", "api", "--host", "127.0.0.1"]
    with log_path.open("w") as log:
        api = subprocess.Popen(  # its own group: a failed test ends its worker processes too
            [*argv, "--port", str(port)], env=env, stderr=log, stdout=log, start_new_session=True
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:

                async def ready() -> bool:
                    try:
                        return (await c.get("/readyz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await _until(ready, 60, "the API to answer")
                r = await c.post("/api/v1/simulations", json={"scenario": LONG}, headers=planner)
                assert r.status_code == 202, r.text
                job = UUID(r.json()["id"])

            async def reporting() -> bool:
                row = await pool.fetchrow("SELECT status, progress FROM jobs WHERE id = $1", job)
                assert row is not None
                assert row["status"] in {"queued", "running"}, row  # still far from done
                return bool(row["status"] == "running" and row["progress"] > 0)

            await _until(reporting, 120, "the simulation to report progress")
            api.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            try:
                code: int | None = await asyncio.to_thread(api.wait, 20)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - stopped
        finally:
            if api.poll() is None:
                os.killpg(api.pid, signal.SIGKILL)
                api.wait(10)
    logged = log_path.read_text()
    assert code == 0, logged
    assert took < 10, f"stopping took {took:.1f} s"
    assert "Traceback" not in logged, logged
    assert "pool is closed" not in logged, logged
    assert "put back in the queue" in logged, logged
    await asyncio.sleep(1)  # nothing left behind writes to the job after the process is gone
    row = await pool.fetchrow(
        "SELECT status, progress, attempts, worker FROM jobs WHERE id = $1", job
    )
    assert row is not None
    assert (row["status"], row["progress"], row["attempts"], row["worker"]) == (
        "queued",
        0,
        0,
        None,
    )
