"""The open statistics through the API, and every figure recomputed from the API's own answers.

Two platforms at two sites (Dongguan in Asia/Shanghai, one in UTC) and one with nothing
booked; bookings of every outcome (completed by telemetry, completed after a check-in by hand,
no-show, cancelled, released), stored telemetry, closures (a maintenance window, a blackout)
and the lifecycle settling them. The figures the statistics answer must equal those
recomputed from the bookings list, the telemetry buckets, the instruments, their closures and
the statements, as docs/network.md defines them.
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import OFFLINE_AFTER
from pilotshare.core.domain import InstrumentState as S
from pilotshare.core.settings import Settings
from pilotshare.scheduler.lifecycle import BookingLifecycle
from pilotshare.twin.items import TelemetryItem
from tests.support.api import api_client, auth, book, iso
from tests.support.twin import telemetry_writer

H = timedelta(hours=1)
M = timedelta(minutes=1)
TICK = timedelta(seconds=10)
GRACE = timedelta(minutes=15)
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
SITES = {"dg": "Asia/Shanghai", "hz": "UTC"}
PUBLIC = ("lab-a", "lab-b", "lab-c")
SETTINGS = Settings(ranking_min_bookings=2, ranking_top=1, ranking_threshold=0.0)
_batches = itertools.count(1)


def every(start: datetime, end: datetime, state: S) -> list[tuple[datetime, S]]:
    return [(start + k * TICK, state) for k in range(int((end - start) / TICK))]


async def write(
    pool: asyncpg.Pool, site: str, inst: str, samples: list[tuple[datetime, S]]
) -> None:
    """Store samples as the ingest does: one committed batch through the twin's writer."""
    writer = await telemetry_writer(pool, OFFLINE_AFTER)
    batch = TelemetryBatch(
        agent=f"agent-{inst}",
        batch=next(_batches),
        samples=tuple(Sample(ts=t, state=s) for t, s in samples),
    )
    at = samples[-1][0]
    topic = Topic(site, inst, Channel.TELEMETRY)
    await writer.write([TelemetryItem(topic, batch, encode(batch), at, 0.0)], at)


