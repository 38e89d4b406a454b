"""Every benchmark still imports: they run outside the suite, so a moved name would only
show the day someone measures."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted(
    p.stem
    for p in (Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py")
    if not p.stem.startswith("_")
)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_imports(name: str) -> None:
    importlib.import_module(f"benchmarks.{name}")
