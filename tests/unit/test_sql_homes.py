"""SQL lives in store modules and ``core.db``: the composition root runs none of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pilotshare

PACKAGE = Path(pilotshare.__file__).resolve().parent
COMPOSITION_ROOT = ("demo.py", "services.py", "cli.py", "credentials.py", "runtime.py")
_RUNS_SQL = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"}


def _sql_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{node.lineno} .{node.func.attr}(...)"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _RUNS_SQL
    ]


@pytest.mark.parametrize("module", COMPOSITION_ROOT)
def test_the_composition_root_calls_store_functions_and_runs_no_sql(module: str) -> None:
    assert _sql_calls(PACKAGE / module) == []
