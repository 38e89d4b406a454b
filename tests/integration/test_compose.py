"""docker-compose.yml kept honest without a Docker engine.

The file is parsed as compose would read it and checked against the real code: every
``pilotshare …`` command and option exists in the CLI (typer's click tree), every agent config
the agents read exists and loads with the agent's own loader, every long-running service has a
health check, start order puts the credentials and the migration first, and no secret has a
default. Where the programs exist on this machine the credentials step runs for real and a
private Mosquitto with the shipped config proves password authentication and per-agent ACL.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from pilotshare.cli import app
from pilotshare.core.db.pool import connect
from pilotshare.core.settings import MqttEndpoint, Settings
from tests.support.brokers import PrivateMosquitto, needs_mosquitto
from tests.support.instruments import add_instrument

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy" / "compose"
ENV_EXAMPLE = DEPLOY / "env.example"

Service = dict[str, Any]
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - what the api service listens on in its container


# --- reading compose the way compose does ------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")


class UnsetError(Exception):
    """A ``${VAR:?message}`` whose variable is unset: compose refuses to start."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, ${V}, ${V:-d}, ${V-d}, ${V:?e}, ${V?e}, $V."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        value = env.get(name)
        empty = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-") and empty:
            return arg
        if op in (":?", "?") and empty:
            raise UnsetError(f"{name}: {arg}")
        return value or ""

    return _VAR.sub(one, text)


def variables(text: str) -> list[tuple[str, str | None]]:
    """The (name, operator) of every interpolation in ``text``."""
    return [
        (m.group(1) or m.group(4), m.group(2)) for m in _VAR.finditer(text) if m.group(0) != "$$"
    ]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    return dict(compose["services"])


def argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def command_of(service: Service) -> list[str]:
    return argv(service.get("entrypoint")) + argv(service.get("command"))


def depends(service: Service) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def one_shots(services: dict[str, Service]) -> set[str]:
    """Services others wait for to complete: they run once and exit."""
    return {
        dep
        for s in services.values()
        for dep, cond in depends(s).items()
        if cond == "service_completed_successfully"
    }


