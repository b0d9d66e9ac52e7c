"""Debian's Chromium driven by Playwright, shared by the browser tests. Never a downloaded
browser: the tests skip where /usr/bin/chromium is missing (CI installs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = (1400, 900)
TABLET = (1000, 800)
PHONE = (390, 844)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def open_dashboard(browser: Any, url: str, key: str, width: int = 1366,
                         height: int = 900) -> tuple[Any, list[str]]:
    """A new page at that size, signed in with the key, once everything has loaded."""
    page = await browser.new_page(viewport={"width": width, "height": height},
                                  accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url + "/")
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await page.wait_for_selector("body[data-loaded]", timeout=30_000)
    return page, errors
