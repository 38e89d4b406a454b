"""Scenario files: the shipped ones load, and every mistake names file, line and key."""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path

import pytest

from pilotshare.core.errors import ConfigError
from pilotshare.simulations.loader import ScenarioError, load_scenario, parse_scenario
from pilotshare.simulations.scenario import (
    AddInstruments,
    LiveSource,
    NewCustomer,
    SetOperatingHours,
    Site,
)

GOOD = textwrap.dedent(
    """\
    name: tiny
    replications: 4
    site:
      id: lab
      operating_hours:
        mon: [["08:00", "18:00"]]
      instruments:
        - {kind: sem, count: 2, hourly_rate: 100}
        - {id: xrd-1, kind: xrd}
      demand:
        - {kind: sem, per_week: 10, duration_hours: {mean: 2}}
    changes:
      - name: more
        add_instruments: {kind: sem, count: 1}
    """
)


def shipped() -> list[Path]:
    folder = resources.files("pilotshare.simulations") / "scenarios"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="s.yaml")
    return info.value


def test_at_least_three_shipped_scenarios_load() -> None:
    paths = shipped()
    assert len(paths) >= 3
    names = set()
    for path in paths:
        scenario = load_scenario(path)
        assert isinstance(scenario.base, Site)
        assert scenario.changes
        names.add(scenario.name)
        kinds = set(scenario.base.kinds())
        assert kinds
    assert {
        "smt-second-reflow",
        "materials-lab-extended-hours",
        "bioprocess-anchor-customer",
    } <= names


def test_a_good_file_builds_the_site_with_generated_ids() -> None:
    scenario = parse_scenario(GOOD)
    assert isinstance(scenario.base, Site)
    assert [i.id for i in scenario.base.instruments] == ["sem-1", "sem-2", "xrd-1"]
    assert scenario.base.instruments[0].operating_hours == (("mon", (("08:00", "18:00"),)),)
    assert isinstance(scenario.changes[0].action, AddInstruments)
    assert scenario.changes[0].line == 13
    assert scenario.replications == 4


def test_clock_times_stay_strings_not_sexagesimal_numbers() -> None:
    text = GOOD.replace('["08:00", "18:00"]', "[08:00, 18:00]")
    scenario = parse_scenario(text)
    assert isinstance(scenario.base, Site)
    assert scenario.base.instruments[0].operating_hours == (("mon", (("08:00", "18:00"),)),)


def test_json_is_accepted_too() -> None:
    import yaml

    data = yaml.safe_load(GOOD)
    assert parse_scenario(json.dumps(data)).name == "tiny"


def test_unknown_key_names_its_line_and_the_known_keys() -> None:
    err = error(GOOD.replace("hourly_rate: 100", "hourly_rat: 100"))
    assert err.line == 8
    assert err.key == "site.instruments[0].hourly_rat"
    assert "unknown key" in str(err)
    assert "hourly_rate" in str(err)
    assert str(err).startswith("s.yaml:8: site.instruments[0].hourly_rat:")
    assert isinstance(err, ConfigError)


def test_a_wrong_type_names_the_value_line() -> None:
    err = error(GOOD.replace("per_week: 10", "per_week: lots"))
    assert (err.line, err.key) == (11, "site.demand[0].per_week")
    assert "'lots'" in err.message


def test_a_negative_count_is_refused_on_its_line() -> None:
    err = error(GOOD.replace("count: 1}", "count: -1}"))
    assert (err.line, err.key) == (14, "changes[0].add_instruments.count")


def test_duplicate_keys_are_refused() -> None:
    err = error(GOOD.replace("replications: 4\n", "replications: 4\nreplications: 5\n"))
    assert (err.line, err.key, err.message) == (3, "replications", "duplicate key")


def test_yaml_syntax_errors_give_a_line() -> None:
    err = error(GOOD.replace("  id: lab", "  id: [lab"))
    assert err.line >= 4
    assert "not valid YAML" in err.message


def test_site_or_live_is_required() -> None:
    err = error("name: x\nchanges: []\n")
    assert "site:" in err.message
    assert "live:" in err.message


def test_live_source() -> None:
    scenario = parse_scenario("name: x\nlive: {site: demo}\nchanges: []\n")
    assert scenario.base == LiveSource("demo")


def test_demand_for_a_kind_without_instruments_is_a_typo() -> None:
    err = error(GOOD.replace("- {kind: sem, per_week", "- {kind: semm, per_week"))
    assert (err.line, err.key) == (11, "site.demand[0].kind")


def test_a_change_naming_an_unknown_kind_is_a_typo() -> None:
    text = GOOD + "  - operating_hours: {kinds: [tga], hours: always}\n"
    err = error(text)
    assert (err.line, err.key) == (15, "changes[1].operating_hours.kinds[0]")


def test_a_change_with_two_actions_is_refused() -> None:
    text = GOOD + "  - {demand_growth: {factor: 2}, mtbf: {factor: 2}}\n"
    err = error(text)
    assert err.line == 15
    assert "exactly one" in err.message


def test_sweep_must_name_an_existing_change_and_a_sweepable_field() -> None:
    sweep = "sweep:\n  parameters:\n    - {change: %s, field: %s, values: [1, 2]}\n"
    err = error(GOOD + sweep % ("other", "count"))
    assert (err.line, err.key) == (17, "sweep.parameters[0].change")
    err = error(GOOD + sweep % ("more", "factor"))
    assert err.key == "sweep.parameters[0].field"
    assert "count" in err.message
    ok = parse_scenario(GOOD + sweep % ("more", "count"))
    assert ok.sweep is not None
    assert ok.sweep.parameters[0].values == (1.0, 2.0)


def test_unknown_allocation_policy_lists_the_known_ones() -> None:
    text = GOOD + "  - policy: {allocation: lottery}\n"
    err = error(text)
    assert err.key == "changes[1].policy.allocation"
    assert "earliest_finish" in err.message


def test_new_customer_and_operating_hours_changes() -> None:
    text = GOOD + (
        "  - new_customer:\n"
        "      name: acme\n"
        "      demand: [{kind: xrd, per_week: 3, duration_hours: {mean: 1, distribution: fixed}}]\n"
        "  - operating_hours: {ids: [xrd-1], hours: always}\n"
    )
    scenario = parse_scenario(text)
    customer = scenario.changes[1].action
    assert isinstance(customer, NewCustomer)
    assert customer.demand[0].customer == "acme"
    hours = scenario.changes[2].action
    assert isinstance(hours, SetOperatingHours)
    assert hours.hours is None


def test_warmup_must_be_shorter_than_the_horizon() -> None:
    err = error("horizon_days: 5\nwarmup_days: 6\n" + GOOD)
    assert err.key == "warmup_days"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_a_sweep_may_chart_one_kind_the_site_has() -> None:
    sweep = "sweep:\n  kind: %s\n  parameters:\n    - {change: more, field: count, values: [1]}\n"
    ok = parse_scenario(GOOD + sweep % "sem")
    assert ok.sweep is not None
    assert ok.sweep.kind == "sem"
    err = error(GOOD + sweep % "tga")
    assert (err.line, err.key) == (16, "sweep.kind")
