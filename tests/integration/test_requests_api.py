"""Requests (中试需求) through the API, with two clients and two platforms on a stored
history: matching ranks the reliable instrument first and marks the one without telemetry,
an accepted offer books atomically (or not at all), and each party sees only its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare import registry
from pilotshare.core.audit import events
from pilotshare.core.clock import FakeClock
from pilotshare.core.db import Connection
from pilotshare.core.domain import InstrumentState as S
from pilotshare.core.errors import Conflict
from pilotshare.scheduler.requests import BookingRequest
from pilotshare.scheduler.service import BookingService, Caller
from pilotshare.scheduler.store import Booking
from pilotshare.twin.store import refresh_behaviour
from tests.support.api import api_client, auth, book, iso
from tests.support.instruments import add_instrument

NOW = datetime(2026, 12, 7, 8, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
HISTORY = timedelta(days=14)
STEP = timedelta(minutes=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def client(pool: asyncpg.Pool, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=clock) as c:
        yield c


def reliable(t: timedelta) -> S:
    """Runs of 2 h and idle hours; down for half an hour on days 3, 8 and 12."""
    if any(timedelta(days=d) <= t < timedelta(days=d, minutes=30) for d in (3, 8, 12)):
        return S.DOWN
    return S.RUNNING if (t // H) % 3 < 2 else S.IDLE


def flaky(t: timedelta) -> S:
    """Three hours running, then three hours down, all along."""
    return S.RUNNING if (t // H) % 6 < 3 else S.DOWN


async def store_history(
    pool: asyncpg.Pool, instrument: str, state: Callable[[timedelta], S]
) -> None:
    """Two weeks of one-minute telemetry up to NOW, the live row, the learned behaviour."""
    start = NOW - HISTORY
    n = int(HISTORY / STEP)
    rows = [(instrument, start + k * STEP, state(k * STEP).value, 1) for k in range(n)]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "telemetry", records=rows, columns=["instrument_id", "ts", "state", "batch"]
        )
        await conn.execute(
            """UPDATE instrument_live SET online = true, state = 'idle', since = $2,
                      last_seen = $2 WHERE instrument_id = $1""",
            instrument,
            NOW - STEP,
        )
    await refresh_behaviour(pool, instrument, NOW, gap=timedelta(minutes=5), window=HISTORY)


@pytest.fixture
async def world(pool: asyncpg.Pool) -> dict[str, dict[str, str]]:
    """Two platforms and two clients: lab-a's sem-a is reliable, lab-b's sem-b flaky and
    its sem-c has never reported; lab-a's sem-d reports but is not learned yet, its xrd-a
    cannot serve a SEM request."""
    for lab in ("lab-a", "lab-b", "lab-z"):
        await registry.ensure_organisation(pool, lab, lab, "platform")
    keys = {
        "lab-a": await auth(pool, "lab-a", "admin"),
        "lab-b": await auth(pool, "lab-b", "admin"),
        "lab-z": await auth(pool, "lab-z", "admin"),  # a platform with nothing capable
        "acme": await auth(pool, "acme", "operator"),
        "globex": await auth(pool, "globex", "operator"),
        "network": await auth(pool, "platform", "admin"),
    }
    for ident, owner, kind in (
        ("sem-a", "lab-a", "sem"),
        ("xrd-a", "lab-a", "xrd"),
        ("sem-b", "lab-b", "sem"),
        ("sem-c", "lab-b", "sem"),
        ("sem-d", "lab-a", "sem"),
    ):
        await add_instrument(
            pool, ident, site="dongguan", kind=kind, capabilities=["eds"], owner_org=owner
        )
    await store_history(pool, "sem-a", reliable)
    await store_history(pool, "sem-b", flaky)
    # sem-d's agent has just reported, before the twin's first refresh learned anything
    await pool.execute(
        "UPDATE instrument_live SET online = true, state = 'idle', since = $1, last_seen = $1"
        " WHERE instrument_id = 'sem-d'",
        NOW - STEP,
    )
    return keys


async def post(client: httpx.AsyncClient, who: dict[str, str], **body: Any) -> httpx.Response:
    body = {
        "title": "SEM imaging of coated cathodes",
        "kind": "sem",
        "capabilities": ["eds"],
        "hours": 8,
        "deadline": NOW + 16 * H,
        **body,
    }
    for name in ("earliest", "deadline"):
        if isinstance(body.get(name), datetime):
            body[name] = iso(body[name])
    return await client.post("/api/v1/requests", json=body, headers=who)


async def offer(
    client: httpx.AsyncClient, who: dict[str, str], request: str, instrument: str, **body: Any
) -> httpx.Response:
    body = {
        "instrument": instrument,
        "start": NOW + 1 * H,
        "end": NOW + 9 * H,
        "price": "1200.50",
        "conditions": "samples delivered dry",
        **body,
    }
    for name in ("start", "end", "valid_until"):
        if isinstance(body.get(name), datetime):
            body[name] = iso(body[name])
    return await client.post(f"/api/v1/requests/{request}/offers", json=body, headers=who)


async def test_matching_puts_the_reliable_instrument_first_and_marks_one_without_telemetry(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    r = await post(client, world["acme"])
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["status"], made["client"], made["offers"]) == ("open", "acme", [])
    m = await client.get(f"/api/v1/requests/{made['id']}/matches", headers=world["acme"])
    assert m.status_code == 200, m.text
    found = m.json()
    assert [x["instrument"] for x in found] == ["sem-a", "sem-b", "sem-c", "sem-d"]
    a, b, c, d = found
    assert (a["platform"], b["platform"], c["platform"]) == ("lab-a", "lab-b", "lab-b")
    assert a["twin"]
    assert b["twin"]
    assert a["odds"]["p"] > 0.8
    assert b["odds"]["p"] < 0.5
    assert a["odds"]["interval"][0] <= a["odds"]["p"] <= a["odds"]["interval"][1]
    assert a["first_slot"] == {"start": iso(NOW), "end": iso(NOW + 8 * H)}
    assert a["need_hours"] == 8
    assert (c["twin"], c["odds"], c["reason"]) == (False, None, "no_telemetry")
    assert (d["twin"], d["odds"], d["reason"]) == (False, None, "not_learned")
    assert c["first_slot"] == {"start": iso(NOW), "end": iso(NOW + 8 * H)}
    # the same world gives the same odds
    again = await client.get(f"/api/v1/requests/{made['id']}/matches", headers=world["acme"])
    assert again.json() == found
    # a platform sees its own candidates only; one with none sees no request at all
    mine = await client.get(f"/api/v1/requests/{made['id']}/matches", headers=world["lab-b"])
    assert [x["instrument"] for x in mine.json()] == ["sem-b", "sem-c"]
    nothing = await client.get(f"/api/v1/requests/{made['id']}/matches", headers=world["lab-z"])
    assert (nothing.status_code, nothing.json()["reason"]) == (404, "no_request")


async def test_a_booked_slot_lowers_the_odds_and_moves_the_first_slot(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    made = (await post(client, world["acme"], deadline=NOW + 30 * H)).json()
    before = {
        x["instrument"]: x
        for x in (
            await client.get(f"/api/v1/requests/{made['id']}/matches", headers=world["acme"])
        ).json()
    }
    taken = await book(client, world["globex"], instrument="sem-a", start=NOW, end=NOW + 12 * H)
    assert taken.status_code == 201, taken.text
    after = {
        x["instrument"]: x
        for x in (
            await client.get(f"/api/v1/requests/{made['id']}/matches", headers=world["acme"])
        ).json()
    }
    assert after["sem-a"]["first_slot"]["start"] == iso(NOW + 12 * H)
    assert after["sem-a"]["free_hours"] < before["sem-a"]["free_hours"]
    assert after["sem-a"]["odds"]["p"] <= before["sem-a"]["odds"]["p"]


async def test_an_accepted_offer_books_its_slot_and_declines_the_others(
    client: httpx.AsyncClient, pool: asyncpg.Pool, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    mine = await offer(client, world["lab-a"], rid, "sem-a")
    assert mine.status_code == 201, mine.text
    theirs = await offer(client, world["lab-b"], rid, "sem-c", price="900")
    assert theirs.status_code == 201, theirs.text
    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert seen["status"] == "offered"
    assert [o["platform"] for o in seen["offers"]] == ["lab-a", "lab-b"]
    assert seen["offers"][0]["price"] == 1200.5
    assert seen["offers"][0]["currency"] == "CNY"
    assert seen["offers"][0]["valid_until"] == iso(NOW + H)

    r = await client.post(
        f"/api/v1/requests/{rid}/offers/{mine.json()['id']}/accept", headers=world["acme"]
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["offer"]["status"] == "accepted"
    assert done["offer"]["booking"] == done["booking"]["id"]
    assert (done["booking"]["instrument"], done["booking"]["org"]) == ("sem-a", "acme")
    assert (done["booking"]["start"], done["booking"]["end"]) == (iso(NOW + H), iso(NOW + 9 * H))
    listed = (await client.get("/api/v1/bookings", headers=world["acme"])).json()
    assert [b["id"] for b in listed] == [done["booking"]["id"]]

    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert seen["status"] == "accepted"
    assert [o["status"] for o in seen["offers"]] == ["accepted", "declined"]
    again = await client.post(
        f"/api/v1/requests/{rid}/offers/{theirs.json()['id']}/accept", headers=world["acme"]
    )
    assert (again.status_code, again.json()["reason"]) == (409, "offer_closed")

    lines = (await client.get(f"/api/v1/requests/{rid}/history", headers=world["acme"])).json()
    steps = [(x["offer"] is not None, x["event"], x["from"], x["to"]) for x in lines]
    assert steps == [
        (False, "post", None, "open"),
        (True, "post", None, "open"),
        (False, "offer", "open", "offered"),
        (True, "post", None, "open"),
        (True, "accept", "open", "accepted"),
        (True, "decline", "open", "declined"),
        (False, "accept", "offered", "accepted"),
    ]
    assert {x["actor_org"] for x in lines} == {"acme", "lab-a", "lab-b"}
    # lab-a reads its own offer's lines, not lab-b's
    theirs_lines = (
        await client.get(f"/api/v1/requests/{rid}/history", headers=world["lab-a"])
    ).json()
    assert len(theirs_lines) == len(lines) - 2
    audited = [e.action for e in await events(pool, owner="lab-a")]
    assert "offer.accept" in audited
    assert "request.accept" in audited
    assert "offer.decline" not in audited  # lab-b's offer is not lab-a's business
    assert "offer.decline" in [e.action for e in await events(pool, owner="lab-b")]


async def test_a_slot_taken_meanwhile_is_409_and_leaves_the_offer_open(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    oid = (await offer(client, world["lab-a"], rid, "sem-a")).json()["id"]
    taken = await book(
        client, world["globex"], instrument="sem-a", start=NOW + 2 * H, end=NOW + 4 * H
    )
    assert taken.status_code == 201, taken.text
    r = await client.post(f"/api/v1/requests/{rid}/offers/{oid}/accept", headers=world["acme"])
    assert (r.status_code, r.json()["reason"]) == (409, "slot_taken")
    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert seen["status"] == "offered"
    assert [o["status"] for o in seen["offers"]] == ["open"]
    assert (await client.get("/api/v1/bookings", headers=world["acme"])).json() == []


async def test_two_offers_accepted_at_once_book_one(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    one = (await offer(client, world["lab-a"], rid, "sem-a")).json()["id"]
    two = (await offer(client, world["lab-b"], rid, "sem-b")).json()["id"]
    answers = await asyncio.gather(
        *(
            client.post(f"/api/v1/requests/{rid}/offers/{o}/accept", headers=world["acme"])
            for o in (one, two)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert len((await client.get("/api/v1/bookings", headers=world["acme"])).json()) == 1
    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert sorted(o["status"] for o in seen["offers"]) == ["accepted", "declined"]


async def test_each_party_sees_only_its_own(
    client: httpx.AsyncClient, pool: asyncpg.Pool, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    await offer(client, world["lab-a"], rid, "sem-a")
    await offer(client, world["lab-b"], rid, "sem-b")
    # the other client: the request does not exist for it
    for path in ("", "/matches", "/history"):
        r = await client.get(f"/api/v1/requests/{rid}{path}", headers=world["globex"])
        assert (r.status_code, r.json()["reason"]) == (404, "no_request")
    assert (await client.get("/api/v1/requests", headers=world["globex"])).json() == []
    r = await client.post(f"/api/v1/requests/{rid}/cancel", headers=world["globex"])
    assert r.status_code == 404
    # a platform without a capable instrument neither sees it nor offers on it
    assert (await client.get(f"/api/v1/requests/{rid}", headers=world["lab-z"])).status_code == 404
    assert (await offer(client, world["lab-z"], rid, "sem-a")).status_code == 404
    # a concerned platform sees its own offer only, and offers only its own instruments
    for lab in ("lab-a", "lab-b"):
        seen = (await client.get(f"/api/v1/requests/{rid}", headers=world[lab])).json()
        assert [o["platform"] for o in seen["offers"]] == [lab]
        listed = (await client.get("/api/v1/requests", headers=world[lab])).json()
        assert [(x["id"], len(x["offers"])) for x in listed] == [(rid, 1)]
    r = await offer(client, world["lab-a"], rid, "sem-b")
    assert (r.status_code, r.json()["reason"]) == (403, "not_owner")
    r = await offer(client, world["lab-a"], rid, "xrd-a")
    assert (r.status_code, r.json()["reason"]) == (422, "not_capable")
    # the client sees both; the network operator everything
    for who in ("acme", "network"):
        seen = (await client.get(f"/api/v1/requests/{rid}", headers=world[who])).json()
        assert len(seen["offers"]) == 2
    # a platform cannot accept or decline for the client, nor withdraw another's offer
    lab_b_offer = (await client.get(f"/api/v1/requests/{rid}", headers=world["lab-b"])).json()
    oid = lab_b_offer["offers"][0]["id"]
    r = await client.post(f"/api/v1/requests/{rid}/offers/{oid}/accept", headers=world["lab-a"])
    assert (r.status_code, r.json()["reason"]) == (403, "not_client")
    r = await client.post(f"/api/v1/requests/{rid}/offers/{oid}/withdraw", headers=world["lab-a"])
    assert (r.status_code, r.json()["reason"]) == (404, "no_offer")
    # an operator key of a platform may see, but only its admins offer
    lab_a_operator = await auth(pool, "lab-a", "operator")
    assert (await client.get(f"/api/v1/requests/{rid}", headers=lab_a_operator)).status_code == 200
    r = await offer(client, lab_a_operator, rid, "sem-a")
    assert (r.status_code, r.json()["reason"]) == (403, "not_owner")


async def test_the_client_sees_an_offer_on_its_request_but_may_not_withdraw_it(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    oid = (await offer(client, world["lab-a"], rid, "sem-a")).json()["id"]
    withdraw = f"/api/v1/requests/{rid}/offers/{oid}/withdraw"
    r = await client.post(withdraw, headers=world["acme"])
    assert (r.status_code, r.json()["reason"]) == (403, "not_owner")
    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert [(o["id"], o["status"]) for o in seen["offers"]] == [(oid, "open")]
    # a platform concerned that does not see the offer still finds none
    r = await client.post(withdraw, headers=world["lab-b"])
    assert (r.status_code, r.json()["reason"]) == (404, "no_offer")


async def test_withdraw_decline_cancel_and_expiry_move_along_the_tables(
    client: httpx.AsyncClient, clock: FakeClock, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    a = (await offer(client, world["lab-a"], rid, "sem-a")).json()["id"]
    r = await client.post(
        f"/api/v1/requests/{rid}/offers/{a}/withdraw",
        json={"note": "engineer ill"},
        headers=world["lab-a"],
    )
    assert (r.status_code, r.json()["status"]) == (200, "withdrawn")
    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert seen["status"] == "open"  # its only offer went
    b = (await offer(client, world["lab-b"], rid, "sem-b")).json()["id"]
    r = await client.post(f"/api/v1/requests/{rid}/offers/{b}/decline", headers=world["acme"])
    assert (r.status_code, r.json()["status"]) == (200, "declined")
    r = await client.post(f"/api/v1/requests/{rid}/offers/{b}/withdraw", headers=world["lab-b"])
    assert (r.status_code, r.json()["reason"]) == (409, "offer_closed")
    r = await client.post(
        f"/api/v1/requests/{rid}/cancel", json={"note": "done in house"}, headers=world["acme"]
    )
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    again = await client.post(f"/api/v1/requests/{rid}/cancel", headers=world["acme"])
    assert (again.status_code, again.json()["reason"]) == (409, "request_closed")
    assert (await offer(client, world["lab-a"], rid, "sem-a")).json()["reason"] == "request_closed"
    lines = (await client.get(f"/api/v1/requests/{rid}/history", headers=world["acme"])).json()
    assert [x["note"] for x in lines if x["note"]] == [
        "engineer ill",
        "no open offer left",
        "no open offer left",
        "done in house",
    ]

    # expiry: applied when next read, at the moment it fell due
    late = (await post(client, world["acme"])).json()["id"]
    o = (await offer(client, world["lab-a"], late, "sem-a", valid_until=NOW + 15 * H)).json()
    clock.advance(16 * 3600)
    seen = (await client.get(f"/api/v1/requests/{late}", headers=world["acme"])).json()
    assert seen["status"] == "expired"
    assert seen["offers"][0]["status"] == "expired"
    assert o["status"] == "open"
    lines = (await client.get(f"/api/v1/requests/{late}/history", headers=world["acme"])).json()
    assert [(x["event"], x["to"], x["at"], x["actor_org"]) for x in lines[-3:]] == [
        ("expire", "expired", iso(NOW + 15 * H), None),
        ("reopen", "open", iso(NOW + 15 * H), None),
        ("expire", "expired", iso(NOW + 16 * H), None),
    ]
    assert [
        x["status"] for x in (await client.get("/api/v1/requests", headers=world["acme"])).json()
    ] == [
        "expired",
        "cancelled",
    ]
    assert (
        await client.get(f"/api/v1/requests/{late}/matches", headers=world["acme"])
    ).json() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"kind": None, "capabilities": []}, "kind_or_capabilities"),
        ({"hours": None}, "hours_or_samples"),
        ({"deadline": NOW - H}, "deadline_passed"),
        ({"earliest": NOW + 20 * H}, "bad_window"),
        ({"deadline": NOW + timedelta(days=90)}, "window_too_long"),
        ({"hours": -1}, "bad_request"),
        ({"colour": "red"}, "bad_request"),
    ],
)
async def test_a_request_that_does_not_fit_together_is_422(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]], body: dict[str, Any], reason: str
) -> None:
    r = await post(client, world["acme"], **body)
    assert (r.status_code, r.json()["reason"]) == (422, reason)


async def test_samples_without_hours_match_on_each_instruments_minimum_booking(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    await add_item(client, world["lab-a"], "lab-a", "sem-imaging", kind="sem")
    r = await post(client, world["acme"], hours=None, samples=12, service_item="sem-imaging")
    assert r.status_code == 201, r.text
    assert (r.json()["samples"], r.json()["service_item"]) == (12, "sem-imaging")
    found = (
        await client.get(f"/api/v1/requests/{r.json()['id']}/matches", headers=world["acme"])
    ).json()
    assert {x["need_hours"] for x in found} == {0.25}  # the default minimum booking, 900 s


async def test_an_offer_outside_the_window_or_valid_too_long_is_422(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    rid = (await post(client, world["acme"])).json()["id"]
    r = await offer(client, world["lab-a"], rid, "sem-a", start=NOW + 10 * H, end=NOW + 18 * H)
    assert (r.status_code, r.json()["reason"]) == (422, "offer_outside_window")
    r = await offer(client, world["lab-a"], rid, "sem-a", valid_until=NOW + 20 * H)
    assert (r.status_code, r.json()["reason"]) == (422, "bad_validity")
    r = await offer(client, world["lab-a"], rid, "sem-a", price="-1")
    assert (r.status_code, r.json()["reason"]) == (422, "bad_request")
    r = await client.get(f"/api/v1/requests/{rid}/offers/x", headers=world["acme"])
    assert r.status_code in (404, 405)


async def test_only_instruments_in_service_the_client_may_book_are_candidates(
    client: httpx.AsyncClient, pool: asyncpg.Pool, world: dict[str, dict[str, str]]
) -> None:
    await add_instrument(
        pool, "sem-q", site="dongguan", kind="sem", capabilities=["eds"], owner_org="lab-b",
        requires_qualification=True,
    )  # fmt: skip
    await add_instrument(pool, "sem-x", site="dongguan", kind="sem", owner_org="lab-b")
    rid = (await post(client, world["acme"])).json()["id"]

    async def candidates() -> list[str]:
        r = await client.get(f"/api/v1/requests/{rid}/matches", headers=world["acme"])
        return sorted(x["instrument"] for x in r.json())

    assert await candidates() == ["sem-a", "sem-b", "sem-c", "sem-d"]  # no eds on sem-x
    qualified = await client.put(
        "/api/v1/instruments/sem-q/qualifications/acme", headers=world["network"]
    )
    assert qualified.status_code == 204, qualified.text
    assert await candidates() == ["sem-a", "sem-b", "sem-c", "sem-d", "sem-q"]
    retired = await client.delete("/api/v1/instruments/sem-c", headers=world["network"])
    assert retired.status_code == 204, retired.text
    assert await candidates() == ["sem-a", "sem-b", "sem-d", "sem-q"]


async def test_a_refusal_in_the_bookings_own_transaction_undoes_the_booking(
    pool: asyncpg.Pool, clock: FakeClock, world: dict[str, dict[str, str]]
) -> None:
    """``BookingService.create(then=…)``, which an acceptance rests on: what ``then`` writes
    commits with the booking, and a refusal it raises leaves no booking behind."""
    service = BookingService(pool, clock)
    slot = BookingRequest(instrument="sem-a", start=NOW + H, end=NOW + 2 * H)

    async def refuse(conn: Connection, booking: Booking) -> None:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE id = $1", booking.id) == 1
        raise Conflict("offer_closed", "changed meanwhile")

    with pytest.raises(Conflict):
        await service.create(Caller("acme"), slot, then=refuse)
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 0
    seen: list[Booking] = []

    async def keep(_: Connection, booking: Booking) -> None:
        seen.append(booking)

    made = await service.create(Caller("acme"), slot, then=keep)
    assert seen == [made]
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 1


async def add_item(
    client: httpx.AsyncClient, who: dict[str, str], platform: str, ident: str, **scope: str
) -> None:
    body = {"id": ident, "platform": platform, "name_zh": "扫描电镜成像（每样品）",
            "name_en": "SEM imaging, per sample", "unit": "sample", "price": 350,
            "site": "dongguan", **scope}  # fmt: skip
    r = await client.post("/api/v1/service-items", json=body, headers=who)
    assert r.status_code == 201, r.text


async def test_an_offer_for_a_service_item_is_on_an_instrument_that_serves_it(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    await add_item(client, world["lab-a"], "lab-a", "sem-imaging", kind="sem")
    await add_item(client, world["lab-a"], "lab-a", "sem-a-only", instrument="sem-a")
    rid = (await post(client, world["acme"], service_item="sem-imaging")).json()["id"]
    # lab-b's own capable instrument: the item is lab-a's
    r = await offer(client, world["lab-b"], rid, "sem-c")
    assert (r.status_code, r.json()["reason"]) == (422, "service_item_mismatch")
    assert "'sem-imaging'" in r.json()["detail"]
    assert "'lab-a'" in r.json()["detail"]
    only = (await post(client, world["globex"], service_item="sem-a-only")).json()["id"]
    r = await offer(client, world["lab-a"], only, "sem-d")  # lab-a's, but not the item's
    assert (r.status_code, r.json()["reason"]) == (422, "service_item_mismatch")
    seen = (await client.get(f"/api/v1/requests/{rid}", headers=world["acme"])).json()
    assert (seen["status"], seen["offers"]) == ("open", [])

    mine = await offer(client, world["lab-a"], rid, "sem-a")
    assert mine.status_code == 201, mine.text
    r = await client.post(
        f"/api/v1/requests/{rid}/offers/{mine.json()['id']}/accept", headers=world["acme"]
    )
    assert r.status_code == 200, r.text
    booking = r.json()["booking"]
    assert (booking["instrument"], booking["service_item"]) == ("sem-a", "sem-imaging")
    got = await client.get(f"/api/v1/bookings/{booking['id']}", headers=world["acme"])
    assert (got.status_code, got.json()["service_item"]) == (200, "sem-imaging")


async def test_a_request_naming_an_unknown_service_item_is_404(
    client: httpx.AsyncClient, world: dict[str, dict[str, str]]
) -> None:
    r = await post(client, world["acme"], service_item="no-such-item")
    assert (r.status_code, r.json()["reason"]) == (404, "no_service_item")
    listed = (await client.get("/api/v1/requests", headers=world["acme"])).json()
    assert listed == []
