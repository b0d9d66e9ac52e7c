"""The insights of shared/spec/insights.md on small data sets worked out by hand.

Every expected number is written literally; nothing recomputes a metric. A real broker,
worker and Redis (tests/conftest.py) carry the events.

Org ``acme`` (P = March 2026, P' = 2026-01-29 .. 02-28; issuers eng: py, sql; ops: k8s)
=====================================================================================

March cohort (10 awards):

* py-a-0..3  issued 03-02 09:00 via lms. i<3 accepted at +2 h (time-to-accept bucket
  (1, 6]). py-a-0 and py-a-1 shared on linkedin 03-03. py-a-0 viewed from linkedin three
  times by a browser and once by LinkedInBot (a bot view) 03-04; py-a-1 once from linkedin
  without a user agent (a person) 03-05.
* k8s-b-0..3 issued 03-03 09:00 via api. k8s-b-0 accepted at +30 h (bucket (24, 72]).
  k8s-b-0 and k8s-b-1 shared on email 03-04 (no view from email: an empty channel);
  k8s-b-2 shared on x 03-04 and viewed twice from x 03-05 (a browser). k8s-b-3 viewed from
  direct 03-06 by a browser and by Googlebot.
* sql-c-0..1 issued 03-10 09:00 via bulk. sql-c-0 viewed from embed 03-11 (a browser): this
  view is published, and held, before its award is. sql-c-1 viewed only by
  facebookexternalhit 03-11.

P' cohort: py-p-0..1 issued 02-10 09:00 via lms; py-p-0 accepted +2 h, shared on linkedin
02-11, viewed once from linkedin 02-12.

Hand-worked, March, org scope:

* shares: linkedin 2, email 2, x 1; human views: linkedin 4, x 2, direct 1, embed 1 (8);
  bot views 3 (LinkedInBot, Googlebot, facebookexternalhit).
* channels: linkedin 4/2 = 2.0 and x 2/1 = 2.0 tie (channel order), email 0/2 = 0.0;
  previous linkedin 1/1 = 1.0 (change +100 %), x and email no share in P' (null);
  unattributed: direct 1 + embed 1 = 2 (bot views are in no insight).
* methods: api 4 and lms 4 tie (method order), then bulk 2.
  lms: accepted 3 (.75), shared 2 (.5), 3 in bucket (1, 6] -> median 1 + 5 x 1.5 / 3 = 3.5;
  previous 2 awards, .5, .5. api: accepted 1 (.25), shared 3 (.75), bucket (24, 72] ->
  median 24 + 48 x 0.5 = 48; previous 0 awards (null rates). bulk: 0 accepted (0.0), 0
  shared, median null.
* funnel: issued 10, accepted 4, shared 5, viewed 5 (py-a-0, py-a-1, k8s-b-2, k8s-b-3,
  sql-c-0; sql-c-1 had a bot view only); previous 2, 1, 1, 1.

Benchmarks: orgs alderaan, bespin, corellia, dagobah (then endor, felucia) with 50 March
awards each, all private, no views: accepted 10, 20, 20, 40 (then 30, 50); shared (once, on
linkedin) 0, 5, 5, 10 (then 0, 25). acme has 10 March awards: no peer.
"""

from __future__ import annotations

import io
import logging
import zipfile
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

BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")
LINKEDIN_BOT = ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient "
                "+http://www.linkedin.com)")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
FACEBOOK = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"

PEERS_FIRST = {"alderaan": (10, 0), "bespin": (20, 5), "corellia": (20, 5), "dagobah": (40, 10)}
PEERS_LATER = {"endor": (30, 0), "felucia": (50, 25)}


