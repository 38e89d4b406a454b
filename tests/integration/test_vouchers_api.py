"""Vouchers of the city's programme through the API: issued by the network operator alone, paying
statement lines by share and cap within their scope and validity (cut in the site's zone), the
programme's report tying out, clients seeing only their own, every change audited."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare import billing
from pilotshare.core.audit import events
from pilotshare.core.clock import FakeClock
from tests.support.api import auth
from tests.support.instruments import add_instrument

H = timedelta(hours=1)
ISSUED = datetime(2026, 2, 20, 2, tzinfo=UTC)
READ = datetime(2026, 4, 10, 2, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ISSUED)


async def network(pool: asyncpg.Pool, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Two platforms, each owning one instrument on a Shanghai site; two clients."""
    for org, kind in (("lab-a", "platform"), ("lab-b", "platform")):
        body = {"id": org, "name": org, "kind": kind}
        r = await client.post("/api/v1/organisations", json=body, headers=admin)
        assert r.status_code == 201, r.text
    for inst, owner, kind, rate in (
        ("sem-a", "lab-a", "sem", 100),
        ("oven-b", "lab-b", "oven", 50),
    ):
        await add_instrument(
            pool,
            inst,
            site="sh",
            kind=kind,
            owner_org=owner,
            hourly_rate=rate,
            site_timezone="Asia/Shanghai",
        )


async def booked(
    pool: asyncpg.Pool, org: str, inst: str, start: str, hours: int, *, status: str = "completed"
) -> str:
    """A booking of ``org`` from ``start`` (Shanghai local time) for ``hours``."""
    at = datetime.fromisoformat(start + "+08:00")
    booking = await pool.fetchval(
        "INSERT INTO bookings (instrument_id, org_id, period, status) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        inst,
        org,
        asyncpg.Range(at, at + hours * H),
        status,
    )
    return str(booking)


