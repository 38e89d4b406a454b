"""``pilotshare simulate`` as a planner meets it: a real process, files out, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pilotshare.core.db.pool import connect
from tests.support.instruments import add_instrument

SCENARIO = """\
name: cli-check
horizon_days: 14
warmup_days: 2
replications: 3
seed: 2
site:
  id: lab
  instruments:
    - {kind: sem, count: 1, hourly_rate: 100}
  demand:
    - {kind: sem, per_week: 30, duration_hours: {mean: 3}}
changes:
  - name: more
    add_instruments: {kind: sem, count: 1}
sweep:
  replications: 2
  parameters:
    - {change: more, field: count, values: [0, 1]}
"""


def _simulate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotshare.cli", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_simulate_writes_the_reports_and_prints_the_html_path(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    result = _simulate(str(scenario), "--out", str(out), "--workers", "2", "--seed", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "report.html")
    assert "cli-check: 10 replications on 2 local processes" in result.stderr
    assert "wait_hours" in result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["scenario"]["seed"] == 4
    assert report["sweep"]["points"][1]["instruments"] == 2
    assert {p.name for p in out.glob("*.png")} == {
        "utilisation_by_week.png",
        "wait_hours.png",
        "differences.png",
        "sweep.png",
    }


def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.replace("per_week: 30", "per_week: -1"))
    result = _simulate(str(scenario), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    why = "site.demand[0].per_week: -1 is less than the minimum of 0"
    assert result.stderr.strip() == f"pilotshare: error: {scenario}:11: {why}"
    assert not (tmp_path / "out").exists()
    bad_dask = _simulate(str(scenario), "--dask", "localhost")
    assert bad_dask.returncode == 2
    assert len(bad_dask.stderr.strip().splitlines()) == 1


async def test_a_live_scenario_reads_the_database(db_url: str, tmp_path: Path) -> None:
    conn = await connect(db_url)
    try:
        await conn.execute("INSERT INTO sites (id, name) VALUES ('line', 'Line')")
        await add_instrument(
            conn,
            "oven-1",
            site="line",
            kind="reflow-oven",
            name="Oven 1",
            hourly_rate=120,
            operating_hours={"mon": [["06:00", "22:00"]], "tue": [["06:00", "22:00"]]},
        )
    finally:
        await conn.close()
    scenario = tmp_path / "live.yaml"
    scenario.write_text(
        "name: live-cli\nhorizon_days: 14\nwarmup_days: 0\nreplications: 2\n"
        "live: {site: line}\n"
        "changes:\n"
        "  - operating_hours: {kinds: [reflow-oven], hours: always}\n"
        "  - new_customer:\n"
        "      name: acme\n"
        "      demand: [{kind: reflow-oven, per_week: 10, duration_hours: {mean: 3}}]\n"
    )
    out = tmp_path / "out"
    result = _simulate(
        str(scenario), "--out", str(out), "--workers", "1", env={"PILOTSHARE_DATABASE_URL": db_url}
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["sites"]["baseline"]["id"] == "line"
    rows = {(r["metric"], r["kind"]): r for r in report["comparison"]}
    # No booking history: the baseline has no demand; the scenario's customer is served and
    # billed, and the oven is now open around the clock instead of 32 hours a week.
    assert rows[("revenue", "site")]["baseline"]["mean"] == 0
    assert rows[("revenue", "site")]["difference"]["mean"] > 0
    assert rows[("served_share", "site")]["scenario"]["mean"] > 0.9


def test_a_booking_inside_planned_maintenance_is_not_served(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: closed-check\nhorizon_days: 7\nwarmup_days: 0\nreplications: 3\n"
        "site:\n"
        "  id: lab\n"
        "  instruments:\n"
        "    - {id: sem-1, kind: sem, maintenance: {every_days: 7, hours: 24, start_hour: 24}}\n"
        "  bookings:\n"
        "    - {id: in-maintenance, instrument: sem-1, start_hour: 30, hours: 4}\n"
        "    - {id: plain, instrument: sem-1, start_hour: 60, hours: 4}\n"
        "changes:\n"
        "  - maintenance: {ids: [sem-1], plan: null}\n"
    )
    out = tmp_path / "out"
    result = _simulate(str(scenario), "--out", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    rows = {r["booking"]: r for r in json.loads((out / "report.json").read_text())["bookings"]}
    # Planned maintenance covers it in the baseline; the scenario drops the plan.
    assert rows["in-maintenance"]["baseline"]["p_served"] == 0.0
    assert rows["in-maintenance"]["scenario"]["p_served"] == 1.0
    assert rows["plain"]["baseline"]["p_served"] == 1.0
