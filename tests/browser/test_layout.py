"""What a person sees of the dashboard's layout, at a desktop's 1400 px and a phone's 390 px,
in Debian's headless Chromium against a real worker, API, broker and Redis: readable chart
text, nothing covering the controls, names instead of ids, labelled tokens, tiles alike.
Screenshots land in test-artifacts/layout-*.png (README's docs/screenshots are copies)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, DESKTOP, PHONE, TABLET, open_dashboard
from tests.conftest import ARTIFACTS, api_server, caught_up, make_key, publish_events

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)

ISSUERS = {"iss-eng": "School of Engineering", "iss-data": "Data Science Academy",
           "iss-ops": "Operations Guild"}
BADGES = {"b-py": ("iss-eng", "Python Foundations"), "b-rust": ("iss-eng", "Rust in Practice"),
          "b-sql": ("iss-data", "SQL Analytics"), "b-ml": ("iss-data", "Machine Learning Basics"),
          "b-k8s": ("iss-ops", "Kubernetes Operator")}
# events.md's well-known tokens and what a person should read for them; others stay as sent
LABELS = {"lms": "LMS", "api": "API", "manual": "Manual", "bulk": "Bulk",
          "integration": "Integration", "automation": "Automation", "other": "Other",
          "linkedin": "LinkedIn", "linkedin_profile": "LinkedIn profile", "x": "X", "url": "URL",
          "verification": "Verification", "search": "Search", "direct": "Direct"}
UNKNOWN = "carrier_pigeon"
METHODS = ["lms", "lms", "lms", "lms", "lms", "api", "api", "manual", "bulk", "integration",
           "automation", "other", UNKNOWN]
CHANNELS = ["linkedin_profile", "x", "url", "linkedin", UNKNOWN]
SOURCES = ["verification", "search", "direct"]


@dataclass
class Award:
    award_id: str
    badge_id: str
    at: datetime
    method: str
    public: bool


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def program(now: datetime) -> tuple[list[dict[str, Any]], list[Award],
                                    list[tuple[datetime, str]]]:
    """Three issuers, five badges, 130 awards spread over 85 days with every awarding method
    (and one unknown), shares on well-known and unknown channels, views from three sources.
    Returns the events, the awards and the shares (time, channel)."""
    evs: list[dict[str, Any]] = []
    for iid, name in ISSUERS.items():
        evs.append({"type": "issuer.created", "issuer_id": iid, "name": name,
                    "occurred_at": stamp(now - timedelta(days=120))})
    for bid, (iid, name) in BADGES.items():
        evs.append({"type": "badge.created", "issuer_id": iid, "badge_id": bid, "name": name,
                    "occurred_at": stamp(now - timedelta(days=100))})
    awards: list[Award] = []
    shares: list[tuple[datetime, str]] = []
    bids = list(BADGES)
    for i in range(130):
        at = now - timedelta(days=0.4 + (i * 37 % 85), hours=i % 5)
        a = Award(f"aw{i}", bids[i % 5], at, METHODS[i % len(METHODS)], i % 4 == 0)
        awards.append(a)
        evs.append({"type": "award.issued", "issuer_id": BADGES[a.badge_id][0],
                    "badge_id": a.badge_id, "award_id": a.award_id, "method": a.method,
                    "visibility": "public" if a.public else "private",
                    "occurred_at": stamp(at)})
        if i % 3:
            evs.append({"type": "award.accepted", "award_id": a.award_id,
                        "occurred_at": stamp(at + timedelta(hours=2))})
        if i % 3 == 1:
            channel = CHANNELS[(i // 3) % len(CHANNELS)]
            shares.append((at + timedelta(hours=3), channel))
            evs.append({"type": "award.shared", "award_id": a.award_id, "channel": channel,
                        "occurred_at": stamp(at + timedelta(hours=3))})
            for v in range(1 + i % 4):
                evs.append({"type": "award.viewed", "award_id": a.award_id,
                            "source": SOURCES[(i + v) % 3],
                            "occurred_at": stamp(at + timedelta(hours=4 + v))})
    for n, e in enumerate(evs):
        e.update({"event_id": f"lay{n}", "org_id": "acme"})
    return evs, awards, shares


@pytest.fixture
async def program_served(settings, workers):
    now = datetime.now(UTC)
    evs, awards, shares = program(now)
    workers.start()
    await publish_events(settings, evs)
    await caught_up(settings)
    with api_server(settings) as url:
        yield url, awards, shares


def default_period() -> tuple[date, date]:
    """The dashboard's default: the 30 days ending today (UTC)."""
    to = datetime.now(UTC).date()
    return to - timedelta(days=29), to


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    w = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(0.0, w) * max(0.0, h)


