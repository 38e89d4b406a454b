"""The planners' pages in a real chromium beside a real job worker: a forecast asked for in the
console runs, its progress arrives as job events and its band chart is drawn; the job is the
planner's organisation's and another's planner gets a 404; a small what-if runs to its paired
comparison. Both pages in 中文 with no English left, and no serious accessibility violation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from pilotshare import registry
from pilotshare.core.clock import SystemClock
from pilotshare.core.jobs import Worker
from pilotshare.scheduler.forecast import forecast_handler
from pilotshare.simulations.job import KIND, simulation_handler
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
from tests.support.scenarios import lab_scenario

pytestmark = needs_browser

SCENARIO = lab_scenario("watched", horizon_days=14, seed=3, per_week=20)


@pytest.fixture
async def worker(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The job worker beside the app, as ``pilotshare api`` runs one."""
    clock = SystemClock()
    handlers = {
        "forecast": forecast_handler(pool, clock=clock, workers=1),
        KIND: simulation_handler(pool, clock=clock, workers=1),
    }
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(pool, handlers, poll_s=0.1).run(stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_a_planner_forecasts_and_runs_a_what_if(pool: asyncpg.Pool, worker: None) -> None:
    await registry.ensure_organisation(pool, "acme", "Acme Coatings", "client")
    await add_instrument(pool, "sem-1", site="lab", kind="sem")
    acme = await auth(pool, "acme", "planner")
    globex = await auth(pool, "globex", "planner")
    key = acme["Authorization"].removeprefix("Bearer ")
    async with console_server(pool) as base, browser_page() as page:
        await sign_in(page, base, key)
        await page.goto(f"{base}/console/#/forecast")
        await page.fill("#horizon", "7")
        await page.fill("#replications", "2")
        await page.click("#forecast-form button[type=submit]")
        await page.wait_for_selector("#forecast-band svg path", state="attached", timeout=90_000)
        job = await page.get_attribute("#forecast-current", "data-job")
        async with httpx.AsyncClient(base_url=base) as c:
            mine = await c.get(f"/api/v1/forecasts/{job}", headers=acme)
            assert mine.status_code == 200
            assert mine.json()["status"] == "done"
            other = await c.get(f"/api/v1/forecasts/{job}", headers=globex)
            assert other.status_code == 404
            assert other.json()["reason"] == "no_job"
        await screenshot(page, "forecast.en")
        await set_language(page, "zh")
        await page.wait_for_selector("#forecast-band svg path", state="attached")
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "forecast.zh")

        await page.goto(f"{base}/console/#/whatif")
        await page.fill("#whatif-yaml", SCENARIO)
        await page.click("#whatif-form button[type=submit]")
        await page.wait_for_selector("#whatif-current")
        await page.wait_for_selector("#whatif-comparison tbody tr", timeout=90_000)
        await page.wait_for_selector("#whatif-weekly svg path", state="attached")
        assert await untranslated(page) == []
        assert await axe_violations(page) == []
        await screenshot(page, "whatif.zh")
