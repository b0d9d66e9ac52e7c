"""Badge table, top badges and issuer activity, from the per-org table hashes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import orjson
from redis.asyncio import Redis

from api.readers.caches import PairCache, ReadCaches
from api.readers.counters import CounterReader, fold
from api.readers.scope import ReadQuery, Resolved, org_pairs, resolve
from api.readers.shapes import (
    BadgeRowAnswer,
    BadgesAnswer,
    IssuerActivityAnswer,
    IssuerItemAnswer,
    TrendAnswer,
    plain,
)
from api.readers.summary import period_out, read_coverage
from core.keys import ApiKey
from core.status import iso_us
from schemas.layout import (
    BADGE_LEVEL,
    TABLE_BC,
    TABLE_KINDS,
    TABLE_STATUS,
    Layout,
    pair,
    split_pair,
)
from schemas.metrics import (
    BADGE_METRICS,
    derive,
    incomplete,
    learner_engagement_score,
    previous_period,
    rank_badges,
    ratio,
    sort_rows,
    trend,
)

BC = len(TABLE_KINDS)  # index of badges created in a row: [aw, ac, sh, pu, sc, vs, bc]
Pair = tuple[str, str]


@dataclass
class TableCounts:
    """Per (issuer, badge): [aw, ac, sh, pu, sc, vs, bc]; per issuer: method counts."""

    rows: dict[Pair, list[int]] = field(default_factory=dict)
    methods: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int)))


def fold_vectors(names: list[bytes], total: np.ndarray, statuses: frozenset[str],
                 pairs: set[Pair] | None, memo: PairCache | None = None,
                 ) -> dict[Pair, list[int]]:
    """Rows [aw, ac, sh, pu, sc, vs, bc] of the pairs, summed over the chosen statuses.
    `memo`: the app's split pair members (ReadCaches.pairs)."""
    if not names:
        return {}
    cols = [i for i, st in enumerate(TABLE_STATUS) if st in statuses]
    n = len(names)
    # (n, kinds, statuses) -> the chosen statuses summed per kind, then badges created
    by_kind = total[:, :TABLE_BC].reshape(n, BC, len(TABLE_STATUS))[:, :, cols].sum(axis=2)
    summed = np.concatenate([by_kind, total[:, TABLE_BC:TABLE_BC + 1]], axis=1).tolist()
    split = memo.get if memo is not None else (lambda m: split_pair(m.decode()))
    out: dict[Pair, list[int]] = {}
    for name, row in zip(names, summed, strict=True):
        ib = split(name)
        if pairs is None or ib in pairs:
            out[ib] = row
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
            out[badge] = vec  # rows are fresh lists from fold_vectors: ours to add into
        else:
            for i, n in enumerate(vec):
                cur[i] += n
    return out


def _meta_value(meta: dict[str, Any], name: str) -> Any:
    v = meta.get(name)
    return v[2] if isinstance(v, list) and len(v) == 3 else None


def _row(badge: str, vec: list[int], pv: list[int] | None, meta: dict[str, Any],
         badge_issuer: dict[str, str]) -> dict[str, Any]:
    m = derive(_counts(vec))
    p_aw = pv[0] if pv else 0
    p_les = learner_engagement_score(ratio(pv[1], p_aw), ratio(pv[2], p_aw)) if pv else None
    return {
        "rank": 0, "badge_id": badge, "name": _meta_value(meta, "name"),
        "issuer_id": meta.get("issuer_id") or badge_issuer.get(badge),
        "skills": _meta_value(meta, "skills") or [],
        "visibility": _meta_value(meta, "visibility"),
        **m, "overall_score": 0.0,
        "trend": {"badges_awarded": trend(m["badges_awarded"], p_aw),
                  "learner_engagement_score": trend(m["learner_engagement_score"], p_les)},
    }