def environment(service: Service) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def required_secrets() -> dict[str, str]:
    """env.example's variables, each given a valid random value (as users are told to)."""
    names = re.findall(r"^([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    return {n: secrets.token_hex(24) for n in names}


# --- the CLI, introspected -----------------------------------------------------------------


def cli_problems(args: list[str]) -> list[str]:
    """What in ``pilotshare …`` the real CLI would refuse (empty when all is well).

    Walks typer's command tree word by word to the command, then lets that command's own
    parser read the rest (``make_context`` parses and validates without running anything):
    unknown options, missing values or required options, bad numbers or choices, surplus
    arguments. Paths must exist here, so callers pass repository files for container paths.
    """
    assert args[0] == "pilotshare"
    # Duck-typed: typer may build on click or on its own vendored copy of it.
    cmd: Any = typer.main.get_command(app)
    path = ["pilotshare"]
    rest = list(args[1:])
    while isinstance(getattr(cmd, "commands", None), dict):
        if not rest:
            return [f"{' '.join(path)}: no subcommand"]
        name = rest.pop(0)
        sub = cmd.commands.get(name)
        if sub is None:
            return [f"{' '.join(path)} has no command {name!r} (it has {sorted(cmd.commands)})"]
        cmd = sub
        path.append(name)
    where = " ".join(path)
    try:
        cmd.make_context(where, rest)
    except Exception as exc:  # noqa: BLE001 - click's UsageError family, or typer's copy of it
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return [f"{where}: {' '.join(message.split())}"]
    return []


def test_the_cli_check_catches_renamed_commands_and_options() -> None:
    assert cli_problems(["pilotshare", "api", "--host", ANY_ADDRESS, "--port", "8000"]) == []
    assert cli_problems(["pilotshare", "ingestion"])
    assert cli_problems(["pilotshare", "api", "--hostname", ANY_ADDRESS])
    assert cli_problems(["pilotshare", "api", "--port", "eighty"])
    assert cli_problems(["pilotshare", "agent"])  # --config is required
    assert cli_problems(["pilotshare", "keys", "create", "--org", "a", "--role", "root"])
    assert cli_problems(["pilotshare", "migrate", "now"])


def test_every_pilotshare_command_exists_in_the_cli(services: dict[str, Service]) -> None:
    commands = {
        n: command_of(s) for n, s in services.items() if command_of(s)[:1] == ["pilotshare"]
    }
    assert {"migrate", "api", "ingest"} <= set(commands)
    assert sum(1 for c in commands.values() if c[1] == "agent") == 3
    for name, command in commands.items():
        if command[1] == "agent":  # the container's path, as the repository file behind it
            i = command.index("--config")
            command[i + 1] = str(host_file(services, services[name], command[i + 1]))
    problems = [f"{name}: {p}" for name, c in commands.items() for p in cli_problems(c)]
    assert problems == []
    assert commands["api"][:4] == ["pilotshare", "api", "--host", ANY_ADDRESS]


# --- agents: the files they read, and what those files say --------------------------------


def agent_services(services: dict[str, Service]) -> dict[str, Service]:
    return {n: s for n, s in services.items() if command_of(s)[:2] == ["pilotshare", "agent"]}


def _config_arg(command: list[str]) -> str:
    for i, token in enumerate(command):
        if token == "--config":
            return command[i + 1]
        if token.startswith("--config="):
            return token.split("=", 1)[1]
    raise AssertionError(f"no --config in {command}")


def host_file(services: dict[str, Service], service: Service, container_path: str) -> Path:
    """The repository file behind a path inside ``service``'s container.

    A bind mount maps it directly; a named volume must be filled by a one-shot step that
    renders it from a bind-mounted directory of templates (the credentials step).
    """
    best: tuple[str, str] | None = None
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if (container_path == target or container_path.startswith(target.rstrip("/") + "/")) and (
            best is None or len(target) > len(best[1])
        ):
            best = (source, target)
    assert best is not None, f"{container_path} is in no volume of the service"
    source, target = best
    relative = container_path[len(target) :].lstrip("/")
    if source.startswith((".", "/")):
        return (ROOT / source / relative).resolve()
    writers = [
        other
        for name, other in services.items()
        if name in one_shots(services)
        for v in other.get("volumes", [])
        if str(v).split(":")[0] == source and not str(v).endswith(":ro")
    ]
    assert len(writers) == 1, f"volume {source} must be written by exactly one one-shot step"
    templates = [
        str(v).split(":")[0]
        for v in writers[0].get("volumes", [])
        if str(v).split(":")[0].startswith(".")
    ]
    assert templates, f"the step writing {source} mounts no templates from the repository"
    return (ROOT / templates[0] / relative).resolve()


def rendered(template: Path, values: Mapping[str, str]) -> str:
    """The template as the credentials step renders it."""
    text = template.read_text(encoding="utf-8")
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values[m.group(1)], text)


def test_agent_configs_exist_and_load(services: dict[str, Service], tmp_path: Path) -> None:
    agents = agent_services(services)
    assert len(agents) == 3
    values = required_secrets()
    site = environment(services["ingest"])["PILOTSHARE_SITE"]
    seeded = (DEPLOY / "instruments.sql").read_text(encoding="utf-8")
    try:
        from pilotshare.edge_agent.config import load_config
    except ImportError:
        load_config = None
    instruments = set()
    for name, service in agents.items():
        path = host_file(services, service, _config_arg(command_of(service)))
        assert path.is_file(), f"{name}: {path} does not exist"
        variable = re.search(r"\$\{(MQTT_PASSWORD_[A-Z0-9_]+)\}", path.read_text())
        assert variable, f"{path.name}: mqtt_url names no password variable"
        assert variable.group(1) in environment(services["credentials"])
        if load_config is None:
            continue
        copy = tmp_path / path.name
        copy.write_text(rendered(path, values), encoding="utf-8")
        config = load_config(copy).agent
        instruments.add(config.instrument)
        assert config.site == site, f"{name}: site {config.site!r}, services use {site!r}"
        assert f"'{config.instrument}', '{site}'" in seeded, f"{name}: instrument not registered"
        endpoint = MqttEndpoint.parse(config.mqtt_url)
        assert (endpoint.host, endpoint.username) == ("mosquitto", f"agent-{config.instrument}")
        assert f"{endpoint.port}:{endpoint.port}" in services["mosquitto"]["ports"][0]
        assert config.outbox_path.startswith("/var/lib/pilotshare/")
        assert any(str(v).endswith(":/var/lib/pilotshare") for v in service["volumes"])
        probe = " ".join(argv(service["healthcheck"]["test"]))
        assert f":{config.metrics_port}/metrics" in probe, f"{name}: probe misses metrics port"
    if load_config is None:
        pytest.skip("pilotshare.edge_agent.config is absent: the files exist, not loaded")
    assert len(instruments) == 3


