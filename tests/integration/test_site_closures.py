"""``GET /api/v1/closures``: a site's closures in one question, for a view of the whole site.

Two platforms' instruments at one site and one elsewhere: the listing holds the closures of the
site's instruments overlapping the window (past ones too), whoever asks, and none of another
site's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from pilotshare.core.clock import FakeClock
from pilotshare.registry import ensure_organisation
from tests.support.api import api_client, auth, iso
from tests.support.instruments import add_instrument

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


async def test_a_site_s_closures_in_one_question(pool: asyncpg.Pool) -> None:
    for org in ("lab-a", "lab-b"):
        await ensure_organisation(pool, org, org, "platform")
    for inst, site, owner in (
        ("sem-a", "dg", "lab-a"),
        ("xrd-b", "dg", "lab-b"),
        ("far", "sz", "lab-a"),
    ):
        await add_instrument(pool, inst, site=site, kind="sem", owner_org=owner)
    a = await auth(pool, "lab-a", "admin")
    b = await auth(pool, "lab-b", "admin")
    client = await auth(pool, "acme", "operator")
    clock = FakeClock(MON)
    async with api_client(pool, clock=clock) as c:

        async def close(
            who: dict[str, str], inst: str, start: datetime, hours: int, kind: str
        ) -> int:
            body = {"start": iso(start), "end": iso(start + hours * H), "kind": kind, "reason": "r"}
            r = await c.post(f"/api/v1/instruments/{inst}/closures", json=body, headers=who)
            assert r.status_code == 201, r.text
            return int(r.json()["id"])

        early = await close(a, "sem-a", MON + 10 * H, 4, "maintenance")
        other = await close(b, "xrd-b", MON + 30 * H, 2, "blackout")
        await close(a, "sem-a", MON + 200 * H, 2, "maintenance")  # after the window
        await close(a, "far", MON + 12 * H, 2, "maintenance")  # another site
        clock.advance(3 * 86400)  # the first two are over: still listed by the window
        query = {"site": "dg", "start": iso(MON + 12 * H), "end": iso(MON + 48 * H)}
        for who in (a, b, client):
            r = await c.get("/api/v1/closures", params=query, headers=who)
            assert r.status_code == 200, r.text
            got = r.json()
            assert [x["id"] for x in got] == [early, other]
            assert [(x["instrument"], x["kind"]) for x in got] == [
                ("sem-a", "maintenance"),
                ("xrd-b", "blackout"),
            ]
            assert datetime.fromisoformat(got[0]["start"]) == MON + 10 * H
        r = await c.get("/api/v1/closures", params={**query, "site": "nowhere"}, headers=a)
        assert (r.status_code, r.json()) == (200, [])
        r = await c.get("/api/v1/closures", params={**query, "end": query["start"]}, headers=a)
        assert (r.status_code, r.json()["reason"]) == (422, "bad_window")
        r = await c.get("/api/v1/closures", params={"site": "dg"}, headers=a)
        assert r.status_code == 422
        assert (await c.get("/api/v1/closures", params=query)).status_code == 401
