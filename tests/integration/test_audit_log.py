"""The audit log through HTTP: every audited change leaves one line with who, before and after,
owned by the client and the platform concerned; the network reads all, a platform its own."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.integration.test_platform_scoping import Net, network
from tests.support.api import api_client, auth, book, iso

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


async def _lines(c: httpx.AsyncClient, who: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every line ``who`` may read, newest first, following the ``Link`` headers."""
    found: list[dict[str, Any]] = []
    r = await c.get("/api/v1/audit", params={"limit": 7, **params}, headers=who)
    while True:
        assert r.status_code == 200, r.text
        found += r.json()
        if "link" not in r.headers:
            return found
        url = r.headers["link"].split(">")[0].lstrip("<")
        r = await c.get(url, headers=who)


def _one(lines: list[dict[str, Any]], action: str, object_id: str) -> dict[str, Any]:
    got = [x for x in lines if x["action"] == action and x["object_id"] == object_id]
    assert len(got) == 1, (action, object_id, [(x["action"], x["object_id"]) for x in lines])
    return got[0]


async def _changes(pool: asyncpg.Pool, c: httpx.AsyncClient, n: Net, clock: FakeClock) -> str:
    """One of every audited change on lab-a's side; the id of acme's booking."""
    body = {"id": "xrd-a", "site": "lab", "kind": "xrd"}
    assert (await c.post("/api/v1/instruments", json=body, headers=n.lab_a)).status_code == 201
    r = await c.patch("/api/v1/instruments/xrd-a", json={"hourly_rate": 90}, headers=n.lab_a)
    assert r.status_code == 200, r.text
    assert (await c.delete("/api/v1/instruments/xrd-a", headers=n.lab_a)).status_code == 204
    closure = {"start": iso(MON + 100 * H), "end": iso(MON + 101 * H), "reason": "保养"}
    r = await c.post("/api/v1/instruments/lab-sem-a/closures", json=closure, headers=n.lab_a)
    assert r.status_code == 201, r.text
    closure_id = r.json()["id"]
    path = f"/api/v1/instruments/lab-sem-a/closures/{closure_id}"
    assert (await c.delete(path, headers=n.lab_a)).status_code == 204
    path = "/api/v1/instruments/lab-sem-a/qualifications/acme"
    assert (await c.put(path, headers=n.lab_a)).status_code == 204
    assert (await c.put(path, headers=n.lab_a)).status_code == 204  # again: no new line
    assert (await c.delete(path, headers=n.lab_a)).status_code == 204
    quota = "/api/v1/organisations/acme/quotas/week"
    assert (await c.put(quota, json={"max_hours": 10}, headers=n.network)).status_code == 204
    assert (await c.put(quota, json={"max_hours": 12}, headers=n.network)).status_code == 204
    assert (await c.delete(quota, headers=n.network)).status_code == 204
    # acme's booking on lab-a's sem-a: made, moved, checked in, then given back
    made = await book(c, n.acme, instrument="lab-sem-a", start=MON + 8 * H, end=MON + 9 * H)
    assert made.status_code == 201, made.text
    booking = str(made.json()["id"])
    moved = {"start": iso(MON + 8 * H), "end": iso(MON + 10 * H)}
    assert (await c.patch(f"/api/v1/bookings/{booking}", json=moved, headers=n.acme)).is_success
    r = await c.post(f"/api/v1/bookings/{booking}/check-in", headers=n.acme)
    assert r.status_code == 200, r.text
    clock.advance(1800)
    assert (await c.delete(f"/api/v1/bookings/{booking}", headers=n.acme)).status_code == 204
    # globex's booking on lab-b's sem-b: nothing of lab-a's
    other = await book(c, n.globex, instrument="lab-sem-b", start=MON + 20 * H, end=MON + 21 * H)
    assert other.status_code == 201, other.text
    # a key revoked over HTTP
    spare = (await auth(pool, "lab-a", "operator"))["Authorization"].split("_")[1]
    assert (await c.delete(f"/api/v1/keys/{spare}", headers=n.lab_a)).status_code == 204
    return booking


