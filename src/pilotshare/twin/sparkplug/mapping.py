"""Which Sparkplug edge nodes and devices are which instruments, and how their metrics read
as the contract's samples (pure; read from TOML by ``load_mapping``).

```toml
[host]
host_id = "pilotshare"          # spBv1.0/STATE/<host_id>
site = "demo"                   # default: PILOTSHARE_SITE
rebirth_interval_s = 10.0       # at most one rebirth request per edge node in this time
reject_unmapped = true          # keep data of unmapped nodes and devices as rejects

[[instrument]]
id = "oven-3"                   # a registered instrument at the site
group = "line-1"                # Sparkplug group id
node = "plc-7"                  # edge node id
device = "oven"                 # device id; leave out to map the edge node's own metrics
state = "Status/State"          # metric whose value is the state
states = { "1" = "running", "2" = "idle", "3" = "down" }   # value -> state
utilization = "Status/OEE"      # optional
utilization_scale = 0.01        # a percentage -> [0, 1]
metrics = { power_w = "Power/Active", chamber_c = "Chamber/Temperature" }
```

A state value is looked up by its text (``1``, ``true``, ``STOPPED``); a value that already
is a state's name (``running``) needs no entry.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec

from pilotshare.core.contract import MetricName
from pilotshare.core.domain import InstrumentState, is_slug
from pilotshare.core.errors import ConfigError
from pilotshare.twin.sparkplug.payload import Scalar

__all__ = ["HostConfig", "InstrumentMap", "Mapping", "Refused", "load_mapping", "state_key"]

_Token = Annotated[str, msgspec.Meta(pattern=r"^[^/+#]+$", max_length=256)]


class HostConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[host]``: who the host application is and where its instruments are registered."""

    host_id: _Token = "pilotshare"
    site: str = ""  # empty: PILOTSHARE_SITE
    rebirth_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    reject_unmapped: bool = True  # false: data of unmapped nodes and devices is ignored


class InstrumentMap(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[[instrument]]``: one edge node or device read as one instrument."""

    id: str
    group: _Token
    node: _Token
    device: _Token | None = None
    state: str
    states: dict[str, InstrumentState] = {}
    utilization: str | None = None
    utilization_scale: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    metrics: Annotated[dict[MetricName, str], msgspec.Meta(max_length=64)] = {}

    def __post_init__(self) -> None:
        if not is_slug(self.id):
            raise ValueError(f"id: {self.id!r} is not a slug")

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.group, self.node, self.device)

    def sample(self, values: dict[str, Scalar | None], ts: datetime) -> dict[str, object]:
        """The contract sample of the current ``values`` (by metric name) at ``ts``.

        ``Refused`` (``bad_state``) when the state metric has no value or one that maps to no
        state; the other fields go as they are, for the contract's decoder to judge.
        """
        raw = values.get(self.state)
        if raw is None:
            raise Refused("bad_state", f"state metric {self.state!r} has no value")
        key = state_key(raw)
        state = self.states.get(key)
        if state is None and key in InstrumentState._value2member_map_:
            state = InstrumentState(key)
        if state is None:
            raise Refused("bad_state", f"state metric {self.state!r} = {key!r} maps to no state")
        sample: dict[str, object] = {"ts": ts.isoformat(), "state": state.value}
        if self.utilization is not None:
            u = values.get(self.utilization)
            if isinstance(u, bool) or not isinstance(u, int | float):
                sample["utilization"] = u  # absent stays absent; text is refused downstream
            else:
                sample["utilization"] = u * self.utilization_scale
            if sample["utilization"] is None:
                del sample["utilization"]
        metrics: dict[str, object] = {}
        for name, source in self.metrics.items():
            v = values.get(source)
            if v is not None:
                metrics[name] = float(v) if isinstance(v, bool) else v
        if metrics:
            sample["metrics"] = metrics
        return sample


class Refused(Exception):  # noqa: N818 - a refusal to map, not a crash
    """A message that cannot be turned into a sample; ``reason`` is a reject reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def state_key(value: Scalar) -> str:
    """The text a state value is looked up by: ``1`` for 1 and 1.0, ``true``, or the string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


class _File(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: HostConfig = HostConfig()
    instrument: tuple[InstrumentMap, ...] = ()


@dataclass(frozen=True, slots=True)
class Mapping:
    """The whole mapping: the host's settings and its instruments by (group, node, device)."""

    host: HostConfig
    instruments: dict[tuple[str, str, str | None], InstrumentMap]

    @classmethod
    def of(cls, host: HostConfig, instruments: list[InstrumentMap]) -> Mapping:
        """Validate that no instrument and no node or device is mapped twice."""
        by_key: dict[tuple[str, str, str | None], InstrumentMap] = {}
        ids: set[str] = set()
        for i, m in enumerate(instruments):
            if m.key in by_key:
                raise ConfigError(f"instrument[{i}]: {m.key} is mapped twice")
            if m.id in ids:
                raise ConfigError(f"instrument[{i}]: instrument {m.id!r} is mapped twice")
            by_key[m.key] = m
            ids.add(m.id)
        return cls(host, by_key)

    def find(self, group: str, node: str, device: str | None) -> InstrumentMap | None:
        return self.instruments.get((group, node, device))

    def nodes(self) -> set[tuple[str, str]]:
        """The edge nodes that carry at least one mapped instrument."""
        return {(g, n) for g, n, _ in self.instruments}


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; ``ConfigError`` (one line, naming the key) if bad."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        parsed = msgspec.convert(data, _File)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if parsed.host.site and not is_slug(parsed.host.site):
        raise ConfigError(f"{path}: host.site {parsed.host.site!r} is not a slug")
    if not parsed.instrument:
        raise ConfigError(f"{path}: no [[instrument]] is mapped")
    return Mapping.of(parsed.host, list(parsed.instrument))
