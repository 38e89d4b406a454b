"""The operators' pages in a real chromium: booking through the form, the booking seen by its
own organisation only, cancelling it from its page, and the pages in 中文 with nothing left in
English and no serious accessibility faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from pilotshare import registry
from tests.support.api import auth
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

pytestmark = needs_browser

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_an_operator_books_sees_and_cancels_a_booking(pool: asyncpg.Pool) -> None:
    await registry.ensure_organisation(pool, "acme", "Acme Coatings", "client")
    await registry.ensure_organisation(pool, "globex", "Globex", "client")
    await add_instrument(pool, "oven-1", site="dg-a", kind="oven", name="Reflow oven",
                         capabilities=["nitrogen"], hourly_rate=180, min_notice_s=0,
                         site_timezone="Asia/Shanghai")  # fmt: skip
    acme = await auth(pool, "acme", "operator")
    globex = await auth(pool, "globex", "operator")
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    local = start.astimezone(SHANGHAI)
    async with console_server(pool) as base, browser_page() as page:
        await sign_in(page, base, acme["Authorization"].removeprefix("Bearer "))
        await page.goto(f"{base}/console/#/book")
        await page.wait_for_selector('#book-instrument option[value="oven-1"]', state="attached")
        await page.select_option("#book-instrument", "oven-1")
        await page.fill("#book-start", local.strftime("%Y-%m-%dT%H:%M"))
        await page.fill("#book-end", (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
        await page.click("#book-form button[type=submit]")
        notice = await page.wait_for_selector("#book-notice, #book-form ~ [role=alert]")
        assert await notice.get_attribute("id") == "book-notice", await notice.inner_text()
        booking = await notice.get_attribute("data-booking")
        assert booking
        await screenshot(page, "book.en")

        async with httpx.AsyncClient(base_url=base) as c:
            mine = (await c.get("/api/v1/bookings", headers=acme)).json()
            theirs = (await c.get("/api/v1/bookings", headers=globex)).json()
        row = next(b for b in mine if b["id"] == booking)
        assert row["instrument"] == "oven-1"
        assert datetime.fromisoformat(row["start"]) == start
        assert booking not in {b["id"] for b in theirs}

        await set_language(page, "zh")
        await page.wait_for_selector("#book-form")
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "book.zh")

        await page.click(f'#book-notice a[href="#/bookings/{booking}"]')
        await page.click("#booking-cancel")
        await page.wait_for_selector('#booking-status [data-value="cancelled"]')
        async with httpx.AsyncClient(base_url=base) as c:
            r = await c.get(f"/api/v1/bookings/{booking}", headers=acme)
        assert r.json()["status"] == "cancelled"
        assert await untranslated(page) == []
        assert await axe_violations(page) == []

        await page.goto(f"{base}/console/#/bookings")
        await page.wait_for_selector(f'tr[data-booking="{booking}"]')
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "bookings.zh")

        await page.goto(f"{base}/console/#/money")
        await page.wait_for_selector("#money-totals")
        await page.click("#money-feed")
        url = await (await page.wait_for_selector("#money-feed-url")).input_value()
        assert "/api/v1/calendars/" in url
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "money.zh")
