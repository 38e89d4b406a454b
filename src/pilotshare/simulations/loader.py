"""Read a scenario file: YAML, checked against ``scenario.schema.json``, into a :class:`Scenario`
(the values are built by :mod:`.builder`).

A planner who mistypes a key must learn which file, which line and which key, in one line,
not a traceback or a schema dump. So the YAML is composed once into nodes to remember the line
of every value (and to refuse duplicate keys, which PyYAML would silently merge), validated with
jsonschema, and each error's JSON path is mapped back to its line. The same loader serves the
HTTP API, where the "file" is the request body.

YAML 1.1 reads ``18:00`` as the sexagesimal integer 1080; opening hours are full of such
values, so the loader uses a resolver without sexagesimal numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pilotshare.core.errors import ConfigError
from pilotshare.simulations.builder import Builder
from pilotshare.simulations.scenario import Scenario

Path_ = tuple[str | int, ...]


class ScenarioError(ConfigError):
    """A scenario is wrong; the message reads ``SOURCE:LINE: KEY: what is wrong``."""

    def __init__(self, source: str, line: int, key: str, message: str) -> None:
        message = " ".join(message.split())  # one line, whatever the file held
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.source = source
        self.line = line
        self.key = key
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 sexagesimal numbers (``18:00`` stays a string)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if not (tag.endswith((":int", ":float")) and regexp.match("18:00"))
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key_text(path: Path_) -> str:
    """``changes[1].add_instruments.count`` for a JSON path (odd keys quoted, escaped)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


class Lines:
    """The line (1-based) of every value and key in a YAML document, by JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.values: dict[Path_, int] = {}
        self.keys: dict[Path_, int] = {}

    def walk(self, node: yaml.Node, path: Path_) -> None:
        self.values[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    raise ScenarioError(
                        self.source,
                        key_node.start_mark.line + 1,
                        key_text((*path, key)),
                        "duplicate key",
                    )
                seen.add(key)
                self.keys[(*path, key)] = key_node.start_mark.line + 1
                self.walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, (*path, i))

    def line(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), 1)

    def error(self, path: Path_, message: str) -> ScenarioError:
        return ScenarioError(self.source, self.line(path), key_text(path), message)


@cache
def schema() -> dict[str, Any]:
    """The published JSON schema of scenario files."""
    text = resources.files("pilotshare.simulations").joinpath("scenario.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _schema_errors(data: object) -> Iterator[tuple[Path_, str]]:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        best = jsonschema.exceptions.best_match([error])
        path: Path_ = tuple(best.absolute_path)
        message = best.message
        if best.validator == "additionalProperties" and isinstance(best.instance, dict):
            known = best.schema.get("properties", {}) if isinstance(best.schema, dict) else {}
            extra = sorted(k for k in best.instance if k not in known)
            if extra:
                path = (*path, extra[0])
                message = f"unknown key (expected one of: {', '.join(sorted(known))})"
        yield path, message


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; any problem is one :class:`ScenarioError` line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(p), 0, "", f"cannot read: {exc}") from None
    return parse_scenario(text, source=str(p))


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Parse scenario text (YAML, of which JSON is a subset)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ScenarioError(source, line, "", f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(source, 0, "", f"not valid YAML: {exc}") from None
    if node is None or not isinstance(data, dict):
        raise ScenarioError(
            source, 1, "", "a scenario is a mapping with name, site or live, and changes"
        )
    lines = Lines(source)
    lines.walk(node, ())
    if "site" not in data and "live" not in data:
        raise lines.error((), "needs either site: (a described site) or live: (a twin snapshot)")
    if "site" in data and "live" in data:
        raise lines.error(("live",), "give either site: or live:, not both")
    for path, message in _schema_errors(data):
        raise lines.error(path, message)
    return Builder(lines).scenario(data)
