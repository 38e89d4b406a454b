"""Outside checks: other people's tools against a real pilotshare (called by .ci/outside-checks).

1. ``pilotshare api`` and ``pilotshare ingest`` on a scratch database (created on the server of
   ``PILOTSHARE_TEST_DATABASE_URL``, dropped at the end; an embedded PostgreSQL without it) with
   an admin key and keys of two organisations, plus one simulated ``pilotshare agent``.
2. schemathesis against the API's ``/openapi.json``: every check, with the two organisations
   as peers for its object-level-authorisation check (``schemathesis.toml``'s ``[auth.wfc]``),
   a bounded number of examples per operation.
3. ``promtool check metrics`` on the ``/metrics`` of the api, the ingest and the agent, and
   ``promtool check rules`` / ``test rules`` on every rule file under deploy/.

Exits non-zero on any failure. ``--max-examples N`` bounds schemathesis (default 15);
``--only promtool|schemathesis`` runs one half; other options go to schemathesis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL_DIRS = (Path("/tmp/prom/usr/bin"),)


def log(message: str) -> None:
    print(f"outside-checks: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our URL
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"outside-checks: {url} did not answer 200 within {seconds:.0f} s")
        time.sleep(0.3)


def fetch(url: str, key: str | None = None, body: object = None, method: str = "GET") -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our URL
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our URL
        text = response.read().decode()
    return json.loads(text) if text.strip().startswith(("{", "[")) else text


def promtool() -> str:
    """promtool from PATH, /tmp/prom, or Debian's prometheus package extracted (not installed)."""
    found = shutil.which("promtool")
    if found:
        return found
    for directory in PROMTOOL_DIRS:
        if (directory / "promtool").is_file():
            return str(directory / "promtool")
    log("promtool missing: extracting it from Debian's prometheus package into /tmp/prom")
    Path("/tmp/prom").mkdir(parents=True, exist_ok=True)  # noqa: S108 - a scratch extraction
    subprocess.run(["apt-get", "download", "prometheus"], cwd="/tmp", check=True)  # noqa: S108
    debs = sorted(Path("/tmp").glob("prometheus_*.deb"))  # noqa: S108
    subprocess.run(["dpkg", "-x", str(debs[-1]), "/tmp/prom"], check=True)  # noqa: S108
    return "/tmp/prom/usr/bin/promtool"  # noqa: S108


