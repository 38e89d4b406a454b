"""The what-if scenarios shipped with pilotshare (``simulations/scenarios/*.yaml``): planners
start from them, ``pilotshare simulate`` takes their paths, the API lists and serves them.

A bundled scenario is named by its file's stem (``smt-second-reflow``); its title is the
first line of the comment it opens with (the question it asks), its description the
scenario's own ``description``. Each is parsed as ``POST /api/v1/simulations`` would parse
it, so a listed scenario is one that runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from pilotshare.simulations.loader import parse_scenario

_FOLDER = "scenarios"
_SUFFIX = ".yaml"


@dataclass(frozen=True, slots=True)
class Bundled:
    """A bundled scenario, as listed."""

    name: str
    title: str | None
    description: str
    horizon_days: float
    replications: int


def _title(text: str) -> str | None:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("#").strip() or None if first.startswith("#") else None


def _files() -> dict[str, str]:
    folder = resources.files("pilotshare.simulations") / _FOLDER
    return {
        entry.name.removesuffix(_SUFFIX): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(_SUFFIX) and entry.is_file()
    }


def text(name: str) -> str | None:
    """The YAML text of the bundled scenario ``name`` (None: there is none)."""
    return _files().get(name)


def listing() -> list[Bundled]:
    """Every bundled scenario, by name."""
    found = []
    for name, body in _files().items():
        scenario = parse_scenario(body, source=f"{_FOLDER}/{name}{_SUFFIX}")
        found.append(
            Bundled(
                name=name,
                title=_title(body),
                description=scenario.description,
                horizon_days=scenario.horizon_days,
                replications=scenario.replications,
            )
        )
    return found
