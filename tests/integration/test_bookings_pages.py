"""``GET /api/v1/bookings`` a page at a time: keyset cursors, both orders, status filters.

More than 1,000 bookings in two organisations: walking the ``Link`` headers reaches each of
an organisation's bookings exactly once, in order, and never one of the other's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import api_client
from tests.support.api import auth as key

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
N_ACME = 1250  # per instrument pair below: two bookings share each start
N_GLOBEX = 300
NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pool, clock=FakeClock(MON + 8 * H), timeout=30) as c:
        yield c


async def fill(pool: asyncpg.Pool) -> None:
    """Acme's bookings on two instruments at the same hours (ties on start, broken by id),
    a tenth cancelled; globex's on a third. One INSERT … SELECT each."""
    await pool.execute(
        """INSERT INTO bookings (instrument_id, org_id, period, status)
           SELECT inst, 'acme', tstzrange(t, t + interval '30 minutes'),
                  CASE WHEN n % 10 = 0 THEN 'cancelled' ELSE 'confirmed' END
           FROM generate_series(0, $2 - 1) AS n,
                LATERAL (SELECT $1::timestamptz + n * interval '1 hour' AS t) AS at,
                unnest(ARRAY['sem-1', 'sem-2']) AS inst""",
        MON,
        N_ACME // 2,
    )
    await pool.execute(
        """INSERT INTO bookings (instrument_id, org_id, period)
           SELECT 'sem-3', 'globex', tstzrange(t, t + interval '1 hour')
           FROM generate_series(0, $2 - 1) AS n,
                LATERAL (SELECT $1::timestamptz + n * interval '1 hour' AS t) AS at""",
        MON,
        N_GLOBEX,
    )


async def walk(
    client: httpx.AsyncClient, who: dict[str, str], params: dict[str, str | list[str]]
) -> tuple[list[dict[str, str]], int, list[str]]:
    """Every page from the first, following ``Link``: the bookings, the pages, the links."""
    got: list[dict[str, str]] = []
    links: list[str] = []
    r = await client.get("/api/v1/bookings", params=params, headers=who)
    pages = 1
    while True:
        assert r.status_code == 200, r.text
        got.extend(r.json())
        link = r.headers.get("link")
        if link is None:
            return got, pages, links
        match = NEXT.match(link)
        assert match, link
        links.append(match.group(1))
        r = await client.get(match.group(1), headers=who)
        pages += 1


@pytest.fixture
async def keys(client: httpx.AsyncClient, pool: asyncpg.Pool) -> tuple[dict[str, str], ...]:
    admin = await key(pool, "platform", "admin")
    acme = await key(pool, "acme", "planner")
    globex = await key(pool, "globex", "operator")
    for name in ("sem-1", "sem-2", "sem-3"):
        body = {"id": name, "site": "lab", "kind": "sem"}
        assert (await client.post("/api/v1/instruments", json=body, headers=admin)).is_success
    await fill(pool)
    return admin, acme, globex


def order_key(b: dict[str, str]) -> tuple[str, str]:
    return b["start"], b["id"]


async def test_the_cursor_reaches_every_booking_once_in_both_orders(
    client: httpx.AsyncClient, keys: tuple[dict[str, str], ...]
) -> None:
    admin, acme, globex = keys
    # The default page is 1,000: the newest beyond it are on the next page now.
    first, pages, _ = await walk(client, acme, {})
    assert (len(first), pages) == (N_ACME, 2)
    for order in ("asc", "desc"):
        got, pages, _ = await walk(client, acme, {"order": order, "limit": "97"})
        ids = [b["id"] for b in got]
        assert len(ids) == len(set(ids)) == N_ACME
        assert pages == -(-N_ACME // 97)
        assert {b["org"] for b in got} == {"acme"}
        assert got == sorted(got, key=order_key, reverse=order == "desc")
        assert {b["id"] for b in first} == set(ids)
    theirs, _, _ = await walk(client, globex, {"order": "desc", "limit": "50"})
    assert len(theirs) == N_GLOBEX
    assert {b["org"] for b in theirs} == {"globex"}
    everyone, _, _ = await walk(client, admin, {"limit": "500"})
    assert len(everyone) == N_ACME + N_GLOBEX
    assert everyone == sorted(everyone, key=order_key)


async def test_the_next_link_keeps_the_filters(
    client: httpx.AsyncClient, keys: tuple[dict[str, str], ...]
) -> None:
    _, acme, globex = keys
    params: dict[str, str | list[str]] = {
        "instrument": "sem-2",
        "status": ["cancelled", "completed"],
        "start": "2026-01-05T00:00:00Z",
        "end": "2026-01-20T00:00:00Z",
        "order": "desc",
        "limit": "4",
    }
    got, pages, links = await walk(client, acme, params)
    expected = 15 * 24 // 10  # every tenth hour of fifteen days, on sem-2
    assert len(got) == expected
    assert pages == -(-expected // 4)
    assert {(b["instrument"], b["status"]) for b in got} == {("sem-2", "cancelled")}
    assert got == sorted(got, key=order_key, reverse=True)
    for link in links:
        for part in ("instrument=sem-2", "status=cancelled", "status=completed", "order=desc"):
            assert part in link, link
    # A comma list is the same filter; another organisation's cursor shows only its own.
    comma, _, _ = await walk(client, acme, {**params, "status": "cancelled,completed"})
    assert comma == got
    mine = links[0].split("cursor=")[1]
    r = await client.get("/api/v1/bookings", params={"cursor": mine}, headers=globex)
    assert r.status_code == 200
    assert {b["org"] for b in r.json()} <= {"globex"}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"status": "confirmed,finished"}, "bad_status"),
        ({"status": ["confirmed", "nope"]}, "bad_status"),
        ({"cursor": "not-a-cursor"}, "bad_cursor"),
        ({"cursor": "MjAyNnxub3BlfHg"}, "bad_cursor"),
        ({"order": "sideways"}, "bad_request"),
        ({"limit": "0"}, "bad_request"),
        ({"limit": "10001"}, "bad_request"),
    ],
)
async def test_bad_listing_parameters_are_422_with_a_reason(
    client: httpx.AsyncClient, pool: asyncpg.Pool, params: dict[str, str | list[str]], reason: str
) -> None:
    acme = await key(pool, "acme", "operator")
    r = await client.get("/api/v1/bookings", params=params, headers=acme)
    assert r.status_code == 422, r.text
    assert r.json()["reason"] == reason
