"""The platform admins' console pages in a real chromium: the live board follows a twin change
published over MQTT; a platform's admin edits its instrument's rate with the keyboard alone,
closes it for maintenance in the site's time, qualifies a second client and makes a key that
works against the API; another platform's instrument is refused with the reason in 中文; the
pages read in 中文 with no English left, no serious axe-core violation, and fit a phone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from pilotshare import registry
from pilotshare.core.settings import MqttEndpoint
from tests.support.api import auth, book
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
from tests.support.ingest import publish_running
from tests.support.instruments import add_instrument

pytestmark = needs_browser


async def test_the_board_follows_a_twin_change(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str
) -> None:
    instrument = f"{site}-sem"
    await registry.ensure_organisation(pool, "platform", "Network operator", "platform")
    await add_instrument(pool, instrument, site=site, kind="sem", name="Field-emission SEM")
    key = (await auth(pool, "platform", "admin"))["Authorization"].removeprefix("Bearer ")
    async with (
        console_server(pool, mqtt=mqtt_endpoint, site=site) as base,
        browser_page() as page,
    ):
        await sign_in(page, base, key)
        await page.goto(f"{base}/console/#/board")
        card = f'article[data-instrument="{instrument}"]'
        await page.wait_for_selector(f'{card}[data-state="offline"]')
        await page.wait_for_selector(".pill.conn-live")
        await publish_running(mqtt_endpoint, site, instrument)
        await page.wait_for_selector(f'{card}[data-state="running"]', timeout=15_000)
        assert await page.inner_text(f"{card} .util") == "70%"
        assert await page.inner_text("#n-running") == "1"
        await set_language(page, "zh")
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "board.zh")


#: the instruments' site is not in the console's default zone (Asia/Shanghai) nor the browser's
#: (Europe/London): a closure entered in site time proves the page uses the instrument's zone
SITE_ZONE = ZoneInfo("Asia/Tokyo")
ZH_NOT_OWNER = "它属于其他平台：只有该平台的管理员可以修改。"


async def _two_platforms(pool: asyncpg.Pool) -> dict[str, str]:
    """lab-a owns oven-a, lab-b owns oven-b (both at a site in Tokyo time), acme and globex are
    clients; the key of lab-a's admin."""
    for org, name, kind in (
        ("platform", "Network operator", "platform"),
        ("lab-a", "东莞中试 A", "platform"),
        ("lab-b", "东莞中试 B", "platform"),
        ("acme", "Acme Coatings", "client"),
        ("globex", "Globex", "client"),
    ):
        await registry.ensure_organisation(pool, org, name, kind)
    for ident, owner in (("oven-a", "lab-a"), ("oven-b", "lab-b")):
        await add_instrument(pool, ident, site="dg-a", kind="oven", name=f"Reflow {ident}",
                             owner_org=owner, hourly_rate=180, min_notice_s=0,
                             requires_qualification=True,
                             site_timezone="Asia/Tokyo")  # fmt: skip
    return await auth(pool, "lab-a", "admin")


def _key(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))


