"""Reports: strict JSON with paired rows, an HTML page, and PNGs for the docs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pilotshare.simulations import experiment, output, report
from pilotshare.simulations.loader import parse_scenario
from pilotshare.simulations.runner import InlineRunner
from pilotshare.simulations.scenario import Site

TEXT = """\
name: report-check
horizon_days: 21
warmup_days: 3
replications: 3
seed: 3
site:
  id: lab
  instruments:
    - {kind: sem, count: 1, hourly_rate: 100, mtbf_hours: 150, mttr_hours: 6}
    - {id: xrd-1, kind: xrd, hourly_rate: 40}
  demand:
    - {kind: sem, per_week: 25, duration_hours: {mean: 3}}
    - {kind: xrd, per_week: 10, duration_hours: {mean: 2}}
  bookings:
    - {id: keep-me, instrument: sem-1, start_hour: 80, hours: 3}
changes:
  - name: sems
    add_instruments: {kind: sem, count: 1}
  - name: growth
    demand_growth: {factor: 1.0}
sweep:
  replications: 2
  parameters:
    - {change: sems, field: count, values: [0, 1]}
    - {change: growth, field: factor, values: [1.0, 1.5]}
"""


def test_report_json_html_and_pngs(tmp_path: Path) -> None:
    scenario = parse_scenario(TEXT)
    assert isinstance(scenario.base, Site)
    outcome = experiment.run(scenario, scenario.base, InlineRunner())
    data = report.build(outcome)
    json.dumps(data, allow_nan=False)

    assert data["scenario"]["replications"] == 3
    assert data["run"]["replications_total"] == 3 + 3 + 4 * 2
    rows = {(r["metric"], r["kind"]): r for r in data["comparison"]}
    assert {
        ("utilisation", "site"),
        ("wait_hours", "sem"),
        ("served_share", "xrd"),
        ("revenue", "site"),
        ("booking_odds", "site"),
    } <= rows.keys()
    wait = rows[("wait_hours", "sem")]
    assert wait["difference"]["n"] == 3
    assert wait["difference"]["mean"] < 0
    # xrd is untouched by the change and shares its random numbers: no difference at all.
    assert rows[("utilisation", "xrd")]["difference"]["mean"] == 0
    assert data["sites"]["scenario"]["kinds"][0] == {
        "kind": "sem",
        "instruments": 2,
        "requests_per_week": 25.0,
    }
    assert len(data["weekly_utilisation"]["baseline"]["sem"]["mean"]) == 3
    assert data["bookings"][0]["booking"] == "keep-me"
    assert 0 <= data["bookings"][0]["baseline"]["p_served"] <= 1
    points = data["sweep"]["points"]
    assert [p["values"] for p in points] == [[0, 1.0], [0, 1.5], [1, 1.0], [1, 1.5]]
    assert [p["instruments"] for p in points] == [2, 2, 3, 3]

    paths = output.write(outcome, tmp_path / "out", data)
    assert json.loads(paths["json"].read_text()) == data
    for name in ("utilisation", "waits", "differences", "sweep"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text()
    assert "<h1>report-check</h1>" in html
    assert 'src="sweep.png"' in html
    assert 'src="utilisation_by_week.png"' in html
    assert "keep-me" in html
    assert report.headline(data)[0].split()[1] == "utilisation"
    table = report.sweep_lines(data)
    assert table[0] == "sweep: wait_hours (site), 2 replications per point"
    assert len(table) == 2 + 4


def test_sweep_points_share_the_comparisons_seeds() -> None:
    """The sweep point equal to the scenario reproduces its first replications exactly."""
    scenario = parse_scenario(TEXT)
    assert isinstance(scenario.base, Site)
    outcome = experiment.run(scenario, scenario.base, InlineRunner())
    same = next(p for p in outcome.sweep if p.values == (1.0, 1.0))
    assert same.results == outcome.variant[:2]
    base = next(p for p in outcome.sweep if p.values == (0.0, 1.0))
    assert base.results == outcome.baseline[:2]


def test_more_replications_extend_the_same_ones() -> None:
    """Replication i has child i of the seed whatever their number: 5 extend 3."""
    scenario = parse_scenario(TEXT)
    assert isinstance(scenario.base, Site)
    plain = dataclasses.replace(scenario, sweep=None)
    three = experiment.run(plain, scenario.base, InlineRunner(), replications=3)
    five = experiment.run(plain, scenario.base, InlineRunner(), replications=5)
    assert five.baseline[:3] == three.baseline
    assert five.variant[:3] == three.variant
    other = experiment.run(plain, scenario.base, InlineRunner(), replications=3, seed=99)
    assert other.baseline != three.baseline