@contextlib.contextmanager
def scratch_database(work: Path) -> Iterator[str]:
    """A fresh database on the test server, or an embedded PostgreSQL in ``work``."""
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    server = os.environ.get("PILOTSHARE_TEST_DATABASE_URL")
    if not server:
        from pilotshare.core.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(work / "pg")
        try:
            yield embedded.create_database("outside")
        finally:
            embedded.stop()
        return
    name = f"outside_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(server)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Services:
    """The pilotshare processes under test, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work, self.env = work, env
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pilotshare.cli", *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def start(self, name: str, *args: str) -> None:
        out = (self.work / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pilotshare.cli", *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.procs.append((name, proc))

    def stop(self) -> None:
        for _, proc in self.procs:
            proc.terminate()
        for name, proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop on SIGTERM; killing it")
                proc.kill()
                proc.wait()

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs if proc.poll() is not None]


def seed(base: str, keys: dict[str, str]) -> None:
    """Objects for schemathesis to find: an instrument, and a booking of each organisation."""
    fetch(
        f"{base}/api/v1/instruments",
        keys["admin"],
        {"id": "oven-1", "site": "outside", "kind": "oven", "name": "Reflow oven 1"},
        "POST",
    )
    for k, org in enumerate(("org-a", "org-b")):
        start = time.time() + 86400 * (2 + k)
        fetch(
            f"{base}/api/v1/bookings",
            keys[org],
            {
                "instrument": "oven-1",
                "start": time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(start)),
                "end": time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(start + 3600)),
            },
            "POST",
        )


def run_schemathesis(
    base: str, keys: dict[str, str], work: Path, max_examples: int, extra: list[str]
) -> bool:
    auth = {
        "auth": [
            {
                "name": name,
                "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}],
            }
            for name, key in keys.items()
        ]
    }
    (work / "auth.json").write_text(json.dumps(auth), encoding="utf-8")
    (work / "schemathesis.toml").write_text(
        f'[auth.wfc]\npath = "{work / "auth.json"}"\npeers = ["org-a", "org-b"]\n\n'
        # A request every parameter of which fits the schema may still break a rule between
        # fields (exactly one of instrument and kind, end after start, at most 10,000
        # buckets, a scenario's own grammar): OpenAPI cannot say so, and the answer is the
        # documented 422 Problem. Everything else is checked as schemathesis ships it.
        "[checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "401", "403", "404", "409", "422"]\n',
        encoding="utf-8",
    )
    command = [
        "schemathesis",
        "--config-file",
        str(work / "schemathesis.toml"),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "1"),
        # a stream: it never ends by itself, so no check can read its whole answer
        "--exclude-path",
        "/api/v1/events",
        "--report",
        "ndjson",
        "--report-dir",
        str(work / "schemathesis"),
        *extra,
    ]
    log(" ".join(command))
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    # in the work directory: schemathesis keeps a cache where it runs
    return subprocess.run([binary, *command[1:]], check=False, cwd=work).returncode == 0


def rule_files(root: Path) -> list[tuple[Path, bool]]:
    """Prometheus rule files (``groups:``) and rule tests (``rule_files:``) under ``root``."""
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        text = path.read_text(encoding="utf-8")
        if "\nrule_files:" in "\n" + text:
            found.append((path, True))
        elif text.lstrip().startswith("groups:") or "\ngroups:" in text:
            found.append((path, False))
    return found


def run_promtool(targets: dict[str, str]) -> bool:
    tool = promtool()
    ok = True
    for name, url in targets.items():
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our URL
            text = response.read()
        done = subprocess.run(
            [tool, "check", "metrics"], input=text, capture_output=True, check=False
        )
        problems = (done.stdout + done.stderr).decode().strip()
        log(f"promtool check metrics {name} ({url}): exit {done.returncode}")
        if problems:
            print(problems, file=sys.stderr)
        ok &= done.returncode == 0
    for path, test in rule_files(ROOT / "deploy"):
        args = [tool, "test" if test else "check", "rules", path.name]
        done = subprocess.run(args, check=False, cwd=path.parent)
        log(f"{' '.join(args[1:])} ({path.parent}): exit {done.returncode}")
        ok &= done.returncode == 0
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=15)
    parser.add_argument("--only", choices=("promtool", "schemathesis"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args, extra = parser.parse_known_args()
    work = Path(tempfile.mkdtemp(prefix="pilotshare-outside-"))
    api_port, ingest_port, agent_port = free_port(), free_port(), free_port()
    ok = True
    with scratch_database(work) as url:
        env = {
            **os.environ,
            "PILOTSHARE_DATABASE_URL": url,
            "PILOTSHARE_DATA_DIR": str(work / "data"),
            "PILOTSHARE_SITE": "outside",
            "PILOTSHARE_LOG_LEVEL": "WARNING",
            # schemathesis is one address sending as fast as it can: the public routes'
            # limit (tested in tests/integration/test_public_directory.py) would answer it 429
            "PILOTSHARE_PUBLIC_RATE_PER_MIN": "1000000",
            "PILOTSHARE_PUBLIC_BURST": "1000000",
        }
        mqtt = os.environ.get("PILOTSHARE_TEST_MQTT_URL")
        if mqtt:
            env["PILOTSHARE_MQTT_URL"] = mqtt
        services = Services(work, env)
        try:
            services.cli("migrate")
            keys = {
                "admin": services.cli("keys", "create", "--org", "platform", "--role", "admin"),
                "org-a": services.cli("keys", "create", "--org", "org-a", "--role", "planner"),
                "org-b": services.cli("keys", "create", "--org", "org-b", "--role", "planner"),
            }
            services.start("api", "api", "--host", "127.0.0.1", "--port", str(api_port))
            base = f"http://127.0.0.1:{api_port}"
            wait_http(f"{base}/readyz")
            services.start("ingest", "ingest", "--metrics-port", str(ingest_port))
            broker = mqtt or (work / "data" / "broker.url").read_text().strip()
            agent = work / "agent.toml"
            agent.write_text(
                f'[agent]\nsite = "outside"\ninstrument = "oven-1"\nmqtt_url = "{broker}"\n'
                f'outbox_path = "{work / "oven-1.outbox.sqlite"}"\n'
                f"metrics_port = {agent_port}\nsample_interval_s = 0.5\n\n"
                '[adapter]\ntype = "simulated"\nseed = 1\n',
                encoding="utf-8",
            )
            services.start("agent", "agent", "--config", str(agent))
            targets = {
                "api": f"{base}/metrics",
                "ingest": f"http://127.0.0.1:{ingest_port}/metrics",
                "agent": f"http://127.0.0.1:{agent_port}/metrics",
            }
            for target in targets.values():
                wait_http(target)
            seed(base, keys)
            if args.only != "schemathesis":
                ok &= run_promtool(targets)
            if args.only != "promtool":
                ok &= run_schemathesis(base, keys, work, args.max_examples, extra)
                ok &= run_promtool({"api after schemathesis": targets["api"]})
            if services.dead():
                log(f"died during the checks: {services.dead()} (logs in {work})")
                ok = False
        finally:
            services.stop()
    if args.keep or not ok:
        log(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    log("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
