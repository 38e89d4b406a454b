"""``pilotshare demo`` as a newcomer meets it: embedded services, the seeded network (two
sites, weeks of history), every instrument's twin live within 10 seconds of the banner, the
banner's keys working in their roles, Ctrl-C stops it cleanly, and a second run reuses the
data directory (and its keys)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pilotshare.core.embedded import free_port
from pilotshare.demo import DEMO_INSTRUMENTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's basetemp.

    Started by root, the embedded PostgreSQL runs as its own user and opens every parent of
    its data to it; but each pytest session on the machine resets ``/tmp/pytest-of-root`` to
    0700, and a session starting while the demo's initdb runs locked that user out of it.
    """
    path = Path(tempfile.mkdtemp(prefix="pilotshare-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PILOTSHARE_DATABASE_URL", "PILOTSHARE_MQTT_URL")
    }
    env.update(PILOTSHARE_DATA_DIR=str(data_dir), PILOTSHARE_LOG_LEVEL="WARNING")
    return subprocess.Popen(
        [sys.executable, "-m", "pilotshare.cli", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _banner(proc: subprocess.Popen[str], timeout: float = 90) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "curl" in line:
            return "".join(lines)
    proc.kill()
    raise AssertionError(f"no banner; stdout={''.join(lines)!r} stderr={proc.stderr.read()!r}")  # type: ignore[union-attr]


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    return err


def _all_live(port: int, key: str, within: float) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + within
    seen: dict[str, dict[str, object]] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        while time.monotonic() < deadline:
            for spec in DEMO_INSTRUMENTS:
                r = client.get(
                    f"/api/v1/instruments/{spec.id}/twin",
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert r.status_code == 200, r.text
                seen[spec.id] = r.json()
            if all(t["online"] and t["state"] != "offline" for t in seen.values()):
                return seen
            time.sleep(0.25)
    raise AssertionError(f"not every twin was live within {within} s: {seen}")


def test_demo_runs_stops_and_runs_again(data_dir: Path) -> None:
    port = free_port()
    proc = _start(data_dir, port)
    try:
        banner = _banner(proc)
        keys = dict(re.findall(r"^\s+([a-z-]+)\s+\S+\s+\S+\s+(ps_\S+)$", banner, re.MULTILINE))
        assert set(keys) == {"network-admin", "platform-admin", "planner", "operator"}
        assert f"http://127.0.0.1:{port}/docs" in banner
        twins = _all_live(port, keys["operator"], within=10)
        assert len(twins) == len(DEMO_INSTRUMENTS) >= 8
        kinds = {spec.kind for spec in DEMO_INSTRUMENTS}
        assert len(kinds) >= 3
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            def get(path: str, key: str) -> httpx.Response:
                return client.get(path, headers={"Authorization": f"Bearer {keys[key]}"})

            bookings = get("/api/v1/bookings", "network-admin").json()
            assert len({b["org"] for b in bookings}) >= 3
            assert {"completed", "no_show", "confirmed"} <= {b["status"] for b in bookings}
            assert {k["org"] for k in get("/api/v1/keys", "platform-admin").json()} == {
                "ssl-materials"
            }
            sites = {i["site"] for i in get("/api/v1/instruments", "planner").json()}
            assert sites == {"songshan-lake", "binhaiwan"}
    finally:
        if proc.poll() is None:
            _stop(proc)

    again = _start(data_dir, port)
    try:
        banner = _banner(again)
        assert "ps_" not in banner.split("try:")[0]  # the keys are printed only once
        _all_live(port, keys["operator"], within=10)  # the old keys still work
    finally:
        if again.poll() is None:
            _stop(again)
