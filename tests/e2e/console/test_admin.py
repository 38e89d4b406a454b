"""The platform admins' console pages in a real chromium: the live board follows a twin change
published over MQTT and reads in 中文 with no English left and no serious axe-core violation."""

from __future__ import annotations

import asyncpg

from pilotshare import registry
from pilotshare.core.settings import MqttEndpoint
from tests.e2e.test_dashboard import _publish_running
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
        await _publish_running(mqtt_endpoint, site, instrument)
        await page.wait_for_selector(f'{card}[data-state="running"]', timeout=15_000)
        assert await page.inner_text(f"{card} .util") == "70%"
        assert await page.inner_text("#n-running") == "1"
        await set_language(page, "zh")
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "board.zh")