# Each tick label's box against the same text set in HTML at the same font: a chart drawn in a
# stretched viewBox widens it (desktop) or shrinks it (phone).
AXIS_TEXT = """() => [...document.querySelectorAll('#series svg text.axis')].map((t) => {
  const r = t.getBoundingClientRect(), cs = getComputedStyle(t), s = document.createElement('span');
  s.textContent = t.textContent;
  s.style.cssText = `position:absolute;white-space:pre;font:${cs.font}`;
  document.body.appendChild(s); const q = s.getBoundingClientRect(); s.remove();
  return {text: t.textContent, cls: t.getAttribute('class'), w: r.width, h: r.height,
          ref: q.width, font: parseFloat(cs.fontSize)};
})"""


KEYS = "rs => rs.map(r => [r.dataset.key, r.querySelector('.key').innerText])"


async def axis_labels(page) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = await page.evaluate(AXIS_TEXT)
    return labels


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_the_time_series_has_readable_axes_from_zero_and_marks_partial_weeks(
        program_served, browser, settings, size):
    url, awards, _ = program_served
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, url, key, *size)
    labels = await axis_labels(page)
    assert labels, "the chart has no axis text"
    for lab in labels:
        assert 10 <= lab["font"] <= 14, lab
        # no wider or narrower than the same text in HTML, and as tall as the font says
        assert 0.85 <= lab["w"] / lab["ref"] <= 1.15, lab
        assert 0.9 * lab["font"] <= lab["h"] <= 1.8 * lab["font"], lab
    ys = [lab["text"] for lab in labels if "y" in lab["cls"].split()]
    assert ys[0] == "0" and len(ys) >= 3, ys  # zero labelled, and at least two more ticks
    assert await page.locator("#series line.grid").count() == len(ys)

    # the tallest bar against the axis: the week with the most awards, counted here by hand
    frm, to = default_period()
    weeks: Counter[date] = Counter()
    for a in awards:
        d = a.at.date()
        if frm <= d <= to:
            weeks[max(frm, d - timedelta(days=d.weekday()))] += 1
    values = await page.eval_on_selector_all(
        "#series rect.pt", "rs => rs.map(r => [r.dataset.start, Number(r.dataset.value)])")
    assert {s: v for s, v in values if v} == {d.isoformat(): n for d, n in weeks.items()}
    top = max(float(t.replace(",", "")) for t in ys)
    assert top >= max(weeks.values())

    # partial weeks: the first if the period starts after a Monday, the last if it ends
    # before a Sunday, and only those
    partial = await page.eval_on_selector_all(
        "#series rect.pt", "rs => rs.map(r => r.classList.contains('partial'))")
    expect = [False] * len(partial)
    if frm.weekday() != 0:
        expect[0] = True
    if to.weekday() != 6:
        expect[-1] = True
    assert partial == expect
    legend = await page.inner_text("#series-legend")
    if frm.weekday() != 0:
        assert f"({7 - frm.weekday()} of 7 days)" in legend
    if to.weekday() != 6:
        assert f"({to.weekday() + 1} of 7 days)" in legend
    if not any(expect):
        assert legend == ""

    # by day no bar is partial; by month the first is unless the period starts on the 1st
    await page.select_option("#s-interval", "day")
    await page.wait_for_function("document.querySelectorAll('#series rect.pt').length === 30")
    assert await page.locator("#series rect.pt.partial").count() == 0
    assert await page.inner_text("#series-legend") == ""
    for lab in await axis_labels(page):
        assert 0.85 <= lab["w"] / lab["ref"] <= 1.15, lab
    await page.select_option("#s-interval", "month")
    await page.wait_for_function("document.querySelector('#series svg').getAttribute("
                                 "'aria-label').endsWith('by month')")
    first_partial = await page.eval_on_selector(
        "#series rect.pt", "r => r.classList.contains('partial')")
    assert first_partial == (frm.day != 1)
    await page.select_option("#s-interval", "week")
    await page.wait_for_function("document.querySelector('#series svg').getAttribute("
                                 "'aria-label').endsWith('by week')")
    name = "desktop" if size == DESKTOP else "phone"
    await page.screenshot(path=str(ARTIFACTS / f"layout-{name}.png"), full_page=True)
    await page.locator("#series").screenshot(path=str(ARTIFACTS / f"layout-series-{name}.png"))
    assert not errors, errors


