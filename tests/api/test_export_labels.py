"""Exports name events.md's well-known method, channel and source tokens as the dashboard
does (`linkedin_profile` -> "LinkedIn profile") and show unknown tokens as sent: in charts
(the bars' axis labels) and in the XLSX's `label` column. The CSV keeps the raw token, as the
JSON does, for the programs that read it."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openpyxl
import pytest

from schemas.labels import (
    AWARDING_METHODS,
    SHARING_CHANNELS,
    TOKEN_LABELS,
    VIEWING_SOURCES,
    token_label,
)
from tests.api.test_exports import SVG, auth, ev, svg_texts
from tests.conftest import (
    ROOT,
    WorkerProcs,
    caught_up,
    isolated_settings,
    make_key,
    publish_events,
)

FROM, TO = "2026-04-01", "2026-04-30"
Q = f"from={FROM}&to={TO}"
ORG = "/v1/orgs/acme"


def award(eid: str, day: str, aw: str, method: str) -> dict[str, Any]:
    return ev(eid, "award.issued", day, issuer_id="eng", badge_id="py", award_id=aw,
              method=method)


# Well-known tokens whose label is not just the token capitalised, and one unknown token per
# vocabulary (`hr_sync`, `mastodon`, `qr_code`), which must reach every export as sent.
DATA = [
    ev("i1", "issuer.created", "2026-03-01", issuer_id="eng", name="Engineering"),
    ev("b1", "badge.created", "2026-04-02", issuer_id="eng", badge_id="py", name="Python"),
    award("e1", "2026-04-03", "a1", "lms"),
    award("e2", "2026-04-03", "a2", "lms"),
    award("e3", "2026-04-04", "a3", "hr_sync"),
    award("e4", "2026-04-05", "a4", "api"),
    ev("s1", "award.shared", "2026-04-06", award_id="a1", channel="linkedin_profile"),
    ev("s2", "award.shared", "2026-04-06", award_id="a2", channel="linkedin_profile"),
    ev("s3", "award.shared", "2026-04-06", award_id="a3", channel="linkedin_profile"),
    ev("s4", "award.shared", "2026-04-07", award_id="a1", channel="x"),
    ev("s5", "award.shared", "2026-04-07", award_id="a2", channel="x"),
    ev("s6", "award.shared", "2026-04-08", award_id="a4", channel="url"),
    ev("s7", "award.shared", "2026-04-08", award_id="a4", channel="mastodon"),
    ev("v1", "award.viewed", "2026-04-09", award_id="a1", source="verification"),
    ev("v2", "award.viewed", "2026-04-09", award_id="a1", source="verification"),
    ev("v3", "award.viewed", "2026-04-09", award_id="a2", source="qr_code"),
]

# Worked out by hand from DATA: (raw token, what a person reads, count), most first.
SHARING = [("linkedin_profile", "LinkedIn profile", 3), ("x", "X", 2),
           ("mastodon", "mastodon", 1), ("url", "URL", 1)]
AWARDING = [("lms", "LMS", 2), ("api", "API", 1), ("hr_sync", "hr_sync", 1)]
VIEWING = [("verification", "Verification", 2), ("qr_code", "qr_code", 1)]
EXPECTED = {"sharing-methods": SHARING, "awarding-methods": AWARDING,
            "viewing-sources": VIEWING}


@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[dict[str, Any]]:
    from api.main import create_app

    settings = isolated_settings(infra)
    workers = WorkerProcs(settings)
    try:
        workers.start()
        await publish_events(settings, DATA)
        status = await caught_up(settings)
        assert status["rejected"] == 0, status
        key = await make_key(settings, "acme", "org_admin")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield {"client": c, "key": key}
    finally:
        workers.stop_all()


async def download(world: dict[str, Any], name: str) -> bytes:
    r = await world["client"].get(f"{ORG}/export/{name}?{Q}", headers=auth(world["key"]))
    assert r.status_code == 200, r.text
    return r.content


@pytest.mark.parametrize("component", list(EXPECTED))
async def test_a_channel_chart_names_its_bars_by_label_and_unknown_tokens_as_sent(
        world, component):
    svg = await download(world, f"{component}.svg")
    axis = svg_texts(svg, "role-axis-label")
    # the bars' names; the count axis' ticks aside (equal counts may come in either order)
    bars = [label for label in axis if not label.isdigit()]
    want = EXPECTED[component]
    assert sorted(bars) == sorted(label for _token, label, _n in want), axis
    counts = [int(t) for t in svg_texts(svg, "role-mark")]
    assert counts == [n for _token, _label, n in want], counts  # most first, as the JSON
    # a token that has a label never shows as the token, in any text of the image
    texts = [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]
    for token, label, _n in want:
        if token != label:
            assert token not in texts, (token, texts)


async def test_the_channels_svg_says_linkedin_profile_never_the_token(world):
    svg = await download(world, "sharing-methods.svg")
    assert b"LinkedIn profile" in svg and b"linkedin_profile" not in svg


@pytest.mark.parametrize("component", list(EXPECTED))
async def test_the_csv_keeps_the_raw_tokens_for_programs(world, component):
    text = (await download(world, f"{component}.csv")).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["key", "count", "pct", "previous_count", "change_pct"]
    assert sorted((r["key"], int(r["count"])) for r in rows) == sorted(
        (token, n) for token, _label, n in EXPECTED[component])
    for token, label, _n in EXPECTED[component]:
        if token != label:
            assert label not in text


@pytest.mark.parametrize("component", list(EXPECTED))
async def test_the_xlsx_has_the_label_beside_each_raw_key(world, component):
    ws = openpyxl.load_workbook(io.BytesIO(await download(world, f"{component}.xlsx"))).active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == ["key", "label", "count", "pct", "previous_count", "change_pct"]
    assert sorted((r[0], r[1], r[2]) for r in values[1:]) == sorted(EXPECTED[component])


async def test_the_summary_and_issuer_activity_keep_tokens_as_identifiers(world):
    """Their token cells are identifiers (column names, highlight values), the same in CSV
    and XLSX: `method_hr_sync`, `method_lms`, and the most used sharing method's token."""
    text = (await download(world, "issuer-activity.csv")).decode()
    header = text.splitlines()[0].split(",")
    assert {"method_lms", "method_api", "method_hr_sync"} <= set(header)
    summary = {r["metric"]: r["value"]
               for r in csv.DictReader(io.StringIO((await download(world, "summary.csv"))
                                                   .decode()))}
    assert summary["most_used_sharing_method"] == "linkedin_profile"
    assert summary["most_used_awarding_method"] == "lms"