# --- health checks, start order, secrets, images ------------------------------------------


def test_every_long_running_service_has_a_health_check(services: dict[str, Service]) -> None:
    shots = one_shots(services)
    assert {"migrate", "credentials"} <= shots
    for name, service in services.items():
        if name in shots:
            assert service.get("restart") == "no", f"one-shot {name} must not restart"
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no health check"
        assert not check.get("disable"), f"{name}'s health check is disabled"
        assert service.get("restart") in ("unless-stopped", "always"), name
    checks = {
        n: " ".join(argv(s["healthcheck"]["test"])) for n, s in services.items() if n not in shots
    }
    assert "pg_isready" in checks["db"]
    assert "mosquitto_sub" in checks["mosquitto"]
    assert "-u ingest" in checks["mosquitto"]
    port = command_of(services["api"])[command_of(services["api"]).index("--port") + 1]
    assert f"127.0.0.1:{port}/readyz" in checks["api"]
    assert f"{port}:{port}" in services["api"]["ports"][0]


def _reaches(services: dict[str, Service], start: str, goal: str, conditions: set[str]) -> bool:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        for dep, cond in depends(services[name]).items():
            if dep == goal and cond in conditions:
                return True
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return False


def test_start_order_is_credentials_then_migrate_first(services: dict[str, Service]) -> None:
    shots = one_shots(services)
    for name, service in services.items():
        for dep, cond in depends(service).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            want = "service_completed_successfully" if dep in shots else "service_healthy"
            assert cond == want, f"{name} -> {dep}: {cond}, expected {want}"
    # no cycles: a topological order exists
    order: list[str] = []
    pending = dict.fromkeys(services)
    while pending:
        ready = [n for n in pending if all(d in order for d in depends(services[n]))]
        assert ready, f"depends_on has a cycle among {sorted(pending)}"
        order.extend(sorted(ready))
        for n in ready:
            del pending[n]
    assert depends(services["migrate"]) == {"db": "service_healthy"}
    for name, service in services.items():
        if "PILOTSHARE_DATABASE_URL" in environment(service) and name != "migrate":
            assert _reaches(services, name, "migrate", {"service_completed_successfully"}), name
    for name in agent_services(services):
        assert _reaches(services, name, "migrate", {"service_completed_successfully"}), name
        assert _reaches(services, name, "register", {"service_completed_successfully"}), name
    for name in ("db", "mosquitto"):
        assert _reaches(services, name, "credentials", {"service_completed_successfully"})
    # the broker starts only once its ACL covers the registered instruments
    assert _reaches(services, "mosquitto", "mqtt-credentials", {"service_completed_successfully"})
    assert _reaches(services, "mqtt-credentials", "register", {"service_completed_successfully"})


