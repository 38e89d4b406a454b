"""The compose Dask cluster for real: mutual TLS with deploy-time certificates, or nothing.

The certificates come from ``deploy/compose/dask-certs.sh`` (the compose one-shot), the
scheduler and worker run exactly the commands and environment of docker-compose.yml (only the
container paths, host name and ports moved to this machine), and the product's own client
(``pilotshare simulate``'s ``DaskRunner`` with ``DaskTls`` from the settings) runs a small
simulation on them. A client without a certificate, one with a certificate of another CA, and
a plain-TCP client are all refused.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from pilotshare.core.errors import ConfigError
from pilotshare.core.settings import Settings
from pilotshare.simulations import experiment
from pilotshare.simulations.loader import load_scenario
from pilotshare.simulations.runner import DaskRunner, DaskTls, InlineRunner
from pilotshare.simulations.scenario import Site

ROOT = Path(__file__).resolve().parents[2]
CERTS = ROOT / "deploy" / "compose" / "dask-certs.sh"
SCENARIO = Path(
    str(resources.files("pilotshare.simulations") / "scenarios/materials-lab-extended-hours.yaml")
)
needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not here")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certs(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(CERTS)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CERTS_DIR": str(directory)},
        check=False,
        capture_output=True,
        text=True,
    )


def _service(name: str, certs: Path, scheduler_port: int) -> tuple[list[str], dict[str, str]]:
    """A compose service's command and environment, with this machine's paths and ports."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]
    command = [
        str(a)
        .replace("/certs", str(certs))
        .replace("dask-scheduler:8786", f"127.0.0.1:{scheduler_port}")
        for a in service["command"]
    ]
    # `make test` runs the venv's python without the venv on PATH: use the venv's `dask`.
    beside = Path(sys.executable).with_name(command[0])
    if beside.exists():
        command[0] = str(beside)
    for flag, port in (("--port", scheduler_port), ("--worker-port", _port())):
        if flag in command:
            command[command.index(flag) + 1] = str(port)
    env = {k: str(v) for k, v in service["environment"].items() if k.startswith("DASK_")}
    return command, env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A TLS-only scheduler and one worker, as compose starts them; yields (address, certs)."""
    certs = tmp_path_factory.mktemp("certs")
    made = make_certs(certs)
    assert made.returncode == 0, made.stderr
    port = _port()
    procs = []
    try:
        for name in ("dask-scheduler", "dask-worker"):
            command, env = _service(name, certs, port)
            log = (certs.parent / f"{name}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
                )
            )
            if name == "dask-scheduler":
                _wait_port(port)
        address = f"tls://127.0.0.1:{port}"
        _wait_for_worker(address, certs)
        yield address, certs
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except OSError:
            time.sleep(0.2)
        else:
            return
    raise AssertionError(f"the scheduler never listened on {port}")


def _handshake_refused(address: str, ca: Path) -> bool:
    """Whether the scheduler drops a TLS client that presents no certificate."""
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    with socket.create_connection((host, int(port)), 5) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.settimeout(5)
                return tls.recv(1) == b""  # TLS 1.3: the refusal arrives after the handshake
        except (ssl.SSLError, ConnectionResetError):
            return True


def _tls(certs: Path) -> DaskTls:
    return DaskTls(certs / "ca.pem", certs / "client.pem", certs / "client-key.pem")


def _wait_for_worker(address: str, certs: Path) -> None:
    from distributed import Client

    client: Any = Client(address, security=_tls(certs).security(), timeout=20)  # type: ignore[no-untyped-call]
    try:
        client.wait_for_workers(1, timeout=60)
    finally:
        client.close()


@needs_openssl
def test_certificates_are_a_private_ca_and_kept_when_valid(tmp_path: Path) -> None:
    first = make_certs(tmp_path)
    assert first.returncode == 0, first.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "ca.pem",
        "client-key.pem",
        "client.pem",
        "scheduler-key.pem",
        "scheduler.pem",
        "worker-key.pem",
        "worker.pem",
    ], "the CA's key must not be kept"
    for role in ("scheduler", "worker", "client"):
        verified = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(tmp_path / "ca.pem"),
                str(tmp_path / f"{role}.pem"),
            ],
            check=False,
            capture_output=True,
        )
        assert verified.returncode == 0, verified.stderr
        assert (tmp_path / f"{role}-key.pem").stat().st_mode & 0o077 == 0, "keys are private"
    before = (tmp_path / "ca.pem").read_bytes()
    again = make_certs(tmp_path)
    assert again.returncode == 0
    assert "keeping" in again.stderr
    assert (tmp_path / "ca.pem").read_bytes() == before


@needs_openssl
def test_the_product_client_runs_a_simulation_over_mutual_tls(
    cluster: tuple[str, Path],
) -> None:
    address, certs = cluster
    # the settings the compose api service sets, as the CLI reads them
    settings = Settings(
        dask_tls_ca_file=certs / "ca.pem",
        dask_tls_cert=certs / "client.pem",
        dask_tls_key=certs / "client-key.pem",
    )
    assert settings.dask_tls_ca_file
    assert settings.dask_tls_cert
    assert settings.dask_tls_key
    tls = DaskTls(settings.dask_tls_ca_file, settings.dask_tls_cert, settings.dask_tls_key)
    scenario = load_scenario(SCENARIO)
    assert isinstance(scenario.base, Site)
    on_dask = experiment.run(scenario, scenario.base, DaskRunner(address, tls=tls), replications=2)
    inline = experiment.run(scenario, scenario.base, InlineRunner(), replications=2)
    assert on_dask.baseline == inline.baseline
    assert on_dask.variant == inline.variant
    assert on_dask.runner == f"Dask cluster {address}"


@needs_openssl
def test_clients_without_the_cluster_certificates_are_refused(
    cluster: tuple[str, Path], tmp_path: Path
) -> None:
    from distributed import Client

    address, certs = cluster
    tcp = address.replace("tls://", "tcp://")
    # the product refuses to try without certificates, or with them on plain TCP
    with pytest.raises(ConfigError, match="PILOTSHARE_DASK_TLS_CA_FILE"):
        DaskRunner(address)
    with pytest.raises(ConfigError, match="tls:// address"):
        DaskRunner(tcp, tls=_tls(certs))
    # and the scheduler refuses whoever tries anyway
    with pytest.raises(ConfigError, match="cannot reach the scheduler"):
        DaskRunner(tcp, timeout_s=3).map(str, [1])
    other = tmp_path / "other"
    assert make_certs(other).returncode == 0
    # a certificate of another CA
    with pytest.raises((OSError, TimeoutError)):
        Client(address, security=_tls(other).security(), timeout=3)  # type: ignore[no-untyped-call]
    # TLS that trusts the cluster but shows no certificate: the scheduler ends the handshake
    assert _handshake_refused(address, certs / "ca.pem")
    with pytest.raises(ConfigError, match="cannot reach the scheduler"):
        DaskRunner(address, tls=_tls(other), timeout_s=3).map(str, [1])


def test_dask_tls_settings_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="set all three or none"):
        Settings(dask_tls_ca_file=tmp_path / "ca.pem")
    missing = DaskTls(tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem")
    with pytest.raises(ConfigError, match="PILOTSHARE_DASK_TLS_CA_FILE"):
        missing.security()


@needs_openssl
def test_pilotshare_simulate_reaches_the_cluster_with_the_tls_settings(
    cluster: tuple[str, Path], tmp_path: Path
) -> None:
    address, certs = cluster
    base = {k: v for k, v in os.environ.items() if not k.startswith("PILOTSHARE_DASK_")}
    command = [sys.executable, "-m", "pilotshare.cli", "simulate", str(SCENARIO)]
    command += ["--dask", address, "--replications", "2", "--out", str(tmp_path / "out")]
    refused = subprocess.run(command, env=base, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "PILOTSHARE_DASK_TLS_CA_FILE" in refused.stderr.strip().splitlines()[-1]
    env = {
        **base,
        "PILOTSHARE_DASK_TLS_CA_FILE": str(certs / "ca.pem"),
        "PILOTSHARE_DASK_TLS_CERT": str(certs / "client.pem"),
        "PILOTSHARE_DASK_TLS_KEY": str(certs / "client-key.pem"),
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"on Dask cluster {address}" in done.stderr
    assert (tmp_path / "out" / "report.json").is_file()
