"""Every read endpoint on a fixed data set whose answers were worked out by hand.

Nothing here recomputes a metric: every expected number is written literally (at most as a
small fraction such as ``68 / 110`` with a comment saying where it comes from).

The data set (org ``acme``; times UTC unless an offset is shown)
================================================================

Issuers (issuer.created 2025-11-01): ``eng`` "Engineering", ``ops`` "Operations",
``hr`` "People" (``hr`` never gets a badge or an award).

Badges:

=====  ======  ====================  ==========================  ==========  ============
badge  issuer  name                  skills                      visibility  created
=====  ======  ====================  ==========================  ==========  ============
py     eng     Python Basics         python, programming         public      2025-11-10
k8s    ops     Kubernetes Operator   kubernetes, containers      public      2025-12-01
sql    eng     SQL Intro             sql                         private     2026-02-10
git    eng     Git Essentials        git                         public      2026-03-03
aws    ops     AWS Practitioner      aws, cloud                  private     2026-03-20
=====  ======  ====================  ==========================  ==========  ============

``badge.updated`` sql on 2026-03-05: name "SQL Fundamentals", skills [sql, databases]
(visibility is not in the update, so it stays private).

Awards (ids ``<badge>-<group>-<i>``; every award is issued private unless said otherwise):

G1 k8s-dec  10 issued 2026-01-01T01:00+02:00 (= 2025-12-31 23:00 UTC: a December award) via
            manual. i<2 shared on email 2026-01-15 (first share the org ever sees).
G2 py-jan   10 issued 2026-01-02 09:00 via manual. Nothing else.
G3 py-feb   20 issued 2026-02-16 10:00 via lms. i<10 accepted at +3 h (first acceptance ever:
            2026-02-16). i<4 shared on linkedin 2026-02-20.
G4 k8s-feb  10 issued 2026-02-20 10:00 via api. i<5 accepted at +30 h. i<2 shared on x
            2026-02-25 (x is never used again: hidden in later periods).
G5 py-mar   40 issued 2026-03-10 08:00 via lms.
            i<30 accepted 03-10 10:00 (+2 h); 30<=i<35 declined 03-11; 35..39 stay pending.
            i<10 shared on linkedin 03-11 09:00 (all accepted then).
            5<=i<10 revoked 03-11 10:00 (after acceptance and sharing: accepted-ever stays).
            i<10 viewed 3 times from linkedin on 03-12 (first view ever): i<5 accepted, 5..9
            revoked at that time. i<20 made public 03-11. i in 10,11 shared on linkedin on
            2026-04-03 (after March: shared_awards of March, shares of April).
G6 sql-mar  30 issued 2026-03-16 09:00 via bulk, visibility public.
            i<15 accepted 03-18 (+48 h); 15<=i<20 revoked 03-17 (never accepted); 20..29 pending.
            i<3 shared on email and 20<=i<23 on url, 03-19; each of these 6 viewed twice from
            direct on 03-20 (3 accepted and 3 pending at the time). i<5 made private 03-25.
G7 k8s-mar  20 issued 2026-03-02 09:00 via api.
            i<4 shared on linkedin 03-05 (pending then); 10<=i<12 declined 03-05;
            i<10 accepted 03-09 09:00 (+168 h exactly); each of i<4 viewed once from search
            03-15 (accepted then); 12<=i<15 accepted 2026-04-02 (+744 h, after March).
G8 git-mar  10 issued 2026-03-25 09:00 via automation. i<5 accepted +30 min; i<2 shared on
            linkedin 03-26, each viewed twice from linkedin 03-27.
G9 aws-mar  like G8 but via integration, shared on facebook, viewed from social.
G10 py-apr  10 issued 2026-04-06 09:00 via lms, visibility public. i<8 accepted +6 h;
            i<4 shared on linkedin 04-07, each viewed once from linkedin 04-08.

Org ``globex`` (only for scoping): issuer sales, badge deal created 2026-03-02, 5 awards
issued 2026-03-15 via api, all accepted.

Hand-worked March 2026 (P = 03-01..03-31, P' = 01-29..02-28), per badge:

=====  =======  ========  ======  ======  ======  =====  ====  ====  ======
badge  awarded  accepted  shared  public  shares  views  acc   shr   LES
=====  =======  ========  ======  ======  ======  =====  ====  ====  ======
py     40       30        12      20      10      30     .75   .3    57
sql    30       15        6       25      6       12     .5    .2    38
k8s    20       13        4       0       4       4      .65   .2    47
git    10       5         2       0       2       4      .5    .2    38
aws    10       5         2       0       2       4      .5    .2    38
org    110      68        26      45      24      54
=====  =======  ========  ======  ======  ======  =====  ====  ====  ======

EIS (views / shares): py 3, sql 2, k8s 1, git 2, aws 2. Current status of March awards:
py 25 accepted / 5 revoked / 5 declined / 5 pending; sql 15 / 5 revoked / 10 pending;
k8s 13 accepted / 2 declined / 5 pending; git and aws 5 accepted / 5 pending.
P' (org): 30 awarded (py-feb 20, k8s-feb 10), 15 accepted, 6 shared, 0 public, 6 shares,
0 views, 1 badge created (sql).

All time (org): 170 awards, 91 accepted, 38 shared, 55 public, 38 shares, 58 views, 5 badges.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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

# ------------------------------------------------------------------------------ data set


def ev(eid: str, typ: str, at: str, org: str = "acme", **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": typ, "occurred_at": at, "org_id": org, **kw}


def issued(aid: str, issuer: str, badge: str, at: str, method: str,
           visibility: str = "private", org: str = "acme") -> dict[str, Any]:
    return ev(f"{aid}.issued", "award.issued", at, org, issuer_id=issuer, badge_id=badge,
              award_id=aid, method=method, visibility=visibility)


def act(aid: str, kind: str, at: str, n: int = 0, org: str = "acme", **kw: Any) -> dict[str, Any]:
    """A follow-up award event (`award.<kind>`); `n` tells repeats of one kind apart."""
    return ev(f"{aid}.{kind}.{n}", f"award.{kind}", at, org, award_id=aid, **kw)


def acme_events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    add = out.append
    for iid, name in (("eng", "Engineering"), ("ops", "Operations"), ("hr", "People")):
        add(ev(f"issuer-{iid}", "issuer.created", "2025-11-01T09:00:00Z", issuer_id=iid,
               name=name))
    for badge, issuer, name, skills, vis, at in (
        ("py", "eng", "Python Basics", ["python", "programming"], "public", "2025-11-10"),
        ("k8s", "ops", "Kubernetes Operator", ["kubernetes", "containers"], "public",
         "2025-12-01"),
        ("sql", "eng", "SQL Intro", ["sql"], "private", "2026-02-10"),
        ("git", "eng", "Git Essentials", ["git"], "public", "2026-03-03"),
        ("aws", "ops", "AWS Practitioner", ["aws", "cloud"], "private", "2026-03-20"),
    ):
        add(ev(f"badge-{badge}", "badge.created", f"{at}T09:00:00Z", issuer_id=issuer,
               badge_id=badge, name=name, skills=skills, visibility=vis))
    add(ev("badge-sql-upd", "badge.updated", "2026-03-05T09:00:00Z", badge_id="sql",
           name="SQL Fundamentals", skills=["sql", "databases"]))

    # G1: 10 k8s awards issued at 01:00 on Jan 1st in UTC+2, i.e. Dec 31st 23:00 UTC.
    for i in range(10):
        a = f"k8s-dec-{i}"
        add(issued(a, "ops", "k8s", "2026-01-01T01:00:00+02:00", "manual"))
        if i < 2:
            add(act(a, "shared", "2026-01-15T08:00:00Z", channel="email"))
    # G2: 10 py awards on Jan 2nd, nothing else happens to them.
    for i in range(10):
        add(issued(f"py-jan-{i}", "eng", "py", "2026-01-02T09:00:00Z", "manual"))
    # G3: 20 py awards in February; 10 accepted (+3 h), 4 of those shared on linkedin.
    for i in range(20):
        a = f"py-feb-{i}"
        add(issued(a, "eng", "py", "2026-02-16T10:00:00Z", "lms"))
        if i < 10:
            add(act(a, "accepted", "2026-02-16T13:00:00Z"))
        if i < 4:
            add(act(a, "shared", "2026-02-20T10:00:00Z", channel="linkedin"))
    # G4: 10 k8s awards in February; 5 accepted (+30 h), 2 of those shared on x.
    for i in range(10):
        a = f"k8s-feb-{i}"
        add(issued(a, "ops", "k8s", "2026-02-20T10:00:00Z", "api"))
        if i < 5:
            add(act(a, "accepted", "2026-02-21T16:00:00Z"))
        if i < 2:
            add(act(a, "shared", "2026-02-25T10:00:00Z", channel="x"))
    # G5: 40 py awards on March 10th.
    for i in range(40):
        a = f"py-mar-{i}"
        add(issued(a, "eng", "py", "2026-03-10T08:00:00Z", "lms"))
        if i < 30:
            add(act(a, "accepted", "2026-03-10T10:00:00Z"))
        if 30 <= i < 35:
            add(act(a, "declined", "2026-03-11T08:00:00Z"))
        if i < 10:
            add(act(a, "shared", "2026-03-11T09:00:00Z", channel="linkedin"))
        if 5 <= i < 10:
            add(act(a, "revoked", "2026-03-11T10:00:00Z", reason="issued in error"))
        if i < 10:
            for hour in (9, 10, 11):
                add(act(a, "viewed", f"2026-03-12T{hour:02d}:00:00Z", n=hour, source="linkedin"))
        if i < 20:
            add(act(a, "visibility_changed", "2026-03-11T12:00:00Z", visibility="public"))
        if 10 <= i < 12:
            add(act(a, "shared", "2026-04-03T09:00:00Z", n=1, channel="linkedin"))
    # G6: 30 sql awards on March 16th, issued public.
    for i in range(30):
        a = f"sql-mar-{i}"
        add(issued(a, "eng", "sql", "2026-03-16T09:00:00Z", "bulk", visibility="public"))
        if i < 15:
            add(act(a, "accepted", "2026-03-18T09:00:00Z"))
        if 15 <= i < 20:
            add(act(a, "revoked", "2026-03-17T09:00:00Z"))
        if i < 3 or 20 <= i < 23:
            add(act(a, "shared", "2026-03-19T09:00:00Z", channel="email" if i < 3 else "url"))
            for hour in (9, 10):
                add(act(a, "viewed", f"2026-03-20T{hour:02d}:00:00Z", n=hour, source="direct"))
        if i < 5:
            add(act(a, "visibility_changed", "2026-03-25T09:00:00Z", visibility="private"))
    # G7: 20 k8s awards on Monday March 2nd.
    for i in range(20):
        a = f"k8s-mar-{i}"
        add(issued(a, "ops", "k8s", "2026-03-02T09:00:00Z", "api"))
        if i < 4:
            add(act(a, "shared", "2026-03-05T09:00:00Z", channel="linkedin"))
            add(act(a, "viewed", "2026-03-15T09:00:00Z", source="search"))
        if 10 <= i < 12:
            add(act(a, "declined", "2026-03-05T10:00:00Z"))
        if i < 10:
            add(act(a, "accepted", "2026-03-09T09:00:00Z"))
        if 12 <= i < 15:
            add(act(a, "accepted", "2026-04-02T09:00:00Z"))
    # G8 and G9: git and aws, the same shape (a tie in the ranking).
    for badge, method, channel, source in (("git", "automation", "linkedin", "linkedin"),
                                           ("aws", "integration", "facebook", "social")):
        issuer = "eng" if badge == "git" else "ops"
        for i in range(10):
            a = f"{badge}-mar-{i}"
            add(issued(a, issuer, badge, "2026-03-25T09:00:00Z", method))
            if i < 5:
                add(act(a, "accepted", "2026-03-25T09:30:00Z"))
            if i < 2:
                add(act(a, "shared", "2026-03-26T09:00:00Z", channel=channel))
                for hour in (9, 10):
                    add(act(a, "viewed", f"2026-03-27T{hour:02d}:00:00Z", n=hour,
                            source=source))
    # G10: 10 py awards in April, issued public.
    for i in range(10):
        a = f"py-apr-{i}"
        add(issued(a, "eng", "py", "2026-04-06T09:00:00Z", "lms", visibility="public"))
        if i < 8:
            add(act(a, "accepted", "2026-04-06T15:00:00Z"))
        if i < 4:
            add(act(a, "shared", "2026-04-07T09:00:00Z", channel="linkedin"))
            add(act(a, "viewed", "2026-04-08T09:00:00Z", source="linkedin"))
    return out


def globex_events() -> list[dict[str, Any]]:
    g = "globex"
    out = [ev("issuer-sales", "issuer.created", "2026-03-01T09:00:00Z", g, issuer_id="sales",
              name="Sales"),
           ev("badge-deal", "badge.created", "2026-03-02T09:00:00Z", g, issuer_id="sales",
              badge_id="deal", name="Deal Closer")]
    for i in range(5):
        out.append(issued(f"g-{i}", "sales", "deal", "2026-03-15T09:00:00Z", "api", org=g))
        out.append(act(f"g-{i}", "accepted", "2026-03-15T12:00:00Z", org=g))
    return out



# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def settings(infra: Any) -> Settings:
    """Overrides conftest's: one data set (one worker start) serves the whole module."""
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
        events = acme_events() + globex_events()
        await publish_events(settings, events)
        await caught_up(settings)
        # read_status takes `applied` before it measures the lag, so the status that first
        # sees lag 0 can carry an older `applied`: read it again once the lag is known 0
        status = await caught_up(settings)
        keys = {
            "admin": await make_key(settings, "acme", "org_admin"),
            "eng": await make_key(settings, "acme", "issuer", ("eng",)),
            "ops_hr": await make_key(settings, "acme", "issuer", ("ops", "hr")),
            "pub": await make_key(settings, "acme", "publisher"),
            "globex": await make_key(settings, "globex", "org_admin"),
            "initech": await make_key(settings, "initech", "org_admin"),
        }
        yield {"status": status, "events": len(events), **keys}
    finally:
        procs.stop_all()