def test_secrets_come_only_from_env_and_are_refused_when_unset(
    compose: dict[str, Any], services: dict[str, Service]
) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    secret_like = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY")
    used = {name for name, op in variables(text) if secret_like.search(name)}
    for name, op in variables(text):
        if secret_like.search(name):
            assert op == ":?", f"${{{name}}} must be ${{{name}:?…}}: no default, refuse unset"
    example = required_secrets()
    assert used == set(example), "env.example and docker-compose.yml name different secrets"
    assert all(
        v == "" for v in re.findall(r"^[A-Z0-9_]+=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    ), "env.example must not carry values"
    # literal credentials nowhere: every URL's password is an interpolation
    for name, service in services.items():
        for key, value in environment(service).items():
            userinfo = re.match(r"^\w+://[^/@]*:([^@/]*)@", value)
            if userinfo:
                assert userinfo.group(1).startswith("${"), f"{name}.{key} holds a password"
            if secret_like.search(key) and not value.startswith("/certs/"):
                # (a path to a key in the dask-certs volume names a file, it holds no secret)
                assert value.startswith("${"), f"{name}.{key}"
                assert ":?" in value, f"{name}.{key}"

    # with every secret set, each pilotshare service's settings load as the CLI loads them
    for name, service in services.items():
        if command_of(service)[:1] != ["pilotshare"] or name.startswith("agent"):
            continue
        env = {k: interpolate(v, example) for k, v in environment(service).items()}
        settings = Settings(**{k.removeprefix("PILOTSHARE_").lower(): v for k, v in env.items()})
        assert settings.database_url
        assert "@db:5432/" in settings.database_url
        assert settings.site == "pilot"
        if name in ("api", "ingest"):
            assert settings.mqtt_url
            endpoint = MqttEndpoint.parse(settings.mqtt_url)
            assert (endpoint.host, endpoint.port) == ("mosquitto", 1883)
            if name == "ingest":
                assert (endpoint.username, endpoint.password) == (
                    "ingest",
                    example["MQTT_PASSWORD_INGEST"],
                )
    # and with one unset, compose refuses
    missing = dict(example)
    missing.pop("MQTT_PASSWORD_INGEST")
    with pytest.raises(UnsetError, match="MQTT_PASSWORD_INGEST"):
        interpolate(environment(services["ingest"])["PILOTSHARE_MQTT_URL"], missing)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False, capture_output=True
    )
    assert ignored.returncode == 0, ".env must be ignored by git"


def test_images_are_pinned_and_the_image_is_built_from_this_repository(
    services: dict[str, Service],
) -> None:
    for name, service in services.items():
        image = service.get("image", "")
        assert re.search(r":\d[\w.-]*$", image), f"{name}: image {image!r} has no version tag"
    assert services["db"]["image"].startswith("timescale/timescaledb:2.")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2.")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install '.[server]'" in dockerfile
    assert "/usr/local/bin/pilotshare-probe" in dockerfile
    for name, service in services.items():
        if command_of(service)[:1] == ["pilotshare"]:
            assert service.get("build") == ".", f"{name} must build this repository's image"


# --- the health probe ----------------------------------------------------------------------


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["python3", str(DEPLOY / "probe.py"), *args], check=False, capture_output=True, text=True
    )


def test_probe_answers_for_http_and_established_connections() -> None:
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert _probe(f"http://127.0.0.1:{port}/readyz").returncode == 0
        bad = _probe(f"http://127.0.0.1:{port}/metrics")
        assert bad.returncode == 1
        assert "503" in bad.stderr
        with socket.create_connection(("127.0.0.1", port)):
            time.sleep(0.1)
            assert _probe(f"tcp:{port}").returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    assert _probe(f"http://127.0.0.1:{port}/readyz").returncode == 1
    assert _probe("tcp:1").returncode == 1


# --- the credentials step and the broker config, for real ----------------------------------


def _run_credentials(out: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DEPLOY / "credentials.sh")],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TEMPLATES": str(DEPLOY),
            "AUTH_DIR": str(out / "auth"),
            "AGENTS_DIR": str(out / "agents"),
            "BROKER_UID": str(os.getuid()),
            "AGENT_UID": str(os.getuid()),
            **env,
        },
        check=False,
        capture_output=True,
        text=True,
    )


needs_mosquitto_passwd = pytest.mark.skipif(
    not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd is not installed here"
)