class World:
    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.pool, self.client, self.clock = pool, client, clock
        self.keys: dict[tuple[str, str], dict[str, str]] = {}

    async def key(self, org: str, role: str = "operator") -> dict[str, str]:
        if (org, role) not in self.keys:
            self.keys[org, role] = await auth(self.pool, org, role)
        return self.keys[org, role]

    async def booking(self, org: str, inst: str, start: datetime, hours: float) -> str:
        r = await book(
            self.client, await self.key(org), instrument=inst, start=start, end=start + hours * H
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def at(self, t: datetime) -> None:
        self.clock.advance((t - self.clock.now()).total_seconds())

    async def get(self, path: str, who: str | None = None, **params: str) -> Any:
        headers = await self.key(who, "admin") if who else {}
        r = await self.client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def world(pool: asyncpg.Pool) -> AsyncIterator[World]:
    clock = FakeClock(START)
    async with api_client(pool, clock=clock, settings=SETTINGS) as client:
        w = World(pool, client, clock)
        net = await w.key("platform", "admin")
        names: dict[str, tuple[str, str]] = {}
        for org, name in (("lab-a", "东莞材料中试平台 Dongguan Materials Pilot"),
                          ("lab-b", "杭州工艺平台 Hangzhou Process Platform"),
                          ("lab-c", "空平台 Empty Platform"),
                          ("lab-d", "内部平台 In-house Platform"),
                          ("acme", "Acme"), ("globex", "Globex")):  # fmt: skip
            kind = "platform" if org.startswith("lab") else "client"
            zh, _, en = name.partition(" ")
            names[org] = (zh, en)
            r = await client.post(
                "/api/v1/organisations", json={"id": org, "name": name, "kind": kind}, headers=net
            )
            assert r.status_code == 201, r.text
        for inst, site, kind, owner, billing in (
            ("sem-a", "dg", "sem", "lab-a", "booked"),
            ("xrd-a", "dg", "xrd", "lab-a", "measured"),
            ("oven-b", "hz", "oven", "lab-b", "booked"),
            ("oven-c", "hz", "oven", "lab-c", "booked"),
            ("oven-d", "hz", "oven", "lab-d", "booked"),
        ):
            r = await client.post(
                "/api/v1/instruments",
                json={"id": inst, "site": site, "site_timezone": SITES[site], "kind": kind,
                      "owner_org": owner, "billing": billing, "hourly_rate": "100.00",
                      "capabilities": ["pilot"]},
                headers=net,
            )  # fmt: skip
            assert r.status_code == 201, r.text
        for org in PUBLIC:  # lab-d keeps its profile private
            zh, en = names[org]
            r = await client.put(
                f"/api/v1/organisations/{org}/profile",
                json={"name_zh": zh, "name_en": en, "public": True},
                headers=net,
            )
            assert r.status_code == 200, r.text
        r = await client.post(  # pays half of each of acme's lines, up to 250 CNY in all
            "/api/v1/organisations/acme/vouchers",
            json={"amount": "250.00", "share": "0.5"},
            headers=net,
        )
        assert r.status_code == 201, r.text
        await seed(w)
        yield w


async def seed(w: World) -> None:
    """Bookings of every outcome, their telemetry, and the lifecycle settling them at NOW."""
    # sem-a, Dongguan: the first is 23:00 local on 30 November (November), the next 00:30
    # local on 1 December: December there, though UTC still says November
    await w.booking("acme", "sem-a", datetime(2026, 11, 30, 15, 0, tzinfo=UTC), 0.5)  # no-show
    await w.booking("acme", "sem-a", datetime(2026, 11, 30, 16, 30, tzinfo=UTC), 1)  # ran
    await w.booking("globex", "sem-a", datetime(2026, 11, 30, 18, 0, tzinfo=UTC), 1)  # no-show
    gone = await w.booking("acme", "sem-a", datetime(2026, 11, 30, 20, 0, tzinfo=UTC), 1)
    by_hand = await w.booking("globex", "sem-a", datetime(2026, 11, 30, 22, 0, tzinfo=UTC), 1)
    released = await w.booking("acme", "sem-a", datetime(2026, 12, 1, 2, 0, tzinfo=UTC), 1)
    await w.booking("acme", "xrd-a", datetime(2026, 12, 1, 4, 0, tzinfo=UTC), 1)  # measured
    # oven-b, UTC
    await w.booking("acme", "oven-b", datetime(2026, 12, 1, 6, 0, tzinfo=UTC), 2)  # ran
    await w.booking("globex", "oven-b", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), 1)  # no-show
    gone_b = await w.booking("globex", "oven-b", datetime(2026, 12, 1, 11, 0, tzinfo=UTC), 1)
    await w.booking("acme", "oven-b", datetime(2026, 12, 20, 9, 0, tzinfo=UTC), 1)  # ahead

    assert (
        await w.client.delete(f"/api/v1/bookings/{gone}", headers=await w.key("acme"))
    ).status_code == 204
    assert (
        await w.client.delete(f"/api/v1/bookings/{gone_b}", headers=await w.key("globex"))
    ).status_code == 204

    # (site, instrument, lead-in state, lead-in from, run from, run minutes), 5 idle minutes
    for site, inst, lead, since, run, minutes in (
        ("dg", "sem-a", S.IDLE, datetime(2026, 11, 30, 16, 27, tzinfo=UTC), 16 * H + 32 * M, 48),
        ("dg", "xrd-a", S.SETUP, datetime(2026, 12, 1, 4, 0, tzinfo=UTC), 4 * H + 5 * M, 40),
        ("hz", "oven-b", S.SETUP, datetime(2026, 12, 1, 5, 58, tzinfo=UTC), 6 * H + 1 * M, 89),
    ):
        began = datetime.combine(since.date(), time(0), UTC) + run
        end = began + minutes * M
        samples = every(since, began, lead) + every(began, end, S.RUNNING)
        await write(w.pool, site, inst, samples + every(end, end + 5 * M, S.IDLE))

    await w.at(datetime(2026, 11, 30, 22, 10, tzinfo=UTC))
    r = await w.client.post(f"/api/v1/bookings/{by_hand}/check-in", headers=await w.key("globex"))
    assert r.status_code == 200, r.text
    await w.at(datetime(2026, 12, 1, 2, 5, tzinfo=UTC))
    r = await w.client.post(f"/api/v1/bookings/{released}/check-in", headers=await w.key("acme"))
    assert r.status_code == 200, r.text
    await w.at(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    assert (
        await w.client.delete(f"/api/v1/bookings/{released}", headers=await w.key("acme"))
    ).status_code == 204

    await requests_and_offers(w)
    await closures(w)

    await w.at(NOW)
    lifecycle = BookingLifecycle(w.pool, None, w.clock, grace=GRACE)
    await lifecycle.settle()


async def requests_and_offers(w: World) -> None:
    """Two requests (中试需求) on 1 December; lab-a answers both, lab-b the first."""
    asked: list[str] = []
    for org, at in (("acme", datetime(2026, 12, 1, 2, 40, tzinfo=UTC)),
                    ("globex", datetime(2026, 12, 1, 3, 45, tzinfo=UTC))):  # fmt: skip
        await w.at(at)
        r = await w.client.post(
            "/api/v1/requests",
            json={"title": f"试制 trial run for {org}", "hours": "1", "capabilities": ["pilot"],
                  "deadline": iso(datetime(2026, 12, 15, tzinfo=UTC))},
            headers=await w.key(org),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        asked.append(r.json()["id"])
    for platform, inst, request, at, day in (
        ("lab-a", "sem-a", asked[0], datetime(2026, 12, 1, 3, 10, tzinfo=UTC), 10),  # 0.5 h
        ("lab-b", "oven-b", asked[0], datetime(2026, 12, 1, 3, 40, tzinfo=UTC), 10),  # 1 h
        ("lab-a", "sem-a", asked[1], datetime(2026, 12, 1, 5, 45, tzinfo=UTC), 11),  # 2 h
        ("lab-a", "xrd-a", asked[1], datetime(2026, 12, 1, 6, 0, tzinfo=UTC), 11),  # later
    ):
        await w.at(at)
        start = datetime(2026, 12, day, 9, tzinfo=UTC)
        r = await w.client.post(
            f"/api/v1/requests/{request}/offers",
            json={"instrument": inst, "start": iso(start), "end": iso(start + H), "price": 300},
            headers=await w.key(platform, "admin"),
        )
        assert r.status_code == 201, r.text


async def closures(w: World) -> None:
    """A maintenance window on oven-b from 11:00 on 1 December to noon the next day (so the
    wait at 10:00 that day finds one free hour before it, too short), and a blackout of
    sem-a over NOW: both close part of the month so far."""
    for inst, kind, start, end in (
        ("oven-b", "maintenance", datetime(2026, 12, 1, 11, tzinfo=UTC),
         datetime(2026, 12, 2, 12, tzinfo=UTC)),
        ("sem-a", "blackout", datetime(2026, 12, 1, 12, 30, tzinfo=UTC),
         datetime(2026, 12, 1, 14, tzinfo=UTC)),
    ):  # fmt: skip
        r = await w.client.post(
            f"/api/v1/instruments/{inst}/closures",
            json={"start": iso(start), "end": iso(end), "kind": kind, "reason": "检修 service"},
            headers=await w.key("platform", "admin"),
        )
        assert r.status_code == 201, r.text


# ---- the recomputation, from API answers only -------------------------------------------


def month_of(t: datetime, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def month_span(month: str, tz: str) -> tuple[datetime, datetime]:
    y, m = map(int, month.split("-"))
    z = ZoneInfo(tz)
    lo = datetime(y, m, 1, tzinfo=z)
    hi = datetime(y + m // 12, m % 12 + 1, 1, tzinfo=z)
    return lo.astimezone(UTC), hi.astimezone(UTC)


def parse(t: str) -> datetime:
    return datetime.fromisoformat(t)


def served(b: dict[str, Any]) -> bool:
    return b["status"] == "completed" or (
        b["checked_in_at"] is not None and b["status"] in ("active", "released")
    )


def on_time(b: dict[str, Any]) -> bool:
    at = b["checked_in_at"]
    return served(b) and (at is None or parse(at) <= parse(b["start"]) + GRACE)


def covered(span: tuple[datetime, datetime], closed: list[tuple[datetime, datetime]]) -> float:
    """Seconds of ``span`` inside any of ``closed`` (they may overlap)."""
    total, reached = 0.0, span[0]
    for start, end in sorted(closed):
        lo, hi = max(start, reached), min(end, span[1])
        if lo < hi:
            total += (hi - lo).total_seconds()
            reached = hi
    return total


def first_fit(held: list[tuple[datetime, datetime]], t: datetime, d: timedelta) -> timedelta:
    """Always open, no notice, no buffer: the first gap of ``d`` from ``t`` on (``held``:
    the bookings holding their slots and the closures)."""
    at = t
    for lo, hi in sorted(held):
        if hi <= at:
            continue
        if lo - at >= d:
            break
        at = max(at, hi)
    return at - t


async def recompute(w: World, month: str) -> dict[str, dict[str, Any]]:
    instruments = await w.get("/api/v1/instruments", "platform")
    bookings = await w.get("/api/v1/bookings", "platform")
    lines: dict[str, float] = {}
    redeemed: dict[str, float] = {}
    for org in ("acme", "globex"):
        statement = await w.get(f"/api/v1/statements/{org}/{month}", "platform")
        lines |= {line["booking"]: float(line["hours"]) for line in statement["lines"]}
        for line in statement["lines"]:
            paid = sum(float(p["amount"]) for p in line["paid"])
            redeemed[line["platform"]] = redeemed.get(line["platform"], 0.0) + paid
    zone_of = {i["id"]: i["site_timezone"] for i in instruments}
    responses: dict[str, list[float]] = {}
    for request in await w.get("/api/v1/requests", "platform"):
        first: dict[str, dict[str, Any]] = {}
        for o in sorted(request["offers"], key=lambda o: o["created_at"]):
            first.setdefault(o["platform"], o)
        for platform, o in first.items():
            if month_of(parse(request["created_at"]), zone_of[o["instrument"]]) == month:
                waited = parse(o["created_at"]) - parse(request["created_at"])
                responses.setdefault(platform, []).append(waited.total_seconds() / 3600)
    out: dict[str, dict[str, Any]] = {}
    for platform in sorted({i["owner_org"] for i in instruments if i["owner_org"]}):
        mine = [i for i in instruments if i["owner_org"] == platform]
        used = opened = 0.0
        due: list[dict[str, Any]] = []
        waits: list[float] = []
        closed: dict[str, list[tuple[datetime, datetime]]] = {}
        for i in mine:
            closed[i["id"]] = [
                (parse(c["start"]), parse(c["end"]))
                for c in await w.get(f"/api/v1/instruments/{i['id']}/closures", "platform")
            ]
            assert i["operating_hours"] is None
            assert i["min_notice_s"] == i["setup_buffer_s"] == 0
            tz = i["site_timezone"]
            lo, hi = month_span(month, tz)
            cut = min(hi, NOW)
            buckets = await w.get(f"/api/v1/instruments/{i['id']}/telemetry", "platform",
                                  start=iso(lo), end=iso(cut), bucket="PT1H")  # fmt: skip
            for b in buckets:  # an hour partly closed counts its use by its open share
                hour = (max(parse(b["bucket"]), lo), min(parse(b["bucket"]) + H, cut))
                length = (hour[1] - hour[0]).total_seconds()
                open_share = 1 - covered(hour, closed[i["id"]]) / length
                seconds = b["state_seconds"]["running"] + b["state_seconds"]["setup"]
                used += seconds * open_share
            opened += (cut - lo).total_seconds() - covered((lo, cut), closed[i["id"]])
            due += [b for b in bookings if b["instrument"] == i["id"]
                    and month_of(parse(b["start"]), tz) == month
                    and parse(b["start"]) + GRACE <= NOW]  # fmt: skip
        kinds = sorted({i["kind"] for i in mine})
        for kind in kinds:
            of_kind = sorted((i for i in mine if i["kind"] == kind), key=lambda i: i["id"])
            lengths = [(parse(b["end"]) - parse(b["start"])).total_seconds()
                       for b in due if b["status"] != "cancelled"
                       and b["instrument"] in {i["id"] for i in of_kind}]  # fmt: skip
            if not lengths:
                continue
            d = timedelta(seconds=statistics.median(lengths))
            name = of_kind[0]["site_timezone"]
            first, last = month_span(month, name)
            day = first.astimezone(ZoneInfo(name)).date()
            while (t := datetime.combine(day, time(10), ZoneInfo(name))) < min(last, NOW):
                held = {i["id"]: [(parse(b["start"]), parse(b["end"])) for b in bookings
                                  if b["instrument"] == i["id"] and b["status"] != "cancelled"]
                                 + closed[i["id"]]
                        for i in of_kind}  # fmt: skip
                waits.append(
                    min(first_fit(held[i["id"]], t, d) for i in of_kind).total_seconds() / 3600
                )
                day += timedelta(days=1)
        n = len(due)
        kept = [b for b in due if b["status"] != "cancelled"]
        out[platform] = {
            "utilisation": round(used / opened, 4) if opened else None,
            "hours_served": round(sum(lines.get(b["id"], 0.0) for b in kept), 4),
            "clients_served": len({b["org"] for b in due if served(b)}),
            "bookings": n,
            "on_time_share": round(sum(map(on_time, kept)) / len(kept), 4) if kept else None,
            "no_show_share": round(sum(b["status"] == "no_show" for b in due) / n, 4)
            if n
            else None,
            "cancellation_share": round(sum(b["status"] == "cancelled" for b in due) / n, 4)
            if n
            else None,
            "median_wait_hours": round(statistics.median(waits), 4) if waits else None,
            "voucher_redemptions": round(redeemed.get(platform, 0.0), 2),
            "response_hours": round(statistics.median(responses[platform]), 4)
            if platform in responses
            else None,
        }
    return out


FIGURES = ("utilisation", "hours_served", "clients_served", "bookings", "on_time_share",
           "no_show_share", "cancellation_share", "median_wait_hours",
           "voucher_redemptions", "response_hours")  # fmt: skip


@pytest.mark.parametrize("month", ["2026-12", "2026-11"])
async def test_every_figure_is_recomputed_from_the_api(world: World, month: str) -> None:
    public = await world.get("/api/v1/public/statistics", period=month)
    got = {p["platform"]: {f: p[f] for f in FIGURES} for p in public["platforms"]}
    assert set(got) == set(PUBLIC)  # lab-d's profile is not public
    want = await recompute(world, month)
    assert got == {p: want[p] for p in PUBLIC}
    detail = await world.get("/api/v1/statistics", "platform", period=month)
    assert {p["platform"]: {f: p[f] for f in FIGURES} for p in detail["platforms"]} == want


async def test_the_world_has_every_outcome_and_the_boundary_counts_locally(world: World) -> None:
    bookings = await world.get("/api/v1/bookings", "platform")
    assert {b["status"] for b in bookings} >= {"completed", "no_show", "cancelled", "released"}
    dec = {
        p["platform"]: p
        for p in (await world.get("/api/v1/public/statistics", period="2026-12"))["platforms"]
    }
    nov = {
        p["platform"]: p
        for p in (await world.get("/api/v1/public/statistics", period="2026-11"))["platforms"]
    }
    # the 00:30-local booking of 1 December is December's (ran: served, on time); the
    # 23:00-local one of 30 November is November's, a no-show
    assert nov["lab-a"]["bookings"] == 1
    assert nov["lab-a"]["no_show_share"] == 1.0
    assert dec["lab-a"]["bookings"] == 6
    assert dec["lab-a"]["clients_served"] == 2
    assert dec["lab-a"]["on_time_share"] == round(4 / 5, 4)  # ran, by hand, released, xrd
    assert dec["lab-b"]["bookings"] == 3  # the one on 20 December is not due yet
    assert dec["lab-a"]["voucher_redemptions"] > 0  # acme's voucher paid its settled lines
    assert dec["lab-b"]["voucher_redemptions"] > 0
    assert dec["lab-a"]["response_hours"] == 1.25  # 0.5 h and 2 h: its first offer each
    assert dec["lab-b"]["response_hours"] == 1.0
    assert dec["lab-c"]["response_hours"] is None
    assert 0 < dec["lab-a"]["utilisation"] < 1
    assert 0 < dec["lab-b"]["utilisation"] < 1


async def test_the_ranking_and_its_method_are_published(world: World) -> None:
    body = await world.get("/api/v1/public/statistics", period="2026-12")
    by = {p["platform"]: p for p in body["platforms"]}
    assert by["lab-c"]["rank"] is None
    assert by["lab-c"]["unranked_reason"] == "too_few_bookings"
    ranked = sorted((p for p in body["platforms"] if p["rank"]), key=lambda p: p["rank"])
    assert [p["rank"] for p in ranked] == [1, 2] or ranked[0]["score"] == ranked[1]["score"]
    assert body["ranking"]["outstanding"] == [ranked[0]["platform"]]  # top 1
    assert body["ranking"]["min_bookings"] == 2
    assert set(body["ranking"]["weights"]) | set(body["ranking"]["dropped"]) == set(
        SETTINGS.ranking_weights
    )
    assert "voucher_redemptions" in body["ranking"]["weights"]
    assert "response_hours" in body["ranking"]["weights"]
    assert body["ranking"]["dropped"] == []
    assert [p["platform"] for p in body["platforms"]][:2] == [p["platform"] for p in ranked]


async def test_public_statistics_say_nothing_about_clients(world: World) -> None:
    r = await world.client.get("/api/v1/public/statistics", params={"period": "2026-12"})
    assert r.status_code == 200
    assert "acme" not in r.text
    assert "globex" not in r.text


async def test_the_csv_holds_the_same_figures(world: World) -> None:
    body = await world.get("/api/v1/public/statistics", period="2026-12")
    r = await world.client.get(
        "/api/v1/public/statistics", params={"period": "2026-12", "format": "csv"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="statistics-2026-12.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["platform"] for row in rows] == [p["platform"] for p in body["platforms"]]
    for row, p in zip(rows, body["platforms"], strict=True):
        assert row["period"] == "2026-12"
        assert int(row["bookings"]) == p["bookings"]
        assert (float(row["utilisation"]) if row["utilisation"] else None) == p["utilisation"]
        assert float(row["hours_served"]) == p["hours_served"]
        assert (int(row["rank"]) if row["rank"] else None) == p["rank"]
        assert row["outstanding"] == str(p["outstanding"]).lower()


@pytest.mark.parametrize("period", ["2026-13", "26-01", "0001-01", "9999-12", "nope"])
async def test_a_bad_period_is_refused(world: World, period: str) -> None:
    r = await world.client.get("/api/v1/public/statistics", params={"period": period})
    assert r.status_code == 422
    assert r.json()["reason"] == "bad_month"


async def test_platform_admins_see_their_own_platform_in_detail(world: World) -> None:
    lab_a = await auth(world.pool, "lab-a", "admin")
    r = await world.client.get("/api/v1/statistics", params={"period": "2026-12"}, headers=lab_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["platform"] for p in body["platforms"]] == ["lab-a"]
    per = {i["instrument"]: i for i in body["platforms"][0]["per_instrument"]}
    assert set(per) == {"sem-a", "xrd-a"}
    assert per["sem-a"]["bookings"] == 5
    assert per["sem-a"]["no_shows"] == 1
    assert per["sem-a"]["cancellations"] == 1
    public = await world.get("/api/v1/public/statistics", period="2026-12")
    mine = next(p for p in public["platforms"] if p["platform"] == "lab-a")
    assert body["platforms"][0]["rank"] == mine["rank"]  # ranked among all, shown alone
    r = await world.client.get(
        "/api/v1/statistics", params={"period": "2026-12", "platform": "lab-b"}, headers=lab_a
    )
    assert r.status_code == 403
    assert r.json()["reason"] == "not_owner"


async def test_the_network_admin_sees_every_platform(world: World) -> None:
    body = await world.get("/api/v1/statistics", "platform", period="2026-12")
    public = await world.get("/api/v1/public/statistics", period="2026-12")
    # every platform, the private lab-d too; it ranks among all, so ranks may differ
    assert [p["platform"] for p in body["platforms"]] == ["lab-a", "lab-b", "lab-c", "lab-d"]
    assert [p["platform"] for p in public["platforms"]] == ["lab-a", "lab-b", "lab-c"]
    one = await world.get("/api/v1/statistics", "platform", period="2026-12", platform="lab-b")
    assert [p["platform"] for p in one["platforms"]] == ["lab-b"]
    r = await world.client.get(
        "/api/v1/statistics",
        params={"period": "2026-12", "platform": "acme"},
        headers=await world.key("platform", "admin"),
    )
    assert r.status_code == 404
    assert r.json()["reason"] == "no_platform"


@pytest.mark.parametrize("who", [None, "acme"])
async def test_detail_needs_an_admin_key(world: World, who: str | None) -> None:
    headers = await world.key(who) if who else {}
    r = await world.client.get("/api/v1/statistics", params={"period": "2026-12"}, headers=headers)
    assert r.status_code == (401 if who is None else 403)
