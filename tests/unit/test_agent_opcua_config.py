"""The ``opcua`` adapter's config and state mapping: every mistake one line naming its key,
files taken from the config's directory, the PackML defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import ConfigError
from pilotshare.edge_agent.adapters import AdapterError
from pilotshare.edge_agent.adapters.opcua import PACKML, map_state, state_key
from pilotshare.edge_agent.config import OpcUaConfig, load_config

S = InstrumentState
BASE = """
[agent]
site = "demo"
instrument = "oven-1"
mqtt_url = "mqtt://127.0.0.1:1883"

[adapter]
type = "opcua"
endpoint = "opc.tcp://plc:4840"
state = "ns=2;s=Oven.State"
"""


def load(tmp_path: Path, extra: str) -> OpcUaConfig:
    path = tmp_path / "agent.toml"
    path.write_text(BASE + extra)
    adapter = load_config(path).adapter
    assert isinstance(adapter, OpcUaConfig)
    return adapter


def test_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert (config.read, config.state_defaults, config.security_policy, config.mode) == (
        "subscribe",
        "packml",
        "None",
        "None",
    )
    assert config.interlock is None


def test_certificates_are_taken_from_the_configs_directory(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    for name in ("agent.der", "agent.pem"):
        (tmp_path / "pki" / name).write_bytes(b"x")
    config = load(
        tmp_path,
        'security_policy = "Basic256Sha256"\n'
        'certificate = "pki/agent.der"\nprivate_key = "pki/agent.pem"\n',
    )
    assert config.mode == "SignAndEncrypt"
    assert config.certificate == str(tmp_path / "pki" / "agent.der")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('metrics = { power_w = "Objects/Power" }', "adapter.metrics.power_w: 'Objects/Power'"),
        ('utilization = "Load"', "adapter.utilization: 'Load' is neither a node id"),
        ('read = "push"', "adapter.read: invalid enum value 'push'"),
        ('security_policy = "Basic256Sha256"', "adapter.certificate: security_policy"),
        ('security_mode = "Sign"', "adapter.security_mode: must be None"),
        ('password = "x"', "adapter.password: set username too"),
        ('certificate = "missing.der"', "adapter.private_key: certificate and private_key"),
        (
            'certificate = "a.der"\nprivate_key = "a.pem"',
            "adapter.certificate: ",
        ),
        ("[adapter.interlock]\nlock_value = 1", "adapter.interlock.node: set either node"),
        (
            '[adapter.interlock]\nnode = "i=1"\nmethod = "i=2"',
            "adapter.interlock.node: set either node",
        ),
        (
            '[adapter.interlock]\nnode = "i=1"\nlock_args = [1]',
            "adapter.interlock.method: lock_args",
        ),
        ('[adapter.interlock]\nmethod = "SetLock"', "adapter.interlock.method: 'SetLock'"),
        ('endpoint = "http://plc"', "adapter.endpoint"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, extra: str, message: str) -> None:
    text = BASE + extra + "\n"
    if extra.startswith("endpoint"):
        text = BASE.replace('endpoint = "opc.tcp://plc:4840"', extra)
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_packml_defaults_cover_every_defined_state() -> None:
    numbers = {k for k in PACKML if k.isdigit()}
    assert numbers == {str(n) for n in range(1, 18)}
    assert len(PACKML) == 34  # each state by number and by name
    assert PACKML["6"] is PACKML["execute"] is S.RUNNING
    assert {PACKML[k] for k in ("4", "2", "17", "5")} == {S.IDLE}
    assert {PACKML[k] for k in ("3", "15", "1")} == {S.SETUP}
    assert {PACKML[k] for k in ("9", "11", "8")} == {S.DOWN}


@pytest.mark.parametrize(
    ("value", "state_map", "packml", "state"),
    [
        (6, {}, True, S.RUNNING),
        (6.0, {}, True, S.RUNNING),
        ("Execute", {}, True, S.RUNNING),
        ("HELD", {}, True, S.DOWN),
        (6, {"6": S.SETUP}, True, S.SETUP),
        ("fault", {"Fault": S.DOWN}, False, S.DOWN),
        (True, {"true": S.RUNNING}, False, S.RUNNING),
        ("maintenance", {}, False, S.MAINTENANCE),
    ],
)
def test_states_are_mapped(
    value: object, state_map: dict[str, InstrumentState], packml: bool, state: InstrumentState
) -> None:
    assert map_state(value, state_map, packml=packml) is state


@pytest.mark.parametrize(("value", "packml"), [(0, True), (6, False), ("Warp", True)])
def test_unknown_states_are_adapter_errors(value: object, packml: bool) -> None:
    with pytest.raises(AdapterError, match="is not in state_map"):
        map_state(value, {}, packml=packml)


def test_state_keys_of_opc_ua_types() -> None:
    from asyncua import ua

    assert state_key(ua.LocalizedText("Execute", "en")) == "Execute"
    assert state_key(ua.QualifiedName("Held", 2)) == "Held"
    assert state_key(7.5) == "7.5"