async def test_every_change_is_audited_with_before_and_after(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as c:
        n = await network(pool, c)
        booking = await _changes(pool, c, n, clock)
        lines = await _lines(c, n.network)
        ids = [x["id"] for x in lines]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert len(set(ids)) == len(ids)  # pages neither repeat nor skip

        org = _one(lines, "organisation.create", "lab-a")
        assert (org["before"], org["after"]["kind"], org["owners"]) == (None, "platform", ["lab-a"])
        assert org["actor_org"] == "platform"
        made = _one(lines, "instrument.create", "xrd-a")
        assert (made["before"], made["after"]["owner_org"]) == (None, "lab-a")
        assert made["owners"] == ["lab-a"]
        assert made["actor_org"] == "lab-a"
        assert made["actor_key"]
        edit = _one(lines, "instrument.update", "xrd-a")
        assert (edit["before"]["hourly_rate"], edit["after"]["hourly_rate"]) == (0, 90)
        gone = _one(lines, "instrument.retire", "xrd-a")
        assert gone["before"]["retired_at"] is None
        assert gone["after"]["retired_at"] is not None
        add = next(x for x in lines if x["action"] == "closure.add")
        remove = _one(lines, "closure.remove", add["object_id"])
        assert add["after"]["reason"] == remove["before"]["reason"] == "保养"
        assert remove["after"] is None
        assert add["owners"] == ["lab-a"]
        grant = _one(lines, "qualification.grant", "lab-sem-a/acme")
        revoke = _one(lines, "qualification.revoke", "lab-sem-a/acme")
        assert grant["owners"] == revoke["owners"] == ["acme", "lab-a"]
        assert (grant["after"], revoke["before"]) == (
            {"instrument": "lab-sem-a", "org": "acme"},
        ) * 2
        quotas = [x for x in lines if x["object_id"] == "acme/week"]
        assert [(x["action"], x["before"] and x["before"]["max_hours"]) for x in quotas] == [
            ("quota.drop", "12.00"),
            ("quota.set", "10.00"),
            ("quota.set", None),
        ]
        steps = [x for x in lines if x["object_id"] == booking]
        assert [x["action"] for x in steps] == [
            "booking.cancel",
            "booking.check_in",
            "booking.move",
            "booking.create",
        ]
        assert all(x["owners"] == ["acme", "lab-a"] for x in steps)
        cancel, check_in, move, create = steps
        assert create["before"] is None
        assert create["after"]["status"] == "confirmed"
        assert (move["before"]["end"], move["after"]["end"]) == (
            (MON + 9 * H).isoformat(),
            (MON + 10 * H).isoformat(),
        )
        assert check_in["after"]["status"] == "active"
        assert (cancel["before"]["status"], cancel["after"]["status"]) == ("active", "released")
        assert cancel["actor_org"] == "acme"
        revoked = next(x for x in lines if x["action"] == "key.revoke")
        assert revoked["before"]["revoked_at"] is None
        assert revoked["after"]["revoked_at"] is not None
        assert revoked["owners"] == ["lab-a"]
        assert any(x["action"] == "key.create" and x["owners"] == ["lab-a"] for x in lines)

        # filters
        only = await _lines(c, n.network, kind="booking", object=booking)
        assert [x["id"] for x in only] == [x["id"] for x in steps]


async def test_a_platform_reads_only_the_lines_of_its_own_objects(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    async with api_client(pool, clock=clock) as c:
        n = await network(pool, c)
        booking = await _changes(pool, c, n, clock)
        everything = await _lines(c, n.network)
        mine = await _lines(c, n.lab_a)
        theirs = await _lines(c, n.lab_b)
        assert mine
        assert all("lab-a" in x["owners"] for x in mine)
        assert [x for x in everything if "lab-a" in x["owners"]] == mine
        assert all("lab-b" in x["owners"] for x in theirs)
        assert not {x["id"] for x in mine} & {x["id"] for x in theirs}
        assert any(x["object_id"] == booking for x in mine)
        assert not any(x["object_id"] == booking for x in theirs)
        # lab-b's booking line (globex on sem-b) is lab-b's, not lab-a's
        assert any(x["action"] == "booking.create" for x in theirs)
        assert not await _lines(c, n.lab_b, object=booking)
        # other keys may not read it
        for who in (n.acme, await auth(pool, "lab-a", "planner"), {}):
            r = await c.get("/api/v1/audit", headers=who)
            assert r.status_code in {401, 403}
        for cursor in ("x1", "9" * 19, "\u00b2"):  # not digits, past a bigint, not ASCII
            r = await c.get("/api/v1/audit", params={"cursor": cursor}, headers=n.network)
            assert (r.status_code, r.json()["reason"]) == (422, "bad_cursor")


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PILOTSHARE_DATABASE_URL": db_url, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "pilotshare.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


async def test_keys_made_and_revoked_on_the_command_line_are_audited(
    pool: asyncpg.Pool, db_url: str
) -> None:
    made = _cli("keys", "create", "--org", "newco", "--role", "operator", db_url=db_url)
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split("_")[1]
    assert _cli("keys", "revoke", key_id, db_url=db_url).returncode == 0
    admin = await auth(pool, "platform", "admin")
    async with api_client(pool) as c:
        lines = await _lines(c, admin)
    about = [(x["action"], x["object_id"], x["actor_org"]) for x in lines if "newco" in x["owners"]]
    assert about == [
        ("key.revoke", key_id, None),
        ("key.create", key_id, None),
        ("organisation.create", "newco", None),
    ]
