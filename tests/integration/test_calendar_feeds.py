"""Calendar feeds as calendar clients read them: fetched from the running app over HTTP, then
parsed by python ``icalendar`` and by libical (RFC 5545 syntax, RFC 5546 restrictions), with
two organisations booking the same instrument."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import icalendar
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import auth as key
from tests.support.api import iso
from tests.support.calendars import libical_report, unfolded_lines

MON = datetime(2026, 1, 5, 8, tzinfo=UTC)
H = timedelta(hours=1)
SECRET = "合金 7号, 批次; 保密\\配方\n第二行"  # commas, semicolons, backslash, newline, CJK
REASON = "维护：更换灯丝与真空泵的年度保养, 请勿预约; 预计全天完成" * 2


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON)


async def _site(client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict[str, Any]:
    """sem-1, a booking of acme and two of globex (one then cancelled), a maintenance closure
    with a Chinese reason; feeds of sem-1 (created by acme) and of globex."""
    admin = await key(pool, "platform", "admin")
    acme = await key(pool, "acme", "operator")
    globex = await key(pool, "globex", "operator")
    r = await client.post(
        "/api/v1/instruments", json={"id": "sem-1", "site": "lab", "kind": "sem"}, headers=admin
    )
    assert r.status_code == 201, r.text
    ids = {}
    for name, who, day, purpose in (
        ("acme", acme, 1, "acme's own run"),
        ("globex", globex, 2, SECRET),
        ("globex-cancelled", globex, 3, "dropped plan"),
    ):
        start = MON + timedelta(days=day)
        body = {"instrument": "sem-1", "start": iso(start), "end": iso(start + 2 * H)}
        r = await client.post("/api/v1/bookings", json={**body, "purpose": purpose}, headers=who)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    assert (
        await client.delete(f"/api/v1/bookings/{ids['globex-cancelled']}", headers=globex)
    ).status_code == 204
    r = await client.post(
        "/api/v1/instruments/sem-1/closures",
        json={"start": iso(MON + 4 * 24 * H), "end": iso(MON + 5 * 24 * H), "reason": REASON},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    instrument = await client.post("/api/v1/calendars", json={"instrument": "sem-1"}, headers=acme)
    own = await client.post("/api/v1/calendars", json={"org": "globex"}, headers=globex)
    assert instrument.status_code == own.status_code == 201
    other = await client.post("/api/v1/calendars", json={"org": "globex"}, headers=acme)
    assert other.status_code == 404, other.text  # another organisation's is invisible
    assert other.json()["reason"] == "no_organisation"
    return {
        "ids": ids,
        "closure": r.json()["id"],
        "instrument_url": instrument.json()["url"],
        "globex_url": own.json()["url"],
    }


def _events(text: str) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(text)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def test_another_orgs_booking_shows_only_as_booked_without_owner_id_or_purpose(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    site = await _site(client, pool)
    text = (await client.get(site["instrument_url"])).text
    ids = site["ids"]
    for leaked in (ids["globex"], ids["globex-cancelled"], "globex", "合金", "dropped plan"):
        assert leaked not in text, leaked
    events = _events(text)
    own = events[f"{ids['acme']}@pilotshare"]
    assert str(own["SUMMARY"]) == "sem-1: acme"
    assert str(own["DESCRIPTION"]) == "acme's own run"
    others = [e for uid, e in events.items() if uid.startswith("booking-")]
    assert sorted(str(e["SUMMARY"]) for e in others) == ["sem-1: booked", "sem-1: booked"]
    assert all("DESCRIPTION" not in e for e in others)

    # the owner's own feed shows its bookings in full, and nothing of acme's
    mine = (await client.get(site["globex_url"])).text
    assert "acme" not in mine
    theirs = _events(mine)
    assert str(theirs[f"{ids['globex']}@pilotshare"]["DESCRIPTION"]) == SECRET


async def test_feed_is_valid_icalendar_for_icalendar_and_libical(
    client: httpx.AsyncClient, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    site = await _site(client, pool)
    response = await client.get(site["instrument_url"])
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    text = response.text
    raw = response.content

    # CRLF only, every physical line at most 75 octets, never split inside a UTF-8 character
    assert raw.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical)
    assert all(line.decode("utf-8") for line in physical)  # each piece is whole UTF-8
    assert any(len(line) > 70 for line in physical)  # the long CJK reason was folded

    lines = unfolded_lines(text)
    assert "METHOD:PUBLISH" not in lines  # no iTIP method: no ORGANIZER needed or shown
    assert not any(line.startswith("ORGANIZER") for line in lines)

    # python icalendar parses it back to the same text values (escaping undone)
    events = _events(text)
    assert len(events) == 4  # acme's, globex's, globex's cancelled one, the closure
    for e in events.values():
        assert e["DTSTAMP"].dt.tzinfo is not None
        assert e["DTSTART"].dt < e["DTEND"].dt
    closure = events[f"closure-{site['closure']}@pilotshare"]
    assert str(closure["SUMMARY"]) == "sem-1: Maintenance"
    assert str(closure["DESCRIPTION"]) == REASON
    assert str(closure["TRANSP"]) == "OPAQUE"
    assert closure["DTSTART"].dt == MON + 4 * 24 * H

    # and the owner's feed round-trips the escaped purpose exactly
    theirs = _events((await client.get(site["globex_url"])).text)
    assert str(theirs[f"{site['ids']['globex']}@pilotshare"]["DESCRIPTION"]) == SECRET

    # libical: no parse errors and no RFC 5546 restriction errors, in both feeds
    for url in (site["instrument_url"], site["globex_url"]):
        report = libical_report((await client.get(url)).text)
        assert report["errors"] == [], report
        assert report["restrictions_ok"] is True, report
    assert libical_report(text)["events"] == 4

    # UIDs and DTSTAMPs are stable: the same feed fetched later says the same
    clock.advance(3 * 3600)
    later = (await client.get(site["instrument_url"])).text
    assert later == text


async def test_a_cancelled_booking_stays_in_the_feed_as_cancelled_with_a_higher_sequence(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    site = await _site(client, pool)
    globex = await key(pool, "globex", "operator")
    before = _events((await client.get(site["globex_url"])).text)
    uid = f"{site['ids']['globex']}@pilotshare"
    assert str(before[uid]["STATUS"]) == "CONFIRMED"
    assert int(before[uid]["SEQUENCE"]) == 0

    assert (
        await client.delete(f"/api/v1/bookings/{site['ids']['globex']}", headers=globex)
    ).status_code == 204
    after = _events((await client.get(site["globex_url"])).text)
    assert str(after[uid]["STATUS"]) == "CANCELLED"
    assert int(after[uid]["SEQUENCE"]) > int(before[uid]["SEQUENCE"])
    assert after[uid]["DTSTAMP"].dt >= before[uid]["DTSTAMP"].dt
    assert str(after[uid]["TRANSP"]) == "TRANSPARENT"  # no longer busy time

    # the other organisation's instrument feed shows it cancelled too, still anonymous
    shown = (await client.get(site["instrument_url"])).text
    cancelled = [
        e
        for u, e in _events(shown).items()
        if u.startswith("booking-") and str(e["STATUS"]) == "CANCELLED"
    ]
    assert len(cancelled) == 2
    assert site["ids"]["globex"] not in shown


async def test_uids_of_hidden_bookings_differ_per_feed_and_do_not_reveal_the_id(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    site = await _site(client, pool)
    acme = await key(pool, "acme", "operator")
    again = await client.post("/api/v1/calendars", json={"instrument": "sem-1"}, headers=acme)
    first = {u for u in _events((await client.get(site["instrument_url"])).text) if "booking-" in u}
    second = {u for u in _events((await client.get(again.json()["url"])).text) if "booking-" in u}
    assert len(first) == len(second) == 2
    assert not first & second  # two feeds cannot be joined on another org's booking
    assert all(re.fullmatch(r"booking-[0-9a-f]{32}@pilotshare", u) for u in first)


async def test_the_platform_running_the_instrument_sees_its_bookings_in_full(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """As in the API: a platform's admins see the bookings on its own instruments (who and
    why), another platform's admins only that the slot is taken."""
    network = await key(pool, "platform", "admin")
    for org in ("lab-a", "lab-b"):
        r = await client.post(
            "/api/v1/organisations",
            json={"id": org, "name": org, "kind": "platform"},
            headers=network,
        )
        assert r.status_code == 201, r.text
    own, other = await key(pool, "lab-a", "admin"), await key(pool, "lab-b", "admin")
    acme = await key(pool, "acme", "operator")
    body = {"id": "sem-a", "site": "lab", "kind": "sem", "owner_org": "lab-a"}
    assert (await client.post("/api/v1/instruments", json=body, headers=own)).status_code == 201
    start = MON + timedelta(days=1)
    slot = {"instrument": "sem-a", "start": iso(start), "end": iso(start + 2 * H)}
    r = await client.post("/api/v1/bookings", json={**slot, "purpose": SECRET}, headers=acme)
    assert r.status_code == 201, r.text
    booking = r.json()["id"]
    texts = {}
    for name, who in (("own", own), ("other", other)):
        feed = await client.post("/api/v1/calendars", json={"instrument": "sem-a"}, headers=who)
        assert feed.status_code == 201, feed.text
        texts[name] = (await client.get(feed.json()["url"])).text
    full = _events(texts["own"])[f"{booking}@pilotshare"]
    assert (str(full["SUMMARY"]), str(full["DESCRIPTION"])) == ("sem-a: acme", SECRET)
    for leaked in (booking, "acme", "合金"):
        assert leaked not in texts["other"], leaked
    [hidden] = _events(texts["other"]).values()
    assert str(hidden["SUMMARY"]) == "sem-a: booked"
