"""`GET {S}/export/{component}.{format}` of api.md: every component in every format it is
offered in, for the org scope and some for the issuer and badge scopes. Each download must
parse and carry the numbers of the JSON read with the same parameters."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest
from PIL import Image

from tests.conftest import (
    ARTIFACTS,
    WorkerProcs,
    caught_up,
    isolated_settings,
    make_key,
    publish_events,
)

FROM, TO = "2026-04-01", "2026-04-30"
Q = f"from={FROM}&to={TO}"
PERIOD = f"{FROM} \u2013 {TO}"

TABLES = ("csv", "xlsx")
ALL_FORMATS = ("csv", "xlsx", "png", "jpeg", "svg")
OFFERED = {
    "summary": TABLES, "badges": TABLES, "issuer-activity": TABLES,
    "awarding-methods": ALL_FORMATS, "sharing-methods": ALL_FORMATS,
    "viewing-sources": ALL_FORMATS, "timeseries": ALL_FORMATS, "top-badges": ALL_FORMATS,
}
READ_OF = {"awarding-methods": "channels", "sharing-methods": "channels",
           "viewing-sources": "channels"}
CHANNEL_LIST = {"awarding-methods": "awarding", "sharing-methods": "sharing",
                "viewing-sources": "viewing"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png", "jpeg": "image/jpeg", "svg": "image/svg+xml",
}
SVG = "{http://www.w3.org/2000/svg}"
# How events.md's well-known tokens of DATA read in charts and XLSX (the dashboard's labels);
# tests/api/test_export_labels.py covers the whole table and unknown tokens.
LABELS = {"lms": "LMS", "api": "API", "manual": "Manual", "linkedin": "LinkedIn",
          "email": "Email", "direct": "Direct"}


def ev(eid: str, typ: str, day: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": typ, "occurred_at": f"{day}T09:30:00Z", "org_id": "acme",
            **kw}


def award(eid: str, day: str, issuer: str, badge: str, aw: str, method: str,
          **kw: Any) -> dict[str, Any]:
    return ev(eid, "award.issued", day, issuer_id=issuer, badge_id=badge, award_id=aw,
              method=method, **kw)


DATA = [
    ev("i1", "issuer.created", "2026-03-01", issuer_id="eng", name="Engineering"),
    ev("i2", "issuer.created", "2026-03-01", issuer_id="ops", name="Operations"),
    ev("b1", "badge.created", "2026-04-02", issuer_id="eng", badge_id="py", name="Python 101",
       skills=["python", "testing"], visibility="public"),
    ev("b2", "badge.created", "2026-04-02", issuer_id="eng", badge_id="sql",
       name="SQL, basics", skills=["sql"]),
    ev("b3", "badge.created", "2026-04-02", issuer_id="ops", badge_id="k8s", name="Kubernetes",
       visibility="private"),
    # the previous period (2026-03-02 .. 2026-03-31)
    award("p1", "2026-03-20", "eng", "py", "a0", "lms"),
    ev("p2", "award.shared", "2026-03-21", award_id="a0", channel="linkedin"),
    # the period
    award("e1", "2026-04-03", "eng", "py", "a1", "lms", visibility="public"),
    award("e2", "2026-04-03", "eng", "py", "a2", "lms"),
    award("e3", "2026-04-05", "eng", "sql", "a3", "api"),
    award("e4", "2026-04-10", "ops", "k8s", "a4", "manual"),
    award("e5", "2026-04-12", "ops", "k8s", "a5", "api"),
    ev("c1", "award.accepted", "2026-04-04", award_id="a1"),
    ev("c2", "award.accepted", "2026-04-06", award_id="a3"),
    ev("c3", "award.accepted", "2026-04-11", award_id="a4"),
    ev("s1", "award.shared", "2026-04-05", award_id="a1", channel="linkedin"),
    ev("s2", "award.shared", "2026-04-06", award_id="a1", channel="email"),
    ev("s3", "award.shared", "2026-04-07", award_id="a3", channel="linkedin"),
    ev("s4", "award.shared", "2026-04-12", award_id="a4", channel="linkedin"),
    ev("v1", "award.viewed", "2026-04-06", award_id="a1", source="linkedin"),
    ev("v2", "award.viewed", "2026-04-06", award_id="a1", source="linkedin"),
    ev("v3", "award.viewed", "2026-04-07", award_id="a1", source="direct"),
    ev("v4", "award.viewed", "2026-04-08", award_id="a3", source="linkedin"),
    ev("v5", "award.viewed", "2026-04-13", award_id="a4", source="direct"),
    ev("v6", "award.viewed", "2026-04-14", award_id="a4", source="linkedin"),
]



@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[dict[str, Any]]:
    """One data set for the whole module: publishing and catching up takes seconds."""
    from api.main import create_app

    settings = isolated_settings(infra)
    ARTIFACTS.mkdir(exist_ok=True)
    workers = WorkerProcs(settings)
    try:
        workers.start()
        await publish_events(settings, DATA)
        status = await caught_up(settings)
        assert status["rejected"] == 0, status
        keys = {
            "admin": await make_key(settings, "acme", "org_admin"),
            "globex": await make_key(settings, "globex", "org_admin"),
            "eng": await make_key(settings, "acme", "issuer", ("eng",)),
            "pub": await make_key(settings, "acme", "publisher"),
        }
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield {"client": c, "keys": keys, "app": app}
    finally:
        workers.stop_all()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- what the JSON says each file must hold ----------------------------------------------

TABLE_METRICS = ("badges_created", "badges_awarded", "accepted_awards", "shared_awards",
                 "public_awards", "shares", "views", "acceptance_rate", "share_rate",
                 "public_visibility_rate", "learner_engagement_score",
                 "external_impact_score")
# bot views (insights.md) are a summary metric, not a badge-table column
SUMMARY_METRICS = (*TABLE_METRICS[:7], "bot_views", *TABLE_METRICS[7:])
BADGE_METRICS = ("rank", *TABLE_METRICS, "overall_score")


def expected_records(component: str, body: dict[str, Any], header: list[str],
                     fmt: str = "csv") -> list[dict[str, Any]]:
    """column -> the JSON's value, one dict per row the file must have, in order. The XLSX
    of a channel component has each key's label after it; the CSV only the raw key."""
    if component == "summary":
        rows = []
        for m in SUMMARY_METRICS:
            tile = body["kpis"].get(m) or {}
            rows.append({"metric": m, "value": body["metrics"][m],
                         "all_time_value": tile.get("value"),
                         "previous": tile.get("previous"), "change": tile.get("change"),
                         "change_pct": tile.get("change_pct"),
                         "direction": tile.get("direction")})
        blank = dict.fromkeys(("all_time_value", "previous", "change", "change_pct",
                               "direction"))
        tta = body["time_to_accept"]
        rows.append({"metric": "time_to_accept_median_hours", "value": tta["median_hours"],
                     **blank})
        for b, before in zip(tta["buckets"], [None, *tta["buckets"]][:-1], strict=True):
            name = f"le_{b['le']:g}h" if b["le"] is not None else f"gt_{before['le']:g}h"
            rows.append({"metric": f"time_to_accept_{name}", "value": b["count"], **blank})
        for name, value in body["highlights"].items():
            rows.append({"metric": name, "value": value, **blank})
        return rows
    if component == "badges":
        return [{"badge_id": r["badge_id"], "name": r["name"], "issuer_id": r["issuer_id"],
                 "skills": ", ".join(r["skills"]), "visibility": r["visibility"],
                 **{c: r[c] for c in BADGE_METRICS},
                 "badges_awarded_previous": r["trend"]["badges_awarded"]["previous"],
                 "badges_awarded_change_pct": r["trend"]["badges_awarded"]["change_pct"],
                 "les_previous": r["trend"]["learner_engagement_score"]["previous"],
                 "les_change_pct": r["trend"]["learner_engagement_score"]["change_pct"]}
                for r in body["items"]]
    if component == "issuer-activity":
        methods = [h for h in header if h.startswith("method_")]
        assert {m.removeprefix("method_") for m in methods} == {
            m for it in body["items"] for m in it["methods"]}
        return [{"issuer_id": it["issuer_id"], "name": it["name"],
                 "badges_created": it["badges_created"],
                 "badges_awarded": it["badges_awarded"]["current"],
                 "badges_awarded_previous": it["badges_awarded"]["previous"],
                 "badges_awarded_change_pct": it["badges_awarded"]["change_pct"],
                 **{m: it["methods"].get(m.removeprefix("method_"), 0) for m in methods},
                 "last_awarded_at": it["last_awarded_at"]}
                for it in body["items"]]
    if component in CHANNEL_LIST:
        label = ("label",) if fmt == "xlsx" else ()
        return [{c: LABELS[e["key"]] if c == "label" else e[c]
                 for c in ("key", *label, "count", "pct", "previous_count", "change_pct")}
                for e in body[CHANNEL_LIST[component]]]
    if component == "timeseries":
        return [{"start": p["start"], "value": p["value"]} for p in body["points"]]
    assert component == "top-badges"
    return [{c: r[c] for c in ("rank", "badge_id", "name", "overall_score",
                               "learner_engagement_score", "external_impact_score",
                               "badges_awarded")} for r in body["items"]]


