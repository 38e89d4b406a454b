"""The web console as a user meets it: the real app (and ingest) on a socket, Debian's chromium
driven by Playwright, and the checks every page gets (no untranslated label, no serious
accessibility violation, a screenshot for docs/console.md when asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from pilotshare.api.app import create_app
from pilotshare.api.routes.console import BUILT
from pilotshare.core.clock import Clock, SystemClock
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint, Settings
from pilotshare.services import serve_app
from pilotshare.twin.ingest import Ingest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONSOLE = Path(__file__).resolve().parents[2] / "src/pilotshare/api/console"
AXE = CONSOLE / "node_modules/axe-core/axe.min.js"
#: `make console-docs` sets this: pages are photographed into it for docs/console.md.
SHOTS = os.environ.get("PILOTSHARE_SCREENSHOTS")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=en-GB",
]

#: Latin words that are the same in Chinese: units, acronyms, the product's own name.
SAME_IN_BOTH = frozenset(
    {
        "API",
        "CSV",
        "CNY",
        "ID",
        "IDs",
        "iCal",
        "iCalendar",
        "ICS",
        "SSE",
        "MTBF",
        "MTTR",
        "UTC",
        "JSON",
        "YAML",
        "OEE",
        "PackML",
        "kWh",
        "pilotshare",
        "ps_",
        "h",
        "min",
        "s",
        "CI",
        "P10",
        "P50",
        "P90",
        "vs",
    }
)

needs_browser = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(
        not BUILT.joinpath("index.html").is_file(), reason="the console is not built: make console"
    ),
]


@contextlib.asynccontextmanager
async def console_server(
    pool: asyncpg.Pool,
    *,
    mqtt: MqttEndpoint | None = None,
    site: str | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[str]:
    """The app on a real socket (and the ingest when ``mqtt`` is given): its base URL."""
    stop = asyncio.Event()
    clock = clock or SystemClock()
    app = create_app(settings or Settings(), pool=pool, clock=clock, registry=CollectorRegistry())
    port = free_port()
    tasks = [asyncio.create_task(serve_app(app, host="127.0.0.1", port=port, stop=stop))]
    if mqtt is not None:
        ingest = Ingest(pool, mqtt, registry=CollectorRegistry(), site=site)
        tasks.append(asyncio.create_task(ingest.run(stop)))
        await asyncio.wait_for(ingest.ready.wait(), 15)
    try:
        base = f"http://127.0.0.1:{port}"
        await _until_up(base)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def _until_up(base: str) -> None:
    import httpx

    async with httpx.AsyncClient() as c:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get(f"{base}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    msg = f"the app at {base} did not come up"
    raise RuntimeError(msg)


@contextlib.asynccontextmanager
async def browser_page(
    *, phone: bool = False, locale: str = "en-GB", timezone: str = "Europe/London"
) -> AsyncIterator[Any]:
    """A fresh browser page (desktop or a phone-sized screen), closed afterwards.

    The browser's own zone is not the site's on purpose: the console must show site time.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            viewport = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 900}
            context = await browser.new_context(
                viewport=viewport, locale=locale, timezone_id=timezone, device_scale_factor=1
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.js_errors = errors
            yield page
            assert not errors, f"the page threw: {errors}"
        finally:
            await browser.close()


async def sign_in(page: Any, base: str, key: str, *, lang: str = "en") -> None:
    """Open the console, choose the language, sign in with ``key`` and wait for the home page."""
    await page.goto(f"{base}/console/#/signin")
    await set_language(page, lang)
    await page.fill("#key", key)
    await page.click("#key-form button[type=submit]")
    await page.wait_for_selector("#sign-out")


async def set_language(page: Any, lang: str) -> None:
    """Switch the console's language with its own control."""
    await page.select_option("#lang", lang)
    await page.wait_for_function("l => document.documentElement.lang.startsWith(l)", arg=lang)


_TEXTS = """() => {
  const out = [];
  const skip = (el) => el.closest('[translate="no"], script, style, svg, noscript, .visually-raw');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || skip(el) || !n.textContent.trim()) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    out.push(n.textContent.trim());
  }
  const labelled = '[aria-label], [title], [placeholder], input[type=submit]';
  for (const el of document.querySelectorAll(labelled)) {
    if (skip(el)) continue;
    for (const a of ['aria-label', 'title', 'placeholder', 'value']) {
      if (a === 'value' && el.type !== 'submit') continue;
      const v = el.getAttribute(a);
      if (v && v.trim()) out.push(v.trim());
    }
  }
  for (const o of document.querySelectorAll('select:not([translate="no"]) option')) {
    if (!skip(o) && !o.closest('#lang')) out.push(o.textContent.trim());
  }
  return out;
}"""


async def untranslated(page: Any) -> list[str]:
    """The English words left on a page shown in 中文 (data is marked ``translate="no"``)."""
    texts: list[str] = await page.evaluate(_TEXTS)

    left = []
    for text in texts:
        bare = re.sub(r"\b[A-Z][a-z]+/[A-Za-z_]+\b", "", text)  # an IANA zone is a name
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z_]+", bare) if w not in SAME_IN_BOTH]
        if words:
            left.append(text)
    return left


async def axe_violations(
    page: Any, *, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands, one line each."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']][:3])}"  # noqa: E501
        for v in result["violations"]
        if v["impact"] in impacts
    ]


async def screenshot(page: Any, name: str) -> None:
    """Photograph the page for docs/console.md when ``make console-docs`` asks for it."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)