# ------------------------------------------------------------------------------ helpers

MAR = "from=2026-03-01&to=2026-03-31"  # P' = 2026-01-29 .. 2026-02-28 (31 days each)
APR = "from=2026-04-01&to=2026-04-14"  # P' = 2026-03-18 .. 2026-03-31
YEAR = "from=2025-12-20&to=2026-01-10"  # 22 days across New Year; P' = 2025-11-28 .. 12-19
NOAW = "from=2026-01-10&to=2026-01-20"  # no award issued; P' = 2025-12-30 .. 2026-01-09
DAY = "from=2026-03-10&to=2026-03-10"  # one day; P' = 2026-03-09
LATE = "from=2026-03-11&to=2026-03-31"  # after py-mar and k8s-mar were issued

ORG = "/v1/orgs/acme"
ENG = "/v1/orgs/acme/issuers/eng"
OPS = "/v1/orgs/acme/issuers/ops"
PY = "/v1/orgs/acme/badges/py"


async def get(client: httpx.AsyncClient, token: str | None, url: str,
              status: int = 200) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await client.get(url, headers=headers)
    assert r.status_code == status, (url, r.status_code, r.text)
    return r.json()


def same(actual: Any, expected: Any, where: str = "$") -> None:
    """Deep comparison; floats to 1e-9; for dicts only the expected keys are compared."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), (where, actual)
        missing = set(expected) - set(actual)
        assert not missing, (where, "missing keys", missing)
        for k, v in expected.items():
            same(actual[k], v, f"{where}.{k}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), (
            where, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{where}[{i}]")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool) and \
            math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
        assert ok, f"{where}: got {actual!r}, expected {expected!r}"
    else:
        assert actual == expected, f"{where}: got {actual!r}, expected {expected!r}"


def tr(current: Any, previous: Any, change: Any, change_pct: Any, direction: str) -> dict:
    return {"current": current, "previous": previous, "change": change,
            "change_pct": change_pct, "direction": direction}


def tile(value: Any, current: Any, previous: Any, change: Any, change_pct: Any,
         direction: str) -> dict:
    return {"value": value, **tr(current, previous, change, change_pct, direction)}


def M(created: int, awarded: int, accepted: int, shared: int, public: int, shares: int,
      views: int, acc: Any, shr: Any, pub: Any, les: Any, eis: Any) -> dict[str, Any]:
    """The twelve metrics of metrics.md, in the order of its table."""
    return {"badges_created": created, "badges_awarded": awarded, "accepted_awards": accepted,
            "shared_awards": shared, "public_awards": public, "shares": shares, "views": views,
            "acceptance_rate": acc, "share_rate": shr, "public_visibility_rate": pub,
            "learner_engagement_score": les, "external_impact_score": eis}


def EMPTY(created: int = 0) -> dict[str, Any]:  # noqa: N802 - reads like the M above
    """Metrics of a period without any award, share or view."""
    return M(created, 0, 0, 0, 0, 0, 0, None, None, None, None, None)


def TTA(le1: int, le6: int, le24: int, le72: int, le168: int, le720: int, le2160: int,  # noqa: N802
        inf: int, median: Any) -> dict[str, Any]:
    bounds = (1, 6, 24, 72, 168, 720, 2160, None)
    counts = (le1, le6, le24, le72, le168, le720, le2160, inf)
    return {"buckets": [{"le": b, "count": c} for b, c in zip(bounds, counts, strict=True)],
            "median_hours": median}


def entries(*rows: tuple[str, int, float, int, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "count": c, "pct": p, "previous_count": pc, "change_pct": cp}
            for k, c, p, pc, cp in rows]


def points(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(p["start"], p["value"]) for p in body["points"]]


def ids(body: dict[str, Any]) -> list[str]:
    return [row["badge_id"] for row in body["items"]]


def when(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s.replace("Z", "+00:00"))


def incomplete(body: dict[str, Any]) -> list[str]:
    return sorted(body["coverage"]["incomplete"])


# Coverage flags: acceptance is first seen 2026-02-16, shares 2026-01-15, views 2026-03-12.
ACC_FLAGS = ["acceptance_rate", "accepted_awards", "learner_engagement_score", "time_to_accept"]
VIEW_FLAGS = ["bot_views", "external_impact_score", "views"]  # bot views: from user agents
SHARE_FLAGS = ["share_rate", "shared_awards", "shares"]
ALL_FLAGS = sorted(ACC_FLAGS + VIEW_FLAGS + SHARE_FLAGS)

# The KPI tile values ignore the period and every filter: all time for the scope.
ORG_ALL_TIME = {  # 170 awards, 91 accepted, 38 shared, 55 public, 38 shares, 58 views
    "badges_created": 5, "badges_awarded": 170, "acceptance_rate": 91 / 170,
    "share_rate": 38 / 170, "public_visibility_rate": 55 / 170,
    "learner_engagement_score": 6980 / 170,  # (0.6 × 91 + 0.4 × 38) / 170 × 100 = 41.06
    "external_impact_score": 58 / 38,
}


def tile_values(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v["value"] for k, v in body["kpis"].items()}


# ------------------------------------------------------------------------------ the data set


async def test_the_whole_data_set_is_applied_without_rejections(world):
    assert world["events"] == 420  # 408 acme events + 12 globex events
    assert world["status"]["applied"] == 420
    assert world["status"]["rejected"] == 0
    assert world["status"]["held"] == 0


# ------------------------------------------------------------------------------ summary


async def test_the_org_summary_for_march_matches_the_hand_worked_numbers(world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{MAR}")
    same(body, {
        "scope": {"org_id": "acme", "issuer_id": None, "badge_id": None, "issuer_ids": None},
        "period": {"from": "2026-03-01", "to": "2026-03-31"},
        "previous_period": {"from": "2026-01-29", "to": "2026-02-28"},
        "filters": {"issuer_id": [], "badge_id": [], "status": []},
        # created: git (03-03) and aws (03-20); the rest: see the table in the docstring.
        "metrics": M(2, 110, 68, 26, 45, 24, 54,
                     68 / 110, 26 / 110, 45 / 110,
                     5120 / 110,  # (0.6 × 68 + 0.4 × 26) / 110 × 100 = 46.545
                     54 / 24),  # 2.25
        "kpis": {
            # P': accepted 15/30 = .5, shared 6/30 = .2 -> LES 38; 0 views / 6 shares = 0
            "learner_engagement_score": tile(6980 / 170, 5120 / 110, 38.0, 5120 / 110 - 38,
                                             100 * (5120 / 110 - 38) / 38, "up"),
            "external_impact_score": tile(58 / 38, 2.25, 0.0, 2.25, None, "up"),
            "badges_created": tile(5, 2, 1, 1, 100.0, "up"),
            "badges_awarded": tile(170, 110, 30, 80, 800 / 3, "up"),  # 100 × 80 / 30
            "acceptance_rate": tile(91 / 170, 68 / 110, 0.5, 68 / 110 - 0.5,
                                    100 * (68 / 110 - 0.5) / 0.5, "up"),
            "share_rate": tile(38 / 170, 26 / 110, 0.2, 26 / 110 - 0.2,
                               100 * (26 / 110 - 0.2) / 0.2, "up"),
            "public_visibility_rate": tile(55 / 170, 45 / 110, 0.0, 45 / 110, None, "up"),
        },
        "highlights": {"most_used_awarding_method": "lms", "most_used_sharing_method":
                       "linkedin", "most_common_viewing_source": "linkedin"},
        # git+aws 10 at 0.5 h; py 30 at 2 h; sql 15 at 48 h; k8s 10 at 168 h, 3 at 744 h.
        # median: 34th of 68 lies in (1, 6]: 1 + 5 × (34 - 10) / 30 = 5
        "time_to_accept": TTA(10, 30, 0, 15, 10, 0, 3, 0, 5.0),
    })
    first = body["coverage"]["first_day"]
    assert {t: first[t] for t in ("award.issued", "award.accepted", "award.shared",
                                  "award.viewed")} == {
        "award.issued": "2025-12-31",  # 2026-01-01T01:00+02:00 is Dec 31st in UTC
        "award.accepted": "2026-02-16", "award.shared": "2026-01-15",
        "award.viewed": "2026-03-12"}
    # P' starts 01-29: before the first acceptance and the first view, after the first share
    assert incomplete(body) == sorted(ACC_FLAGS + VIEW_FLAGS)
    assert when(body["as_of"]) == datetime(2026, 4, 8, 9, tzinfo=UTC)  # the newest event


async def test_an_issuer_filter_on_the_org_summary_counts_only_that_issuer(world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{MAR}&issuer_id=ops")
    assert body["filters"] == {"issuer_id": ["ops"], "badge_id": [], "status": []}
    assert body["scope"]["issuer_ids"] is None
    # ops in March: k8s 20 + aws 10 awards, 13 + 5 accepted, 4 + 2 shared, 4 + 4 views.
    same(body["metrics"], M(1, 30, 18, 6, 0, 6, 8, 0.6, 0.2, 0.0,
                            44.0,  # (0.6 × 0.6 + 0.4 × 0.2) × 100
                            8 / 6))
    # P' for ops: k8s-feb 10 awarded, 5 accepted, 2 shared on x, no view.
    same(body["kpis"]["badges_awarded"], tile(170, 30, 10, 20, 200.0, "up"))
    same(body["kpis"]["learner_engagement_score"], tile(6980 / 170, 44.0, 38.0, 6.0,
                                                        100 * 6 / 38, "up"))
    same(body["kpis"]["badges_created"], tile(5, 1, 0, 1, None, "up"))
    same(tile_values(body), ORG_ALL_TIME)  # tiles ignore the filter
    # aws 5 at 0.5 h, k8s 10 at 168 h and 3 at 744 h; the 9th of 18 is in (72, 168]:
    # 72 + 96 × (9 - 5) / 10 = 110.4
    same(body["time_to_accept"], TTA(5, 0, 0, 0, 10, 0, 3, 0, 110.4))
    # search and social both have 4 views: the key order decides
    same(body["highlights"], {"most_used_awarding_method": "api",
                              "most_used_sharing_method": "linkedin",
                              "most_common_viewing_source": "search"})


async def test_a_repeated_badge_filter_on_the_org_summary_counts_any_of_the_badges(world,
                                                                                    client):
    body = await get(client, world["admin"], f"{ORG}/summary?{MAR}&badge_id=sql&badge_id=git")
    assert body["filters"]["badge_id"] == ["sql", "git"]
    # sql 30 + git 10 awarded, 15 + 5 accepted, 6 + 2 shared, 25 + 0 public,
    # 6 + 2 shares, 12 + 4 views; git was created in March, sql in P'.
    same(body["metrics"], M(1, 40, 20, 8, 25, 8, 16, 0.5, 0.2, 25 / 40, 38.0, 2.0))
    same(body["kpis"], {
        "badges_created": tile(5, 1, 1, 0, 0.0, "flat"),
        "badges_awarded": tile(170, 40, 0, 40, None, "up"),
        "acceptance_rate": tile(91 / 170, 0.5, None, None, None, "flat"),
        "learner_engagement_score": tile(6980 / 170, 38.0, None, None, None, "flat"),
        "external_impact_score": tile(58 / 38, 2.0, None, None, None, "flat"),
    })
    # git 5 at 0.5 h, sql 15 at 48 h: the 10th of 20 is in (24, 72]: 24 + 48 × 5 / 15 = 40
    same(body["time_to_accept"], TTA(5, 0, 0, 15, 0, 0, 0, 0, 40.0))
    # email and url both have 3 shares: the key order decides
    same(body["highlights"], {"most_used_awarding_method": "bulk",
                              "most_used_sharing_method": "email",
                              "most_common_viewing_source": "direct"})


async def test_the_status_filter_keeps_cohort_awards_by_current_status_and_activity_by_status_then(
        world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{MAR}&status=accepted")
    # cohort accepted now: py 25, sql 15, k8s 13, git 5, aws 5 = 63; of them shared:
    # py 0..4,10,11 = 7, sql 3, k8s 4, git 2, aws 2 = 18; public: py 15 + sql 10 = 25.
    # shares while accepted: py 10 + sql 3 + git 2 + aws 2 = 17 (k8s shared while pending);
    # views while accepted: py 15 (i<5) + sql 6 + k8s 4 + git 4 + aws 4 = 33.
    same(body["metrics"], M(2, 63, 63, 18, 25, 17, 33, 1.0, 18 / 63, 25 / 63,
                            4500 / 63,  # (0.6 × 63 + 0.4 × 18) / 63 × 100 = 71.43
                            33 / 17))
    # P' accepted: py-feb 10 + k8s-feb 5 = 15 awards, 6 shared, 6 shares (all while accepted)
    same(body["kpis"]["learner_engagement_score"],
         tile(6980 / 170, 4500 / 63, 76.0, 4500 / 63 - 76, 100 * (4500 / 63 - 76) / 76,
              "down"))
    same(body["kpis"]["badges_awarded"], tile(170, 63, 15, 48, 320.0, "up"))
    same(body["kpis"]["badges_created"], tile(5, 2, 1, 1, 100.0, "up"))  # ignores status
    # the 5 revoked py awards (accepted before the revoke) are not "accepted" now:
    # le1 10, le6 25, le72 15, le168 10, le2160 3; 31.5th of 63: 1 + 5 × 21.5 / 25 = 5.3
    same(body["time_to_accept"], TTA(10, 25, 0, 15, 10, 0, 3, 0, 5.3))

    two = await get(client, world["admin"], f"{ORG}/summary?{MAR}&status=pending&status=declined")
    assert two["filters"]["status"] == ["pending", "declined"]
    # pending now 30 (py 5, sql 10, k8s 5, git 5, aws 5) + declined 7 (py 5, k8s 2) = 37,
    # none accepted, 3 shared (sql 20..22), 10 public (sql 20..29); shares while pending:
    # sql 3 + k8s 4 = 7; views while pending: sql 6.
    same(two["metrics"], M(2, 37, 0, 3, 10, 7, 6, 0.0, 3 / 37, 10 / 37,
                           120 / 37,  # 0.4 × 3 / 37 × 100
                           6 / 7))
    # P': py-feb 10 + k8s-feb 5 pending, nothing shared: LES 0; no share, no view: EIS null
    same(two["kpis"]["learner_engagement_score"], tile(6980 / 170, 120 / 37, 0.0, 120 / 37,
                                                       None, "up"))
    same(two["kpis"]["external_impact_score"], tile(58 / 38, 6 / 7, None, None, None, "flat"))
    same(two["time_to_accept"], TTA(0, 0, 0, 0, 0, 0, 0, 0, None))
    # lms: py 5 pending + 5 declined = 10; bulk: sql 10 pending: a tie, bulk < lms
    same(two["highlights"], {"most_used_awarding_method": "bulk",
                             "most_used_sharing_method": "linkedin",
                             "most_common_viewing_source": "direct"})


async def test_the_issuer_summary_counts_that_issuers_badges(world, client):
    body = await get(client, world["admin"], f"{ENG}/summary?{MAR}")
    same(body["scope"], {"org_id": "acme", "issuer_id": "eng", "badge_id": None,
                         "issuer_ids": None})
    # eng = py + sql + git: 80 awarded, 50 accepted, 20 shared, 45 public, 18 shares, 46 views
    same(body["metrics"], M(1, 80, 50, 20, 45, 18, 46, 50 / 80, 20 / 80, 45 / 80,
                            47.5,  # (0.6 × 0.625 + 0.4 × 0.25) × 100
                            46 / 18))
    # eng all time: 120 awards (py 80, sql 30, git 10), 68 accepted, 28 shared, 55 public,
    # 28 shares, 50 views, 3 badges. P': py-feb only, sql created.
    same(body["kpis"], {
        "learner_engagement_score": tile(5200 / 120, 47.5, 38.0, 9.5, 25.0, "up"),
        "external_impact_score": tile(50 / 28, 46 / 18, 0.0, 46 / 18, None, "up"),
        "badges_created": tile(3, 1, 1, 0, 0.0, "flat"),
        "badges_awarded": tile(120, 80, 20, 60, 300.0, "up"),
        "acceptance_rate": tile(68 / 120, 0.625, 0.5, 0.125, 25.0, "up"),
        "share_rate": tile(28 / 120, 0.25, 0.2, 0.05, 25.0, "up"),
        "public_visibility_rate": tile(55 / 120, 45 / 80, 0.0, 45 / 80, None, "up"),
    })
    # git 5 at 0.5 h, py 30 at 2 h, sql 15 at 48 h; 25th of 50: 1 + 5 × 20 / 30
    same(body["time_to_accept"], TTA(5, 30, 0, 15, 0, 0, 0, 0, 1 + 5 * 20 / 30))
    assert incomplete(body) == sorted(ACC_FLAGS + VIEW_FLAGS)

    only_py = await get(client, world["admin"], f"{ENG}/summary?{MAR}&badge_id=py")
    same(only_py["metrics"], M(0, 40, 30, 12, 20, 10, 30, 0.75, 0.3, 0.5, 57.0, 3.0))
    same(tile_values(only_py), {"badges_awarded": 120, "badges_created": 3})

    revoked = await get(client, world["admin"], f"{ENG}/summary?{MAR}&status=revoked")
    # revoked now: py 5..9 (accepted, shared, public) + sql 15..19 (public, never accepted);
    # they were shared before the revoke, but 15 of py's views came after it.
    same(revoked["metrics"], M(1, 10, 5, 5, 10, 0, 15, 0.5, 0.5, 1.0, 50.0, None))
    same(revoked["kpis"]["learner_engagement_score"], tile(5200 / 120, 50.0, None, None, None,
                                                           "flat"))
    same(revoked["time_to_accept"], TTA(0, 5, 0, 0, 0, 0, 0, 0, 3.5))  # 1 + 5 × 2.5 / 5
    same(revoked["highlights"], {"most_used_awarding_method": "bulk",  # bulk 5 = lms 5
                                 "most_used_sharing_method": None,
                                 "most_common_viewing_source": "linkedin"})


async def test_the_badge_summary_counts_that_badges_awards(world, client):
    body = await get(client, world["admin"], f"{PY}/summary?{MAR}")
    same(body["scope"], {"org_id": "acme", "issuer_id": None, "badge_id": "py",
                         "issuer_ids": None})
    same(body["metrics"], M(0, 40, 30, 12, 20, 10, 30, 0.75, 0.3, 0.5, 57.0, 3.0))
    # py all time: 80 awards (10 + 20 + 40 + 10), 48 accepted, 20 shared, 30 public,
    # 20 shares (4 + 10 + 2 + 4), 34 views; P': py-feb 20 / 10 / 4 shared / 4 shares.
    same(body["kpis"], {
        "learner_engagement_score": tile(46.0, 57.0, 38.0, 19.0, 50.0, "up"),
        "external_impact_score": tile(34 / 20, 3.0, 0.0, 3.0, None, "up"),
        "badges_created": tile(1, 0, 0, 0, None, "flat"),
        "badges_awarded": tile(80, 40, 20, 20, 100.0, "up"),
        "acceptance_rate": tile(0.6, 0.75, 0.5, 0.25, 50.0, "up"),
        "share_rate": tile(0.25, 0.3, 0.2, 0.1, 50.0, "up"),
        "public_visibility_rate": tile(0.375, 0.5, 0.0, 0.5, None, "up"),
    })
    same(body["time_to_accept"], TTA(0, 30, 0, 0, 0, 0, 0, 0, 3.5))  # 1 + 5 × 15 / 30
    same(body["highlights"], {"most_used_awarding_method": "lms",
                              "most_used_sharing_method": "linkedin",
                              "most_common_viewing_source": "linkedin"})

    revoked = await get(client, world["admin"], f"{PY}/summary?{MAR}&status=revoked")
    # py 5..9: accepted before the revoke, shared before it (0 shares while revoked),
    # public, 15 views after it: no share, so EIS is null
    same(revoked["metrics"], M(0, 5, 5, 5, 5, 0, 15, 1.0, 1.0, 1.0, 100.0, None))
    same(revoked["kpis"]["badges_awarded"], tile(80, 5, 0, 5, None, "up"))

    by_issuer = await get(client, world["admin"], f"{PY}/summary?{MAR}&issuer_id=eng")
    same(by_issuer["metrics"], body["metrics"])


async def test_a_period_across_new_year_buckets_by_utc_day(world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{YEAR}")
    same(body["period"], {"from": "2025-12-20", "to": "2026-01-10"})
    same(body["previous_period"], {"from": "2025-11-28", "to": "2025-12-19"})
    # k8s-dec (Dec 31st UTC) + py-jan: 20 awards, 0 accepted, 2 shared (on 01-15, after P),
    # but no share or view in P: EIS null, acceptance 0 (not null: 20 awards)
    same(body["metrics"], M(0, 20, 0, 2, 0, 0, 0, 0.0, 0.1, 0.0, 4.0, None))
    # P': only k8s was created (12-01), no award: every rate null
    same(body["kpis"], {
        "badges_created": tile(5, 0, 1, -1, -100.0, "down"),
        "badges_awarded": tile(170, 20, 0, 20, None, "up"),
        "acceptance_rate": tile(91 / 170, 0.0, None, None, None, "flat"),
        "learner_engagement_score": tile(6980 / 170, 4.0, None, None, None, "flat"),
        "external_impact_score": tile(58 / 38, None, None, None, None, "flat"),
    })
    same(body["time_to_accept"], TTA(0, 0, 0, 0, 0, 0, 0, 0, None))
    same(body["highlights"], {"most_used_awarding_method": "manual",
                              "most_used_sharing_method": None,
                              "most_common_viewing_source": None})
    assert incomplete(body) == ALL_FLAGS  # P' starts before any accept, share or view


async def test_a_period_without_awards_has_null_rates_not_zeros(world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{NOAW}")
    same(body["previous_period"], {"from": "2025-12-30", "to": "2026-01-09"})
    # only the 2 email shares of k8s-dec (01-15): EIS = 0 views / 2 shares = 0, rates null
    same(body["metrics"], M(0, 0, 0, 0, 0, 2, 0, None, None, None, None, 0.0))
    same(body["kpis"], {
        "badges_awarded": tile(170, 0, 20, -20, -100.0, "down"),
        "acceptance_rate": tile(91 / 170, None, 0.0, None, None, "flat"),
        "share_rate": tile(38 / 170, None, 0.1, None, None, "flat"),
        "learner_engagement_score": tile(6980 / 170, None, 4.0, None, None, "flat"),
        "external_impact_score": tile(58 / 38, 0.0, None, None, None, "flat"),
    })
    same(body["time_to_accept"], TTA(0, 0, 0, 0, 0, 0, 0, 0, None))
    same(body["highlights"], {"most_used_awarding_method": None,
                              "most_used_sharing_method": "email",
                              "most_common_viewing_source": None})


async def test_a_one_day_period_compares_with_the_day_before(world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{DAY}")
    same(body["period"], {"from": "2026-03-10", "to": "2026-03-10"})
    same(body["previous_period"], {"from": "2026-03-09", "to": "2026-03-09"})
    # py-mar is the cohort; its shares and views happen on later days
    same(body["metrics"], M(0, 40, 30, 12, 20, 0, 0, 0.75, 0.3, 0.5, 57.0, None))
    same(body["kpis"], {
        "badges_awarded": tile(170, 40, 0, 40, None, "up"),
        "badges_created": tile(5, 0, 0, 0, None, "flat"),
        "learner_engagement_score": tile(6980 / 170, 57.0, None, None, None, "flat"),
        "external_impact_score": tile(58 / 38, None, None, None, None, "flat"),
    })
    same(body["time_to_accept"], TTA(0, 30, 0, 0, 0, 0, 0, 0, 3.5))
    assert incomplete(body) == VIEW_FLAGS  # views start 03-12, after P' (03-09)


async def test_a_period_after_every_tracking_start_is_complete_and_trends_down(world, client):
    body = await get(client, world["admin"], f"{ORG}/summary?{APR}")
    same(body["previous_period"], {"from": "2026-03-18", "to": "2026-03-31"})
    # P: py-apr 10 awarded, 8 accepted, 4 shared, 10 public; shares: py-mar 2 (04-03) +
    # py-apr 4 (04-07); views: py-apr 4 (04-08).
    same(body["metrics"], M(0, 10, 8, 4, 10, 6, 4, 0.8, 0.4, 1.0, 64.0, 4 / 6))
    # P': git + aws 20 awarded, 10 accepted, 4 shared, 0 public; shares sql 6 + git 2 +
    # aws 2 = 10; views sql 12 + git 4 + aws 4 = 20; aws created 03-20
    same(body["kpis"], {
        "learner_engagement_score": tile(6980 / 170, 64.0, 38.0, 26.0, 2600 / 38, "up"),
        "external_impact_score": tile(58 / 38, 4 / 6, 2.0, 4 / 6 - 2, 100 * (4 / 6 - 2) / 2,
                                      "down"),
        "badges_created": tile(5, 0, 1, -1, -100.0, "down"),
        "badges_awarded": tile(170, 10, 20, -10, -50.0, "down"),
        "acceptance_rate": tile(91 / 170, 0.8, 0.5, 0.8 - 0.5, 60.0, "up"),
        "share_rate": tile(38 / 170, 0.4, 0.2, 0.2, 100.0, "up"),
        "public_visibility_rate": tile(55 / 170, 1.0, 0.0, 1.0, None, "up"),
    })
    # 8 accepted at exactly 6 h: the (1, 6] bucket; 4th of 8: 1 + 5 × 4 / 8 = 3.5
    same(body["time_to_accept"], TTA(0, 8, 0, 0, 0, 0, 0, 0, 3.5))
    assert body["coverage"]["incomplete"] == []


# ------------------------------------------------------------------------------ channels


async def test_channels_count_sort_and_hide_channels_at_zero(world, client):
    body = await get(client, world["admin"], f"{ORG}/channels?{MAR}")
    same(body["period"], {"from": "2026-03-01", "to": "2026-03-31"})
    same(body["previous_period"], {"from": "2026-01-29", "to": "2026-02-28"})
    # cohort methods: lms 40, bulk 30, api 20, automation 10, integration 10 (of 110);
    # P': lms 20, api 10
    same(body["awarding"], entries(
        ("lms", 40, 100 * 40 / 110, 20, 100.0),
        ("bulk", 30, 100 * 30 / 110, 0, None),
        ("api", 20, 100 * 20 / 110, 10, 100.0),
        ("automation", 10, 100 * 10 / 110, 0, None),
        ("integration", 10, 100 * 10 / 110, 0, None)))
    # shares: linkedin py 10 + k8s 4 + git 2 = 16, email 3, url 3, facebook 2 (of 24);
    # P': linkedin 4, x 2 -- x has nothing in March and is hidden
    same(body["sharing"], entries(
        ("linkedin", 16, 100 * 16 / 24, 4, 300.0),
        ("email", 3, 12.5, 0, None),
        ("url", 3, 12.5, 0, None),
        ("facebook", 2, 100 * 2 / 24, 0, None)))
    # views: linkedin py 30 + git 4 = 34, direct 12, search 4, social 4 (of 54); none in P'
    same(body["viewing"], entries(
        ("linkedin", 34, 100 * 34 / 54, 0, None),
        ("direct", 12, 100 * 12 / 54, 0, None),
        ("search", 4, 100 * 4 / 54, 0, None),
        ("social", 4, 100 * 4 / 54, 0, None)))
    assert sorted(body["coverage"]["incomplete"]) == ["viewing_sources"]

    april = await get(client, world["admin"], f"{ORG}/channels?{APR}")
    # P' (03-18..31) had automation, integration, email, url, facebook, direct, social:
    # none of them has a count in April, so only the April channels are listed
    same(april["awarding"], entries(("lms", 10, 100.0, 0, None)))
    same(april["sharing"], entries(("linkedin", 6, 100.0, 2, 200.0)))  # P': git 2
    same(april["viewing"], entries(("linkedin", 4, 100.0, 4, 0.0)))  # P': git 4
    assert april["coverage"]["incomplete"] == []

    year = await get(client, world["admin"], f"{ORG}/channels?{YEAR}")
    same(year, {"awarding": entries(("manual", 20, 100.0, 0, None)), "sharing": [],
                "viewing": []})


async def test_channels_follow_the_scope_and_every_filter(world, client):
    ops = await get(client, world["admin"], f"{OPS}/channels?{MAR}")
    same(ops, {
        "awarding": entries(("api", 20, 100 * 20 / 30, 10, 100.0),
                            ("integration", 10, 100 * 10 / 30, 0, None)),
        # x (k8s-feb, P') is hidden; linkedin had no ops share in P'
        "sharing": entries(("linkedin", 4, 100 * 4 / 6, 0, None),
                           ("facebook", 2, 100 * 2 / 6, 0, None)),
        "viewing": entries(("search", 4, 50.0, 0, None), ("social", 4, 50.0, 0, None)),
    })
    same(await get(client, world["admin"], f"{ORG}/channels?{MAR}&issuer_id=ops"), ops)

    sql = await get(client, world["admin"], f"{ORG}/channels?{MAR}&badge_id=sql")
    same(sql, {"awarding": entries(("bulk", 30, 100.0, 0, None)),
               "sharing": entries(("email", 3, 50.0, 0, None), ("url", 3, 50.0, 0, None)),
               "viewing": entries(("direct", 12, 100.0, 0, None))})

    k8s = await get(client, world["admin"], f"/v1/orgs/acme/badges/k8s/channels?{MAR}")
    same(k8s, {"awarding": entries(("api", 20, 100.0, 10, 100.0)),
               "sharing": entries(("linkedin", 4, 100.0, 0, None)),
               "viewing": entries(("search", 4, 100.0, 0, None))})

    pending = await get(client, world["admin"], f"{ORG}/channels?{MAR}&status=pending")
    # pending now: sql 10, py 5, k8s 5, git 5, aws 5 (of 30); P' pending: lms 10, api 5.
    # shares while pending: k8s linkedin 4, sql url 3; views while pending: sql direct 6
    same(pending, {
        "awarding": entries(("bulk", 10, 100 * 10 / 30, 0, None),
                            ("api", 5, 100 * 5 / 30, 5, 0.0),
                            ("automation", 5, 100 * 5 / 30, 0, None),
                            ("integration", 5, 100 * 5 / 30, 0, None),
                            ("lms", 5, 100 * 5 / 30, 10, -50.0)),
        "sharing": entries(("linkedin", 4, 100 * 4 / 7, 0, None),
                           ("url", 3, 100 * 3 / 7, 0, None)),
        "viewing": entries(("direct", 6, 100.0, 0, None)),
    })

    accepted = await get(client, world["admin"], f"{ENG}/channels?{MAR}&status=accepted")
    # eng accepted now: py 25, sql 15, git 5 (of 45); P': py-feb 10. Shares while accepted:
    # linkedin py 10 + git 2, email 3 (P': linkedin 4). Views while accepted: linkedin
    # py 15 + git 4, direct 6.
    same(accepted, {
        "awarding": entries(("lms", 25, 100 * 25 / 45, 10, 150.0),
                            ("bulk", 15, 100 * 15 / 45, 0, None),
                            ("automation", 5, 100 * 5 / 45, 0, None)),
        "sharing": entries(("linkedin", 12, 80.0, 4, 200.0), ("email", 3, 20.0, 0, None)),
        "viewing": entries(("linkedin", 19, 76.0, 0, None), ("direct", 6, 24.0, 0, None)),
    })


# ------------------------------------------------------------------------------ badges

# overall = 0.65 × LES + 0.35 × 100 × EIS / max EIS (py's 3.0 in March)
PY_OVERALL = 0.65 * 57 + 0.35 * 100  # 72.05
TIE_OVERALL = 0.65 * 38 + 0.35 * 100 * 2 / 3  # sql, git and aws: 48.03
K8S_OVERALL = 0.65 * 47 + 0.35 * 100 * 1 / 3  # 42.22


def row(rank: int, badge: str, name: str, issuer: str, skills: list[str], visibility: str,
        metrics: dict[str, Any], overall: float, awarded_trend: dict,
        les_trend: dict) -> dict[str, Any]:
    return {"rank": rank, "badge_id": badge, "name": name, "issuer_id": issuer,
            "skills": skills, "visibility": visibility, **metrics, "overall_score": overall,
            "trend": {"badges_awarded": awarded_trend, "learner_engagement_score": les_trend}}


MARCH_ROWS = [
    row(1, "py", "Python Basics", "eng", ["python", "programming"], "public",
        M(0, 40, 30, 12, 20, 10, 30, 0.75, 0.3, 0.5, 57.0, 3.0), PY_OVERALL,
        tr(40, 20, 20, 100.0, "up"), tr(57.0, 38.0, 19.0, 50.0, "up")),
    # sql: the name and skills of the update, the visibility of the creation
    row(2, "sql", "SQL Fundamentals", "eng", ["sql", "databases"], "private",
        M(0, 30, 15, 6, 25, 6, 12, 0.5, 0.2, 25 / 30, 38.0, 2.0), TIE_OVERALL,
        tr(30, 0, 30, None, "up"), tr(38.0, None, None, None, "flat")),
    # aws and git: the same score and the same 10 awards: badge_id decides
    row(3, "aws", "AWS Practitioner", "ops", ["aws", "cloud"], "private",
        M(1, 10, 5, 2, 0, 2, 4, 0.5, 0.2, 0.0, 38.0, 2.0), TIE_OVERALL,
        tr(10, 0, 10, None, "up"), tr(38.0, None, None, None, "flat")),
    row(4, "git", "Git Essentials", "eng", ["git"], "public",
        M(1, 10, 5, 2, 0, 2, 4, 0.5, 0.2, 0.0, 38.0, 2.0), TIE_OVERALL,
        tr(10, 0, 10, None, "up"), tr(38.0, None, None, None, "flat")),
    row(5, "k8s", "Kubernetes Operator", "ops", ["kubernetes", "containers"], "public",
        M(0, 20, 13, 4, 0, 4, 4, 0.65, 0.2, 0.0, 47.0, 1.0), K8S_OVERALL,
        tr(20, 10, 10, 100.0, "up"), tr(47.0, 38.0, 9.0, 100 * 9 / 38, "up")),
]


async def test_the_badge_table_ranks_by_overall_score_and_breaks_ties_by_awards_then_id(
        world, client):
    body = await get(client, world["admin"], f"{ORG}/badges?{MAR}")
    same(body["period"], {"from": "2026-03-01", "to": "2026-03-31"})
    assert body["total"] == 5
    same(body["items"], MARCH_ROWS)
    assert sorted(body["coverage"]["incomplete"]) == sorted(  # bot views: no table column
        ["acceptance_rate", "accepted_awards", "learner_engagement_score",
         "external_impact_score", "views"])

    # only the two tied badges: each is its own max EIS -> 0.65 × 38 + 35 = 59.7
    tied = await get(client, world["admin"], f"{ORG}/badges?{MAR}&badge_id=git&badge_id=aws")
    assert ids(tied) == ["aws", "git"] and tied["total"] == 2
    same([r["overall_score"] for r in tied["items"]], [59.7, 59.7])
    same([r["rank"] for r in tied["items"]], [1, 2])

    # ops alone: max EIS is aws's 2.0, so k8s's EIS 1.0 normalises to 50
    for url in (f"{OPS}/badges?{MAR}", f"{ORG}/badges?{MAR}&issuer_id=ops"):
        ops = await get(client, world["admin"], url)
        assert ids(ops) == ["aws", "k8s"], url
        same([r["overall_score"] for r in ops["items"]], [59.7, 0.65 * 47 + 0.35 * 50])

    one = await get(client, world["admin"], f"/v1/orgs/acme/badges/sql/badges?{MAR}")
    assert one["total"] == 1
    same(one["items"], [{**MARCH_ROWS[1], "rank": 1, "overall_score": 59.7}])


async def test_the_status_filter_reranks_the_badge_table(world, client):
    body = await get(client, world["admin"], f"{ORG}/badges?{MAR}&status=accepted")
    # accepted now, per badge (shares / views counted while accepted):
    #   py  25 awarded, 7 shared, 15 public, 10 shares, 15 views: LES 60 + 40 × 7/25 = 71.2
    #   sql 15, 3 shared, 10 public, 3 shares, 6 views: LES 60 + 8 = 68, EIS 2
    #   k8s 13, 4 shared, 0 shares (shared while pending), 4 views: EIS null
    #   git, aws 5, 2 shared, 2 shares, 4 views: LES 60 + 16 = 76, EIS 2
    # max EIS 2: py's 1.5 normalises to 75
    assert ids(body) == ["aws", "git", "sql", "py", "k8s"]
    same([r["overall_score"] for r in body["items"]], [
        0.65 * 76 + 35, 0.65 * 76 + 35, 0.65 * 68 + 35, 0.65 * 71.2 + 0.35 * 75,
        0.65 * (60 + 40 * 4 / 13)])  # k8s: 47.0
    py = body["items"][3]
    same(py, M(0, 25, 25, 7, 15, 10, 15, 1.0, 0.28, 0.6, 71.2, 1.5))
    # P' accepted: py-feb 10 awards, 4 shared -> LES 76
    same(py["trend"], {"badges_awarded": tr(25, 10, 15, 150.0, "up"),
                       "learner_engagement_score": tr(71.2, 76.0, -4.8, -480 / 76, "down")})
    k8s = body["items"][4]
    same(k8s, M(0, 13, 13, 4, 0, 0, 4, 1.0, 4 / 13, 0.0, 60 + 40 * 4 / 13, None))


async def test_the_badge_table_sorts_by_any_column_with_nulls_last(world, client):
    a = world["admin"]
    asc = await get(client, a, f"{ORG}/badges?{MAR}&sort=badges_awarded&order=asc")
    assert ids(asc) == ["aws", "git", "k8s", "sql", "py"]  # 10, 10, 20, 30, 40
    assert [r["rank"] for r in asc["items"]] == [3, 4, 5, 2, 1]  # rank stays the ranking's
    desc = await get(client, a, f"{ORG}/badges?{MAR}&sort=badges_awarded&order=desc")
    assert ids(desc) == ["py", "sql", "k8s", "aws", "git"]
    up = await get(client, a, f"{ORG}/badges?{MAR}&order=asc")
    assert ids(up) == ["k8s", "sql", "aws", "git", "py"]  # 42.2 < 48.0 (x3) < 72.05

    # 03-11..31: py and k8s have no award in the period (rates null) but views:
    #   py: 10 shares, 30 views -> EIS 3; k8s: 4 views, no share -> EIS null
    #   sql, git, aws: EIS 2
    late = await get(client, a, f"{ORG}/badges?{LATE}")
    assert ids(late) == ["sql", "aws", "git", "py", "k8s"]  # 48.03 x3, 35, 0
    same([r["overall_score"] for r in late["items"]],
         [TIE_OVERALL, TIE_OVERALL, TIE_OVERALL, 35.0, 0.0])
    same(late["items"][3], M(0, 0, 0, 0, 0, 10, 30, None, None, None, None, 3.0))
    same(late["items"][4], M(0, 0, 0, 0, 0, 0, 4, None, None, None, None, None))
    for order, expected in (("desc", ["py", "sql", "aws", "git", "k8s"]),
                            ("asc", ["sql", "aws", "git", "py", "k8s"])):
        body = await get(client, a, f"{ORG}/badges?{LATE}&sort=external_impact_score&order={order}")
        assert ids(body) == expected, order
    for order in ("desc", "asc"):
        body = await get(client, a, f"{ORG}/badges?{LATE}&sort=acceptance_rate&order={order}")
        assert ids(body)[3:] == ["py", "k8s"], order  # the two nulls come last either way

    # min_awards=1 drops py and k8s; the max EIS becomes 2, so the others score 59.7
    kept = await get(client, a, f"{ORG}/badges?{LATE}&min_awards=1")
    assert ids(kept) == ["sql", "aws", "git"] and kept["total"] == 3
    same([r["overall_score"] for r in kept["items"]], [59.7, 59.7, 59.7])


async def test_the_badge_table_pages_at_both_ends(world, client):
    a = world["admin"]
    end = await get(client, a, f"{ORG}/badges?{MAR}&offset=5")
    assert end["total"] == 5 and end["items"] == []
    first = await get(client, a, f"{ORG}/badges?{MAR}&limit=1")
    assert first["total"] == 5 and ids(first) == ["py"]
    last = await get(client, a, f"{ORG}/badges?{MAR}&offset=4&limit=1")
    same(last["items"], MARCH_ROWS[4:])
    middle = await get(client, a, f"{ORG}/badges?{MAR}&offset=2&limit=2")
    same(middle["items"], MARCH_ROWS[2:4])
    everything = await get(client, a, f"{ORG}/badges?{MAR}&limit=1000")
    same(everything["items"], MARCH_ROWS)
    big = await get(client, a, f"{ORG}/badges?{MAR}&min_awards=20")
    assert ids(big) == ["py", "sql", "k8s"] and big["total"] == 3  # 40, 30, 20 awards


async def test_the_badge_table_in_edge_periods_keeps_null_scores_null(world, client):
    a = world["admin"]
    year = await get(client, a, f"{ORG}/badges?{YEAR}")
    # k8s-dec: 2 of 10 shared (01-15) -> LES 0.4 × 0.2 × 100 = 8; py-jan: LES 0; no EIS
    same(year["items"], [
        {"badge_id": "k8s", **M(0, 10, 0, 2, 0, 0, 0, 0.0, 0.2, 0.0, 8.0, None),
         "overall_score": 5.2, "trend": {"badges_awarded": tr(10, 0, 10, None, "up"),
                                         "learner_engagement_score": tr(8.0, None, None, None,
                                                                        "flat")}},
        {"badge_id": "py", **M(0, 10, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, None),
         "overall_score": 0.0}])

    quiet = await get(client, a, f"{ORG}/badges?{NOAW}")
    # only k8s had something in P (2 shares): a ranked row without awards
    same(quiet["items"], [
        {"rank": 1, "badge_id": "k8s", **M(0, 0, 0, 0, 0, 2, 0, None, None, None, None, 0.0),
         "overall_score": 0.0,
         "trend": {"badges_awarded": tr(0, 10, -10, -100.0, "down"),
                   "learner_engagement_score": tr(None, 8.0, None, None, "flat")}}])

    day = await get(client, a, f"{ORG}/badges?{DAY}")
    same(day["items"], [{"badge_id": "py", "overall_score": 0.65 * 57}])  # no EIS: norm 0
    april = await get(client, a, f"{ORG}/badges?{APR}")
    same(april["items"], [{"badge_id": "py", **M(0, 10, 8, 4, 10, 6, 4, 0.8, 0.4, 1.0, 64.0,
                                                 4 / 6),
                           "overall_score": 0.65 * 64 + 35}])


async def test_top_badges_are_the_head_of_the_ranking(world, client):
    a = world["admin"]
    top = await get(client, a, f"{ORG}/top-badges?{MAR}")
    assert top["total"] == 5
    same(top["items"], MARCH_ROWS)
    two = await get(client, a, f"{ORG}/top-badges?{MAR}&limit=2")
    same(two["items"], MARCH_ROWS[:2])
    many = await get(client, a, f"{ORG}/top-badges?{MAR}&min_awards=15")
    # git and aws (10 awards) drop out; py keeps the max EIS so the scores stay
    assert many["total"] == 3
    same([(r["badge_id"], r["overall_score"]) for r in many["items"]],
         [("py", PY_OVERALL), ("sql", TIE_OVERALL), ("k8s", K8S_OVERALL)])
    eng = await get(client, a, f"{ENG}/top-badges?{MAR}")
    same([(r["badge_id"], r["rank"], r["overall_score"]) for r in eng["items"]],
         [("py", 1, PY_OVERALL), ("sql", 2, TIE_OVERALL), ("git", 3, TIE_OVERALL)])
    k8s = await get(client, a, f"/v1/orgs/acme/badges/k8s/top-badges?{MAR}")
    same(k8s["items"], [{**MARCH_ROWS[4], "rank": 1, "overall_score": 0.65 * 47 + 35}])
    pair = await get(client, a, f"{ORG}/top-badges?{MAR}&badge_id=py&badge_id=k8s&limit=1")
    assert pair["total"] == 2
    same(pair["items"], [MARCH_ROWS[0]])
    by_status = await get(client, a, f"{ORG}/top-badges?{MAR}&status=accepted&limit=3")
    assert ids(by_status) == ["aws", "git", "sql"]
    by_issuer = await get(client, a, f"{ORG}/top-badges?{MAR}&issuer_id=ops")
    assert ids(by_issuer) == ["aws", "k8s"]


# ------------------------------------------------------------------------------ timeseries


async def test_the_daily_series_is_zero_filled_and_buckets_by_utc_day(world, client):
    a = world["admin"]
    body = await get(client, a, f"{ORG}/timeseries?{MAR}&metric=badges_awarded&interval=day")
    assert body["metric"] == "badges_awarded" and body["interval"] == "day"
    same(body["period"], {"from": "2026-03-01", "to": "2026-03-31"})
    got = points(body)
    assert len(got) == 31 and got[0][0] == "2026-03-01" and got[-1][0] == "2026-03-31"
    # k8s-mar 20 on 03-02, py-mar 40 on 03-10, sql-mar 30 on 03-16, git + aws 20 on 03-25
    assert {d: v for d, v in got if v} == {"2026-03-02": 20, "2026-03-10": 40,
                                            "2026-03-16": 30, "2026-03-25": 20}
    assert body["coverage"]["incomplete"] == []

    ny = await get(client, a, f"{ORG}/timeseries?from=2025-12-30&to=2026-01-02"
                               "&metric=badges_awarded&interval=day")
    # k8s-dec was issued at 2026-01-01T01:00+02:00: Dec 31st in UTC
    assert points(ny) == [("2025-12-30", 0), ("2025-12-31", 10), ("2026-01-01", 0),
                          ("2026-01-02", 10)]
    day = await get(client, a, f"{ORG}/timeseries?{DAY}&metric=accepted_awards&interval=day")
    assert points(day) == [("2026-03-10", 30)]
    views = await get(client, a, f"{ENG}/timeseries?from=2026-03-09&to=2026-03-12"
                                  "&metric=views&interval=day")
    assert points(views) == [("2026-03-09", 0), ("2026-03-10", 0), ("2026-03-11", 0),
                             ("2026-03-12", 30)]
    assert views["coverage"]["incomplete"] == ["views"]  # views start 03-12


async def test_weekly_series_start_on_monday_and_are_clipped_at_both_ends(world, client):
    a = world["admin"]
    q = "from=2026-03-05&to=2026-03-26&interval=week"  # Thursday to Thursday
    weeks = ["2026-03-05", "2026-03-09", "2026-03-16", "2026-03-23"]

    async def series(url: str) -> list[int]:
        body = await get(client, a, url)
        assert [p["start"] for p in body["points"]] == weeks, url
        return [p["value"] for p in body["points"]]

    # k8s-mar (03-02) is before the clipped first week; git + aws (03-25) inside the last
    assert await series(f"{ORG}/timeseries?{q}&metric=badges_awarded") == [0, 40, 30, 20]
    # k8s 03-05, py 03-11, sql 03-19, git + aws 03-26: both clipped ends keep their day
    assert await series(f"{ORG}/timeseries?{q}&metric=shares") == [4, 10, 6, 4]
    assert await series(f"{ORG}/timeseries?{q}&metric=shares&status=pending") == [4, 0, 3, 0]
    assert await series(f"{ORG}/timeseries?{q}&metric=badges_awarded&status=revoked") == [
        0, 5, 5, 0]  # py 5..9, sql 15..19
    assert await series(f"{ORG}/timeseries?{q}&metric=accepted_awards&status=revoked") == [
        0, 5, 0, 0]  # only py's were accepted before the revoke
    assert await series(f"{ORG}/timeseries?{q}&metric=shares&issuer_id=ops") == [4, 0, 0, 2]
    assert await series(f"{ORG}/timeseries?{q}&metric=views&badge_id=sql") == [0, 0, 12, 0]
    assert await series(f"{OPS}/timeseries?{q}&metric=badges_awarded") == [0, 0, 0, 10]
    assert await series(f"{PY}/timeseries?{q}&metric=public_awards") == [0, 20, 0, 0]
    one = await get(client, a, f"{ORG}/timeseries?{DAY}&metric=badges_awarded&interval=week")
    assert points(one) == [("2026-03-10", 40)]


async def test_monthly_series_cross_the_year_and_are_clipped_at_both_ends(world, client):
    a = world["admin"]
    body = await get(client, a, f"{ORG}/timeseries?from=2025-12-20&to=2026-02-18"
                                "&metric=badges_awarded&interval=month")
    # k8s-dec (Dec 31st UTC); py-jan; py-feb 20 on 02-16 (k8s-feb 02-20 is after the end)
    assert points(body) == [("2025-12-20", 10), ("2026-01-01", 10), ("2026-02-01", 20)]
    q = "from=2026-02-15&to=2026-04-07&interval=month"
    shares = await get(client, a, f"{ORG}/timeseries?{q}&metric=shares")
    # 02-20 linkedin 4 + 02-25 x 2; March 24; 04-03 py-mar 2 + 04-07 py-apr 4
    assert points(shares) == [("2026-02-15", 6), ("2026-03-01", 24), ("2026-04-01", 6)]
    assert shares["coverage"]["incomplete"] == []
    views = await get(client, a, f"{ORG}/timeseries?{q}&metric=views")
    assert points(views) == [("2026-02-15", 0), ("2026-03-01", 54), ("2026-04-01", 0)]
    assert views["coverage"]["incomplete"] == ["views"]
    created = await get(client, a, f"{ORG}/timeseries?from=2025-11-01&to=2026-03-31"
                                   "&metric=badges_created&interval=month")
    assert [p["value"] for p in created["points"]] == [1, 1, 0, 1, 2]  # py k8s - sql git+aws
    k8s = "/v1/orgs/acme/badges/k8s/timeseries?from=2025-12-20&to=2026-03-31&interval=month"
    assert points(await get(client, a, f"{k8s}&metric=badges_awarded")) == [
        ("2025-12-20", 10), ("2026-01-01", 0), ("2026-02-01", 10), ("2026-03-01", 20)]
    # k8s-mar's 3 April acceptances still count on its March issue day
    assert [p["value"] for p in (await get(client, a, f"{k8s}&metric=accepted_awards"))[
        "points"]] == [0, 0, 5, 13]


# ------------------------------------------------------------------------------ issuer activity

ENG_LAST = datetime(2026, 4, 6, 9, tzinfo=UTC)  # py-apr
OPS_LAST = datetime(2026, 3, 25, 9, tzinfo=UTC)  # aws-mar


def activity(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(i["issuer_id"], i["name"], i["badges_created"], i["methods"],
             when(i["last_awarded_at"])) for i in body["items"]]


async def test_issuer_activity_reports_each_issuer_of_the_scope(world, client):
    a = world["admin"]
    body = await get(client, a, f"{ORG}/issuer-activity?{MAR}")
    same(body["period"], {"from": "2026-03-01", "to": "2026-03-31"})
    same(body["previous_period"], {"from": "2026-01-29", "to": "2026-02-28"})
    assert activity(body) == [
        ("eng", "Engineering", 1, {"lms": 40, "bulk": 30, "automation": 10}, ENG_LAST),
        ("ops", "Operations", 1, {"api": 20, "integration": 10}, OPS_LAST),
        ("hr", "People", 0, {}, None)]
    same([i["badges_awarded"] for i in body["items"]], [
        tr(80, 20, 60, 300.0, "up"), tr(30, 10, 20, 200.0, "up"), tr(0, 0, 0, None, "flat")])

    ops = await get(client, a, f"{ORG}/issuer-activity?{MAR}&issuer_id=ops")
    assert activity(ops) == [("ops", "Operations", 1, {"api": 20, "integration": 10},
                              OPS_LAST)]
    same(await get(client, a, f"{OPS}/issuer-activity?{MAR}"), ops)
    hr = await get(client, a, f"/v1/orgs/acme/issuers/hr/issuer-activity?{MAR}")
    assert activity(hr) == [("hr", "People", 0, {}, None)]

    accepted = await get(client, a, f"{ORG}/issuer-activity?{MAR}&status=accepted")
    # eng: py 25 + sql 15 + git 5 (P': py-feb 10); ops: k8s 13 + aws 5 (P': k8s-feb 5)
    assert activity(accepted)[:2] == [
        ("eng", "Engineering", 1, {"lms": 25, "bulk": 15, "automation": 5}, ENG_LAST),
        ("ops", "Operations", 1, {"api": 13, "integration": 5}, OPS_LAST)]
    same([i["badges_awarded"] for i in accepted["items"][:2]],
         [tr(45, 10, 35, 350.0, "up"), tr(18, 5, 13, 260.0, "up")])

    py = await get(client, a, f"{ORG}/issuer-activity?{MAR}&badge_id=py")
    eng = [i for i in py["items"] if i["issuer_id"] == "eng"]
    assert len(eng) == 1 and eng[0]["methods"] == {"lms": 40}
    assert eng[0]["badges_created"] == 0  # py was created in 2025
    same(eng[0]["badges_awarded"], tr(40, 20, 20, 100.0, "up"))
    assert all(i["badges_awarded"]["current"] == 0 for i in py["items"] if i is not eng[0])

    year = await get(client, a, f"{ORG}/issuer-activity?{YEAR}")
    assert activity(year) == [("eng", "Engineering", 0, {"manual": 10}, ENG_LAST),
                              ("ops", "Operations", 0, {"manual": 10}, OPS_LAST),
                              ("hr", "People", 0, {}, None)]
    same([i["badges_awarded"] for i in year["items"][:2]],
         [tr(10, 0, 10, None, "up"), tr(10, 0, 10, None, "up")])


# ------------------------------------------------------------------------------ scoping

READS = ("summary", "channels", "badges", "top-badges", "timeseries")


def all_paths(org: str = "acme", issuer: str = "eng", badge: str = "py") -> list[str]:
    base = f"/v1/orgs/{org}"
    out = [f"{s}/{r}" for s in (base, f"{base}/issuers/{issuer}", f"{base}/badges/{badge}")
           for r in READS]
    return [*out, f"{base}/issuer-activity", f"{base}/issuers/{issuer}/issuer-activity"]


async def test_keys_are_401_without_403_for_publishers_and_404_for_another_org(world, client):
    for path in all_paths():
        url = f"{path}?{MAR}"
        await get(client, None, url, 401)
        await get(client, "bpk_nope_nope", url, 401)
        await get(client, world["pub"], url, 403)
        await get(client, world["globex"], url, 404)
        await get(client, world["admin"], url, 200)
    for path in all_paths(issuer="nobody", badge="nothing"):
        if "nobody" in path or "nothing" in path:
            await get(client, world["admin"], f"{path}?{MAR}", 404)
    for path in all_paths("globex", "sales", "deal"):
        await get(client, world["admin"], f"{path}?{MAR}", 404)
        await get(client, world["globex"], f"{path}?{MAR}", 200)
    g = await get(client, world["globex"], f"/v1/orgs/globex/summary?{MAR}")
    same(g["metrics"], M(1, 5, 5, 0, 0, 0, 0, 1.0, 0.0, 0.0, 60.0, None))


async def test_an_issuer_key_sees_only_its_issuers_on_every_endpoint(world, client):
    k = world["eng"]
    summary = await get(client, k, f"{ORG}/summary?{MAR}")
    assert summary["scope"]["issuer_ids"] == ["eng"]
    same(summary["metrics"], M(1, 80, 50, 20, 45, 18, 46, 50 / 80, 20 / 80, 45 / 80, 47.5,
                               46 / 18))
    same(tile_values(summary), {"badges_created": 3, "badges_awarded": 120,
                                "learner_engagement_score": 5200 / 120})
    same(await get(client, k, f"{ORG}/channels?{MAR}"),
         await get(client, world["admin"], f"{ENG}/channels?{MAR}"))
    table = await get(client, k, f"{ORG}/badges?{MAR}")
    same(table["items"], [MARCH_ROWS[0], MARCH_ROWS[1], {**MARCH_ROWS[3], "rank": 3}])
    assert ids(await get(client, k, f"{ORG}/top-badges?{MAR}")) == ["py", "sql", "git"]
    series = await get(client, k, f"{ORG}/timeseries?from=2026-03-05&to=2026-03-26"
                                  "&interval=week&metric=badges_awarded")
    assert [p["value"] for p in series["points"]] == [0, 40, 30, 10]
    assert [i["issuer_id"] for i in
            (await get(client, k, f"{ORG}/issuer-activity?{MAR}"))["items"]] == ["eng"]
    for path in all_paths():
        await get(client, k, f"{path}?{MAR}", 200)
    for path in all_paths(issuer="ops", badge="k8s"):
        if path.startswith((f"{ORG}/issuers/ops", f"{ORG}/badges/k8s")):
            await get(client, k, f"{path}?{MAR}", 404)
    for read in READS:
        await get(client, k, f"{ORG}/{read}?{MAR}&issuer_id=ops", 404)

    two = world["ops_hr"]
    summary = await get(client, two, f"{ORG}/summary?{MAR}")
    assert summary["scope"]["issuer_ids"] == ["hr", "ops"]
    same(summary["metrics"], M(1, 30, 18, 6, 0, 6, 8, 0.6, 0.2, 0.0, 44.0, 8 / 6))
    # ops all time: k8s 10 + 10 + 20, aws 10 = 50 awards; 23 accepted, 10 shared, 10 shares
    same(tile_values(summary), {
        "badges_created": 2, "badges_awarded": 50, "acceptance_rate": 23 / 50,
        "share_rate": 10 / 50, "public_visibility_rate": 0.0,
        "learner_engagement_score": 35.6,  # (0.6 × 23 + 0.4 × 10) / 50 × 100
        "external_impact_score": 8 / 10})
    assert [i["issuer_id"] for i in
            (await get(client, two, f"{ORG}/issuer-activity?{MAR}"))["items"]] == ["ops", "hr"]
    assert ids(await get(client, two, f"{ORG}/badges?{MAR}")) == ["aws", "k8s"]
    hr = await get(client, two, f"/v1/orgs/acme/issuers/hr/summary?{MAR}")
    same(hr["metrics"], EMPTY())
    for path in (f"{ENG}/summary", f"{PY}/channels", f"{ENG}/issuer-activity"):
        await get(client, two, f"{path}?{MAR}", 404)


async def test_an_org_without_events_answers_zeros_and_nulls(world, client):
    k = world["initech"]
    body = await get(client, k, f"/v1/orgs/initech/summary?{MAR}")
    zero = tile(0, 0, 0, 0, None, "flat")
    null = tile(None, None, None, None, None, "flat")
    same(body, {
        "scope": {"org_id": "initech", "issuer_id": None, "badge_id": None,
                  "issuer_ids": None},
        "metrics": EMPTY(),
        "kpis": {"badges_created": zero, "badges_awarded": zero,
                 "learner_engagement_score": null, "external_impact_score": null,
                 "acceptance_rate": null, "share_rate": null, "public_visibility_rate": null},
        "highlights": {"most_used_awarding_method": None, "most_used_sharing_method": None,
                       "most_common_viewing_source": None},
        "time_to_accept": TTA(0, 0, 0, 0, 0, 0, 0, 0, None),
        "coverage": {"first_day": {}},
    })
    assert incomplete(body) == ALL_FLAGS  # nothing has been seen yet
    ch = await get(client, k, f"/v1/orgs/initech/channels?{MAR}")
    assert (ch["awarding"], ch["sharing"], ch["viewing"]) == ([], [], [])
    for read in ("badges", "top-badges"):
        table = await get(client, k, f"/v1/orgs/initech/{read}?{MAR}")
        assert table["total"] == 0 and table["items"] == []
    series = await get(client, k, f"/v1/orgs/initech/timeseries?{MAR}&interval=week")
    assert points(series) == [("2026-03-01", 0), ("2026-03-02", 0), ("2026-03-09", 0),
                              ("2026-03-16", 0), ("2026-03-23", 0), ("2026-03-30", 0)]
    assert (await get(client, k, f"/v1/orgs/initech/issuer-activity?{MAR}"))["items"] == []
    for path in ("issuers/eng/summary", "badges/py/summary"):
        await get(client, k, f"/v1/orgs/initech/{path}?{MAR}", 404)
    await get(client, k, f"{ORG}/summary?{MAR}", 404)


@pytest.mark.parametrize("path, query, param", [
    ("badges", "sort=name", "sort"),
    ("badges", "sort=bogus", "sort"),
    ("badges", "order=up", "order"),
    ("badges", "limit=0", "limit"),
    ("badges", "limit=1001", "limit"),
    ("badges", "offset=-1", "offset"),
    ("badges", "min_awards=-1", "min_awards"),
    ("top-badges", "limit=0", "limit"),
    ("top-badges", "limit=1001", "limit"),
    ("timeseries", "interval=hour", "interval"),
    ("timeseries", "metric=acceptance_rate", "metric"),
    ("timeseries", "metric=bogus", "metric"),
    ("channels", "status=lost", "status"),
    ("issuer-activity", "from=2026-04-01&to=2026-03-01", "from"),
])
async def test_invalid_parameters_are_422_naming_the_parameter(world, client, path, query,
                                                               param):
    for scope in (ORG, ENG, PY):
        if path == "issuer-activity" and scope == PY:
            continue
        url = f"{scope}/{path}?{query}" if "from=" in query else f"{scope}/{path}?{MAR}&{query}"
        body = await get(client, world["admin"], url, 422)
        assert any(param in d["loc"] for d in body["detail"]), (url, body)


async def test_an_issuer_key_gets_404_for_a_badge_filter_outside_its_issuers(world, client):
    # api.md: "an issuer/badge outside the key's issuers: 404", as for issuer_id=ops above
    for read in READS:
        await get(client, world["eng"], f"{ORG}/{read}?{MAR}&badge_id=k8s", 404)
    await get(client, world["eng"], f"{ORG}/issuer-activity?{MAR}&badge_id=k8s", 404)
