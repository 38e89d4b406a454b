"""The agent's config file: the examples load, every mistake is one line naming its key."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pilotshare.cli import main
from pilotshare.core.errors import ConfigError
from pilotshare.edge_agent.config import (
    AgentConfig,
    CommandConfig,
    HttpConfig,
    ModbusConfig,
    OpcUaConfig,
    SimulatedConfig,
    load_config,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "agent"
GOOD = """
[agent]
site = "demo"
instrument = "oven-1"
mqtt_url = "mqtt://127.0.0.1:1883"

[adapter]
type = "simulated"
"""


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("simulated", SimulatedConfig),
        ("command", CommandConfig),
        ("http", HttpConfig),
        ("modbus", ModbusConfig),
        ("opcua", OpcUaConfig),
    ],
)
def test_every_example_loads(name: str, kind: type) -> None:
    config = load_config(EXAMPLES / f"{name}.toml")
    assert isinstance(config.adapter, kind)
    assert Path(config.agent.outbox_path).is_absolute()


def test_defaults_are_the_contract_defaults(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD)
    config = load_config(tmp_path / "a.toml")
    agent = config.agent
    assert (agent.sample_interval_s, agent.batch_max_samples, agent.batch_max_age_s) == (1, 100, 5)
    assert (agent.outbox_max_samples, agent.ack_timeout_s, agent.metrics_port) == (
        10_000_000,
        30,
        9108,
    )
    assert agent.outbox_path == str(tmp_path / "oven-1.outbox.sqlite")
    assert agent.agent_name == "oven-1-agent"
    assert isinstance(config.adapter, SimulatedConfig)
    assert config.adapter.seed == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[agent]", "[agent]\nbogus = 1"), "agent.bogus: unknown key"),
        (
            ("[agent]", '[agent]\nsample_interval_s = "fast"'),
            "agent.sample_interval_s: expected float, got str",
        ),
        (
            ("[agent]", "[agent]\nbatch_max_samples = 0"),
            "agent.batch_max_samples: expected int >= 1",
        ),
        (('site = "demo"', 'site = "Demo Site"'), "agent.site: 'Demo Site' is not a slug"),
        (('mqtt_url = "mqtt://127.0.0.1:1883"', 'mqtt_url = "http://x"'), "agent.mqtt_url:"),
        (('mqtt_url = "mqtt://127.0.0.1:1883"', ""), "agent.mqtt_url: required key is missing"),
        (('type = "simulated"', 'type = "profinet"'), "adapter.type: invalid value 'profinet'"),
        (
            ('type = "simulated"', 'type = "simulated"\nmtbf_s = -1.0'),
            "adapter.mtbf_s: expected float > 0",
        ),
        (('type = "simulated"', 'type = "simulated"\nmtbf = 1.0'), "adapter.mtbf: unknown key"),
        (("[adapter]", "[adapters]"), "adapters: unknown key"),
        (
            ("[agent]", "[agent]\noutbox_max_samples = 5"),
            "agent.outbox_max_samples: must be at least",
        ),
        (("[agent]", "[agent"), "not valid TOML"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(GOOD.replace(*edit, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    # the command line: exit 2, one line on standard error, no traceback
    with pytest.raises(SystemExit) as exited:
        main(["agent", "--config", str(path)])
    assert exited.value.code == 2
    err_text = capsys.readouterr().err.strip()
    assert err_text.startswith("pilotshare: error: ")
    assert message in err_text
    assert len(err_text.splitlines()) == 1


MODBUS = """
[agent]
site = "demo"
instrument = "press-1"
mqtt_url = "mqtt://127.0.0.1:1883"

[adapter]
type = "modbus"
host = "127.0.0.1"
state = { address = 0 }
state_map = { "0" = "idle" }

[adapter.interlock]
address = 100
"""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("address = 100", "address = 100\nlock = 2"),
            "adapter.interlock.lock: a coil takes 0 or 1",
        ),
        (("address = 100", "address = 100\nunlock = 1"), "adapter.interlock.unlock: must differ"),
        (("address = 100", "address = 70000"), "adapter.interlock.address: expected int <= 65535"),
        (("address = 100", ""), "adapter.interlock.address: required key is missing"),
        (
            ("address = 100", 'address = 100\non_start = "unlock"'),
            "adapter.interlock.on_start: invalid enum value 'unlock'",
        ),
        (("address = 100", "address = 100\nretry_s = 0"), "adapter.interlock.retry_s: expected"),
        (("address = 100", "address = 100\ncoil = 1"), "adapter.interlock.coil: unknown key"),
    ],
)
def test_interlock_mistakes_name_their_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(MODBUS.replace(*edit, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)


def test_interlock_defaults_fail_safe(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(MODBUS)
    adapter = load_config(path).adapter
    assert isinstance(adapter, ModbusConfig)
    assert adapter.interlock is not None
    lock = adapter.interlock
    assert (lock.table, lock.lock, lock.unlock) == ("coil", 1, 0)
    assert (lock.on_start, lock.start_wait_s, lock.retry_s) == ("lock", 10.0, 5.0)


def test_a_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["agent", "--config", str(tmp_path / "nope.toml")])
    assert exited.value.code == 2
    assert "nope.toml" in capsys.readouterr().err


def test_config_built_in_code_is_validated() -> None:
    with pytest.raises(ValueError, match="instrument"):
        AgentConfig(site="demo", instrument="Oven 1", mqtt_url="mqtt://h")
    config = AgentConfig(site="demo", instrument="oven-1", mqtt_url="mqtt://h", metrics_port=0)
    assert config.poll_s == config.sample_interval_s


def _exit_2(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["agent", "--config", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_an_unusable_outbox_path_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "a.toml"
    path.write_text(GOOD.replace("[adapter]", 'outbox_path = "file/o.sqlite"\n\n[adapter]'))
    assert "agent.outbox_path: cannot use" in _exit_2(path, capsys)


def test_a_busy_metrics_port_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "a.toml"
        extra = f'metrics_port = {port}\nmetrics_host = "127.0.0.1"\n'
        path.write_text(GOOD.replace("[adapter]", extra + "\n[adapter]"))
        assert "agent.metrics_port: cannot listen" in _exit_2(path, capsys)


def test_a_missing_ca_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.toml"
    path.write_text(GOOD.replace("[adapter]", 'tls_ca_file = "ca.pem"\n\n[adapter]'))
    assert "agent.tls_ca_file:" in _exit_2(path, capsys)
