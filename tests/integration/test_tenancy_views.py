"""Who sees what of the shared site, through HTTP, with two organisations booking it.

acme and globex each hold bookings on the same two instruments. A forecast or a simulation of
the live site replays both organisations' bookings (their load is the site's load), but a
planner's result shows only its own organisation's bookings in full and the others' only in
aggregate (utilisation, waits, a count); an admin sees every booking. Statements and usage
are each organisation's own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.jobs import Worker
from pilotshare.scheduler.forecast import forecast_handler
from pilotshare.simulations.job import KIND, simulation_handler
from tests.support.api import auth as key
from tests.support.api import iso

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
GLOBEX_PURPOSE = "globex confidential alloy trial"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


async def _site(client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict[str, list[str]]:
    """Two SEMs at site ``lab``; acme books two slots and globex three, through the API."""
    admin = await key(pool, "platform", "admin")
    for ident in ("sem-1", "sem-2"):
        r = await client.post(
            "/api/v1/instruments",
            json={"id": ident, "site": "lab", "kind": "sem", "hourly_rate": 100},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    ids: dict[str, list[str]] = {"acme": [], "globex": []}
    plan = [("acme", "sem-1", 1), ("acme", "sem-2", 2)]
    plan += [("globex", "sem-1", 3), ("globex", "sem-2", 4), ("globex", "sem-1", 5)]
    for org, instrument, day in plan:
        who = await key(pool, org, "operator")
        start = NOW + timedelta(days=day)
        r = await client.post(
            "/api/v1/bookings",
            json={
                "instrument": instrument,
                "start": iso(start),
                "end": iso(start + 3 * H),
                "purpose": GLOBEX_PURPOSE if org == "globex" else "acme run",
            },
            headers=who,
        )
        assert r.status_code == 201, r.text
        ids[org].append(r.json()["id"])
    return ids


def _leaks(result: dict[str, Any], ids: list[str]) -> list[str]:
    text = json.dumps(result)
    return [i for i in [*ids, "globex", GLOBEX_PURPOSE] if i in text]


async def test_a_forecast_shows_a_planner_its_own_bookings_and_others_only_in_aggregate(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    ids = await _site(client, pool)
    acme = await key(pool, "acme", "planner")
    globex = await key(pool, "globex", "planner")
    admin = await key(pool, "platform", "admin")
    r = await client.post(
        "/api/v1/forecasts", json={"horizon_days": 7, "replications": 4, "seed": 3}, headers=acme
    )
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()

    mine = (await client.get(f"/api/v1/forecasts/{job}", headers=acme)).json()
    assert mine["status"] == "done", mine
    result = mine["result"]
    assert {b["booking"] for b in result["bookings"]} == set(ids["acme"])
    assert all(b["org"] == "acme" for b in result["bookings"])
    assert _leaks(result, ids["globex"]) == []
    assert result["other_organisations"] == {"bookings": 3}
    # the aggregate load still counts globex's bookings: all five are in the utilisation
    assert {i["instrument"] for i in result["instruments"]} == {"sem-1", "sem-2"}

    # an admin sees the same stored result in full
    full = (await client.get(f"/api/v1/forecasts/{job}", headers=admin)).json()["result"]
    assert {b["booking"] for b in full["bookings"]} == {*ids["acme"], *ids["globex"]}
    assert "other_organisations" not in full
    assert full["instruments"] == result["instruments"]

    # another organisation's planner cannot fetch acme's job at all
    other = await client.get(f"/api/v1/forecasts/{job}", headers=globex)
    assert other.status_code == 404
    assert other.json()["reason"] == "no_job"
    listed = (await client.get("/api/v1/forecasts", headers=globex)).json()
    assert job not in {j["id"] for j in listed}


async def test_a_forecast_queued_by_the_risk_watch_is_redacted_for_its_organisation(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    """A forecast the platform queued by itself (an instrument went down) is stored once, in
    full, and served to the planners of each organisation with a booking on the instrument
    without the others' bookings, also among the bookings at risk."""
    from pilotshare.scheduler.forecast.risk_watch import RiskWatch

    ids = await _site(client, pool)
    globex = await key(pool, "globex", "operator")
    soon = NOW + timedelta(minutes=30)
    r = await client.post(
        "/api/v1/bookings",
        json={"instrument": "sem-1", "start": iso(soon), "end": iso(soon + 2 * H)},
        headers=globex,
    )
    assert r.status_code == 201, r.text
    ids["globex"].append(r.json()["id"])
    await pool.execute(
        "UPDATE instrument_live SET online = true, state = 'down', since = $1, last_seen = $1 "
        "WHERE instrument_id = 'sem-1'",
        NOW,
    )
    queued = await RiskWatch(pool, clock=clock, replications=4).instrument_down("sem-1")
    assert queued is not None
    assert queued.org == "globex"  # the organisation of the first affected booking
    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()
    planner = await key(pool, "globex", "planner")
    result = (await client.get(f"/api/v1/forecasts/{queued.id}", headers=planner)).json()
    result = result["result"]
    assert {b["booking"] for b in result["bookings"]} == set(ids["globex"])
    assert not any(i in json.dumps(result) for i in ids["acme"])
    assert ids["globex"][-1] in {x["booking"] for x in result["at_risk"]}
    assert result["other_organisations"] == {"bookings": 2}
    admin = await key(pool, "platform", "admin")
    full = (await client.get(f"/api/v1/forecasts/{queued.id}", headers=admin)).json()["result"]
    assert {b["org"] for b in full["bookings"]} == {"acme", "globex"}
    # acme holds bookings on sem-1 too: the job is shared with it, and it sees only its own
    acme = await key(pool, "acme", "planner")
    theirs = (await client.get(f"/api/v1/forecasts/{queued.id}", headers=acme)).json()["result"]
    assert {b["org"] for b in theirs["bookings"]} == {"acme"}
    assert not any(i in json.dumps(theirs) for i in ids["globex"])
    initech = await key(pool, "initech", "planner")  # no booking there: not its business
    assert (await client.get(f"/api/v1/forecasts/{queued.id}", headers=initech)).status_code == 404


