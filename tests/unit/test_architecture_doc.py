"""docs/architecture.md names only what exists: every path, every module and every function
or constant it points at, and the import-linter layers exactly as pyproject.toml has them.

A page that describes the code drifts as the code moves; this keeps a move from passing
without the page moving with it.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()

#: The top-level packages a short dotted name (``twin.state``) may start with.
PACKAGES = ("api", "billing", "core", "edge_agent", "registry", "scheduler", "simulations", "twin")

#: A repository path: ``src/…``, ``tests/…`` or ``benchmarks/…`` (a file or a directory).
_PATH = re.compile(r"\b((?:src|tests|benchmarks)/[\w./-]*[\w/])")
#: A dotted name in backticks, optionally called: ``twin.stats.intervals`` or ``x.y()``.
_DOTTED = re.compile(r"`((?:pilotshare|" + "|".join(PACKAGES) + r")(?:\.\w+)+)(?:\(\))?`")
#: Any fully qualified name, in backticks or not.
_QUALIFIED = re.compile(r"\bpilotshare(?:\.\w+)+")


def _paths() -> list[str]:
    return sorted(set(_PATH.findall(DOC)))


def _names() -> list[str]:
    found = set(_DOTTED.findall(DOC)) | {m.rstrip(".") for m in _QUALIFIED.findall(DOC)}
    return sorted(n if n.startswith("pilotshare") else f"pilotshare.{n}" for n in found)


def _resolves(name: str) -> bool:
    """Whether ``name`` is a module, or an attribute chain on the longest module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_page_names_paths_and_names_at_all() -> None:
    assert len(_paths()) >= 5
    assert len(_names()) >= 100


@pytest.mark.parametrize("path", _paths())
def test_every_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


@pytest.mark.parametrize("name", _names())
def test_every_dotted_name_exists(name: str) -> None:
    assert _resolves(name), f"docs/architecture.md names {name}, which does not import"


def test_the_layers_are_those_of_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    quoted = "layers = [\n" + "".join(f'  "{layer}",\n' for layer in layers) + "]"
    assert quoted in DOC, "copy the layers of pyproject.toml into docs/architecture.md:\n" + quoted


def _marked_pure(module: str) -> bool:
    """A table row lists ``module`` in its first cell and says *pure* in its last, or names it
    inside its package's row followed by *pure* (``(…, *pure*)``)."""
    short = f"`{module.removeprefix('pilotshare.')}`"
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2:
            continue
        if short in cells[0] and "*pure*" in cells[-1]:
            return True
        if re.search(re.escape(short) + r"[^`]*?\*pure\*", line):
            return True
    return False


def test_every_pure_module_is_marked_pure() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (pure,) = [c["source_modules"] for c in contracts if c["name"].startswith("Pure modules")]
    assert [m for m in pure if not _marked_pure(m)] == []
