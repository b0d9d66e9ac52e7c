"""The Insights tab in Debian's headless Chromium against a real worker, API, broker and Redis:
a small program worked out by hand (below), read off the page as a person would, at a
desktop's 1400 px and a phone's 390 px. Screenshots land in test-artifacts/insights-*.png."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, DESKTOP, PHONE, open_dashboard
from tests.conftest import ARTIFACTS, api_server, caught_up, make_key, publish_events

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def program(now: datetime) -> list[dict[str, Any]]:
    """One issuer, one badge, ten awards 3 to 12 days ago (all in the default 30 days):

    * methods: aw0-aw5 lms, aw6-aw8 manual, aw9 api; accepted (2 h later): aw0-aw3 and aw6;
    * shares: aw0 linkedin; aw1 linkedin and email; aw6 email (shared awards: aw0, aw1, aw6);
    * views: aw0 3 from linkedin (plus one from LinkedIn's link-preview bot, never a view);
      aw1 1 from email and 2 direct; aw9 1 from linkedin (viewed awards: aw0, aw1, aw9).

    By hand: funnel 10 issued, 5 accepted (50 % of issued), 3 shared (60 % of accepted),
    3 viewed (100 % of shared). Channels: linkedin 2 shares, 4 views, 2.00 per share; email
    2 shares, 1 view, 0.50; the 2 direct views match no channel shared (unattributed). Methods:
    lms 6 awards, 4 accepted (66.7 %), 2 shared (33.3 %); manual 3, 1 (33.3 %), 1 (33.3 %);
    api 1, 0 (0.0 %), 0 (0.0 %), no median time to accept."""
    evs: list[dict[str, Any]] = [
        {"type": "issuer.created", "issuer_id": "iss-a", "name": "Academy",
         "occurred_at": stamp(now - timedelta(days=90))},
        {"type": "badge.created", "issuer_id": "iss-a", "badge_id": "b1", "name": "Python",
         "occurred_at": stamp(now - timedelta(days=60))},
    ]
    methods = ["lms"] * 6 + ["manual"] * 3 + ["api"]
    at = {f"aw{i}": now - timedelta(days=3 + i) for i in range(10)}
    for i, m in enumerate(methods):
        evs.append({"type": "award.issued", "issuer_id": "iss-a", "badge_id": "b1",
                    "award_id": f"aw{i}", "method": m, "visibility": "public",
                    "occurred_at": stamp(at[f"aw{i}"])})
    for a in ("aw0", "aw1", "aw2", "aw3", "aw6"):
        evs.append({"type": "award.accepted", "award_id": a,
                    "occurred_at": stamp(at[a] + timedelta(hours=2))})
    for a, ch in (("aw0", "linkedin"), ("aw1", "linkedin"), ("aw1", "email"), ("aw6", "email")):
        evs.append({"type": "award.shared", "award_id": a, "channel": ch,
                    "occurred_at": stamp(at[a] + timedelta(hours=3))})
    views = [("aw0", "linkedin")] * 3 + [("aw1", "email"), ("aw1", "direct"), ("aw1", "direct"),
                                          ("aw9", "linkedin")]
    for n, (a, src) in enumerate(views):
        evs.append({"type": "award.viewed", "award_id": a, "source": src,
                    "occurred_at": stamp(at[a] + timedelta(hours=4, minutes=n))})
    evs.append({"type": "award.viewed", "award_id": "aw0", "source": "linkedin",
                "user_agent": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
                "occurred_at": stamp(at["aw0"] + timedelta(hours=5))})
    for n, e in enumerate(evs):
        e.update({"event_id": f"ins{n}", "org_id": "acme"})
    return evs


@pytest.fixture
async def served(settings, workers):
    workers.start()
    await publish_events(settings, program(datetime.now(UTC)))
    await caught_up(settings)
    with api_server(settings) as url:
        yield url


async def open_insights(page: Any) -> None:
    await page.click("#tab-insights")
    await page.wait_for_selector("#i-funnel .funnel .row")
    await page.wait_for_selector("#i-methods tbody tr[data-method]")


ROWS = "rs => rs.map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))"


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_insights_tab_shows_the_hand_worked_numbers(served, browser, settings, size):
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, served, key, *size)
    await open_insights(page)
    assert await page.is_hidden("#analytics") and await page.is_visible("#insights")

    steps = await page.eval_on_selector_all(
        "#i-funnel .funnel .row", "rs => rs.map(r => [r.dataset.step, "
        "r.querySelector('.num').innerText, r.querySelector('.rate').innerText.trim()])")
    assert steps == [["issued", "10", ""], ["accepted", "5", "50.0%"], ["shared", "3", "60.0%"],
                     ["viewed", "3", "100.0%"]]

    channels = await page.eval_on_selector_all("#i-channels tbody tr", ROWS)
    assert channels == [["LinkedIn", "2", "4", "2.00", "—", "—"],
                        ["Email", "2", "1", "0.50", "—", "—"]]
    assert (await page.inner_text("#i-channels .unattributed")).endswith(": 2.")

    methods = await page.eval_on_selector_all("#i-methods tbody tr", ROWS)
    assert [r[:4] for r in methods] == [["LMS", "6", "66.7%", "33.3%"],
                                        ["Manual", "3", "33.3%", "33.3%"],
                                        ["API", "1", "0.0%", "0.0%"]]
    assert methods[0][4].endswith(" h") and methods[2][4] == "—"

    # one org on this deployment: no peer comparison, and saying why
    bench = await page.eval_on_selector_all(
        "#i-bench .row",
        "rs => rs.map(r => [r.dataset.metric, r.querySelector('.where').innerText])")
    assert [m for m, _ in bench] == ["acceptance_rate", "share_rate", "public_visibility_rate",
                                     "learner_engagement_score", "external_impact_score"]
    assert all("Not enough peers" in w for _, w in bench), bench
    assert await page.locator("#i-bench .mark").count() == 0

    # hover details, as on the other charts
    await page.hover("#i-channels tbody tr[data-channel=linkedin]")
    assert "4 views from 2 shares" in await page.inner_text("#tooltip")

    # the channels table downloads as CSV with the numbers shown; the benchmarks' chart (an
    # export that takes the period only) as a PNG
    if size == DESKTOP:
        await page.click("#i-channels .export-btn")
        async with page.expect_download() as dl:
            await page.click("#i-channels .export-menu [data-format=csv]")
        download = await dl.value
        path = ARTIFACTS / download.suggested_filename
        await download.save_as(path)
        rows = list(csv.reader(io.StringIO(path.read_text())))
        assert rows[1][:4] == ["linkedin", "2", "4", "2.0"]
        assert rows[2][:4] == ["email", "2", "1", "0.5"]
        await page.click("#i-bench .export-btn")
        async with page.expect_download() as dl:
            await page.click("#i-bench .export-menu [data-format=png]")
        download = await dl.value
        path = ARTIFACTS / download.suggested_filename
        await download.save_as(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # nothing sticks out sideways on a phone (tables scroll inside their card)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= size[0], width
    name = "desktop" if size == DESKTOP else "phone"
    await page.mouse.move(0, 0)  # no tooltip left over in the screenshot
    await page.screenshot(path=str(ARTIFACTS / f"insights-{name}.png"), full_page=True)
    assert errors == []


async def test_an_issuer_key_sees_its_insights_but_no_peer_benchmarks(served, browser, settings):
    key = await make_key(settings, "acme", "issuer", ("iss-a",))
    page, errors = await open_dashboard(browser, served, key, *DESKTOP)
    await open_insights(page)
    assert (await page.inner_text("#i-funnel .funnel .row[data-step=issued] .num")) == "10"
    assert await page.is_hidden("#i-bench .export")
    assert "organization admin" in await page.inner_text("#i-bench .bench")
    assert errors == []