async def test_the_chart_redraws_for_a_new_width_and_after_another_tab(
        program_served, browser, settings):
    url, _, _ = program_served
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, url, key, *DESKTOP)
    fits = ("(() => { const p = document.querySelector('#series .plot');"
            " return Number(p.querySelector('svg').getAttribute('width')) === p.clientWidth; })()")
    assert await page.evaluate(fits)
    await page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})  # a phone turned
    await page.wait_for_function(fits)
    for lab in await axis_labels(page):
        assert 0.85 <= lab["w"] / lab["ref"] <= 1.15, lab
    # the other tab reloads while the chart is hidden; back on Analytics it fits again
    before = await page.evaluate("document.body.dataset.loaded")
    await page.click("#tab-issuers")
    await page.wait_for_function(f"document.body.dataset.loaded !== '{before}'")
    await page.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})
    await page.click("#tab-analytics")
    await page.wait_for_function(fits)
    for lab in await axis_labels(page):
        assert 0.85 <= lab["w"] / lab["ref"] <= 1.15, lab
    assert not errors, errors


async def test_export_buttons_cover_nothing_on_a_phone(program_served, browser, settings):
    url, _, _ = program_served
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, url, key, *PHONE)
    boxes = await page.evaluate("""() => [...document.querySelectorAll('[data-component]')]
      .filter((c) => c.offsetParent).map((c) => ({
        card: c.dataset.component,
        button: c.querySelector('.export-btn').getBoundingClientRect().toJSON(),
        others: [...c.querySelectorAll('h2, select')].map((e) => {
          if (e.tagName === 'SELECT') return e.getBoundingClientRect().toJSON();
          const r = document.createRange(); r.selectNodeContents(e);  // the title's text
          return r.getBoundingClientRect().toJSON();
        }),
      }))""")
    assert len(boxes) == 7  # Issuer Activity's card is on the other tab
    series = next(b for b in boxes if b["card"] == "timeseries")
    assert len(series["others"]) == 3  # its title, the metric and the interval selectors
    for b in boxes:
        for other in b["others"]:
            assert overlap(b["button"], other) == 0, (b["card"], b["button"], other)
    # and the interval selector is still where a thumb can reach it: on the page, clickable
    await page.select_option("#s-interval", "month")
    await page.wait_for_function("document.querySelector('#series svg').getAttribute("
                                 "'aria-label').endsWith('by month')")
    assert not errors, errors


