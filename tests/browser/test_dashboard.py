"""The dashboard in headless Chromium (Debian's), driven by Playwright, against a real
worker, API, broker and Redis. Screenshots land in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from tests.browser.conftest import CHROMIUM, open_dashboard
from tests.conftest import ARTIFACTS, api_server, caught_up, make_key, publish

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)


def ts(days_ago: float) -> str:
    t = datetime.now(UTC) - timedelta(days=days_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dataset() -> list[tuple[bytes, bytes]]:
    """eng: 6 awards 20 days ago (4 accepted), 3 awards 2 days ago (1 accepted, shared);
    ops: 2 awards 3 days ago (both accepted)."""
    evs: list[dict[str, object]] = [
        {"type": "issuer.created", "issuer_id": "eng", "name": "Engineering",
         "occurred_at": ts(40)},
        {"type": "issuer.created", "issuer_id": "ops", "name": "Operations",
         "occurred_at": ts(40)},
        {"type": "badge.created", "issuer_id": "eng", "badge_id": "py", "name": "Python",
         "skills": ["python"], "occurred_at": ts(30)},
        {"type": "badge.created", "issuer_id": "ops", "badge_id": "k8s", "name": "Kubernetes",
         "occurred_at": ts(30)},
    ]
    for i in range(6):
        evs.append({"type": "award.issued", "issuer_id": "eng", "badge_id": "py",
                    "award_id": f"old{i}", "method": "lms", "occurred_at": ts(20)})
        if i < 4:
            evs.append({"type": "award.accepted", "award_id": f"old{i}", "occurred_at": ts(19)})
    for i in range(3):
        evs.append({"type": "award.issued", "issuer_id": "eng", "badge_id": "py",
                    "award_id": f"new{i}", "method": "api", "occurred_at": ts(2)})
    evs.append({"type": "award.accepted", "award_id": "new0", "occurred_at": ts(1.9)})
    evs.append({"type": "award.shared", "award_id": "new0", "channel": "linkedin",
                "occurred_at": ts(1.8)})
    evs.append({"type": "award.viewed", "award_id": "new0", "source": "direct",
                "occurred_at": ts(1.7)})
    for i in range(2):
        evs.append({"type": "award.issued", "issuer_id": "ops", "badge_id": "k8s",
                    "award_id": f"ops{i}", "method": "manual", "occurred_at": ts(3)})
        evs.append({"type": "award.accepted", "award_id": f"ops{i}", "occurred_at": ts(2.5)})
    out = []
    for n, e in enumerate(evs):
        e.update({"event_id": f"b{n}", "org_id": "acme"})
        key = str(e.get("award_id") or e.get("badge_id") or e.get("issuer_id"))
        out.append((key.encode(), orjson.dumps(e)))
    return out


@pytest.fixture
async def served(settings, workers):
    workers.start()
    await publish(settings, dataset())
    await caught_up(settings)
    with api_server(settings) as url:
        yield url


async def tile(page, kpi: str) -> tuple[str, str]:
    value = await page.get_attribute(f"[data-kpi={kpi}] .value", "data-value")
    current = await page.get_attribute(f"[data-kpi={kpi}] .trend", "data-current")
    return value or "", current or ""


async def reloaded(page, before: str) -> None:
    await page.wait_for_function(
        f"document.body.dataset.loaded && document.body.dataset.loaded !== '{before}'",
        timeout=15_000)


async def test_the_dashboard_shows_the_apis_numbers_filters_exports_and_updates_live(
        served, browser, settings):
    key = await make_key(settings, "acme", "org_admin")
    async with httpx.AsyncClient(base_url=served) as c:
        api = (await c.get("/v1/orgs/acme/summary",
                           headers={"Authorization": f"Bearer {key}"})).json()
    page, errors = await open_dashboard(browser, served, key)
    value, current = await tile(page, "badges_awarded")
    assert float(value) == api["kpis"]["badges_awarded"]["value"] == 11
    assert float(current) == api["kpis"]["badges_awarded"]["current"]
    shown = await page.inner_text("[data-kpi=acceptance_rate] .value")
    assert shown == f"{api['kpis']['acceptance_rate']['value'] * 100:.1f}%"  # 7/11 = 63.6%
    # nothing was awarded 30 to 60 days ago: no rate to compare with, and the tile says why
    assert api["kpis"]["acceptance_rate"]["previous"] is None
    assert await page.inner_text("[data-kpi=acceptance_rate] .trend") == "no comparison"
    assert await page.inner_text("[data-kpi=acceptance_rate] .trend-sub") == "previous: no awards"
    assert await page.inner_text("[data-kpi=badges_awarded] .trend") == "▲ +11"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-desktop.png"), full_page=True)

    # a shorter period and a status filter change the trends, never the all-time tiles
    before = await page.evaluate("document.body.dataset.loaded")
    await page.select_option("#preset", "7")
    await reloaded(page, before)
    value7, current7 = await tile(page, "badges_awarded")
    assert value7 == value and float(current7) == 5  # 3 eng + 2 ops in the last 7 days
    before = await page.evaluate("document.body.dataset.loaded")
    await page.check("input[name=status][value=accepted]")
    await reloaded(page, before)
    value_f, current_f = await tile(page, "badges_awarded")
    assert value_f == value and float(current_f) == 3  # new0, ops0, ops1

    # the hover on a channel bar shows counts and the comparison
    await page.hover("#c-awarding .row[data-key=api]")
    tip = await page.inner_text("#tooltip")
    assert "API" in tip and "previous period" in tip  # the token's label, as events.md lists it

    # an export downloads a real file
    await page.click("#c-awarding .export-btn")
    async with page.expect_download() as dl:
        await page.click("#c-awarding .export-menu [data-format=csv]")
    download = await dl.value
    path = ARTIFACTS / download.suggested_filename
    await download.save_as(path)
    assert "acme" in download.suggested_filename and path.read_text().startswith("key")

    # the Issuer Activity tab
    await page.click("#tab-issuers")
    await page.wait_for_selector("#issuer-table tr[data-issuer=eng]", timeout=15_000)
    assert await page.inner_text("#issuer-table tr[data-issuer=ops] td:nth-child(1)") == \
        "Operations"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-issuers.png"), full_page=True)

    # a new event shows up without a reload
    await page.click("#tab-analytics")
    t0 = time.perf_counter()
    ev = {"event_id": "live-1", "type": "award.issued", "occurred_at": ts(0), "org_id": "acme",
          "issuer_id": "ops", "badge_id": "k8s", "award_id": "live1", "method": "api"}
    await publish(settings, [(b"live1", orjson.dumps(ev))])
    await page.wait_for_function(
        "document.querySelector('[data-kpi=badges_awarded] .value').dataset.value === '12'",
        timeout=15_000)
    seconds = time.perf_counter() - t0
    (ARTIFACTS / "live-latency.txt").write_text(f"{seconds:.3f} s from publish to the page\n")
    assert not errors, errors

    phone, _ = await open_dashboard(browser, served, key, 390, 844)
    await phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)


async def test_an_issuer_key_sees_only_its_issuers_in_the_browser(served, browser, settings):
    key = await make_key(settings, "acme", "issuer", ("ops",))
    page, errors = await open_dashboard(browser, served, key)
    value, _ = await tile(page, "badges_awarded")
    assert float(value) == 2
    options = await page.eval_on_selector_all("#f-issuer option", "os => os.map(o => o.value)")
    assert options == ["", "ops"]
    badges = await page.eval_on_selector_all("#f-badge option", "os => os.map(o => o.value)")
    assert badges == ["", "k8s"]
    text = await page.inner_text("body")
    assert "Engineering" not in text and "Python" not in text
    await page.screenshot(path=str(ARTIFACTS / "dashboard-issuer-key.png"), full_page=True)
    assert not errors, errors


def test_chromium_is_debians_not_a_downloaded_one():
    assert shutil.which("chromium") == CHROMIUM