@needs_mosquitto
@needs_mosquitto_passwd
def test_credentials_step_refuses_missing_or_unusable_secrets(tmp_path: Path) -> None:
    values = required_secrets()
    missing = dict(values)
    del missing["MQTT_PASSWORD_SEM_1"]
    run = _run_credentials(tmp_path, missing)
    assert run.returncode == 1
    assert "MQTT_PASSWORD_SEM_1 is not set" in run.stderr
    assert not (tmp_path / "auth" / "passwd").exists()
    for bad in ("p@ss:word/0123456789", "short"):
        run = _run_credentials(tmp_path, {**values, "POSTGRES_PASSWORD": bad})
        assert run.returncode == 1
        assert "POSTGRES_PASSWORD" in run.stderr


def _container_conf(tmp_path: Path, port: int) -> str:
    """deploy/compose/mosquitto.conf with the container's paths and port moved to ``tmp_path``."""
    conf = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
    conf = conf.replace("/mosquitto/auth", str(tmp_path / "auth"))
    conf = conf.replace("/mosquitto/data/", f"{tmp_path / 'data'}/")
    conf = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", conf, flags=re.MULTILINE)
    assert f"listener {port}" in conf
    if os.getuid() == 0:
        conf += "\nuser root\n"  # keep the test's own files readable; the image drops to mosquitto
    (tmp_path / "data").mkdir()
    return conf


@pytest.fixture
async def broker(
    tmp_path: Path, db_url: str
) -> AsyncIterator[tuple[int, dict[str, str], Path, dict[str, str]]]:
    """The compose steps for real: credentials, register, mqtt-credentials, then Mosquitto.

    Yields the port, the .env values, the output directory and the passwords that
    ``pilotshare mqtt-credentials`` printed for instruments without one in .env.
    """
    values = required_secrets()
    run = _run_credentials(tmp_path, values)
    assert run.returncode == 0, run.stderr
    conn = await connect(db_url)
    try:
        sql = (DEPLOY / "instruments.sql").read_text(encoding="utf-8")
        await conn.execute(sql)
        await conn.execute(sql)  # idempotent
        # an instrument registered later, through the API: it has no password in .env
        await add_instrument(conn, "oven-2", site="pilot", name="Reflow oven 2")
    finally:
        await conn.close()
    command = command_of(yaml.safe_load(COMPOSE.read_text())["services"]["mqtt-credentials"])
    command = [a.replace("/mosquitto/auth", str(tmp_path / "auth")) for a in command]
    made = subprocess.run(
        [sys.executable, "-m", "pilotshare.cli", *command[1:]],
        env={**os.environ, "PILOTSHARE_DATABASE_URL": db_url},
        check=False,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    printed = dict(line.split(" ", 1) for line in made.stdout.splitlines())
    mosquitto = PrivateMosquitto(tmp_path, config=lambda port: _container_conf(tmp_path, port))
    mosquitto.start()
    try:
        yield mosquitto.port, values, tmp_path, printed
    finally:
        mosquitto.stop()


def _client(port: int, user: str | None, password: str | None, *, v5: bool = False) -> Any:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"t-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
    )
    if user:
        client.username_pw_set(user, password)
    client.received = []  # type: ignore[attr-defined]
    client.refused = None  # type: ignore[attr-defined]
    client.connected = threading.Event()  # type: ignore[attr-defined]

    def on_connect(c: Any, _u: object, _f: object, reason: Any, _p: object = None) -> None:
        if reason.is_failure:
            c.refused = str(reason)
        c.connected.set()

    def on_message(c: Any, _u: object, msg: Any) -> None:
        c.received.append((msg.topic, msg.payload.decode()))

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert client.connected.wait(5)
    return client