async def test_names_and_labels_instead_of_ids_and_tokens(program_served, browser, settings):
    url, awards, shares = program_served
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, url, key, *DESKTOP)
    frm, to = default_period()
    cohort = [a for a in awards if frm <= a.at.date() <= to]

    # the badge table: the issuer's name in the Issuer column, never its id
    rows = await page.eval_on_selector_all("#badge-table tbody tr", """rs => rs.map((r) => [
        r.dataset.badge, r.querySelector('td[data-issuer]').innerText])""")
    assert sorted(b for b, _ in rows) == sorted(BADGES)
    for badge, shown in rows:
        assert shown == ISSUERS[BADGES[badge][0]]
    table = await page.inner_text("#badge-table")
    assert not any(iid in table for iid in ISSUERS)

    # highlights: the most used method and channel of the period, counted here, labelled
    method = Counter(a.method for a in cohort).most_common(1)[0][0]
    channels = Counter(c for t, c in shares if frm <= t.date() <= to)
    top_channels = {c for c, n in channels.items() if n == max(channels.values())}  # ties
    assert method == "lms"
    highlights = await page.eval_on_selector_all("#highlights .v", "vs => vs.map(v => v.innerText)")
    assert highlights[0] == "LMS"
    assert highlights[1] in {LABELS.get(c, c) for c in top_channels}

    # the channel charts: every key labelled as events.md lists it; an unknown one as sent
    for chart in ("c-awarding", "c-sharing", "c-viewing"):
        pairs = await page.eval_on_selector_all(f"#{chart} .row", KEYS)
        assert pairs
        for token, shown in pairs:
            assert shown == (UNKNOWN if token == UNKNOWN else LABELS[token])
    sharing = dict(await page.eval_on_selector_all("#c-sharing .row", KEYS))
    assert sharing.get("linkedin_profile") == "LinkedIn profile"
    assert sharing.get("x") == "X" and sharing.get("url") == "URL"

    # the top badges name their issuer too
    top = await page.inner_text("#top")
    assert "School of Engineering" in top or "Data Science Academy" in top

    # the badge table's public-visibility rate, a percentage under a header that says so
    headers = await page.eval_on_selector_all(
        "#badge-table th[data-col]", "ts => ts.map(t => [t.dataset.col, t.innerText])")
    heads = dict(headers)
    for rate in ("acceptance_rate", "share_rate", "public_visibility_rate"):
        assert "%" in heads[rate], heads
    for count in ("badges_awarded", "shares", "views"):
        assert "%" not in heads[count], heads
    assert len({h.lower().rstrip(" %▾▴") for h in heads.values()}) == len(heads)
    groups = await page.eval_on_selector_all("#badge-table tr.groups th",
                                             "ts => ts.map(t => t.innerText.toLowerCase())")
    assert "counts" in groups and any("rates" in g for g in groups)
    col = [c for c, _ in headers].index("public_visibility_rate") + 1
    public = dict(await page.eval_on_selector_all(
        "#badge-table tbody tr", f"rs => rs.map(r => [r.dataset.badge, "
        f"r.querySelector('td:nth-child({col})').innerText])"))
    for badge in BADGES:
        mine = [a for a in cohort if a.badge_id == badge]
        rate = sum(a.public for a in mine) / len(mine)
        assert public[badge] == f"{rate * 100:.1f}%", (badge, public[badge], rate)

    # the new column sorts like the others: highest public rate first
    await page.click("#badge-table th[data-col=public_visibility_rate]")
    await page.wait_for_selector("#badge-table th.sorted[data-col=public_visibility_rate]")
    order = await page.eval_on_selector_all("#badge-table tbody tr",
                                            "rs => rs.map(r => r.dataset.badge)")
    rates = [float(public[b].rstrip("%")) for b in order]
    assert rates == sorted(rates, reverse=True), (order, public)

    # Issuer Activity: names, methods labelled
    await page.click("#tab-issuers")
    await page.wait_for_selector("#issuer-table tr[data-issuer=iss-eng]", timeout=15_000)
    chips = await page.eval_on_selector_all(
        "#issuer-table tr[data-issuer=iss-eng] .chip",
        "cs => cs.map(c => [c.dataset.token, c.innerText])")
    eng = Counter(a.method for a in cohort if BADGES[a.badge_id][0] == "iss-eng")
    assert dict(chips) == {
        t: f"{UNKNOWN if t == UNKNOWN else LABELS[t]} {n}" for t, n in eng.items()}
    assert not errors, errors


