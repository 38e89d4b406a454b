"""Whatever a scenario file holds, the loader answers a Scenario or one ScenarioError line."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.simulations import engine
from pilotshare.simulations.changes import apply_changes
from pilotshare.simulations.loader import ScenarioError, parse_scenario
from pilotshare.simulations.scenario import Site

BASE: dict[str, Any] = yaml.safe_load(
    """\
name: fuzz
horizon_days: 14
site:
  id: lab
  operating_hours: {mon: [["08:00", "18:00"]]}
  policy: {allocation: by_name, window_hours: 48}
  instruments:
    - {kind: sem, count: 2, hourly_rate: 100, mtbf_hours: 50,
       maintenance: {every_days: 7, hours: 2}}
    - {id: xrd-1, kind: xrd}
  demand:
    - {kind: sem, per_week: 10, duration_hours: {mean: 2}}
  bookings:
    - {id: b1, instrument: xrd-1, start_hour: 3, hours: 2}
changes:
  - {name: more, add_instruments: {kind: sem, count: 1}}
  - {remove_instruments: {kind: sem, count: 1}}
  - {operating_hours: {kinds: [sem], hours: always}}
  - {maintenance: {ids: [xrd-1], plan: null}}
  - {name: growth, demand_growth: {factor: 1.5}}
  - {new_customer: {name: acme, demand: [{kind: xrd, per_week: 2, duration_hours: {mean: 1}}]}}
  - {mtbf: {kinds: [sem], factor: 2}}
  - {policy: {allocation: earliest_finish}}
sweep:
  kind: sem
  parameters:
    - {change: more, field: count, values: [0, 1]}
    - {change: growth, field: factor, values: [1, 2]}
"""
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.floats(-10, 1e4, allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["sem", "xrd", "always", "08:00", "more", "site"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _check(doc: object) -> None:
    """Parse, apply the changes and build the model's input: only ScenarioError may escape."""
    text = yaml.safe_dump(doc, sort_keys=False)
    error: ScenarioError | None = None
    try:
        scenario = parse_scenario(text, source="f.yaml")
        if isinstance(scenario.base, Site):
            site = apply_changes(scenario.base, scenario.changes, source="f.yaml")
            spec = engine.site_spec(site, scenario.horizon_days * 24, scenario.warmup_days * 24)
            assert len(spec.instruments) == len(site.instruments)
    except ScenarioError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.line <= text.count("\n") + 1
        assert str(error).startswith("f.yaml")
        assert "\n" not in str(error)


def test_the_base_document_loads() -> None:
    assert parse_scenario(yaml.safe_dump(BASE)).name == "fuzz"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_one_value_replaced_gives_a_scenario_or_one_error(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    _check(doc)


@settings(max_examples=100, deadline=None)
@given(values)
def test_any_document_gives_a_scenario_or_one_error(doc: object) -> None:
    _check(doc)