async def test_a_platform_admin_edits_closes_and_qualifies_its_instrument(
    pool: asyncpg.Pool,
) -> None:
    lab_a = await _two_platforms(pool)
    acme = await auth(pool, "acme", "operator")
    tomorrow = (datetime.now(SITE_ZONE) + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    async with console_server(pool) as base, browser_page() as page:
        _accept_dialogs(page)
        async with httpx.AsyncClient(base_url=base) as c:
            r = await c.put("/api/v1/instruments/oven-a/qualifications/acme", headers=lab_a)
            assert r.status_code == 204, r.text
        await sign_in(page, base, _key(lab_a))
        await page.goto(f"{base}/console/#/instruments")
        # the list holds lab-a's instrument only, with its rate in yuan
        await page.wait_for_selector('#instruments tr[data-instrument="oven-a"]')
        assert await page.locator("#instruments tbody tr").count() == 1
        row = await page.inner_text('#instruments tr[data-instrument="oven-a"]')
        assert "180.00" in row
        assert "in service" in row
        await screenshot(page, "instruments")

        await page.click('#instruments a[href="#/instruments/oven-a"]')
        await page.wait_for_selector("#inst-form")
        await page.wait_for_function("() => document.activeElement?.tagName === 'H1'")
        # keyboard only: Tab from the heading to the rate, type the new one, Enter submits
        for _ in range(40):
            if await page.evaluate("() => document.activeElement?.id") == "inst-rate":
                break
            await page.keyboard.press("Tab")
        else:
            raise AssertionError("Tab never reached the rate field")
        await page.keyboard.press("Control+A")
        await page.keyboard.type("215.5")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#inst-saved")
        assert "215.50" in await page.inner_text("#inst-summary")
        async with httpx.AsyncClient(base_url=base) as c:
            inst = (await c.get("/api/v1/instruments/oven-a", headers=lab_a)).json()
        assert inst["hourly_rate"] == 215.5

        # a maintenance window, entered in the site's time (the browser is in London)
        await page.fill("#closure-start", tomorrow.strftime("%Y-%m-%dT%H:%M"))
        await page.fill("#closure-end", (tomorrow + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
        await page.fill("#closure-reason", "真空泵保养")
        await page.click("#closure-form button[type=submit]")
        await page.wait_for_selector("#closure-added")
        await page.wait_for_selector("#closures tbody tr[data-kind=maintenance]")
        start, end = tomorrow.astimezone(UTC), (tomorrow + timedelta(hours=2)).astimezone(UTC)
        async with httpx.AsyncClient(base_url=base) as c:
            closures = (await c.get("/api/v1/instruments/oven-a/closures", headers=lab_a)).json()
            assert [(datetime.fromisoformat(x["start"]), datetime.fromisoformat(x["end"]))
                    for x in closures] == [(start, end)]  # fmt: skip
            assert closures[0]["reason"] == "真空泵保养"
            query = {
                "instrument": "oven-a", "duration": "PT1H", "limit": 50,
                "earliest": (start - timedelta(hours=3)).isoformat(),
                "latest": (end + timedelta(hours=3)).isoformat(),
            }  # fmt: skip
            r = await c.get("/api/v1/availability", params=query, headers=acme)
        assert r.status_code == 200, r.text
        slots = r.json()
        assert slots
        for slot in slots:
            s, e = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
            assert e <= start or s >= end, slot
        async with httpx.AsyncClient(base_url=base) as c:
            held = await book(c, acme, instrument="oven-a", start=slots[0]["start"],
                              end=slots[0]["end"])  # fmt: skip
            assert held.status_code == 201, held.text

        # a second client qualified through the page; the first one revoked there
        await page.fill("#qual-org", "globex")
        await page.click("#qual-form button[type=submit]")
        await page.wait_for_selector('#qualifications tr[data-org="globex"]')
        await page.wait_for_selector('#qualifications tr[data-org="acme"]')
        async with httpx.AsyncClient(base_url=base) as c:
            path = "/api/v1/instruments/oven-a/qualifications"
            listed = (await c.get(path, headers=lab_a)).json()
            assert [q["org"] for q in listed] == ["acme", "globex"]
            await page.click('#qualifications tr[data-org="acme"] button')
            await page.wait_for_selector('#qualifications tr[data-org="acme"]', state="detached")
            assert [q["org"] for q in (await c.get(path, headers=lab_a)).json()] == ["globex"]
        await screenshot(page, "instrument-settings")
        assert await axe_violations(page) == []
        # retiring it is refused while acme's booking holds it, and the page says why
        await page.click("#inst-retire")
        alert = await page.wait_for_selector("section[aria-labelledby=retire-title] [role=alert]")
        assert await alert.get_attribute("data-reason") == "future_bookings"
        assert await alert.inner_text() == "The instrument still holds bookings now or later."


async def test_a_platform_admin_makes_a_key_that_works(pool: asyncpg.Pool) -> None:
    lab_a = await _two_platforms(pool)
    async with console_server(pool) as base, browser_page() as page:
        await sign_in(page, base, _key(lab_a))
        await page.goto(f"{base}/console/#/keys")
        await page.wait_for_selector("#keys tbody tr")
        await page.select_option("#key-role", "operator")
        await page.click("#key-create button[type=submit]")
        secret = (await page.inner_text("#key-secret")).strip()
        await page.wait_for_selector("#keys tbody tr >> nth=1")
        async with httpx.AsyncClient(base_url=base) as c:
            me = (await c.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})).json()
            assert (me["org"]["id"], me["role"]) == ("lab-a", "operator")
            r = await c.get(
                "/api/v1/instruments/oven-a", headers={"Authorization": f"Bearer {secret}"}
            )
            assert r.status_code == 200
        await set_language(page, "zh")
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "keys.zh")


async def test_another_platforms_instrument_is_refused_in_chinese(pool: asyncpg.Pool) -> None:
    lab_a = await _two_platforms(pool)
    async with console_server(pool) as base:
        async with browser_page() as page:
            await sign_in(page, base, _key(lab_a), lang="zh")
            await page.goto(f"{base}/console/#/instruments")
            await page.wait_for_selector('#instruments tr[data-instrument="oven-a"]')
            assert await page.locator('#instruments tr[data-instrument="oven-b"]').count() == 0
            assert "¥180.00" in await page.inner_text('#instruments tr[data-instrument="oven-a"]')
            assert await untranslated(page) == []
            assert await axe_violations(page) == []
            await screenshot(page, "instruments.zh")
            # lab-b's instrument opens (the catalogue is public to keys) but will not change
            await page.goto(f"{base}/console/#/instruments/oven-b")
            await page.wait_for_selector("#inst-form")
            await page.wait_for_selector("#qualifications-title ~ [role=alert]")
            await page.fill("#inst-name", "mine now")
            await page.press("#inst-name", "Enter")
            alert = await page.wait_for_selector("#inst-form [role=alert]")
            assert await alert.get_attribute("data-reason") == "not_owner"
            assert await alert.inner_text() == ZH_NOT_OWNER
            assert await untranslated(page) == []
            assert await axe_violations(page) == []
        async with httpx.AsyncClient(base_url=base) as c:
            inst = (await c.get("/api/v1/instruments/oven-b", headers=lab_a)).json()
        assert inst["name"] == "Reflow oven-b"
        async with browser_page(phone=True) as page:
            await sign_in(page, base, _key(lab_a), lang="zh")
            for path in ("#/instruments", "#/instruments/oven-a"):
                await page.goto(f"{base}/console/{path}")
                await page.wait_for_selector("#instruments, #inst-summary")
                await page.wait_for_function("() => !document.querySelector('main .loading')")
                overflow = await page.evaluate(
                    "() => document.documentElement.scrollWidth"
                    " - document.documentElement.clientWidth"
                )
                assert overflow <= 1, path
            await screenshot(page, "instrument-settings.phone.zh")
