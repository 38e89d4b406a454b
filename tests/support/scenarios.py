"""A small what-if scenario for tests that need one to run: one lab, SEMs, one change."""

from __future__ import annotations


def lab_scenario(
    name: str,
    *,
    horizon_days: int = 7,
    warmup_days: int = 1,
    replications: int = 2,
    seed: int = 1,
    per_week: int = 10,
    hours: int = 2,
) -> str:
    """The YAML of a one-SEM lab with ``per_week`` requests of ``hours``, asking what a second
    SEM changes; small enough to run in a test in a second or two."""
    return f"""\
name: {name}
horizon_days: {horizon_days}
warmup_days: {warmup_days}
replications: {replications}
seed: {seed}
site:
  id: lab
  instruments:
    - {{kind: sem, count: 1, hourly_rate: 100, mtbf_hours: 120, mttr_hours: 4}}
  demand:
    - {{kind: sem, per_week: {per_week}, duration_hours: {{mean: {hours}}}}}
changes:
  - add_instruments: {{kind: sem, count: 1}}
"""
