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
    return diffs