LIVE = """\
name: live-tenancy
horizon_days: 7
warmup_days: 0
replications: 2
seed: 4
live: {site: lab}
changes:
  - add_instruments: {kind: sem, count: 1}
"""


async def test_a_simulation_of_the_live_site_shows_a_planner_only_its_own_bookings(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    ids = await _site(client, pool)
    acme = await key(pool, "acme", "planner")
    globex = await key(pool, "globex", "planner")
    admin = await key(pool, "platform", "admin")
    r = await client.post("/api/v1/simulations", json={"scenario": LIVE}, headers=acme)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    worker = Worker(pool, {KIND: simulation_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()

    mine = (await client.get(f"/api/v1/simulations/{job}", headers=acme)).json()
    assert mine["status"] == "done", mine
    result = mine["result"]
    assert {b["booking"] for b in result["bookings"]} == set(ids["acme"])
    assert _leaks(result, ids["globex"]) == []
    assert result["other_organisations"] == {"bookings": 3}

    full = (await client.get(f"/api/v1/simulations/{job}", headers=admin)).json()["result"]
    assert {b["booking"] for b in full["bookings"]} == {*ids["acme"], *ids["globex"]}
    assert {b["org"] for b in full["bookings"]} == {"acme", "globex"}
    assert full["comparison"] == result["comparison"]  # the aggregates are the same

    assert (await client.get(f"/api/v1/simulations/{job}", headers=globex)).status_code == 404


async def test_a_described_scenarios_own_bookings_stay_in_its_authors_report(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    described = """\
name: described
horizon_days: 7
warmup_days: 0
replications: 2
seed: 1
site:
  id: lab
  instruments:
    - {kind: sem, count: 1, mtbf_hours: 200, mttr_hours: 4}
  bookings:
    - {id: plan-a, instrument: sem-1, start_hour: 30, hours: 4}
changes:
  - add_instruments: {kind: sem, count: 1}
"""
    acme = await key(pool, "acme", "planner")
    r = await client.post("/api/v1/simulations", json={"scenario": described}, headers=acme)
    assert r.status_code == 202, r.text
    worker = Worker(pool, {KIND: simulation_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()
    done = (await client.get(f"/api/v1/simulations/{r.json()['id']}", headers=acme)).json()
    assert done["status"] == "done", done
    assert [b["booking"] for b in done["result"]["bookings"]] == ["plan-a"]
    assert done["result"]["other_organisations"] == {"bookings": 0}


async def test_statements_and_usage_are_each_organisations_own(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    ids = await _site(client, pool)
    acme = await key(pool, "acme", "operator")
    globex = await key(pool, "globex", "planner")
    admin = await key(pool, "platform", "admin")

    statement = await client.get("/api/v1/statements/acme/2026-03", headers=acme)
    assert statement.status_code == 200, statement.text
    assert {line["booking"] for line in statement.json()["lines"]} == set(ids["acme"])
    assert _leaks(statement.json(), ids["globex"]) == []
    csv = await client.get("/api/v1/statements/acme/2026-03?format=csv", headers=acme)
    assert csv.status_code == 200
    assert not any(i in csv.text for i in ids["globex"])
    for path in ("/api/v1/statements/acme/2026-03", "/api/v1/statements/acme/2026-03?format=csv"):
        refused = await client.get(path, headers=globex)
        assert refused.status_code == 404
        assert "acme" not in json.dumps(refused.json()["reason"])
    everyone = await client.get("/api/v1/statements/globex/2026-03", headers=admin)
    assert {line["booking"] for line in everyone.json()["lines"]} == set(ids["globex"])

    own = await client.get(f"/api/v1/bookings/{ids['acme'][0]}/usage", headers=acme)
    assert own.status_code == 200
    for booking in ids["acme"]:
        other = await client.get(f"/api/v1/bookings/{booking}/usage", headers=globex)
        assert other.status_code == 404
        assert other.json()["reason"] == "no_booking"
    assert (
        await client.get(f"/api/v1/bookings/{ids['globex'][0]}/usage", headers=admin)
    ).status_code == 200


async def test_a_platforms_admin_sees_the_forecast_rows_of_bookings_on_its_instruments(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    """As it sees those bookings through the API: its platform runs the instrument. The
    bookings on the network's own instrument stay counted only."""
    network = await key(pool, "platform", "admin")
    r = await client.post(
        "/api/v1/organisations",
        json={"id": "lab-a", "name": "甲平台 Lab A", "kind": "platform"},
        headers=network,
    )
    assert r.status_code == 201, r.text
    lab_a = await key(pool, "lab-a", "admin")
    for ident, who in (("sem-a", lab_a), ("sem-n", network)):
        body = {"id": ident, "site": "lab", "kind": "sem", "hourly_rate": 100}
        assert (await client.post("/api/v1/instruments", json=body, headers=who)).status_code == 201
    acme = await key(pool, "acme", "operator")
    booked = {}
    for ident, day in (("sem-a", 1), ("sem-n", 2)):
        start = NOW + timedelta(days=day)
        slot = {"instrument": ident, "start": iso(start), "end": iso(start + 3 * H)}
        r = await client.post(
            "/api/v1/bookings", json={**slot, "purpose": "acme run"}, headers=acme
        )
        assert r.status_code == 201, r.text
        booked[ident] = r.json()["id"]
    r = await client.post(
        "/api/v1/forecasts", json={"horizon_days": 7, "replications": 4, "seed": 3}, headers=lab_a
    )
    assert r.status_code == 202, r.text
    worker = Worker(pool, {"forecast": forecast_handler(pool, clock=clock, workers=1)})
    assert await worker.run_once()
    result = (await client.get(f"/api/v1/forecasts/{r.json()['id']}", headers=lab_a)).json()
    rows = result["result"]["bookings"]
    assert [(b["booking"], b["instrument"]) for b in rows] == [(booked["sem-a"], "sem-a")]
    assert result["result"]["other_organisations"] == {"bookings": 1}
