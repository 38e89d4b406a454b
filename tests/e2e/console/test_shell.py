"""The console's frame in a real chromium: the public directory without a key, signing in
(a refused key answers with its reason in the reader's language), the language switch with no
English left on a page in 中文, axe-core, and a phone-sized screen."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

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

PROFILE = {
    "name_zh": "松山湖材料分析中试平台",
    "name_en": "Songshan Lake Materials Analysis Pilot Platform",
    "site": "dg-a",
    "address": "东莞市松山湖大学路1号",
    "description_zh": "电子显微与成分分析",
    "description_en": "Electron microscopy and composition analysis",
    "accreditations": ["CMA", "CNAS"],
    "public": True,
}


async def _public_platform(pool: asyncpg.Pool, base: str) -> None:
    await registry.ensure_organisation(pool, "songshan", "Songshan", "platform")
    await add_instrument(pool, "sem-1", site="dg-a", kind="sem", owner_org="songshan",
                         name="扫描电镜 SEM", model="JSM-7900F", capabilities=["eds", "imaging"],
                         hourly_rate=480, public=True, site_timezone="Asia/Shanghai")  # fmt: skip
    key = await auth(pool, "songshan", "admin")
    async with httpx.AsyncClient(base_url=base) as c:
        r = await c.put("/api/v1/organisations/songshan/profile", json=PROFILE, headers=key)
        assert r.status_code == 200, r.text


async def test_the_directory_needs_no_key_and_speaks_both_languages(pool: asyncpg.Pool) -> None:
    async with console_server(pool) as base, browser_page(locale="zh-CN") as page:
        await _public_platform(pool, base)
        await page.goto(f"{base}/console/")
        # the browser asks for Chinese: the console starts in 中文
        await page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
        assert await page.inner_text("main h1") == "中试平台网络的共享仪器"
        await page.click("text=浏览公开目录")
        row = 'tr[data-instrument="sem-1"]'
        await page.wait_for_selector(row)
        assert "¥480.00/小时" in await page.inner_text(row)
        assert "松山湖材料分析中试平台" in await page.inner_text(row)
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "directory.zh")

        await set_language(page, "en")
        await page.wait_for_selector("text=Public directory")
        assert "Songshan Lake Materials Analysis Pilot Platform" in await page.inner_text(row)
        assert "CN¥480.00 / h" in await page.inner_text(
            row
        ) or "¥480.00 / h" in await page.inner_text(row)
        await screenshot(page, "directory.en")


async def test_a_refused_key_says_why_in_the_readers_language(pool: asyncpg.Pool) -> None:
    async with console_server(pool) as base, browser_page() as page:
        await page.goto(f"{base}/console/#/signin")
        await set_language(page, "en")
        await page.fill("#key", "ps_not_a_key")
        await page.click("#key-form button[type=submit]")
        alert = await page.wait_for_selector('[role=alert][data-reason="bad_key"]')
        assert await alert.inner_text() == "The API key is unknown or revoked."
        await set_language(page, "zh")
        # the same refusal, now read in 中文 from its reason code
        await page.click("#key-form button[type=submit]")
        await page.wait_for_selector('[role=alert]:has-text("API 密钥无效或已吊销")')
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        assert await page.evaluate("() => location.href.includes('ps_')") is False


async def test_signing_in_keeps_the_key_in_the_tab_only(pool: asyncpg.Pool) -> None:
    key = (await auth(pool, "acme", "operator"))["Authorization"].removeprefix("Bearer ")
    await registry.ensure_organisation(pool, "acme", "Acme Coatings", "client")
    async with console_server(pool) as base, browser_page() as page:
        await sign_in(page, base, key)
        assert "acme" in (await page.inner_text("#me")).lower()
        assert await page.evaluate("() => sessionStorage.getItem('pilotshare-key')") == key
        assert await page.evaluate("() => localStorage.getItem('pilotshare-key')") is None
        assert key not in page.url
        # a reload of the tab stays signed in; signing out forgets the key
        await page.reload()
        await page.wait_for_selector("#sign-out")
        await page.click("#sign-out")
        await page.wait_for_selector("#sign-in-link")
        assert await page.evaluate("() => sessionStorage.getItem('pilotshare-key')") is None


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_phone_sized_screen_has_no_sideways_scroll(pool: asyncpg.Pool, lang: str) -> None:
    async with console_server(pool) as base, browser_page(phone=True) as page:
        await _public_platform(pool, base)
        await page.goto(f"{base}/console/#/directory")
        await set_language(page, lang)
        await page.wait_for_selector('tr[data-instrument="sem-1"]')
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1
        # every control is reachable with the keyboard: on a fresh load, Tab lands on the skip link
        await page.reload()
        await page.wait_for_selector('tr[data-instrument="sem-1"]')
        await page.keyboard.press("Tab")
        assert await page.evaluate("() => document.activeElement.className") == "skip"
        await screenshot(page, f"directory.phone.{lang}")