async def ranked_rows(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery,
                      min_awards: int | None, window: tuple[int, int] | None = None, *,
                      caches: ReadCaches) -> tuple[Resolved, list[dict[str, Any]], int]:
    """(scope, rows ranked by overall score, how many rows in all). With `window` =
    (offset, limit) only the rows of that window are built: the ranking needs only each
    badge's awards, engagement and impact (computed by the same functions as the rows')."""
    res = await resolve(redis, layout, caller, q, caches.pairs)
    pstart, pend = previous_period(q.start, q.end)
    names, (cur_t, prev_t) = await caches.vectors.period_totals(
        redis, layout, q.org_id, [(q.start, q.end), (pstart, pend)])
    pairs = set(res.pairs)
    # the ranking is the longest stretch of CPU of any answer (a few ms each fold for 2,000
    # badges): let the loop serve what waits (cached answers) between its parts, so a
    # background refresh does not hold them (issue 9)
    await asyncio.sleep(0)
    cur = _by_badge(fold_vectors(names, cur_t, q.status_codes, pairs, caches.pairs))
    await asyncio.sleep(0)
    prev = _by_badge(fold_vectors(names, prev_t, q.status_codes, pairs, caches.pairs))
    await asyncio.sleep(0)
    badge_issuer: dict[str, str] = {}  # a badge of several issuers: the first issuer id
    for i, b in pairs:
        if b not in badge_issuer or i < badge_issuer[b]:
            badge_issuer[b] = i
    kept = [(badge, vec) for badge, vec in cur.items()
            if vec[0] + vec[4] + vec[5] != 0  # an award, share or view in the period
            and (min_awards is None or vec[0] >= min_awards)]
    if window is None:
        # the whole hash: one argument-less HGETALL beats an HMGET of every badge id
        stored = cast(dict[bytes, bytes], await redis.hgetall(layout.badges(q.org_id)))
        metas = {b.decode(): caches.meta.get(m) for b, m in stored.items()}
        rows = [_row(badge, vec, prev.get(badge), metas.get(badge, {}), badge_issuer)
                for badge, vec in kept]
        return res, rank_badges(rows), len(rows)
    # rank_badges' order and score, from the three numbers it reads of each row
    awarded = [vec[0] for _b, vec in kept]
    les = [learner_engagement_score(ratio(vec[1], vec[0]), ratio(vec[2], vec[0]))
           for _b, vec in kept]
    eis = [ratio(vec[5], vec[4]) or 0 for _b, vec in kept]
    top = max(eis, default=0)
    overall = [0.65 * (le or 0) + 0.35 * (100 * e / top if top else 0.0)
               for le, e in zip(les, eis, strict=True)]
    order = sorted(range(len(kept)), key=lambda j: (-overall[j], -awarded[j], kept[j][0]))
    offset, limit = window
    page = [order[pos] for pos in range(offset, min(offset + limit, len(order)))]
    # the metadata of the page's badges only
    ids = [kept[j][0] for j in page]
    raw = cast(list[bytes | None], await redis.hmget(layout.badges(q.org_id), ids)) if ids \
        else []
    metas = {b: caches.meta.get(m) for b, m in zip(ids, raw, strict=True)}
    rows = []
    for pos, j in enumerate(page, offset):
        badge, vec = kept[j]
        row = _row(badge, vec, prev.get(badge), metas.get(badge, {}), badge_issuer)
        row["overall_score"] = overall[j]
        row["rank"] = pos + 1
        rows.append(row)
    return res, rows, len(kept)


async def read_badges(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery, *,
                      caches: ReadCaches, sort: str = "overall_score",
                      descending: bool = True, limit: int = 50, offset: int = 0,
                      min_awards: int | None = None) -> dict[str, Any]:
    if sort == "overall_score" and descending:
        # the ranking's own order: only the rows asked for are built
        _res, items, total = await ranked_rows(redis, layout, caller, q, min_awards,
                                               (offset, limit), caches=caches)
    else:
        _res, rows, total = await ranked_rows(redis, layout, caller, q, min_awards,
                                              caches=caches)
        items = sort_rows(rows, sort, descending)[offset:offset + limit]
    pstart, pend = previous_period(q.start, q.end)
    first_day = await read_coverage(redis, layout, q.org_id)
    answer: BadgesAnswer = {
        "period": period_out(q.start, q.end), "previous_period": period_out(pstart, pend),
        # rows are built by _row (and ranked by schemas/metrics.py) as dicts; their keys
        # are held to BadgeRowAnswer by tests/unit/test_answer_shapes.py
        "total": total, "items": cast(list[BadgeRowAnswer], items),
        "coverage": {"first_day": first_day,
                     "incomplete": incomplete(BADGE_METRICS, first_day, pstart)},
    }
    return plain(answer)