# --- the table itself ----------------------------------------------------------------------


def test_well_known_tokens_read_as_a_person_writes_them():
    assert token_label("lms") == "LMS"
    assert token_label("url") == "URL"
    assert token_label("x") == "X"
    assert token_label("api") == "API"
    assert token_label("linkedin_profile") == "LinkedIn profile"
    assert token_label("linkedin") == "LinkedIn"
    assert token_label("verification") == "Verification"


def test_unknown_tokens_are_shown_as_sent():
    for token in ("hr_sync", "mastodon", "qr_code", "lms2", "linkedin_profile_v2", "LMS"):
        assert token_label(token) == token


def test_every_well_known_value_of_events_md_has_a_label_and_nothing_else_does():
    # events.md, "Well-known values" (typed out here from the spec)
    methods = "manual bulk lms api integration automation other".split()
    channels = "linkedin linkedin_profile facebook x email url embed download wallet other".split()
    sources = "linkedin direct embed email search social verification other".split()
    assert list(AWARDING_METHODS) == methods
    assert list(SHARING_CHANNELS) == channels
    assert list(VIEWING_SOURCES) == sources
    assert set(TOKEN_LABELS) == set(methods) | set(channels) | set(sources)
    assert all(label and label != token for token, label in TOKEN_LABELS.items())


def test_the_dashboard_and_the_exports_use_the_same_labels():
    """api/dashboard/app.js has its own copy for the browser: it must say the same."""
    js = (ROOT / "api" / "dashboard" / "app.js").read_text(encoding="utf-8")
    block = re.search(r"const TOKEN_LABELS = \{(.*?)\};", js, re.S)
    assert block, "app.js no longer defines TOKEN_LABELS"
    pairs = dict(re.findall(r'(\w+):\s*"([^"]*)"', block.group(1)))
    assert pairs == dict(TOKEN_LABELS)
