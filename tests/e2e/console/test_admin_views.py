"""A platform admin's heatmap and resource timeline in a real chromium: the hour-of-week
heatmap drawn from learned telemetry, every organisation's bookings on the platform's own
instruments with their closure, a booking made over HTTP appearing from the event stream, the
other platform's instruments left out, in both languages, by keyboard and on a phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from pilotshare import registry
from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import InstrumentState as S
from pilotshare.twin.items import TelemetryItem
from tests.support.api import auth, iso
from tests.support.console import (
    axe_violations,
    browser_page,
    console_server,
    needs_browser,
    screenshot,
    set_language,
    sign_in,
    untranslated,
)
from tests.support.instruments import add_instrument
from tests.support.twin import telemetry_writer

pytestmark = needs_browser

ZONE = "Asia/Shanghai"
SITE = "dg-views"


async def _history(pool: asyncpg.Pool, instrument: str, now: datetime) -> None:
    """Two days of telemetry every 20 s: running 09:00-17:00 site time, idle otherwise."""
    writer = await telemetry_writer(pool, timedelta(seconds=30))
    local = ZoneInfo(ZONE)
    t = now - timedelta(days=2)
    pending: list[Sample] = []
    batch = 0
    while t < now:
        running = 9 <= t.astimezone(local).hour < 17
        state = S.RUNNING if running else S.IDLE
        pending.append(Sample(ts=t, state=state, utilization=0.8 if running else 0.0))
        t += timedelta(seconds=20)
        if len(pending) == 1800 or t >= now:
            batch += 1
            b = TelemetryBatch(agent="a", batch=batch, samples=tuple(pending))
            topic = Topic(SITE, instrument, Channel.TELEMETRY)
            await writer.write([TelemetryItem(topic, b, encode(b), now, 0.0)], now)
            pending = []


async def _reach(page: Any, start: str, target: str, tabs: int = 80) -> bool:
    """Whether Tab from ``start`` reaches an element matching ``target``."""
    await page.focus(start)
    for _ in range(tabs):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => !!document.activeElement?.matches(s)", target):
            return True
    return False


async def _book(
    c: httpx.AsyncClient, who: dict[str, str], instrument: str, start: datetime, hours: int
) -> str:
    """Book over HTTP; the booking's id."""
    end = start + timedelta(hours=hours)
    body = {"instrument": instrument, "start": iso(start), "end": iso(end)}
    r = await c.post("/api/v1/bookings", headers=who, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _seed(pool: asyncpg.Pool) -> None:
    for org, name, kind in (
        ("plat-a", "Platform A", "platform"),
        ("plat-b", "Platform B", "platform"),
        ("acme", "Acme Coatings", "client"),
        ("globex", "Globex", "client"),
    ):
        await registry.ensure_organisation(pool, org, name, kind)  # type: ignore[arg-type]
    for inst, name, owner in (
        ("a-sem", "Field-emission SEM", "plat-a"),
        ("a-oven", "Reflow oven", "plat-a"),
        ("b-xrd", "Diffractometer", "plat-b"),
    ):
        await add_instrument(
            pool, inst, site=SITE, kind=inst[2:], name=name, owner_org=owner, site_timezone=ZONE
        )


async def test_a_platform_admin_sees_its_heatmap_and_timeline_live(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    now = datetime.now(UTC).replace(microsecond=0)
    for inst in ("a-sem", "a-oven", "b-xrd"):
        await _history(pool, inst, now)
    admin = await auth(pool, "plat-a", "admin")
    acme = await auth(pool, "acme", "operator")
    globex = await auth(pool, "globex", "operator")
    day = (now + timedelta(days=1)).replace(minute=0, second=0)
    async with console_server(pool) as base, httpx.AsyncClient(base_url=base) as c:
        made = {
            inst: await _book(c, who, inst, start, hours)
            for who, inst, start, hours in (
                (acme, "a-sem", day, 2),
                (globex, "a-oven", day + timedelta(hours=3), 1),
                (acme, "b-xrd", day, 2),
            )
        }
        closed = day + timedelta(days=1)
        r = await c.post(
            "/api/v1/instruments/a-oven/closures",
            headers=admin,
            json={"start": iso(closed), "end": iso(closed + timedelta(hours=4)),
                  "kind": "maintenance", "reason": "Annual service"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        closure = r.json()["id"]
        key = admin["Authorization"].removeprefix("Bearer ")

        async with browser_page() as page:
            await sign_in(page, base, key)
            nav = await page.inner_text("#nav")
            assert "Utilisation heatmap" in nav
            assert "Resource timeline" in nav

            # the heatmap: 7 x 24 cells per instrument of the platform, none of the other's
            await page.goto(f"{base}/console/#/heatmap")
            for inst in ("a-sem", "a-oven"):
                cells = f"#heatmap-{inst} svg path"
                await page.wait_for_selector(cells, state="attached")
                await page.wait_for_function(
                    "s => document.querySelectorAll(s).length >= 168", arg=cells
                )
            assert await page.locator('article[data-instrument="b-xrd"]').count() == 0
            label = await page.get_attribute("#heatmap-a-sem", "aria-label")
            assert label
            assert "busiest" in label
            # the table beside the chart, opened by keyboard
            assert await _reach(page, "#heatmap-instrument", '[data-instrument="a-sem"] summary')
            await page.keyboard.press("Enter")
            table = "#heatmap-table-a-sem"
            await page.wait_for_selector(table, state="visible")
            assert await page.locator(f"{table} tbody tr").first.locator("td").count() == 24
            assert await page.locator(f"{table} thead th").count() == 25
            # the hours seen running (09-17 site time) are full, those seen idle empty
            shares = set(await page.locator(f"{table} tbody td").all_inner_texts())
            assert {"100", "0"} <= shares
            await page.evaluate("() => window.scrollTo(0, 0)")
            assert await axe_violations(page) == []
            await screenshot(page, "heatmap.en")
            await set_language(page, "zh")
            await page.wait_for_selector(f"{table} tbody th:text('周一')")
            assert await untranslated(page) == []
            assert await axe_violations(page) == []
            await screenshot(page, "heatmap.zh")
            await set_language(page, "en")

            # the resource timeline: both organisations' bookings on a-*, the closure, not b-xrd
            await page.goto(f"{base}/console/#/resources")
            for inst in ("a-sem", "a-oven"):
                await page.wait_for_selector(f".vis-item.bk-{made[inst]}", state="attached")
                await page.wait_for_selector(f'#resources-bookings tr[data-booking="{made[inst]}"]')
            await page.wait_for_selector(
                ".vis-item.vis-background.closure.maintenance", state="attached"
            )
            await page.wait_for_selector(f'#resources-closures tr[data-closure="{closure}"]')
            orgs = await page.locator("#resources-bookings tbody td:nth-child(2)").all_inner_texts()
            assert sorted(orgs) == ["acme", "globex"]
            assert await page.locator(f'[data-booking="{made["b-xrd"]}"]').count() == 0
            assert await page.locator(f".vis-item.bk-{made['b-xrd']}").count() == 0
            assert "Diffractometer" not in await page.inner_text("#resources-timeline")
            await page.wait_for_selector(".pill.conn-live")

            # bookings made over HTTP arrive from the event stream, no reload: one soon, one
            # days ahead (beyond what the database announces itself)
            soon = (datetime.now(UTC) + timedelta(minutes=5)).replace(second=0, microsecond=0)
            live = await _book(c, globex, "a-sem", soon, 1)
            await page.wait_for_selector(f".vis-item.bk-{live}.b-confirmed", timeout=15_000)
            await page.wait_for_selector(f'#resources-bookings tr[data-booking="{live}"]')
            later = (datetime.now(UTC) + timedelta(days=4)).replace(second=0, microsecond=0)
            ahead = await _book(c, acme, "a-oven", later, 1)
            await page.wait_for_selector(f'#resources-bookings tr[data-booking="{ahead}"]')
            assert await axe_violations(page) == []
            await screenshot(page, "resources.en")

            await set_language(page, "zh")
            await page.wait_for_selector(f".vis-item.bk-{live}")
            assert await untranslated(page) == []
            assert await axe_violations(page) == []
            await screenshot(page, "resources.zh")

            # every booking is a link for the keyboard; clicking one on the timeline opens it
            assert await _reach(page, "#resources-to", f'tr[data-booking="{live}"] a')
            await page.click(f".vis-item.bk-{made['a-oven']}")
            await page.wait_for_selector(f'#booking[data-booking="{made["a-oven"]}"]')

        async with browser_page(phone=True) as phone:
            await sign_in(phone, base, key)
            for path, ready in (
                ("heatmap", "#heatmap-a-sem svg"),
                ("resources", f".vis-item.bk-{live}"),
            ):
                await phone.goto(f"{base}/console/#/{path}")
                await phone.wait_for_selector(ready)
                wide = await phone.evaluate("() => document.documentElement.scrollWidth")
                assert wide <= 390, f"{path} is {wide}px wide on a 390px screen"
                assert await axe_violations(phone) == []
            await screenshot(phone, "resources.phone")


async def test_the_pages_are_for_admins_only(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    key = (await auth(pool, "acme", "planner"))["Authorization"].removeprefix("Bearer ")
    async with console_server(pool) as base, browser_page() as page:
        await sign_in(page, base, key)
        assert "Resource timeline" not in await page.inner_text("#nav")
        for path in ("heatmap", "resources"):
            await page.goto(f"{base}/console/#/{path}")
            await page.wait_for_selector("main [role=alert]")
            assert await page.locator(".vis-item, .chart").count() == 0