def same_csv(cell: str, want: Any) -> bool:
    if want is None:
        return cell == ""
    if isinstance(want, bool) or not isinstance(want, int | float):
        return cell == str(want)
    return cell == str(want) and float(cell) == want  # raw: never rounded


def same_xlsx(cell: Any, want: Any, column: str) -> bool:
    if want is None or want == "":
        return cell is None  # an empty cell (no skills: an empty text)
    if column == "start":
        return isinstance(cell, datetime) and cell.date() == date.fromisoformat(want)
    if column == "last_awarded_at":
        sent = datetime.fromisoformat(want).astimezone(UTC).replace(tzinfo=None)
        return isinstance(cell, datetime) and abs(cell - sent) < timedelta(milliseconds=1)
    if isinstance(want, int | float) and not isinstance(want, bool):
        return isinstance(cell, int | float) and not isinstance(cell, bool) and cell == want
    return cell == want


def check_table(component: str, fmt: str, content: bytes, body: dict[str, Any]) -> int:
    """The file's header and every cell against the JSON; returns the rows compared."""
    if fmt == "csv":
        lines = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
        header, rows = lines[0], lines[1:]
    else:
        wb = openpyxl.load_workbook(io.BytesIO(content))
        ws = wb.worksheets[0]
        assert ws.title == component
        assert ws.freeze_panes == "A2"
        assert all(c.font.bold for c in ws[1])  # the header is row 1
        values = list(ws.iter_rows(values_only=True))
        header, rows = [str(h) for h in values[0]], [list(r) for r in values[1:]]
        about = {r[0]: r[1] for r in wb["about"].iter_rows(min_row=2, values_only=True)}
        assert about["org_id"] == "acme" and about["component"] == component
    want = expected_records(component, body, header, fmt)
    assert len(rows) == len(want), (rows, want)
    assert len(want) > 0
    for row, expect in zip(rows, want, strict=True):
        assert header == list(expect), (header, list(expect))
        for column, cell in zip(header, row, strict=True):
            ok = same_csv(cell, expect[column]) if fmt == "csv" else same_xlsx(
                cell, expect[column], column)
            assert ok, (component, fmt, column, cell, expect[column])
    return len(rows)


