"""The dashboard in a real headless Chromium: a telemetry message published over MQTT reaches
the page through the ingest, PostgreSQL's NOTIFY and the API's event stream."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.keys import create_key
from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import Sample, Status, TelemetryBatch, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.services import serve_app
from pilotshare.twin.ingest import Ingest
from tests.support.instruments import add_instrument

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_a_state_change_reaches_the_page(
    pool: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, site: str, tmp_path: Path
) -> None:
    instrument = f"{site}-sem"
    async with pool.acquire() as conn:
        await add_instrument(conn, instrument, site=site, kind="sem", name="Field-emission SEM")
        key = await create_key(conn, org="acme", role="operator")

    stop = asyncio.Event()
    ingest = Ingest(pool, mqtt_endpoint, registry=CollectorRegistry(), site=site)
    app = create_app(Settings(), pool=pool, clock=SystemClock(), registry=CollectorRegistry())
    port = free_port()
    tasks = [
        asyncio.create_task(ingest.run(stop)),
        asyncio.create_task(serve_app(app, host="127.0.0.1", port=port, stop=stop)),
    ]
    try:
        await asyncio.wait_for(ingest.ready.wait(), 15)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/dashboard/")
            await page.fill("#key", "ps_wrong_key")
            await page.click("#key-form button")
            await page.wait_for_selector("#message:not([hidden])")
            assert "401" in await page.inner_text("#message")

            await page.fill("#key", key)
            await page.click("#key-form button")
            card = f'article[data-instrument="{instrument}"]'
            await page.wait_for_selector(card)
            await page.wait_for_selector("#connection.live")
            assert await page.get_attribute(card, "data-state") == "offline"
            assert await page.inner_text(f"{card} .name") == "Field-emission SEM"

            await _publish_running(mqtt_endpoint, site, instrument)
            await page.wait_for_selector(f'{card}[data-state="running"]', timeout=15_000)
            assert await page.inner_text(f"{card} .util") == "70%"
            assert await page.inner_text("#n-running") == "1"
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            await browser.close()
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def _publish_running(endpoint: MqttEndpoint, site: str, instrument: str) -> None:
    root = f"pilotshare/v1/{site}/{instrument}"
    now = datetime.now(UTC)
    # the status and the first sample carry the same instant: the sample still sets the state
    status = Status(online=True, agent="browser-test", agent_version="0", ts=now)
    sample = Sample(ts=now, state=InstrumentState.RUNNING, utilization=0.7)
    async with aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        protocol=aiomqtt.ProtocolVersion.V311,
        identifier=f"dash-{secrets.token_hex(3)}",
    ) as client:
        await client.publish(f"{root}/status", encode(status), qos=1, retain=True)
        batch = TelemetryBatch(agent="browser-test", batch=1, samples=(sample,))
        await client.publish(f"{root}/telemetry", encode(batch), qos=1)
        await client.publish(f"{root}/status", b"", qos=1, retain=True)  # leave no retained state
