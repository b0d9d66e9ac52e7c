"""Badge table, top badges and issuer activity, from the per-org table hashes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from api.auth import ApiKey
from api.readers.counters import CounterReader, fold
from api.readers.scope import Query, Resolved, resolve
from api.readers.summary import iso_us, period_out, read_coverage
from schemas.layout import TABLE_KINDS, Layout, period_buckets
from schemas.metrics import (
    ALL_METRICS,
    derive,
    incomplete,
    previous_period,
    rank_badges,
    sort_rows,
    trend,
)

KIND_INDEX = {k: i for i, k in enumerate(TABLE_KINDS)}
BC = len(TABLE_KINDS)  # index of badges created in a row vector
Pair = tuple[str, str]


@dataclass
class TableCounts:
    """Per (issuer, badge): [aw, ac, sh, pu, sc, vs, bc]; per issuer: method counts."""

    rows: defaultdict[Pair, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * (BC + 1)))
    methods: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int)))


_PARSED: dict[bytes, tuple[Pair, int, str, str] | None] = {}


def _parse(f: bytes) -> tuple[Pair, int, str, str] | None:
    """b'iss|badge|aw.a' -> ((iss, badge), index, status, method or '')."""
    hit = _PARSED.get(f, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    issuer, badge, rest = f.decode().split("|", 2)
    out: tuple[Pair, int, str, str] | None
    if rest == "bc":
        out = ((issuer, badge), BC, "", "")
    else:
        head, _, status = rest.rpartition(".")
        if head.startswith("me."):
            out = ((issuer, badge), -1, status, head[3:])
        else:
            idx = KIND_INDEX.get(head)
            out = None if idx is None else ((issuer, badge), idx, status, "")
    if len(_PARSED) > 500_000:
        _PARSED.clear()
    _PARSED[f] = out
    return out


def fold_table(hashes: Iterable[dict[bytes, bytes]], statuses: frozenset[str],
               pairs: set[Pair] | None, issuers: set[str] | None) -> TableCounts:
    out = TableCounts()
    rows, methods = out.rows, out.methods
    for h in hashes:
        for f, v in h.items():
            parsed = _parse(f)
            if parsed is None:
                continue
            p, idx, status, method = parsed
            if idx == -1:
                if status in statuses and (issuers is None or p[0] in issuers):
                    methods[p[0]][method] += int(v)
                continue
            if pairs is not None and p not in pairs:
                continue
            if idx == BC or status in statuses:
                rows[p][idx] += int(v)
    return out


async def read_table_hashes(redis: Redis, layout: Layout, org: str,
                            periods: list[tuple[date, date]]) -> list[list[dict[bytes, bytes]]]:
    pipe = redis.pipeline(transaction=True)
    sizes = []
    for start, end in periods:
        buckets = period_buckets(start, end)
        sizes.append(len(buckets))
        for b in buckets:
            pipe.hgetall(layout.table(org, b))
    res = await pipe.execute()
    out, i = [], 0
    for n in sizes:
        out.append(res[i:i + n])
        i += n
    return out


def _counts(vec: list[int]) -> dict[str, int]:
    return {"badges_awarded": vec[0], "accepted_awards": vec[1], "shared_awards": vec[2],
            "public_awards": vec[3], "shares": vec[4], "views": vec[5],
            "badges_created": vec[BC]}


def _by_badge(rows: dict[Pair, list[int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for (_issuer, badge), vec in rows.items():
        cur = out.get(badge)
        if cur is None:
            out[badge] = list(vec)
        else:
            for i, n in enumerate(vec):
                cur[i] += n
    return out


def _meta_value(meta: dict[str, Any], name: str) -> Any:
    v = meta.get(name)
    return v[2] if isinstance(v, list) and len(v) == 3 else None


async def ranked_rows(redis: Redis, layout: Layout, caller: ApiKey, q: Query,
                      min_awards: int | None) -> tuple[Resolved, list[dict[str, Any]]]:
    res = await resolve(redis, layout, caller, q)
    pstart, pend = previous_period(q.start, q.end)
    cur_h, prev_h = await read_table_hashes(redis, layout, q.org_id,
                                            [(q.start, q.end), (pstart, pend)])
    pairs = set(res.pairs)
    cur = _by_badge(fold_table(cur_h, q.status_codes, pairs, None).rows)
    prev = _by_badge(fold_table(prev_h, q.status_codes, pairs, None).rows)
    badge_issuer = {b: i for i, b in sorted(pairs, reverse=True)}
    metas_raw = await redis.hmget(layout.badges(q.org_id), sorted(cur)) if cur else []
    metas = {b: (orjson.loads(m) if m else {}) for b, m in zip(sorted(cur), metas_raw,
                                                                strict=True)}
    rows = []
    for badge, vec in cur.items():
        if vec[0] + vec[4] + vec[5] == 0:
            continue  # no award, share or view in the period
        if min_awards is not None and vec[0] < min_awards:
            continue
        m = derive(_counts(vec))
        p = derive(_counts(prev.get(badge, [0] * (BC + 1))))
        meta = metas.get(badge, {})
        row: dict[str, Any] = {
            "rank": 0, "badge_id": badge, "name": _meta_value(meta, "name"),
            "issuer_id": meta.get("issuer_id") or badge_issuer.get(badge),
            "skills": _meta_value(meta, "skills") or [],
            "visibility": _meta_value(meta, "visibility"),
            **{k: m[k] for k in ALL_METRICS}, "overall_score": 0.0,
            "trend": {"badges_awarded": trend(m["badges_awarded"], p["badges_awarded"]),
                      "learner_engagement_score": trend(m["learner_engagement_score"],
                                                        p["learner_engagement_score"])},
        }
        rows.append(row)
    return res, rank_badges(rows)


async def read_badges(redis: Redis, layout: Layout, caller: ApiKey, q: Query, *,
                      sort: str = "overall_score", descending: bool = True, limit: int = 50,
                      offset: int = 0, min_awards: int | None = None) -> dict[str, Any]:
    res, rows = await ranked_rows(redis, layout, caller, q, min_awards)
    if sort != "overall_score" or not descending:
        rows = sort_rows(rows, sort, descending)
    pstart, pend = previous_period(q.start, q.end)
    first_day = await read_coverage(redis, layout, q.org_id)
    return {
        "period": period_out(q.start, q.end), "previous_period": period_out(pstart, pend),
        "total": len(rows), "items": rows[offset:offset + limit],
        "coverage": {"first_day": first_day,
                     "incomplete": incomplete(ALL_METRICS, first_day, pstart)},
    }


async def read_issuer_activity(redis: Redis, layout: Layout, caller: ApiKey,
                               q: Query) -> dict[str, Any]:
    res = await resolve(redis, layout, caller, q)
    pstart, pend = previous_period(q.start, q.end)
    visible = set(caller.issuers) if caller.role == "issuer" else None
    known = {k.decode() for k in cast(list[bytes], await redis.hkeys(layout.issuers(q.org_id)))}
    known |= {i for i, _b in await _all_pairs(redis, layout, q.org_id)}
    issuers = {i for i in known if visible is None or i in visible}
    if q.issuer_id is not None:
        issuers &= {q.issuer_id}
    if q.issuer_filter:
        issuers &= set(q.issuer_filter)
    pairs = set(res.pairs)
    cur_h, prev_h = await read_table_hashes(redis, layout, q.org_id,
                                            [(q.start, q.end), (pstart, pend)])
    cur = fold_table(cur_h, q.status_codes, pairs, issuers)
    prev = fold_table(prev_h, q.status_codes, pairs, issuers)
    methods: dict[str, dict[str, int]] = {i: dict(cur.methods.get(i, {})) for i in issuers}
    if q.badge_filter or q.badge_id is not None:
        # methods per issuer are kept per issuer only; a badge filter reads its pairs' keys
        methods = {i: {} for i in issuers}
        reader = CounterReader(redis)
        wanted = sorted(p for p in pairs if p[0] in issuers)
        idx = [reader.want((layout.counter_base(q.org_id, "b", f"{i}|{b}"),), q.start, q.end)
               for i, b in wanted]
        hashes = await reader.run()
        for (i, _b), k in zip(wanted, idx, strict=True):
            for m, n in fold(hashes[k], q.status_codes).methods.items():
                if n:
                    methods[i][m] = methods[i].get(m, 0) + n
    names_raw = await redis.hmget(layout.issuers(q.org_id), sorted(issuers)) if issuers else []
    names = {i: (orjson.loads(n) if n else {}) for i, n in zip(sorted(issuers), names_raw,
                                                                strict=True)}
    last_raw = await redis.hmget(layout.last_awarded(q.org_id), sorted(issuers)) if issuers \
        else []
    last = dict(zip(sorted(issuers), last_raw, strict=True))
    items = []
    for i in issuers:
        created = sum(v[BC] for p, v in cur.rows.items() if p[0] == i)
        aw_cur = sum(v[0] for p, v in cur.rows.items() if p[0] == i)
        aw_prev = sum(v[0] for p, v in prev.rows.items() if p[0] == i)
        items.append({
            "issuer_id": i, "name": _meta_value(names[i], "name"),
            "badges_created": created, "badges_awarded": trend(aw_cur, aw_prev),
            "methods": dict(sorted(((m, n) for m, n in methods[i].items() if n),
                                   key=lambda kv: (-kv[1], kv[0]))),
            "last_awarded_at": iso_us(int(ts)) if (ts := last[i]) is not None else None,
        })
    items.sort(key=lambda it: (-it["badges_awarded"]["current"], it["issuer_id"]))
    return {"period": period_out(q.start, q.end), "previous_period": period_out(pstart, pend),
            "items": items}


async def _all_pairs(redis: Redis, layout: Layout, org: str) -> list[Pair]:
    raw = cast(set[bytes], await redis.smembers(layout.pairs(org)))
    out = []
    for p in raw:
        i, _, b = p.decode().partition("|")
        out.append((i, b))
    return out

