"""The Sparkplug mapping file: what it accepts, and one line naming the key when it is bad."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import ConfigError
from pilotshare.twin.sparkplug.mapping import Refused, load_mapping, state_key

GOOD = """
[host]
host_id = "pilotshare"
site = "demo"

[[instrument]]
id = "oven-3"
group = "line-1"
node = "plc-7"
device = "oven"
state = "Status/State"
states = { "1" = "running", "true" = "idle", "STOPPED" = "down" }
utilization = "Status/OEE"
utilization_scale = 0.01
metrics = { power_w = "Power/Active" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sparkplug.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_maps_devices_to_instruments(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, GOOD))
    oven = mapping.find("line-1", "plc-7", "oven")
    assert oven is not None
    assert oven.states["STOPPED"] is InstrumentState.DOWN
    assert mapping.nodes() == {("line-1", "plc-7")}
    ts = datetime(2026, 12, 1, tzinfo=UTC)
    sample = oven.sample({"Status/State": True, "Status/OEE": 50, "Power/Active": 7}, ts)
    assert sample == {
        "ts": ts.isoformat(),
        "state": "idle",
        "utilization": 0.5,
        "metrics": {"power_w": 7},
    }
    with pytest.raises(Refused, match="no value"):
        oven.sample({}, ts)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("utilization_scale = 0.01", "utilisation_scale = 0.01"), "utilisation_scale"),
        (('"STOPPED" = "down"', '"STOPPED" = "broken"'), "states"),
        (('id = "oven-3"', 'id = "Oven 3"'), "id"),
        (("power_w", "Power"), "metrics"),
        (('node = "plc-7"', 'node = "plc/7"'), "node"),
        (('site = "demo"', 'site = "Demo Site"'), "site"),
    ],
)
def test_a_bad_key_is_one_config_error_naming_it(
    tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_mapping(write(tmp_path, GOOD.replace(*change)))


def test_a_device_or_instrument_mapped_twice_is_refused(tmp_path: Path) -> None:
    second = GOOD.split("[[instrument]]")[1]
    with pytest.raises(ConfigError, match="mapped twice"):
        load_mapping(write(tmp_path, GOOD + "[[instrument]]" + second))


def test_an_empty_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no \\[\\[instrument\\]\\]"):
        load_mapping(write(tmp_path, "[host]\n"))


def test_state_values_are_looked_up_by_their_text() -> None:
    assert [state_key(v) for v in (1, 1.0, 2.5, True, "STOPPED")] == [
        "1",
        "1",
        "2.5",
        "true",
        "STOPPED",
    ]