def score_label(v: float | int) -> str:
    """Chart labels: whole numbers as they are, others with at most two decimals."""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def chart_numbers(component: str, body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(bar labels, category labels) the chart must show, from the JSON."""
    if component in CHANNEL_LIST:
        entries = body[CHANNEL_LIST[component]]
        return [str(e["count"]) for e in entries], [LABELS[e["key"]] for e in entries]
    if component == "timeseries":
        return [str(p["value"]) for p in body["points"]], []
    return ([score_label(r["overall_score"]) for r in body["items"]],
            [f"{r['rank']}. {r['name'] or r['badge_id']}" for r in body["items"]])


def svg_texts(content: bytes, role: str) -> list[str]:
    root = ET.fromstring(content)
    out = []
    for g in root.iter(f"{SVG}g"):
        if role in (g.get("class") or "").split():
            out += [t.text or "" for t in g.iter(f"{SVG}text")]
    return out


def check_chart(component: str, fmt: str, content: bytes, body: dict[str, Any]) -> None:
    if fmt == "svg":
        assert ET.fromstring(content).tag == f"{SVG}svg"
        titles = svg_texts(content, "role-title-text")
        assert len(titles) == 1 and PERIOD in titles[0], titles
        labels, categories = chart_numbers(component, body)
        assert labels, "the data set gives every chart some bars"
        assert svg_texts(content, "role-mark") == labels
        axis = svg_texts(content, "role-axis-label")
        assert all(c in axis for c in categories), (categories, axis)
        if component in CHANNEL_LIST:  # the bars are named by label only, never the token
            assert set(axis).isdisjoint(e["key"] for e in body[CHANNEL_LIST[component]]), axis
        assert len(svg_texts(content, "role-axis-title")) == 2
        return
    Image.open(io.BytesIO(content)).verify()
    img = Image.open(io.BytesIO(content))
    assert img.format == ("PNG" if fmt == "png" else "JPEG")
    assert img.width > 300 and img.height > 200


def filename(response: httpx.Response) -> str:
    cd = response.headers["content-disposition"]
    m = re.fullmatch(r'attachment; filename="([^"]+)"', cd)
    assert m, cd
    return m.group(1)


async def download_and_check(world: dict[str, Any], scope: str, component: str, fmt: str,
                             params: str = "", key: str = "admin") -> httpx.Response:
    """Fetch the export and the JSON read with the same parameters; compare them."""
    c: httpx.AsyncClient = world["client"]
    headers = auth(world["keys"][key])
    query = f"{Q}&{params}" if params else Q
    r = await c.get(f"{scope}/export/{component}.{fmt}?{query}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CONTENT_TYPES[fmt]
    name = filename(r)
    assert name.startswith("acme_") and name.endswith(f"_{component}_{FROM}_{TO}.{fmt}"), name
    read = await c.get(f"{scope}/{READ_OF.get(component, component)}?{query}",
                       headers=headers)
    assert read.status_code == 200, read.text
    if fmt in TABLES:
        check_table(component, fmt, r.content, read.json())
    else:
        check_chart(component, fmt, r.content, read.json())
    return r


ORG = "/v1/orgs/acme"
EVERY_EXPORT = [(c, f) for c, fmts in OFFERED.items() for f in fmts]


@pytest.mark.parametrize("component, fmt", EVERY_EXPORT,
                         ids=[f"{c}.{f}" for c, f in EVERY_EXPORT])
async def test_every_org_export_downloads_parses_and_carries_the_json_numbers(
        world, component, fmt):
    r = await download_and_check(world, ORG, component, fmt)
    assert filename(r) == f"acme_{component}_{FROM}_{TO}.{fmt}"


async def test_the_data_set_gives_the_exports_real_numbers(world):
    """Guards the other tests against comparing empty files with empty answers."""
    c, k = world["client"], auth(world["keys"]["admin"])
    r = await c.get(f"{ORG}/export/sharing-methods.csv?{Q}", headers=k)
    assert r.text.splitlines() == ["key,count,pct,previous_count,change_pct",
                                   "linkedin,3,75.0,1,200.0", "email,1,25.0,0,"]
    r = await c.get(f"{ORG}/export/issuer-activity.csv?{Q}", headers=k)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["issuer_id"], x["badges_awarded"], x["method_lms"], x["method_api"])
            for x in rows] == [("eng", "3", "2", "1"), ("ops", "2", "0", "1")]
    assert rows[0]["last_awarded_at"] == "2026-04-05T09:30:00.000Z"
    r = await c.get(f"{ORG}/export/badges.csv?{Q}", headers=k)
    badges = {x["badge_id"]: x for x in csv.DictReader(io.StringIO(r.text))}
    assert badges["py"]["skills"] == "python, testing" and badges["py"]["name"] == "Python 101"
    assert badges["sql"]["name"] == "SQL, basics" and badges["k8s"]["skills"] == ""


@pytest.mark.parametrize("component, fmt, params", [
    ("badges", "csv", "sort=views&order=asc&limit=2&offset=1"),
    ("badges", "xlsx", "min_awards=2&issuer_id=eng"),
    ("top-badges", "csv", "limit=2"),
    ("top-badges", "svg", "limit=2&issuer_id=eng"),
    ("timeseries", "xlsx", "metric=shares&interval=week"),
    ("timeseries", "svg", "metric=views&interval=week"),
    ("viewing-sources", "csv", "status=accepted"),
    ("summary", "xlsx", "badge_id=py&badge_id=k8s"),
], ids=["badges-sorted", "badges-filtered", "top-2", "top-2-eng", "weekly-shares",
        "weekly-views-chart", "accepted-views", "two-badges"])
async def test_an_export_takes_the_parameters_of_its_read(world, component, fmt, params):
    await download_and_check(world, ORG, component, fmt, params)


@pytest.mark.parametrize("scope, component, fmt", [
    ("issuers/eng", "summary", "csv"),
    ("issuers/eng", "badges", "xlsx"),
    ("issuers/eng", "issuer-activity", "csv"),
    ("issuers/eng", "sharing-methods", "svg"),
    ("issuers/ops", "awarding-methods", "jpeg"),
    ("badges/py", "timeseries", "csv"),
    ("badges/py", "viewing-sources", "xlsx"),
    ("badges/py", "top-badges", "png"),
    ("badges/py", "summary", "xlsx"),
])
async def test_issuer_and_badge_exports_match_their_json_and_name_the_scope(
        world, scope, component, fmt):
    r = await download_and_check(world, f"{ORG}/{scope}", component, fmt)
    kind, ident = scope.split("/")
    assert filename(r) == f"acme_{kind[:-1]}-{ident}_{component}_{FROM}_{TO}.{fmt}"


async def test_an_issuer_key_exports_only_its_issuers_and_never_another_issuers_data(world):
    c, k = world["client"], auth(world["keys"]["eng"])
    for path in (f"{ORG}/issuers/ops/export/summary.csv?{Q}",
                 f"{ORG}/issuers/ops/export/sharing-methods.png?{Q}",
                 f"{ORG}/badges/k8s/export/badges.xlsx?{Q}",
                 f"{ORG}/export/badges.csv?{Q}&issuer_id=ops"):
        r = await c.get(path, headers=k)
        assert r.status_code == 404, (path, r.text)
        assert "ops" not in r.text and "k8s" not in r.text
    r = await download_and_check(world, ORG, "badges", "csv", key="eng")
    assert {x["issuer_id"] for x in csv.DictReader(io.StringIO(r.text))} == {"eng"}
    r = await download_and_check(world, ORG, "issuer-activity", "csv", key="eng")
    assert [x["issuer_id"] for x in csv.DictReader(io.StringIO(r.text))] == ["eng"]


async def test_exports_need_a_reader_key_of_the_org(world):
    c, keys = world["client"], world["keys"]
    url = f"{ORG}/export/summary.csv?{Q}"
    assert (await c.get(url)).status_code == 401
    assert (await c.get(url, headers=auth("bpk_nope_nope"))).status_code == 401
    assert (await c.get(url, headers=auth(keys["pub"]))).status_code == 403
    r = await c.get(url, headers=auth(keys["globex"]))
    assert r.status_code == 404 and "acme" not in r.text


@pytest.mark.parametrize("path, allowed", [
    ("export/summary.png", "csv or xlsx"),
    ("export/badges.svg", "csv or xlsx"),
    ("export/issuer-activity.jpeg", "csv or xlsx"),
    ("export/timeseries.pdf", "csv, xlsx, png, jpeg or svg"),
    ("export/sharing-methods.CSV", "csv, xlsx, png, jpeg or svg"),
    ("issuers/eng/export/top-badges.gif", "csv, xlsx, png, jpeg or svg"),
])
async def test_a_format_the_component_does_not_offer_is_404_naming_the_allowed_formats(
        world, path, allowed):
    r = await world["client"].get(f"{ORG}/{path}?{Q}", headers=auth(world["keys"]["admin"]))
    assert r.status_code == 404, r.text
    assert allowed in r.json()["detail"], r.json()


@pytest.mark.parametrize("path", [
    "export/funnel.csv", "export/summary", "export/channels.csv",
    "badges/py/export/issuer-activity.csv",
])
async def test_an_unknown_export_is_404_listing_the_exports_offered(world, path):
    r = await world["client"].get(f"{ORG}/{path}?{Q}", headers=auth(world["keys"]["admin"]))
    assert r.status_code == 404, r.text
    detail = r.json()["detail"]
    assert "summary (csv or xlsx)" in detail and "top-badges (csv, xlsx, png, jpeg or svg)" \
        in detail, detail
    assert ("issuer-activity (" in detail) == (not path.startswith("badges/")), detail


async def test_bad_export_parameters_are_422_like_the_read(world):
    c, k = world["client"], auth(world["keys"]["admin"])
    for url in (f"{ORG}/export/summary.csv?from=2026-05-01&to=2026-04-01",
                f"{ORG}/export/badges.csv?{Q}&sort=name",
                f"{ORG}/export/timeseries.png?{Q}&metric=overall_score"):
        assert (await c.get(url, headers=k)).status_code == 422, url


@pytest.mark.parametrize("fmt", ["svg", "png", "jpeg"])
async def test_a_chart_without_data_is_still_an_image_with_its_title_and_no_data(world, fmt):
    c, k = world["client"], auth(world["keys"]["admin"])
    r = await c.get(f"{ORG}/export/viewing-sources.{fmt}?from=2025-01-01&to=2025-01-31",
                    headers=k)
    assert r.status_code == 200, r.text
    assert filename(r) == f"acme_viewing-sources_2025-01-01_2025-01-31.{fmt}"
    if fmt == "svg":
        texts = [t.text for t in ET.fromstring(r.content).iter(f"{SVG}text")]
        assert "No data" in texts
        assert "Viewing sources, 2025-01-01 \u2013 2025-01-31" in texts
    else:
        img = Image.open(io.BytesIO(r.content))
        assert img.width > 300 and img.height > 200


async def test_a_table_without_data_is_just_its_header(world):
    c, k = world["client"], auth(world["keys"]["admin"])
    r = await c.get(f"{ORG}/export/badges.csv?from=2025-01-01&to=2025-01-31", headers=k)
    assert r.status_code == 200
    assert r.text.splitlines()[0].startswith("badge_id,name,issuer_id,skills,visibility,rank,")
    assert len(r.text.splitlines()) == 1
    r = await c.get(f"{ORG}/export/badges.xlsx?from=2025-01-01&to=2025-01-31", headers=k)
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert ws.max_row == 1 and ws["A1"].value == "badge_id"


async def test_the_openapi_document_describes_every_export(world):
    doc = (await world["client"].get("/openapi.json")).json()
    for prefix in ("/v1/orgs/{org_id}", "/v1/orgs/{org_id}/issuers/{issuer_id}",
                   "/v1/orgs/{org_id}/badges/{badge_id}"):
        for component, fmts in OFFERED.items():
            path = f"{prefix}/export/{component}.{{format}}"
            if component == "issuer-activity" and "badges" in prefix:
                assert path not in doc["paths"]
                continue
            op = doc["paths"][path]["get"]
            fmt_param = next(p for p in op["parameters"] if p["name"] == "format")
            assert fmt_param["schema"]["enum"] == list(fmts)
            assert len(op["responses"]["200"]["content"]) == len(fmts)
            assert "404" in op["responses"]
    badges = doc["paths"]["/v1/orgs/{org_id}/export/badges.{format}"]["get"]
    names = {p["name"] for p in badges["parameters"]}
    assert {"from", "to", "issuer_id", "badge_id", "status", "sort", "order", "limit",
            "offset", "min_awards"} <= names


def test_xlsx_text_that_looks_like_a_formula_stays_text_and_floats_stay_exact():
    from api.exports import ExportContext
    from api.exports.tables import Table, to_xlsx

    table = Table(("name", "share"), [["=HYPERLINK(\"http://x\")", 1 / 6], ["\x07bell", 2 / 3]])
    content = to_xlsx(table, ExportContext("acme", "badges", FROM, TO), {})
    ws = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    assert ws["A2"].data_type == "s" and ws["A2"].value == "=HYPERLINK(\"http://x\")"
    assert ws["B2"].value == 1 / 6 and ws["B3"].value == 2 / 3  # not rounded to 16 digits
    assert ws["A3"].value == "bell"  # characters XML cannot hold are dropped


def test_xlsx_keeps_every_float_exact_without_changing_openpyxl_for_anyone_else():
    """openpyxl alone writes "%.16g", which turns 1/6 into another double; the export writes
    the shortest exact text into its own cells and leaves openpyxl's writer as it was."""
    import openpyxl.cell._writer as openpyxl_writer
    from openpyxl.compat.strings import safe_string

    from api.exports import ExportContext
    from api.exports.tables import Table, to_xlsx

    tricky = [1 / 6, 0.1 + 0.2, 2 / 3 * 1e-9, 123456789012345.67, -1 / 3]
    assert float(f"{1 / 6:.16g}") != 1 / 6  # what openpyxl alone would lose
    content = to_xlsx(Table(("v",), [[v] for v in tricky]),
                      ExportContext("acme", "summary", FROM, TO), {})
    ws = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    assert [r[0] for r in ws.iter_rows(min_row=2, values_only=True)] == tricky
    sheet = zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="A2" t="n"><v>0.16666666666666666</v></c>' in sheet  # a number cell
    # no import-time or run-time patch: another workbook gets openpyxl's own writer
    assert openpyxl_writer.safe_string is safe_string
    wb = openpyxl.Workbook()
    ws2 = wb.active
    assert ws2 is not None
    ws2["A1"] = 1 / 6
    buf = io.BytesIO()
    wb.save(buf)
    plain = zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("xl/worksheets/sheet1.xml")
    assert b"<v>0.1666666666666667</v>" in plain
