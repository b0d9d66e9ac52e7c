"""Compare API answers with the brute-force oracle, number by number."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import httpx

from tests.oracle import Oracle


def same(a: Any, b: Any, path: str = "") -> list[str]:
    """Differences between two JSON-like values (floats compared to 1e-9 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: missing on one side ({a.get(k)!r} vs {b.get(k)!r})")
            else:
                out.extend(same(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {a!r} != {b!r}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in same(x, y, f"{path}[{i}]")]
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return [] if a == b else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        ok = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        return [] if ok else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, date) or isinstance(b, date):
        return [] if str(a) == str(b) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


SUMMARY_PARTS = ("metrics", "kpis", "highlights", "time_to_accept", "coverage")


async def check_summary(
    client: httpx.AsyncClient, oracle: Oracle, token: str, org: str, *,
    period: tuple[date, date], issuer_id: str | None = None, badge_id: str | None = None,
    issuer_ids: tuple[str, ...] = (), badge_ids: tuple[str, ...] = (),
    statuses: tuple[str, ...] = (), key_issuers: list[str] | None = None,
) -> list[str]:
    path = f"/v1/orgs/{org}"
    if issuer_id:
        path += f"/issuers/{issuer_id}"
    if badge_id:
        path += f"/badges/{badge_id}"
    params: list[tuple[str, str]] = [("from", period[0].isoformat()),
                                     ("to", period[1].isoformat())]
    params += [("issuer_id", i) for i in issuer_ids]
    params += [("badge_id", b) for b in badge_ids]
    params += [("status", s) for s in statuses]
    r = await client.get(f"{path}/summary", params=params,
                         headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        return [f"{path} {params}: HTTP {r.status_code} {r.text[:300]}"]
    got = r.json()
    want = oracle.summary(org, issuer_id=issuer_id, badge_id=badge_id, period=period,
                          issuer_ids=list(issuer_ids), badge_ids=list(badge_ids),
                          statuses=list(statuses), key_issuers=key_issuers)
    diffs = []
    for part in SUMMARY_PARTS:
        diffs += [f"{path} {params} {d}" for d in same(got[part], want[part], part)]
    kw = {"issuer_id": issuer_id, "badge_id": badge_id, "issuer_ids": list(issuer_ids),
          "badge_ids": list(badge_ids), "statuses": list(statuses), "key_issuers": key_issuers}
    diffs += await check_insights(client, oracle, token, org, path, params, period, kw)
    return diffs


INSIGHT_PARTS = {"channels": ("channels", "unattributed_views"), "methods": ("methods",),
                 "funnel": ("issued", "accepted", "shared", "viewed", "steps", "previous")}


async def check_insights(client: httpx.AsyncClient, oracle: Oracle, token: str, org: str,
                         path: str, params: list[tuple[str, str]], period: tuple[date, date],
                         kw: dict[str, Any]) -> list[str]:
    """The three scoped insights of the same query (insights.md), and for an org_admin's
    whole-org query without filters the benchmarks too."""
    h = {"Authorization": f"Bearer {token}"}
    diffs: list[str] = []
    for name, parts in INSIGHT_PARTS.items():
        r = await client.get(f"{path}/insights/{name}", params=params, headers=h)
        if r.status_code != 200:
            diffs.append(f"{path}/insights/{name} {params}: HTTP {r.status_code} {r.text[:300]}")
            continue
        got = r.json()
        want = getattr(oracle, f"insight_{name}")(org, period=period, **kw)
        for part in parts:
            diffs += [f"{path}/insights/{name} {params} {d}"
                      for d in same(got[part], want[part], part)]
    whole_org = path == f"/v1/orgs/{org}" and kw["key_issuers"] is None and not (
        kw["issuer_ids"] or kw["badge_ids"] or kw["statuses"])
    if whole_org:
        r = await client.get(f"{path}/insights/benchmarks", params=params, headers=h)
        if r.status_code != 200:
            return [*diffs, f"{path}/insights/benchmarks: HTTP {r.status_code} {r.text[:300]}"]
        want = oracle.insight_benchmarks(org, period=period)
        diffs += [f"{path}/insights/benchmarks {params} {d}"
                  for d in same(r.json()["metrics"], want["metrics"], "metrics")]
    return diffs


def _params(period: tuple[date, date], issuer_ids: tuple[str, ...] = (),
            badge_ids: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
            **extra: object) -> list[tuple[str, str]]:
    out = [("from", period[0].isoformat()), ("to", period[1].isoformat())]
    out += [("issuer_id", i) for i in issuer_ids]
    out += [("badge_id", b) for b in badge_ids]
    out += [("status", s) for s in statuses]
    out += [(k, str(v)) for k, v in extra.items()]
    return out


def _scope_path(org: str, issuer_id: str | None, badge_id: str | None) -> str:
    path = f"/v1/orgs/{org}"
    if issuer_id:
        path += f"/issuers/{issuer_id}"
    if badge_id:
        path += f"/badges/{badge_id}"
    return path


async def check_analytics(
    client: httpx.AsyncClient, oracle: Oracle, token: str, org: str, *,
    period: tuple[date, date], issuer_id: str | None = None, badge_id: str | None = None,
    issuer_ids: tuple[str, ...] = (), badge_ids: tuple[str, ...] = (),
    statuses: tuple[str, ...] = (), key_issuers: list[str] | None = None,
) -> list[str]:
    """channels, the full badge table, top badges, three time series, issuer activity."""
    path = _scope_path(org, issuer_id, badge_id)
    h = {"Authorization": f"Bearer {token}"}
    kw = {"issuer_id": issuer_id, "badge_id": badge_id, "period": period,
          "issuer_ids": list(issuer_ids), "badge_ids": list(badge_ids),
          "statuses": list(statuses), "key_issuers": key_issuers}
    params = _params(period, issuer_ids, badge_ids, statuses)
    diffs: list[str] = []

    async def get(suffix: str, extra: list[tuple[str, str]]) -> Any:
        r = await client.get(f"{path}/{suffix}", params=params + extra, headers=h)
        if r.status_code != 200:
            diffs.append(f"{path}/{suffix} {params + extra}: HTTP {r.status_code} {r.text[:200]}")
            return None
        return r.json()

    got = await get("channels", [])
    if got is not None:
        want = oracle.channels(org, **kw)
        for part in ("awarding", "sharing", "viewing"):
            diffs += [f"{path}/channels {params} {d}" for d in same(got[part], want[part], part)]
    got = await get("badges", [("limit", "1000")])
    if got is not None:
        want_rows = oracle.badges(org, **kw)
        diffs += [f"{path}/badges {params} {d}"
                  for d in same(got["items"], want_rows, "items")]
        if got["total"] != len(want_rows):
            diffs.append(f"{path}/badges total {got['total']} != {len(want_rows)}")
        top = await get("top-badges", [])
        if top is not None:
            diffs += [f"{path}/top-badges {d}" for d in same(top["items"], want_rows[:5], "")]
    for metric, interval in (("badges_awarded", "week"), ("views", "day"),
                             ("accepted_awards", "month"), ("shares", "week")):
        got = await get("timeseries", [("metric", metric), ("interval", interval)])
        if got is not None:
            want_pts = oracle.timeseries(org, metric=metric, interval=interval, **kw)
            diffs += [f"{path}/timeseries {metric}/{interval} {d}"
                      for d in same(got["points"], want_pts, "points")]
    if badge_id is None:
        got = await get("issuer-activity", [])
        if got is not None:
            kw2 = {k: v for k, v in kw.items() if k != "badge_id"}
            want_items = oracle.issuer_activity(org, **kw2)
            diffs += [f"{path}/issuer-activity {d}"
                      for d in same(got["items"], want_items, "items")]
    return diffs