async def test_an_issuer_keys_header_names_its_issuer(program_served, browser, settings):
    url, _, _ = program_served
    key = await make_key(settings, "acme", "issuer", ("iss-data",))
    page, errors = await open_dashboard(browser, url, key, *DESKTOP)
    who = await page.inner_text("#who")
    assert who == "acme · issuer: Data Science Academy"
    assert "iss-data" not in await page.inner_text("#app")
    await page.screenshot(path=str(ARTIFACTS / "layout-issuer-key.png"), full_page=True)
    assert not errors, errors


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_issuer_activity_fits_and_says_vs_previous_once(
        program_served, browser, settings, size):
    url, awards, _ = program_served
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, url, key, *size)
    assert "Tiles show" in await page.inner_text("#period-note")
    await page.click("#tab-issuers")
    await page.wait_for_selector("#issuer-table tr[data-issuer=iss-ops]", timeout=15_000)
    fit = await page.evaluate("""() => {
      const wrap = document.querySelector('#issuers .table-wrap'), w = wrap.getBoundingClientRect();
      const last = [...document.querySelectorAll('#issuer-table tr > :last-child')]
        .map((c) => c.getBoundingClientRect().right);
      return {scroll: wrap.scrollWidth, client: wrap.clientWidth, right: w.right, last};
    }""")
    assert fit["scroll"] <= fit["client"], fit
    assert all(r <= min(fit["right"], size[0]) + 0.5 for r in fit["last"]), fit
    if size == DESKTOP:
        assert await page.inner_text("#issuer-table th:last-child") == "Last awarded"
    else:  # a card per issuer, each value beside its column's name
        label = await page.evaluate("getComputedStyle(document.querySelector("
                                    "'#issuer-table tr[data-issuer=iss-eng] td:last-child'),"
                                    " '::before').content")
        assert label == '"Last awarded"'
        box = await page.locator("#issuer-table tr[data-issuer=iss-eng]").bounding_box()
        assert box and box["height"] < 260, box
    assert (await page.inner_text("#issuer-table tr[data-issuer=iss-eng] td:last-child")) != "—"

    trends = await page.eval_on_selector_all("#issuer-table tbody td.trend",
                                             "ts => ts.map(t => t.innerText)")
    assert len(trends) == 3 and not any("vs previous" in t for t in trends), trends
    frm, to = default_period()
    pfrm, pto = frm - timedelta(days=30), frm - timedelta(days=1)
    for iid in ISSUERS:
        cur = sum(1 for a in awards if BADGES[a.badge_id][0] == iid and frm <= a.at.date() <= to)
        prev = sum(1 for a in awards
                   if BADGES[a.badge_id][0] == iid and pfrm <= a.at.date() <= pto)
        shown = await page.inner_text(f"#issuer-table tr[data-issuer={iid}] td.trend")
        change = cur - prev
        assert shown.split(" ")[1] == (f"+{change}" if change > 0 else str(change)), shown
    note = await page.inner_text("#period-note")
    assert "Tiles" not in note and "tiles" not in note
    assert f"{pfrm.isoformat()} – {pto.isoformat()}" in note
    assert await page.locator("#coverage").is_hidden()
    name = "desktop" if size == DESKTOP else "phone"
    await page.screenshot(path=str(ARTIFACTS / f"layout-issuers-{name}.png"), full_page=True)
    await page.click("#tab-analytics")
    await page.wait_for_function("document.querySelector('#period-note').innerText"
                                 ".startsWith('Tiles show')")
    assert not errors, errors