def _wait(predicate: Any, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@needs_mosquitto
@needs_mosquitto_passwd
def test_broker_authenticates_and_confines_each_agent_to_its_topics(
    broker: tuple[int, dict[str, str], Path, dict[str, str]], services: dict[str, Service]
) -> None:
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt (dev extra) is not installed")
    port, values, out, printed = broker
    # .env's passwords were kept; only the instrument without one got a new, printed password
    assert set(printed) == {"agent-oven-2"}
    clients = []
    try:
        anonymous = _client(port, None, None)
        clients.append(anonymous)
        assert anonymous.refused, "anonymous clients must be refused"
        wrong = _client(port, "agent-oven-1", "not-the-password")
        clients.append(wrong)
        assert wrong.refused, "a wrong password must be refused"

        ingest = _client(port, "ingest", values["MQTT_PASSWORD_INGEST"], v5=True)
        clients.append(ingest)
        assert ingest.refused is None
        # the agents log in with exactly what their rendered configs say
        agents = {}
        for rendered_file in sorted((out / "agents").glob("agent-*.toml")):
            url = re.search(r'^mqtt_url = "([^"]+)"', rendered_file.read_text(), re.MULTILINE)
            assert url
            parts = urlsplit(url.group(1))
            agent = _client(port, parts.username, parts.password)
            assert agent.refused is None, f"{parts.username}: {agent.refused}"
            agents[parts.username] = agent
            clients.append(agent)
        assert set(agents) == {"agent-oven-1", "agent-sem-1", "agent-printer-1"}
        later = _client(port, "agent-oven-2", printed["agent-oven-2"])
        clients.append(later)
        assert later.refused is None
        oven, sem = agents["agent-oven-1"], agents["agent-sem-1"]

        ingest.subscribe("$share/pilotshare-ingest/pilotshare/v1/+/+/telemetry", qos=1)
        ingest.subscribe("pilotshare/v1/+/+/status", qos=1)
        oven.subscribe("pilotshare/v1/pilot/+/ack", qos=1)
        oven.subscribe("pilotshare/v1/pilot/+/cmd", qos=1)
        time.sleep(0.3)

        oven.publish("pilotshare/v1/pilot/oven-1/telemetry", "own", qos=1).wait_for_publish(3)
        oven.publish("pilotshare/v1/pilot/sem-1/telemetry", "forged", qos=1).wait_for_publish(3)
        later.publish("pilotshare/v1/pilot/oven-2/telemetry", "later", qos=1).wait_for_publish(3)
        sem.publish("pilotshare/v1/pilot/sem-1/status", "online", qos=1).wait_for_publish(3)
        ingest.publish("pilotshare/v1/pilot/oven-1/ack", "ack-oven", qos=1).wait_for_publish(3)
        ingest.publish("pilotshare/v1/pilot/sem-1/ack", "ack-sem", qos=1).wait_for_publish(3)
        ingest.publish("pilotshare/v1/pilot/oven-1/cmd", "unlock", qos=1).wait_for_publish(3)
        assert _wait(lambda: len(ingest.received) >= 3 and len(oven.received) >= 2)
        time.sleep(0.3)
        assert sorted(ingest.received) == [
            ("pilotshare/v1/pilot/oven-1/telemetry", "own"),
            ("pilotshare/v1/pilot/oven-2/telemetry", "later"),
            ("pilotshare/v1/pilot/sem-1/status", "online"),
        ]
        assert sorted(oven.received) == [
            ("pilotshare/v1/pilot/oven-1/ack", "ack-oven"),
            ("pilotshare/v1/pilot/oven-1/cmd", "unlock"),
        ]
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()

    # the broker's own health check, exactly as compose runs it, passes with the real password
    # and fails with a wrong one
    check = services["mosquitto"]["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    shell = interpolate(check[1], {}).replace("-p 1883", f"-p {port}")
    for password, healthy in ((values["MQTT_PASSWORD_INGEST"], True), ("wrong" * 4, False)):
        result = subprocess.run(
            ["sh", "-c", shell],
            env={"PATH": os.environ.get("PATH", ""), "MQTT_PASSWORD_INGEST": password},
            check=False,
            capture_output=True,
            timeout=20,
        )
        assert (result.returncode == 0) is healthy, result.stderr


def test_compose_broker_config_matches_the_shipped_one() -> None:
    """deploy/compose/mosquitto.conf is deploy/mosquitto/mosquitto.conf with container paths.

    Only the file locations and logging (stdout, for `docker compose logs`) may differ.
    """
    shipped = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
    if not shipped.exists():
        pytest.skip("deploy/mosquitto/mosquitto.conf is absent")
    local = {"password_file", "acl_file", "persistence_location", "log_dest"}

    def settings(path: Path) -> set[str]:
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return {line for line in lines if line and line.split()[0] not in local}

    assert settings(DEPLOY / "mosquitto.conf") == settings(shipped)


# --- what is exposed, and Dask behind mutual TLS -------------------------------------------

#: The only ports published on the host: the HTTP API and the broker the agents reach.
PUBLISHED = {"api": ["8000:8000"], "mosquitto": ["1883:1883"]}


def _published(service: Service) -> list[str]:
    return [str(p).split("#")[0].strip() for p in service.get("ports", [])]


def test_only_the_api_and_the_broker_are_published(services: dict[str, Service]) -> None:
    published = {n: _published(s) for n, s in services.items() if s.get("ports")}
    assert published == PUBLISHED
    for name, service in services.items():
        assert "expose" not in service or name in PUBLISHED, name
        assert service.get("network_mode") != "host", f"{name} must stay on the compose network"
    # PostgreSQL and the ingest's and agents' /metrics answer inside the network only
    assert "ports" not in services["db"]


def test_dask_speaks_mutual_tls_only_with_deploy_time_certificates(
    services: dict[str, Service],
) -> None:
    dask = {n: s for n, s in services.items() if n.startswith("dask-")}
    assert set(dask) == {"dask-certs", "dask-scheduler", "dask-worker"}
    for name, service in dask.items():
        assert service.get("profiles") == ["dask"], name
        assert "ports" not in service, f"{name} must not be published"
    scheduler = command_of(services["dask-scheduler"])
    worker = command_of(services["dask-worker"])
    flags = {"--tls-ca-file": "/certs/ca.pem"}
    for command, role in ((scheduler, "scheduler"), (worker, "worker")):
        options = dict(itertools.pairwise(command))  # each flag -> its value
        assert options["--tls-ca-file"] == flags["--tls-ca-file"]
        assert options["--tls-cert"] == f"/certs/{role}.pem"
        assert options["--tls-key"] == f"/certs/{role}-key.pem"
        assert "--dashboard-address" not in command  # the dashboard is plain HTTP: off
    assert scheduler[scheduler.index("--protocol") + 1] == "tls"
    assert worker[2].startswith("tls://dask-scheduler:")
    for name in ("dask-scheduler", "dask-worker"):
        env = environment(services[name])
        assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True", name
        assert "dask-certs:/certs:ro" in services[name]["volumes"], name
        assert depends(services[name])["dask-certs"] == "service_completed_successfully"
    # the one-shot makes them with the repository's script into the volume, never committed
    certs = services["dask-certs"]
    assert command_of(certs) == ["/bin/sh", "/templates/dask-certs.sh"]
    assert (DEPLOY / "dask-certs.sh").is_file()
    assert "dask-certs:/certs" in certs["volumes"]
    assert environment(certs)["CERTS_DIR"] == "/certs"
    # the product's client (the api container's `pilotshare simulate --dask tls://…`)
    api = environment(services["api"])
    client = {k: v for k, v in api.items() if k.startswith("PILOTSHARE_DASK_TLS_")}
    assert client == {
        "PILOTSHARE_DASK_TLS_CA_FILE": "/certs/ca.pem",
        "PILOTSHARE_DASK_TLS_CERT": "/certs/client.pem",
        "PILOTSHARE_DASK_TLS_KEY": "/certs/client-key.pem",
    }
    assert "dask-certs:/certs:ro" in services["api"]["volumes"]
    settings = Settings(**{k.removeprefix("PILOTSHARE_").lower(): v for k, v in client.items()})
    assert settings.dask_tls_key is not None
    # every file named above is one the script writes
    script = (DEPLOY / "dask-certs.sh").read_text(encoding="utf-8")
    for path in [*client.values(), "/certs/scheduler.pem", "/certs/worker-key.pem"]:
        assert Path(path).name in script or "$name" in script


def test_no_private_key_is_committed() -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    marker = b"-----BEGIN " + b"PRIVATE KEY"  # split, so this file does not hold it
    ec_marker = b"-----BEGIN EC " + b"PRIVATE KEY"
    holding = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file() and path.stat().st_size < 1_000_000:
            content = path.read_bytes()
            if marker in content or ec_marker in content:
                holding.append(name.decode())
    assert holding == []
