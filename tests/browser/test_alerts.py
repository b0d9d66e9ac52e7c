"""The Alerts page in Debian's headless Chromium against a real worker, API process, broker,
Redis and a real webhook receiver: create an alert through the form, see it fire, send a
test, read the deliveries, delete it; an issuer key is told alerts are for admins; the page
fits a phone. Screenshots land in test-artifacts/alerts-*.png."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.alert_receiver import Receiver
from tests.api.test_alerts import accepted, issued, quick
from tests.browser.conftest import CHROMIUM, DESKTOP, PHONE, open_dashboard
from tests.conftest import ARTIFACTS, api_server, caught_up, make_key, publish_events

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)


async def rows(page, sel: str) -> list[list[str]]:
    return await page.eval_on_selector_all(
        f"{sel} tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.innerText.trim()))")


async def test_the_alerts_page_creates_tests_lists_and_deletes(settings, workers, browser):
    s = quick(settings)
    receiver = Receiver(fail_first=0)
    await receiver.start()
    workers.start()
    # 4 awards today, 1 accepted: acceptance rate 25 %, below the 50 % typed in the form
    await publish_events(s, [issued(n) for n in range(4)] + [accepted(0)])
    await caught_up(s)
    admin = await make_key(s, "acme", "org_admin")
    issuer_key = await make_key(s, "acme", "issuer", ("eng",))
    try:
        with api_server(s) as url:
            page, errors = await open_dashboard(browser, url, admin, *DESKTOP)
            page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
            await page.click("#tab-alerts")
            await page.wait_for_selector("#al-form", state="visible")
            await page.wait_for_selector("#al-list tbody tr")
            assert await page.is_hidden(".filters")  # no period or filters on this page
            assert await rows(page, "#al-list") == [["No alerts yet."]]
            await page.select_option("#al-metric", "acceptance_rate")
            await page.fill("#al-window", "1")
            await page.select_option("#al-op", "below")
            await page.fill("#al-value", "50")
            await page.fill("#al-min", "4")
            await page.fill("#al-url", receiver.url)
            await page.click("#al-form button[type=submit]")
            await page.wait_for_selector("#al-secret", state="visible")
            secret = (await page.inner_text("#al-secret code")).strip()
            assert secret.startswith("whsec_")
            [row] = await rows(page, "#al-list")
            assert row[:4] == ["Acceptance rate", "is below 50.0%", "1 d", "whole organization"]
            alert_id = await page.get_attribute("#al-list tbody tr", "data-alert")
            receiver.secrets[alert_id] = secret

            await receiver.wait_for(1, "firing", timeout=30)
            await page.click("#al-list .al-test")
            await page.wait_for_function(
                "document.querySelector('#al-msg').textContent.startsWith('Test delivery')")
            assert await page.inner_text("#al-msg") == "Test delivery delivered (HTTP 200)."
            assert all(x.signature_ok for x in receiver.seen)
            assert [x.body["state"] for x in receiver.seen] == ["firing", "test"]
            await page.wait_for_function(
                "document.querySelectorAll('#al-deliveries tr[data-delivery]').length === 2")
            delivered = await rows(page, "#al-deliveries")
            assert [r[1:5] for r in delivered] == [["test", "delivered", "200", "1"],
                                                   ["firing", "delivered", "200", "1"]]
            assert (await rows(page, "#al-list"))[0][5] == "firing"
            await page.screenshot(path=str(ARTIFACTS / "alerts-desktop.png"), full_page=True)

            await page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
            await page.wait_for_timeout(200)
            overflow = await page.evaluate(
                "document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            await page.screenshot(path=str(ARTIFACTS / "alerts-phone.png"), full_page=True)
            await page.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})

            await page.click("#al-list .al-del")
            await page.wait_for_function(
                "document.querySelector('#al-msg').textContent === 'Alert deleted.'")
            await page.wait_for_function(
                "!document.querySelector('#al-list tr[data-alert]')")
            assert await rows(page, "#al-list") == [["No alerts yet."]]
            assert await page.is_hidden("#al-deliveries")
            assert errors == []

            page2, errors2 = await open_dashboard(browser, url, issuer_key, *DESKTOP)
            await page2.click("#tab-alerts")
            await page2.wait_for_selector("#al-denied", state="visible")
            assert await page2.is_hidden("#al-admin")
            assert errors2 == []
    finally:
        await receiver.stop()
