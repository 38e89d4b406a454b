"""Every service's ``/metrics`` passes Prometheus' own linter, ``promtool check metrics``.

The api and the ingest run for real (``services.serve_api`` / ``services.run_ingest``, as the
CLI starts them) on the test database and broker; their ``/metrics`` is read over HTTP after a
booking went through, so counters with labels are present too. promtool comes from PATH or
from Debian's ``prometheus`` package extracted to /tmp/prom (see .ci/outside-checks).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pilotshare.api.keys import create_key
from pilotshare.core.db.pool import connect
from pilotshare.core.settings import Settings
from pilotshare.services import run_ingest, serve_api

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool") or next(
    (str(p) for p in (Path("/tmp/prom/usr/bin/promtool"),) if p.is_file()),  # noqa: S108
    None,
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not here (apt-get download prometheus && dpkg -x …: .ci/outside-checks)",
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def promtool_problems(text: str) -> tuple[int, str]:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    return done.returncode, (done.stdout + done.stderr).decode()


async def _get(url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(100):
            try:
                return await client.get(url, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
async def running(db_url: str, mqtt_url: str, site: str) -> AsyncIterator[dict[str, str]]:
    """The api and the ingest serving, with one booking made; yields their /metrics URLs."""
    settings = Settings(database_url=db_url, mqtt_url=mqtt_url, site=site, api_host="127.0.0.1")
    api_port, ingest_port = _port(), _port()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(serve_api(settings, host="127.0.0.1", port=api_port, stop=stop)),
        asyncio.create_task(run_ingest(settings, stop=stop, metrics_port=ingest_port)),
    ]
    conn = await connect(db_url)
    try:
        admin = await create_key(conn, org="platform", role="admin")
        planner = await create_key(conn, org="acme", role="planner")
    finally:
        await conn.close()
    base = f"http://127.0.0.1:{api_port}"
    try:
        assert (await _get(f"{base}/healthz")).status_code == 200
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            made = await client.post(
                "/api/v1/instruments",
                headers={"Authorization": f"Bearer {admin}"},
                json={"id": "oven-1", "site": site, "kind": "oven"},
            )
            assert made.status_code == 201, made.text
            booked = await client.post(
                "/api/v1/bookings",
                headers={"Authorization": f"Bearer {planner}"},
                json={
                    "instrument": "oven-1",
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                },
            )
            assert booked.status_code == 201, booked.text
        yield {
            "api": f"{base}/metrics",
            "ingest": f"http://127.0.0.1:{ingest_port}/metrics",
        }
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


@needs_promtool
async def test_api_and_ingest_metrics_pass_promtool(running: dict[str, str]) -> None:
    for name, url in running.items():
        response = await _get(url)
        assert response.status_code == 200
        text = response.text
        assert "pilotshare_booked_seconds_total" in text, name
        assert "_hours_total" not in text, name
        code, problems = await asyncio.to_thread(promtool_problems, text)
        assert (code, problems) == (0, ""), f"{name}: {problems}"


@needs_promtool
def test_promtool_refuses_a_counter_in_hours() -> None:
    """The check is live: the old name in hours is what promtool refuses."""
    code, problems = promtool_problems(
        "# HELP pilotshare_booked_hours_total Booked hours\n"
        "# TYPE pilotshare_booked_hours_total counter\n"
        "pilotshare_booked_hours_total 1.0\n"
    )
    assert code != 0
    assert 'base unit "seconds"' in problems


@needs_promtool
def test_alert_rules_under_deploy_pass_promtool_and_their_tests() -> None:
    rules = sorted((ROOT / "deploy").rglob("*.y*ml"))
    tests = [p for p in rules if "\nrule_files:" in "\n" + p.read_text()]
    checked = [p for p in rules if "\ngroups:" in "\n" + p.read_text() and p not in tests]
    assert checked, "deploy/prometheus/alerts.yml is gone"
    assert tests, "the alert rules have no promtool test"
    assert PROMTOOL is not None
    for path, verb in [*((p, "check") for p in checked), *((p, "test") for p in tests)]:
        done = subprocess.run(
            [PROMTOOL, verb, "rules", path.name], capture_output=True, check=False, cwd=path.parent
        )
        assert done.returncode == 0, (path, done.stdout.decode() + done.stderr.decode())
    # the rules name only metrics the services export, in their current (base-unit) names
    text = "\n".join(p.read_text() for p in checked)
    assert "_hours_total" not in text
    assert "pilotshare_measured_seconds_total" in text