async def issue(
    client: httpx.AsyncClient, who: dict[str, str], org: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1/organisations/{org}/vouchers", json=body, headers=who)


def paid(statement: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    return {
        line["booking"]: [(p["voucher"], p["amount"]) for p in line["paid"]]
        for line in statement["lines"]
    }


async def test_vouchers_pay_by_share_cap_scope_and_validity_and_the_report_ties_out(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    clock: FakeClock,
    admin: dict[str, str],
    acme: dict[str, str],
) -> None:
    await network(pool, client, admin)
    lab_a = await auth(pool, "lab-a", "admin")
    globex = await auth(pool, "globex", "operator")

    # Only the network operator's admins issue vouchers: a platform admin or a client gets 403.
    march = {
        "amount": 1000,
        "share": 0.5,
        "cap": 300,
        "valid_from": "2026-03-01",
        "valid_until": "2026-03-31",
        "platforms": ["lab-a"],
        "note": "中试服务券 2026-03",
    }
    r = await issue(client, lab_a, "acme", **march)
    assert (r.status_code, r.json()["reason"]) == (403, "not_network_admin")
    assert (await issue(client, acme, "acme", **march)).status_code == 403
    bad = await issue(client, admin, "acme", **{**march, "cap": 2000})
    assert (bad.status_code, bad.json()["reason"]) == (422, "bad_voucher")
    bad = await issue(client, admin, "acme", **{**march, "valid_from": "2026-04-01"})
    assert (bad.status_code, bad.json()["reason"]) == (422, "bad_voucher")
    unknown = await issue(client, admin, "acme", **{**march, "platforms": ["lab-z"]})
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "no_organisation")
    unknown = await issue(client, admin, "acme", **{**march, "service_items": ["no-such-item"]})
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "no_service_item")

    v1 = await issue(client, admin, "acme", **march)
    assert v1.status_code == 201, v1.text
    assert {k: v1.json()[k] for k in ("share", "cap", "valid_until", "platforms")} == {
        "share": 0.5,
        "cap": 300.0,
        "valid_until": "2026-03-31",
        "platforms": ["lab-a"],
    }
    v2 = await issue(client, admin, "acme", amount=500, platforms=["lab-b"], programme="testing")
    # the old body still means share 1, no expiry, any scope
    v3 = await issue(client, admin, "globex", amount=100, note="grant")
    assert {k: v3.json()[k] for k in ("share", "cap", "valid_until", "platforms")} == {
        "share": 1.0,
        "cap": 100.0,
        "valid_until": None,
        "platforms": [],
    }
    id1, id2, id3 = v1.json()["id"], v2.json()["id"], v3.json()["id"]

    l1 = await booked(pool, "acme", "sem-a", "2026-03-05T10:00:00", 4)  # 400: half is 200
    l5 = await booked(pool, "acme", "sem-a", "2026-03-20T09:00:00", 8)  # 800: half 400, cap 300
    l2 = await booked(pool, "acme", "sem-a", "2026-03-31T23:30:00", 1)  # 100, last valid day
    l3 = await booked(pool, "acme", "sem-a", "2026-04-01T00:30:00", 1)  # 100, lapsed (UTC: 31st)
    l4 = await booked(pool, "acme", "oven-b", "2026-03-10T10:00:00", 4)  # 200 on lab-b
    ahead = await booked(pool, "acme", "oven-b", "2026-04-20T10:00:00", 2, status="confirmed")
    g1 = await booked(pool, "globex", "oven-b", "2026-03-12T10:00:00", 1)  # 50
    clock.advance((READ - ISSUED).total_seconds())

    mar = (await client.get("/api/v1/statements/acme/2026-03", headers=acme)).json()
    assert paid(mar) == {
        l1: [(id1, 200.0)],
        l4: [(id2, 200.0)],  # v1's scope is lab-a: lab-b's line is v2's alone
        l5: [(id1, 300.0)],
        l2: [(id1, 50.0)],
    }
    assert (mar["total"], mar["vouchers"], mar["due"]) == (1500.0, 750.0, 750.0)
    by_line = {line["booking"]: line for line in mar["lines"]}
    assert (by_line[l5]["vouchers"], by_line[l5]["due"], by_line[l5]["platform"]) == (
        300.0,
        500.0,
        "lab-a",
    )
    apr = (await client.get("/api/v1/statements/acme/2026-04", headers=acme)).json()
    assert paid(apr) == {l3: [], ahead: []}  # past the validity; a booking not yet happened
    assert apr["vouchers"] == 0.0

    # CSV gets the columns
    table = list(
        csv.DictReader(
            io.StringIO(
                (
                    await client.get(
                        "/api/v1/statements/acme/2026-03", params={"format": "csv"}, headers=acme
                    )
                ).text
            )
        )
    )
    rows = {r["booking"]: r for r in table}
    assert (rows[l5]["vouchers"], rows[l5]["due"], rows[l5]["paid_by"]) == (
        "300.00",
        "500.00",
        f"{id1}:300.00",
    )

    # A voucher issued after March closed pays no March line, however open its terms.
    v4 = await issue(client, admin, "acme", amount=80)
    id4 = v4.json()["id"]
    again = (await client.get("/api/v1/statements/acme/2026-03", headers=acme)).json()
    assert again == mar
    apr = (await client.get("/api/v1/statements/acme/2026-04", headers=acme)).json()
    assert paid(apr)[l3] == [(id4, 80.0)]

    # Each client sees only its own vouchers; the operator sees all, with filters.
    mine = (await client.get("/api/v1/vouchers", headers=acme)).json()
    assert [v["id"] for v in mine] == [id1, id2, id4]
    assert [v["id"] for v in (await client.get("/api/v1/vouchers", headers=globex)).json()] == [id3]
    assert (await client.get(f"/api/v1/vouchers/{id1}", headers=globex)).status_code == 404
    assert (await client.get(f"/api/v1/vouchers/{id3}", headers=acme)).status_code == 404
    theirs = await client.get("/api/v1/vouchers", params={"client": "globex"}, headers=acme)
    assert theirs.status_code == 404
    every = (await client.get("/api/v1/vouchers", headers=admin)).json()
    assert [v["id"] for v in every] == [id1, id2, id3, id4]
    on_b = await client.get("/api/v1/vouchers", params={"platform": "lab-b"}, headers=admin)
    assert [v["id"] for v in on_b.json()] == [id2, id3, id4]  # named, or any platform
    lapsed = await client.get("/api/v1/vouchers", params={"status": "lapsed"}, headers=admin)
    assert [(v["id"], v["redeemed"], v["lapsed"]) for v in lapsed.json()] == [(id1, 550.0, 450.0)]
    one = (await client.get(f"/api/v1/vouchers/{id1}", headers=acme)).json()
    assert (one["status"], one["redeemed"], one["lapsed"], one["remaining"]) == (
        "lapsed",
        550.0,
        450.0,
        0.0,
    )
    assert [(u["booking"], u["platform"], u["month"], u["amount"]) for u in one["redemptions"]] == [
        (l1, "lab-a", "2026-03", 200.0),
        (l5, "lab-a", "2026-03", 300.0),
        (l2, "lab-a", "2026-03", 50.0),
    ]
    assert one["audit"] == []  # the network operator's to read

    # The programme's report for March: issued = redeemed + lapsed + remaining, JSON and CSV.
    report = await client.get(
        "/api/v1/vouchers/report", params={"period": "2026-03"}, headers=admin
    )
    assert report.status_code == 200, report.text
    # the report is no voucher: a method it does not answer is 405 (schemathesis found a 422)
    other = await client.patch("/api/v1/vouchers/report", json={"note": "x"}, headers=admin)
    assert (other.status_code, other.json()["reason"]) == (405, "method_not_allowed")
    body = report.json()
    assert body["as_of"] == "2026-03-31T16:00:00Z"  # midnight in Shanghai
    figures = {v["id"]: v for v in body["vouchers"]}
    assert set(figures) == {id1, id2, id3}  # v4 was issued in April
    assert {k: figures[id1][k] for k in ("issued", "redeemed", "lapsed", "remaining")} == {
        "issued": 1000.0,
        "redeemed": 550.0,
        "lapsed": 450.0,
        "remaining": 0.0,
    }
    assert (figures[id3]["redeemed"], figures[id3]["remaining"]) == (50.0, 50.0)
    total = body["total"]
    assert total["issued"] == total["redeemed"] + total["lapsed"] + total["remaining"] == 1600.0
    assert (total["redeemed"], total["lapsed"], total["remaining"]) == (800.0, 450.0, 350.0)
    assert {c["client"]: c["redeemed"] for c in body["clients"]} == {"acme": 750.0, "globex": 50.0}
    assert {p["platform"]: p["redeemed_in_period"] for p in body["platforms"]} == {
        "lab-a": 550.0,
        "lab-b": 250.0,
    }
    assert await billing.redeemed_by_platform(pool, "2026-03") == {
        "lab-a": Decimal("550.00"),
        "lab-b": Decimal("250.00"),
    }
    assert await billing.redeemed_by_platform(pool, "2026-04") == {"lab-a": Decimal("80.00")}
    as_csv = await client.get(
        "/api/v1/vouchers/report", params={"period": "2026-03", "format": "csv"}, headers=admin
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    vouchers = [r for r in lines if r["row"] == "voucher"]
    (csv_total,) = [r for r in lines if r["row"] == "total"]
    for column in ("issued", "redeemed", "lapsed", "remaining", "redeemed_in_period"):
        assert sum(Decimal(r[column]) for r in vouchers) == Decimal(csv_total[column])
    assert Decimal(csv_total["issued"]) == sum(
        Decimal(csv_total[c]) for c in ("redeemed", "lapsed", "remaining")
    )
    url = "/api/v1/vouchers/report"
    for who in (acme, lab_a):
        assert (await client.get(url, params={"period": "2026-03"}, headers=who)).status_code == 403
    wrong = await client.get(url, params={"from": "2026-04", "to": "2026-03"}, headers=admin)
    assert (wrong.status_code, wrong.json()["reason"]) == (422, "bad_query")
    spring = await client.get(url, params={"from": "2026-03", "to": "2026-04"}, headers=admin)
    assert spring.json()["total"]["redeemed"] == 880.0

    # Revoking: the network operator alone, once; what was left lapses.
    assert (await client.post(f"/api/v1/vouchers/{id2}/revoke", headers=lab_a)).status_code == 403
    revoked = await client.post(f"/api/v1/vouchers/{id2}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    twice = await client.post(f"/api/v1/vouchers/{id2}/revoke", headers=admin)
    assert (twice.status_code, twice.json()["reason"]) == (409, "voucher_revoked")
    gone = (await client.get(f"/api/v1/vouchers/{id2}", headers=acme)).json()
    assert (gone["status"], gone["redeemed"], gone["lapsed"], gone["remaining"]) == (
        "revoked",
        200.0,
        300.0,
        0.0,
    )
    assert (await client.get("/api/v1/statements/acme/2026-03", headers=acme)).json() == mar
    edit = await client.patch(f"/api/v1/vouchers/{id1}", json={"note": "checked"}, headers=admin)
    assert (edit.status_code, edit.json()["note"]) == (200, "checked")
    terms = await client.patch(f"/api/v1/vouchers/{id1}", json={"share": 1}, headers=admin)
    assert terms.status_code == 422  # its terms are fixed once issued
    nothing = await client.get("/api/v1/vouchers/999999", headers=admin)
    assert (nothing.status_code, nothing.json()["reason"]) == (404, "no_voucher")

    # Every change is audited, owned by the client and the platforms in scope.
    seen = (await client.get(f"/api/v1/vouchers/{id2}", headers=admin)).json()["audit"]
    assert [a["action"] for a in seen] == ["voucher.revoke", "voucher.issue"]
    assert seen[0]["before"]["revoked_at"] is None
    assert seen[0]["after"]["revoked_at"] is not None
    assert [e.action for e in await events(pool, owner="lab-b", kind="voucher")] == [
        "voucher.revoke",
        "voucher.issue",
    ]
    assert [(e.action, e.object_id) for e in await events(pool, owner="acme", kind="voucher")] == [
        ("voucher.edit", str(id1)),
        ("voucher.revoke", str(id2)),
        ("voucher.issue", str(id4)),
        ("voucher.issue", str(id2)),
        ("voucher.issue", str(id1)),
    ]
    assert g1 in paid(
        (await client.get("/api/v1/statements/globex/2026-03", headers=globex)).json()
    )


async def test_a_few_hundred_bookings_are_redeemed_quickly_and_the_same_every_time(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    clock: FakeClock,
    admin: dict[str, str],
    acme: dict[str, str],
) -> None:
    await network(pool, client, admin)
    for share in (0.3, 0.5):
        r = await issue(client, admin, "acme", amount=20000, share=share, valid_until="2026-06-30")
        assert r.status_code == 201, r.text
    start = datetime(2026, 3, 1, 1, tzinfo=UTC)
    await pool.executemany(
        "INSERT INTO bookings (instrument_id, org_id, period, status) "
        "VALUES ($1, 'acme', $2, 'completed')",
        [
            (("sem-a", "oven-b")[i % 2], asyncpg.Range(start + i * 3 * H, start + i * 3 * H + H))
            for i in range(400)
        ],
    )
    clock.advance((READ - ISSUED).total_seconds())
    loop = asyncio.get_running_loop()
    began = loop.time()
    first = (await client.get("/api/v1/statements/acme/2026-03", headers=acme)).json()
    took = loop.time() - began
    second = (await client.get("/api/v1/statements/acme/2026-03", headers=acme)).json()
    assert first == second
    march_ends = datetime(2026, 3, 31, 16, tzinfo=UTC)  # midnight in Shanghai
    assert len(first["lines"]) == sum(start + i * 3 * H < march_ends for i in range(400))
    assert took < 2.0, took
    report = await client.get(
        "/api/v1/vouchers/report", params={"period": "2026-03"}, headers=admin
    )
    total = report.json()["total"]
    assert total["redeemed"] == first["vouchers"]
    assert total["issued"] == total["redeemed"] + total["lapsed"] + total["remaining"]
