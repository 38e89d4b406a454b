"""Every page of the console, as the network operator's admin (who is offered all of them) on
a phone-sized screen in 中文: it draws, fits the screen without sideways scrolling, leaves no
English label, has no serious accessibility violation, and every control on it can be reached
with the Tab key alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from pilotshare import registry
from pilotshare.api.keys import create_key
from tests.support.api import auth, book
from tests.support.console import (
    axe_violations,
    browser_page,
    console_server,
    needs_browser,
    sign_in,
    untranslated,
)
from tests.support.instruments import add_instrument

pytestmark = needs_browser

#: The pages' addresses as the navigation offers them.
_NAV = """() => [...document.querySelectorAll('#nav a[href^="#/"]')]
  .map(a => a.getAttribute('href'))"""

#: Each visible, enabled control in the page's main part, numbered in ``data-k``.
_CONTROLS = """() => {
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]';
  const out = [];
  for (const el of document.querySelectorAll('main ' + sel.split(', ').join(', main '))) {
    if (el.disabled || el.getAttribute('tabindex') === '-1' || el.closest('[inert]')) continue;
    if (el.closest('details:not([open])') && el.tagName !== 'SUMMARY') continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!el.getClientRects().length || style.visibility === 'hidden') continue;
    if (box.width === 0 && box.height === 0) continue;
    el.dataset.k = String(out.length);
    const name = el.textContent || el.getAttribute('aria-label') || '';
    out.push((el.id ? '#' + el.id : el.tagName.toLowerCase()) + ' ' + name.trim().slice(0, 30));
  }
  return out;
}"""

#: The pages of the navigation (the home page and the detail pages are added to them).
PAGES = {
    "#/directory", "#/book", "#/bookings", "#/money", "#/forecast", "#/whatif", "#/board",
    "#/heatmap", "#/resources", "#/instruments", "#/keys", "#/rejects", "#/audit",
}  # fmt: skip

_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"

#: The innermost elements sticking out of the screen on the right: what makes it scroll.
_WIDE = """() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right <= w + 1) continue;
    let clipped = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; }
    }
    if (clipped) continue;
    out.push([Math.round(r.right), el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '') +
      ' ' + getComputedStyle(el).position]);
  }
  return out.sort((a, b) => b[0] - a[0]).slice(0, 8);
}"""


async def _reached_by_tab(page: Any, controls: int) -> set[str]:
    """The ``data-k`` of every control focused while pressing Tab through the whole page once."""
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: set[str] = set()
    order: list[str] = []
    first = None
    for _ in range(controls + 120):  # the frame's own controls come first
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? (e.dataset.k ?? ('frame:' + (e.id || e.tagName))) : null }"
        )
        if focused is None:
            continue
        if focused == first and order[-1] != first:
            break  # round the page once (a date input's fields each take a Tab of their own)
        first = first or focused
        seen.add(focused)
        order.append(focused)
        if len([s for s in seen if not s.startswith("frame:")]) == controls:
            break
    return seen


async def test_every_page_fits_a_phone_reads_in_chinese_and_works_by_keyboard(
    pool: asyncpg.Pool,
) -> None:
    site = "dg-phone"
    await registry.ensure_organisation(pool, "platform", "东莞中试网络 Pilot network", "operator")
    async with pool.acquire() as conn:
        await add_instrument(
            conn, "sem-p1", site=site, kind="sem", name="场发射扫描电镜 FE-SEM",
            site_timezone="Asia/Shanghai", owner_org="platform", min_notice_s=0,
        )  # fmt: skip
        admin = await create_key(conn, org="platform", role="admin")
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    async with console_server(pool) as base:
        import httpx

        async with httpx.AsyncClient(base_url=base) as c:
            acme = await auth(pool, "acme", "operator")
            r = await book(
                c, acme, instrument="sem-p1", start=start, end=start + timedelta(hours=2)
            )
            assert r.status_code == 201, r.text
            made = r.json()
        async with browser_page(phone=True, locale="zh-CN") as page:
            await sign_in(page, base, admin, lang="zh")
            routes = list(dict.fromkeys(await page.evaluate(_NAV)))
            assert set(routes) >= PAGES, routes  # every page is offered to the network admin
            routes += ["#/", f"#/bookings/{made['id']}", "#/instruments/sem-p1"]
            problems: dict[str, list[str]] = {}
            for route in routes:
                await page.goto(f"{base}/console/{route}")
                await page.wait_for_selector("main h1")
                await page.wait_for_function("() => !document.querySelector('main .loading')")
                found: list[str] = []
                if (overflow := await page.evaluate(_OVERFLOW)) > 1:
                    found.append(f"scrolls sideways by {overflow} px: {await page.evaluate(_WIDE)}")
                found += [f"untranslated: {x}" for x in await untranslated(page)]
                found += await axe_violations(page)
                controls: list[str] = await page.evaluate(_CONTROLS)
                reached = await _reached_by_tab(page, len(controls))
                found += [
                    f"not reached by Tab: {c}"
                    for k, c in enumerate(controls)
                    if str(k) not in reached
                ]
                if found:
                    problems[route] = found
            assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