def ev(eid: str, typ: str, at: str, org: str = "acme", **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": typ, "occurred_at": at, "org_id": org, **kw}


def issued(aid: str, issuer: str, badge: str, at: str, method: str,
           org: str = "acme") -> dict[str, Any]:
    return ev(f"{aid}.issued", "award.issued", at, org, issuer_id=issuer, badge_id=badge,
              award_id=aid, method=method)


def act(aid: str, kind: str, at: str, n: int = 0, org: str = "acme",
        **kw: Any) -> dict[str, Any]:
    return ev(f"{aid}.{kind}.{n}", f"award.{kind}", at, org, award_id=aid, **kw)


def held_first() -> list[dict[str, Any]]:
    """sql-c-0's view, published (and held) before its award."""
    return [act("sql-c-0", "viewed", "2026-03-11T10:00:00Z", source="embed",
                user_agent=BROWSER)]


def acme_events() -> list[dict[str, Any]]:
    out = [ev("i-eng", "issuer.created", "2025-11-01T00:00:00Z", issuer_id="eng", name="Eng"),
           ev("i-ops", "issuer.created", "2025-11-01T00:00:00Z", issuer_id="ops", name="Ops")]
    for b, i in (("py", "eng"), ("sql", "eng"), ("k8s", "ops")):
        out.append(ev(f"b-{b}", "badge.created", "2025-11-02T00:00:00Z", issuer_id=i,
                      badge_id=b, name=b))
    for i in range(4):
        out.append(issued(f"py-a-{i}", "eng", "py", "2026-03-02T09:00:00Z", "lms"))
        if i < 3:
            out.append(act(f"py-a-{i}", "accepted", "2026-03-02T11:00:00Z"))
    for i in range(2):
        out.append(act(f"py-a-{i}", "shared", "2026-03-03T09:00:00Z", channel="linkedin"))
    for n in range(3):
        out.append(act("py-a-0", "viewed", f"2026-03-04T0{n}:00:00Z", n, source="linkedin",
                       user_agent=BROWSER))
    out.append(act("py-a-0", "viewed", "2026-03-04T05:00:00Z", 9, source="linkedin",
                   user_agent=LINKEDIN_BOT))
    out.append(act("py-a-1", "viewed", "2026-03-05T09:00:00Z", source="linkedin"))
    for i in range(4):
        out.append(issued(f"k8s-b-{i}", "ops", "k8s", "2026-03-03T09:00:00Z", "api"))
    out.append(act("k8s-b-0", "accepted", "2026-03-04T15:00:00Z"))
    for i in range(2):
        out.append(act(f"k8s-b-{i}", "shared", "2026-03-04T09:00:00Z", channel="email"))
    out.append(act("k8s-b-2", "shared", "2026-03-04T09:00:00Z", channel="x"))
    for n in range(2):
        out.append(act("k8s-b-2", "viewed", f"2026-03-05T0{n}:00:00Z", n, source="x",
                       user_agent=BROWSER))
    out.append(act("k8s-b-3", "viewed", "2026-03-06T09:00:00Z", 0, source="direct",
                   user_agent=BROWSER))
    out.append(act("k8s-b-3", "viewed", "2026-03-06T10:00:00Z", 1, source="direct",
                   user_agent=GOOGLEBOT))
    for i in range(2):
        out.append(issued(f"sql-c-{i}", "eng", "sql", "2026-03-10T09:00:00Z", "bulk"))
    out.append(act("sql-c-1", "viewed", "2026-03-11T10:00:00Z", source="embed",
                   user_agent=FACEBOOK))
    for i in range(2):
        out.append(issued(f"py-p-{i}", "eng", "py", "2026-02-10T09:00:00Z", "lms"))
    out += [act("py-p-0", "accepted", "2026-02-10T11:00:00Z"),
            act("py-p-0", "shared", "2026-02-11T09:00:00Z", channel="linkedin"),
            act("py-p-0", "viewed", "2026-02-12T09:00:00Z", source="linkedin")]
    return out


def peer_events(peers: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """50 March awards per org; the first `accepted` accepted, the first `shared` shared."""
    out = []
    for org, (accepted, shared) in peers.items():
        for i in range(50):
            aid = f"{org}-{i}"
            out.append(issued(aid, "main", "b", "2026-03-05T09:00:00Z", "api", org=org))
            if i < accepted:
                out.append(act(aid, "accepted", "2026-03-05T10:00:00Z", org=org))
            if i < shared:
                out.append(act(aid, "shared", "2026-03-06T10:00:00Z", org=org,
                               channel="linkedin"))
    return out


@pytest.fixture(scope="module")
def settings(infra: Any) -> Settings:
    return isolated_settings(infra)


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(settings):
        yield c


@pytest.fixture(scope="module")
async def world(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    ARTIFACTS.mkdir(exist_ok=True)
    procs = WorkerProcs(settings)
    try:
        procs.start()
        await publish_events(settings, held_first())
        status = await caught_up(settings)
        assert status["held"] == 1  # the view waits for its award
        await publish_events(settings, acme_events() + peer_events(PEERS_FIRST))
        await caught_up(settings)
        keys = {
            "admin": await make_key(settings, "acme", "org_admin"),
            "eng": await make_key(settings, "acme", "issuer", ("eng",)),
            "pub": await make_key(settings, "acme", "publisher"),
            **{org: await make_key(settings, org, "org_admin")
               for org in (*PEERS_FIRST, *PEERS_LATER)},
        }
        yield {"procs": procs, **keys}
    finally:
        procs.stop_all()


MAR = "from=2026-03-01&to=2026-03-31"
EMPTY = "from=2025-06-01&to=2025-06-30"


async def get(client: httpx.AsyncClient, token: str | None, url: str,
              status: int = 200) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await client.get(url, headers=headers)
    assert r.status_code == status, (url, r.status_code, r.text)
    return r.json()


# ------------------------------------------------------------------------------ channels


async def test_channels_tie_on_views_per_share_by_channel_and_list_empty_channels(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    got = await get(client, world["admin"], f"/v1/orgs/acme/insights/channels?{MAR}")
    assert got["channels"] == [
        {"channel": "linkedin", "shares": 2, "views": 4, "views_per_share": 2.0,
         "previous": {"shares": 1, "views": 1, "views_per_share": 1.0}, "change_pct": 100.0},
        {"channel": "x", "shares": 1, "views": 2, "views_per_share": 2.0,
         "previous": {"shares": 0, "views": 0, "views_per_share": None}, "change_pct": None},
        {"channel": "email", "shares": 2, "views": 0, "views_per_share": 0.0,
         "previous": {"shares": 0, "views": 0, "views_per_share": None}, "change_pct": None},
    ]
    assert got["unattributed_views"] == 2  # direct and the held embed view; no bot view
    assert got["scope"] == {"org_id": "acme", "issuer_id": None, "badge_id": None,
                            "issuer_ids": None}
    assert got["period"] == {"from": "2026-03-01", "to": "2026-03-31"}
    assert got["previous_period"] == {"from": "2026-01-29", "to": "2026-02-28"}
    assert got["filters"] == {"issuer_id": [], "badge_id": [], "status": []}


async def test_channels_of_an_issuer_and_of_an_empty_period(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    ops = await get(client, world["admin"], f"/v1/orgs/acme/issuers/ops/insights/channels?{MAR}")
    assert [(c["channel"], c["views_per_share"]) for c in ops["channels"]] == [
        ("x", 2.0), ("email", 0.0)]
    assert ops["unattributed_views"] == 1  # k8s-b-3's direct view by a person
    empty = await get(client, world["admin"], f"/v1/orgs/acme/insights/channels?{EMPTY}")
    assert empty["channels"] == [] and empty["unattributed_views"] == 0


# ------------------------------------------------------------------------------ methods


async def test_methods_by_awards_then_name_with_time_to_accept_and_null_rates(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    got = await get(client, world["admin"], f"/v1/orgs/acme/insights/methods?{MAR}")
    assert [m["method"] for m in got["methods"]] == ["api", "lms", "bulk"]
    api, lms, bulk = got["methods"]
    assert (api["badges_awarded"], api["accepted_awards"], api["acceptance_rate"],
            api["shared_awards"], api["share_rate"]) == (4, 1, 0.25, 3, 0.75)
    assert [b["count"] for b in api["time_to_accept"]["buckets"]] == [0, 0, 0, 1, 0, 0, 0, 0]
    assert api["time_to_accept"]["median_hours"] == 48.0
    assert api["previous"] == {"badges_awarded": 0, "acceptance_rate": None,
                               "share_rate": None}
    assert (lms["badges_awarded"], lms["accepted_awards"], lms["acceptance_rate"],
            lms["shared_awards"], lms["share_rate"]) == (4, 3, 0.75, 2, 0.5)
    assert [b["count"] for b in lms["time_to_accept"]["buckets"]] == [0, 3, 0, 0, 0, 0, 0, 0]
    assert lms["time_to_accept"]["median_hours"] == 3.5
    assert lms["previous"] == {"badges_awarded": 2, "acceptance_rate": 0.5, "share_rate": 0.5}
    assert (bulk["badges_awarded"], bulk["acceptance_rate"], bulk["share_rate"],
            bulk["time_to_accept"]["median_hours"]) == (2, 0.0, 0.0, None)


async def test_methods_with_a_status_filter_keep_the_awards_in_that_status_now(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    got = await get(client, world["admin"],
                    f"/v1/orgs/acme/insights/methods?{MAR}&status=accepted")
    # accepted now: py-a-0..2 (lms), k8s-b-0 (api)
    assert [(m["method"], m["badges_awarded"], m["acceptance_rate"]) for m in got["methods"]] \
        == [("lms", 3, 1.0), ("api", 1, 1.0)]
    assert got["filters"]["status"] == ["accepted"]


# ------------------------------------------------------------------------------ funnel


async def test_the_funnel_counts_a_view_held_before_its_award_and_no_bot_view(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    got = await get(client, world["admin"], f"/v1/orgs/acme/insights/funnel?{MAR}")
    assert (got["issued"], got["accepted"], got["shared"], got["viewed"]) == (10, 4, 5, 5)
    assert got["steps"] == [
        {"step": "issued", "count": 10, "rate_from_previous": None, "rate_from_issued": 1.0},
        {"step": "accepted", "count": 4, "rate_from_previous": 0.4, "rate_from_issued": 0.4},
        {"step": "shared", "count": 5, "rate_from_previous": 1.25, "rate_from_issued": 0.5},
        {"step": "viewed", "count": 5, "rate_from_previous": 1.0, "rate_from_issued": 0.5},
    ]
    assert got["previous"] == {"issued": 2, "accepted": 1, "shared": 1, "viewed": 1}


async def test_the_funnel_of_an_empty_period_has_null_rates(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    got = await get(client, world["admin"], f"/v1/orgs/acme/insights/funnel?{EMPTY}")
    assert [(s["count"], s["rate_from_previous"], s["rate_from_issued"])
            for s in got["steps"]] == [(0, None, None)] * 4


async def test_the_funnel_for_an_issuer_key_and_a_badge(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    eng = await get(client, world["eng"], f"/v1/orgs/acme/insights/funnel?{MAR}")
    # py-a-0..3 and sql-c-0..1: accepted py-a-0..2, shared py-a-0..1, viewed py-a-0, py-a-1,
    # sql-c-0
    assert (eng["issued"], eng["accepted"], eng["shared"], eng["viewed"]) == (6, 3, 2, 3)
    assert eng["scope"]["issuer_ids"] == ["eng"]
    sql = await get(client, world["admin"], f"/v1/orgs/acme/badges/sql/insights/funnel?{MAR}")
    assert (sql["issued"], sql["viewed"]) == (2, 1)  # sql-c-1 was seen by a bot only


# ------------------------------------------------------------------------------ bot views


async def test_a_bot_view_counts_as_bot_views_only(client: httpx.AsyncClient,
                                                   world: dict[str, Any]) -> None:
    s = await get(client, world["admin"], f"/v1/orgs/acme/summary?{MAR}")
    assert s["metrics"]["bot_views"] == 3
    assert s["metrics"]["views"] == 8  # linkedin 4, x 2, direct 1, embed 1
    assert s["metrics"]["external_impact_score"] == 8 / 5
    ch = await get(client, world["admin"], f"/v1/orgs/acme/channels?{MAR}")
    assert {e["key"]: e["count"] for e in ch["viewing"]} == {
        "linkedin": 4, "x": 2, "direct": 1, "embed": 1}
    ts = await get(client, world["admin"], "/v1/orgs/acme/timeseries?metric=bot_views"
                   "&interval=day&from=2026-03-04&to=2026-03-06")
    assert [p["value"] for p in ts["points"]] == [1, 0, 1]


# ------------------------------------------------------------------------------ access


@pytest.mark.parametrize("name", ["channels", "methods", "funnel"])
async def test_insight_reads_follow_the_rules_of_the_other_reads(
        client: httpx.AsyncClient, world: dict[str, Any], name: str) -> None:
    await get(client, None, f"/v1/orgs/acme/insights/{name}", 401)
    await get(client, world["pub"], f"/v1/orgs/acme/insights/{name}", 403)
    await get(client, world["alderaan"], f"/v1/orgs/acme/insights/{name}", 404)
    await get(client, world["eng"], f"/v1/orgs/acme/issuers/ops/insights/{name}", 404)
    await get(client, world["admin"], f"/v1/orgs/acme/badges/nope/insights/{name}", 404)
    bad = await get(client, world["admin"], f"/v1/orgs/acme/insights/{name}?from=2026-13-01",
                    422)
    assert bad["detail"][0]["loc"] == ["query", "from"]


# ------------------------------------------------------------------------------ benchmarks


async def test_benchmarks_are_for_org_admins_and_take_only_a_period(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    url = "/v1/orgs/acme/insights/benchmarks"
    await get(client, None, url, 401)
    await get(client, world["eng"], url, 403)
    await get(client, world["pub"], url, 403)
    await get(client, world["alderaan"], url, 404)
    for param in ("status=accepted", "issuer_id=eng", "badge_id=py"):
        got = await get(client, world["admin"], f"{url}?{MAR}&{param}", 422)
        assert got["detail"][0]["loc"] == ["query", param.split("=")[0]]
    await get(client, world["admin"], "/v1/orgs/acme/issuers/eng/insights/benchmarks", 404)


async def test_benchmarks_with_four_peers_give_no_percentile(
        client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    got = await get(client, world["bespin"], f"/v1/orgs/bespin/insights/benchmarks?{MAR}")
    by = {m["metric"]: m for m in got["metrics"]}
    assert list(by) == ["acceptance_rate", "share_rate", "public_visibility_rate",
                        "learner_engagement_score", "external_impact_score"]
    assert by["acceptance_rate"] == {"metric": "acceptance_rate", "value": 0.4,
                                     "percentile": None, "peers": 4}
    assert by["share_rate"]["value"] == 0.1
    assert by["external_impact_score"] == {"metric": "external_impact_score", "value": 0.0,
                                           "percentile": None, "peers": 0}
    acme = await get(client, world["admin"], f"/v1/orgs/acme/insights/benchmarks?{MAR}")
    # acme (10 awards) is no peer: its own value, no percentile
    assert {m["metric"]: (m["value"], m["percentile"], m["peers"])
            for m in acme["metrics"]}["acceptance_rate"] == (0.4, None, 4)


async def test_benchmarks_with_six_peers_worked_by_hand_and_no_other_org_anywhere(
        client: httpx.AsyncClient, world: dict[str, Any], settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    await publish_events(settings, peer_events(PEERS_LATER))
    await caught_up(settings)
    caplog.set_level(logging.DEBUG)
    url = f"/v1/orgs/bespin/insights/benchmarks?{MAR}"
    got = await get(client, world["bespin"], url)
    by = {m["metric"]: m for m in got["metrics"]}
    # bespin: acceptance .4 among alderaan .2, corellia .4, dagobah .8, endor .6, felucia 1:
    # 1 below, 1 equal -> 100 x 1.5 / 5
    assert by["acceptance_rate"] == {"metric": "acceptance_rate", "value": 0.4,
                                     "percentile": 30.0, "peers": 6}
    # share .1 among 0, .1, .2, 0, .5: 2 below, 1 equal -> 100 x 2.5 / 5
    assert by["share_rate"]["percentile"] == 50.0
    # all private: 0 equals 5 others -> 100 x 2.5 / 5
    assert by["public_visibility_rate"] == {"metric": "public_visibility_rate", "value": 0.0,
                                            "percentile": 50.0, "peers": 6}
    # LES 28 among 12, 28, 56, 36, 80: 1 below, 1 equal
    assert by["learner_engagement_score"]["percentile"] == 30.0
    assert by["external_impact_score"]["percentile"] is None  # no org has 50 shares
    felucia = await get(client, world["felucia"], f"/v1/orgs/felucia/insights/benchmarks?{MAR}")
    assert {m["metric"]: m["percentile"] for m in felucia["metrics"]}["acceptance_rate"] == 100.0
    alderaan = await get(client, world["alderaan"],
                         f"/v1/orgs/alderaan/insights/benchmarks?{MAR}")
    assert {m["metric"]: m["percentile"] for m in alderaan["metrics"]}["acceptance_rate"] == 0.0

    others = [o.encode() for o in (*PEERS_FIRST, *PEERS_LATER, "acme") if o != "bespin"]
    caplog.clear()  # what the service logs while it answers bespin, from here
    r = await client.get(url, headers={"Authorization": f"Bearer {world['bespin']}"})
    bodies = [r.content]
    for fmt in ("csv", "xlsx", "svg", "png", "jpeg"):
        r = await client.get(f"/v1/orgs/bespin/export/insights-benchmarks.{fmt}?{MAR}",
                             headers={"Authorization": f"Bearer {world['bespin']}"})
        assert r.status_code == 200, (fmt, r.text)
        body = r.content
        if fmt == "xlsx":
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                body = b"".join(z.read(n) for n in z.namelist())
        bodies.append(body + r.headers["content-disposition"].encode())
    for body in bodies:
        for other in others:
            assert other not in body.lower()
    logged = "\n".join(rec.getMessage() for rec in caplog.records
                       if rec.name != "httpx").lower()  # not the test client's own lines
    worker_log = (ARTIFACTS / f"worker-{settings.redis_prefix}.log").read_bytes().lower()
    for other in others:
        assert other.decode() not in logged
        assert other not in worker_log


# ------------------------------------------------------------------------------ exports


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "png", "jpeg", "svg"])
@pytest.mark.parametrize("component", ["insights-channels", "insights-methods",
                                       "insights-funnel"])
async def test_every_insight_downloads_in_every_format(
        client: httpx.AsyncClient, world: dict[str, Any], component: str, fmt: str) -> None:
    r = await client.get(f"/v1/orgs/acme/issuers/eng/export/{component}.{fmt}?{MAR}",
                         headers={"Authorization": f"Bearer {world['admin']}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == (
        f'attachment; filename="acme_issuer-eng_{component}_2026-03-01_2026-03-31.{fmt}"')
    assert len(r.content) > 100


async def test_insight_csvs_carry_the_json_numbers(client: httpx.AsyncClient,
                                                   world: dict[str, Any]) -> None:
    h = {"Authorization": f"Bearer {world['admin']}"}
    r = await client.get(f"/v1/orgs/acme/export/insights-channels.csv?{MAR}", headers=h)
    assert r.text.splitlines() == [
        "channel,shares,views,views_per_share,previous_shares,previous_views,"
        "previous_views_per_share,change_pct",
        "linkedin,2,4,2.0,1,1,1.0,100.0",
        "x,1,2,2.0,0,0,,",
        "email,2,0,0.0,0,0,,",
        "(unattributed),,2,,,,,",
    ]
    r = await client.get(f"/v1/orgs/acme/export/insights-funnel.csv?{MAR}", headers=h)
    assert r.text.splitlines() == [
        "step,count,rate_from_previous,rate_from_issued,previous_count",
        "issued,10,,1.0,2", "accepted,4,0.4,0.4,1", "shared,5,1.25,0.5,1",
        "viewed,5,1.0,0.5,1"]
    r = await client.get(f"/v1/orgs/acme/export/insights-methods.csv?{MAR}", headers=h)
    lines = r.text.splitlines()
    assert lines[0].startswith("method,badges_awarded,accepted_awards,acceptance_rate,"
                               "shared_awards,share_rate,median_hours_to_accept,tta_le_1h,")
    assert lines[1] == "api,4,1,0.25,3,0.75,48.0,0,0,0,1,0,0,0,0,0,,"
    r = await client.get(f"/v1/orgs/acme/issuers/eng/export/insights-benchmarks.csv?{MAR}",
                         headers=h)
    assert r.status_code == 404  # benchmarks are the org's only


async def test_the_openapi_document_describes_the_insights(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    for scope in ("/v1/orgs/{org_id}", "/v1/orgs/{org_id}/issuers/{issuer_id}",
                  "/v1/orgs/{org_id}/badges/{badge_id}"):
        for name in ("channels", "methods", "funnel"):
            op = doc["paths"][f"{scope}/insights/{name}"]["get"]
            assert "$ref" in str(op["responses"]["200"])
    bench = doc["paths"]["/v1/orgs/{org_id}/insights/benchmarks"]["get"]
    assert {p["name"] for p in bench["parameters"]} == {"org_id", "from", "to"}