async def read_issuer_activity(redis: Redis, layout: Layout, caller: ApiKey,
                               q: ReadQuery, *, caches: ReadCaches) -> dict[str, Any]:
    res = await resolve(redis, layout, caller, q, caches.pairs)
    pstart, pend = previous_period(q.start, q.end)
    visible = set(caller.issuers) if caller.role == "issuer" else None
    known = {k.decode() for k in cast(list[bytes], await redis.hkeys(layout.issuers(q.org_id)))}
    known |= {i for i, _b in await org_pairs(redis, layout, q.org_id, caches.pairs)}
    issuers = {i for i in known if visible is None or i in visible}
    if q.issuer_id is not None:
        issuers &= {q.issuer_id}
    if q.issuer_filter:
        issuers &= set(q.issuer_filter)
    pairs = set(res.pairs)
    pair_names, (cur_t, prev_t) = await caches.vectors.period_totals(
        redis, layout, q.org_id, [(q.start, q.end), (pstart, pend)])
    # per-bucket method counts, cached by table version (api/readers/methods.py)
    cur = TableCounts(fold_vectors(pair_names, cur_t, q.status_codes, pairs, caches.pairs),
                      await caches.methods.period(redis, layout, q.org_id, q.start, q.end,
                                                  q.status_codes, issuers))
    prev = TableCounts(fold_vectors(pair_names, prev_t, q.status_codes, pairs, caches.pairs))
    methods: dict[str, dict[str, int]] = {i: dict(cur.methods.get(i, {})) for i in issuers}
    if q.badge_filter or q.badge_id is not None:
        # methods per issuer are kept per issuer only; a badge filter reads its pairs' keys
        methods = {i: {} for i in issuers}
        reader = CounterReader(redis, caches.counters, layout, q.org_id,
                               caches.counter_memo)
        wanted = sorted(p for p in pairs if p[0] in issuers)
        idx = [reader.want((layout.counter_base(q.org_id, BADGE_LEVEL, pair(i, b)),),
                           q.start, q.end)
               for i, b in wanted]
        hashes = await reader.run()
        for (i, _b), k in zip(wanted, idx, strict=True):
            for m, n in fold(hashes[k], q.status_codes, caches.counter_memo).methods.items():
                if n:
                    methods[i][m] = methods[i].get(m, 0) + n
    names_raw = await redis.hmget(layout.issuers(q.org_id), sorted(issuers)) if issuers else []
    names = {i: (orjson.loads(n) if n else {}) for i, n in zip(sorted(issuers), names_raw,
                                                                strict=True)}
    last_raw = await redis.hmget(layout.last_awarded(q.org_id), sorted(issuers)) if issuers \
        else []
    last = dict(zip(sorted(issuers), last_raw, strict=True))
    created: defaultdict[str, int] = defaultdict(int)
    aw_cur: defaultdict[str, int] = defaultdict(int)
    aw_prev: defaultdict[str, int] = defaultdict(int)
    for (i, _b), v in cur.rows.items():
        created[i] += v[BC]
        aw_cur[i] += v[0]
    for (i, _b), v in prev.rows.items():
        aw_prev[i] += v[0]
    items: list[IssuerItemAnswer] = []
    for i in issuers:
        items.append({
            "issuer_id": i, "name": _meta_value(names[i], "name"),
            "badges_created": created[i],
            "badges_awarded": cast(TrendAnswer, trend(aw_cur[i], aw_prev[i])),
            "methods": dict(sorted(((m, n) for m, n in methods[i].items() if n),
                                   key=lambda kv: (-kv[1], kv[0]))),
            "last_awarded_at": iso_us(int(ts)) if (ts := last[i]) is not None else None,
        })
    items.sort(key=lambda it: (-aw_cur[it["issuer_id"]], it["issuer_id"]))  # = its current
    answer: IssuerActivityAnswer = {
        "period": period_out(q.start, q.end), "previous_period": period_out(pstart, pend),
        "items": items}
    return plain(answer)