@pytest.mark.parametrize("size", [DESKTOP, TABLET, PHONE], ids=["desktop", "tablet", "phone"])
async def test_tiles_are_alike_and_the_scores_explain_themselves(
        program_served, browser, settings, size):
    url, _, _ = program_served
    key = await make_key(settings, "acme", "org_admin")
    page, errors = await open_dashboard(browser, url, key, *size)
    tiles = await page.eval_on_selector_all("#tiles .tile", """ts => ts.map((t) => {
      const top = (s) => t.querySelector(s).getBoundingClientRect().top;
      const r = t.getBoundingClientRect();
      return {kpi: t.dataset.kpi, accent: getComputedStyle(t).borderTopColor,
              width: getComputedStyle(t).borderTopWidth, y: r.top, h: r.height,
              value: top('.value') - r.top, trend: top('.trend') - r.top,
              wraps: t.querySelector('.trend').scrollWidth > t.querySelector('.trend').clientWidth};
    })""")
    assert len(tiles) == 7
    assert len({(t["accent"], t["width"]) for t in tiles}) == 1, tiles  # one accent for all
    assert tiles[0]["width"] != "0px"
    rows: dict[int, list[dict[str, Any]]] = {}
    for t in tiles:
        rows.setdefault(round(t["y"]), []).append(t)
    # one row of seven; the two scores over the other five; pairs, the last tile alone
    assert [len(r) for r in rows.values()] == {DESKTOP: [7], TABLET: [2, 5],
                                               PHONE: [2, 2, 2, 1]}[size]
    for row in rows.values():  # tiles side by side: same height, value and trend at one height
        assert len({round(t["h"]) for t in row}) == 1, row
        assert len({round(t["value"]) for t in row}) == 1, row
        assert len({round(t["trend"]) for t in row}) == 1, row
    assert not any(t["wraps"] for t in tiles), tiles

    # External Impact Score: a unit, and both scores say what they are
    assert await page.inner_text("[data-kpi=external_impact_score] .unit") == "views per share"
    assert await page.inner_text("[data-kpi=learner_engagement_score] .unit") == "out of 100"
    for kpi, words in (("external_impact_score", "views ÷ shares"),
                       ("learner_engagement_score", "acceptance rate")):
        help_ = page.locator(f"[data-kpi={kpi}] .help")
        assert await help_.is_hidden()
        await page.click(f"[data-kpi={kpi}] .info")
        assert await help_.is_visible() and words in await help_.inner_text()
        assert await page.get_attribute(f"[data-kpi={kpi}] .info", "aria-expanded") == "true"
        box = await help_.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= size[0]
        if kpi == "external_impact_score":
            await page.locator("#tiles").screenshot(
                path=str(ARTIFACTS / f"layout-tiles-{size[0]}.png"))
        await page.click("h2 >> nth=0")  # a click elsewhere closes it
        assert await help_.is_hidden()
    assert not errors, errors


async def test_the_sign_in_page_shows_no_tabs(program_served, browser, settings):
    url, _, _ = program_served
    key = await make_key(settings, "acme", "org_admin")
    page = await browser.new_page(viewport={"width": DESKTOP[0], "height": DESKTOP[1]})
    await page.goto(url + "/")
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.locator("#tab-analytics").is_hidden()
    assert await page.locator("#tab-issuers").is_hidden()
    await page.screenshot(path=str(ARTIFACTS / "layout-sign-in.png"))
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await page.wait_for_selector("body[data-loaded]", timeout=30_000)
    assert await page.locator("#tab-analytics").is_visible()
    assert await page.locator("#tab-issuers").is_visible()
    await page.click("#signout")
    assert await page.locator("#login").is_visible()
    assert await page.locator("#tab-analytics").is_hidden()
    # a wrong key: back on the sign-in page, still without tabs
    await page.fill("#key", "bpk_not_a_key")
    await page.click("button[type=submit]")
    await page.wait_for_function("document.querySelector('#login-error').innerText !== ''")
    assert await page.locator("#tab-issuers").is_hidden()
