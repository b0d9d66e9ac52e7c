"""GET {S}/insights/{channels,methods,funnel} and GET /v1/orgs/{org}/insights/benchmarks.

Every number comes from the worker's counter hashes (precomputed per org, issuer and badge,
per day, month and year, like the other reads): no raw event is scanned. Channels are
derived from the share-channel (`sc`) and viewing-source (`vs`) counters; methods from the
per-method cohort counters (`me`, `ma`, `ms`, `mt`); the funnel from the cohort counters and
`vw` (awards with a human view). Bot views (`bv`) are in none of them. The formulas are in
schemas/insights.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from redis.asyncio import Redis

from api.readers.caches import ReadCaches
from api.readers.counters import CounterReader, Counts, fold
from api.readers.scope import ReadQuery, Resolved, resolve
from api.readers.shapes import (
    BenchmarkAnswer,
    ChannelInsightAnswer,
    FunnelCountsAnswer,
    FunnelStepAnswer,
    InsightBenchmarksAnswer,
    InsightChannelsAnswer,
    InsightFunnelAnswer,
    InsightHeadAnswer,
    InsightMethodsAnswer,
    MethodInsightAnswer,
    plain,
)
from api.readers.summary import filters_out, period_out, scope_out
from core.keys import ApiKey
from schemas.insights import (
    BENCHMARK_METRICS,
    PEER_MIN,
    benchmark,
    channel_insight,
    funnel,
    method_insight,
)
from schemas.layout import ORG_ENTITY, ORG_LEVEL, STATUS_CODES, Layout
from schemas.metrics import derive, previous_period

ALL_STATUSES = frozenset(STATUS_CODES.values())


async def _periods(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery,
                   caches: ReadCaches | None) -> tuple[Resolved, Counts, Counts]:
    """The scope's counters over P and P', the filters applied."""
    res = await resolve(redis, layout, caller, q, caches.pairs if caches else None)
    pstart, pend = previous_period(q.start, q.end)
    reader = CounterReader(redis, caches.counters if caches else None, layout, q.org_id)
    i_cur = reader.want(res.bases, q.start, q.end)
    i_prev = reader.want(res.bases, pstart, pend)
    hashes = await reader.run()
    return (res, fold(hashes[i_cur], q.status_codes), fold(hashes[i_prev], q.status_codes))


def _head(caller: ApiKey, q: ReadQuery, res: Resolved | None) -> InsightHeadAnswer:
    """scope, period, previous_period, filters: as summary has them."""
    pstart, pend = previous_period(q.start, q.end)
    return {"scope": scope_out(caller, q, res.issuer_ids if res is not None else None),
            "period": period_out(q.start, q.end),
            "previous_period": period_out(pstart, pend), "filters": filters_out(q)}


async def read_insight_channels(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery,
                                *, caches: ReadCaches | None = None) -> dict[str, Any]:
    res, cur, prev = await _periods(redis, layout, caller, q, caches)
    entries, unattributed = channel_insight(cur.channels, cur.sources, prev.channels,
                                            prev.sources)
    answer: InsightChannelsAnswer = {
        **_head(caller, q, res), "channels": cast(list[ChannelInsightAnswer], entries),
        "unattributed_views": unattributed}
    return plain(answer)


async def read_insight_methods(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery,
                               *, caches: ReadCaches | None = None) -> dict[str, Any]:
    res, cur, prev = await _periods(redis, layout, caller, q, caches)
    methods = method_insight(cur.methods, cur.method_accepted, cur.method_shared,
                             cur.method_tta, prev.methods, prev.method_accepted,
                             prev.method_shared)
    answer: InsightMethodsAnswer = {**_head(caller, q, res),
                                    "methods": cast(list[MethodInsightAnswer], methods)}
    return plain(answer)


def _funnel_counts(c: Counts) -> dict[str, int]:
    return {"issued": c.badges_awarded, "accepted": c.accepted_awards,
            "shared": c.shared_awards, "viewed": c.viewed_awards}


async def read_insight_funnel(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery,
                              *, caches: ReadCaches | None = None) -> dict[str, Any]:
    res, cur, prev = await _periods(redis, layout, caller, q, caches)
    f = funnel(_funnel_counts(cur), _funnel_counts(prev))
    answer: InsightFunnelAnswer = {
        **_head(caller, q, res), "issued": f["issued"], "accepted": f["accepted"],
        "shared": f["shared"], "viewed": f["viewed"],
        "steps": cast(list[FunnelStepAnswer], f["steps"]),
        "previous": cast(FunnelCountsAnswer, f["previous"])}
    return plain(answer)


async def peer_orgs(redis: Redis, layout: Layout, org_id: str) -> list[str]:
    """Every org of the deployment (the worker registers each on its first applied event),
    this one included."""
    orgs = {m.decode() for m in cast(set[bytes], await redis.smembers(layout.orgs()))}
    return sorted(orgs | {org_id})


async def deployment_version(redis: Redis, layout: Layout,
                             orgs: list[str]) -> tuple[tuple[str, bytes | None], ...]:
    """Every org's data version (bumped by each commit that changes anything of it). A
    benchmark depends on every org, so its cached answer is keyed by all of them. One
    command per org: an org's keys may live on another cluster node than the next's."""
    versions = await asyncio.gather(*(redis.hget(layout.org_stats(o), "version") for o in orgs))
    return tuple(zip(orgs, cast(list[bytes | None], versions), strict=True))


async def _org_counts(redis: Redis, layout: Layout, org: str, q: ReadQuery) -> dict[str, int]:
    reader = CounterReader(redis)  # one org's keys per snapshot (one cluster slot)
    i = reader.want((layout.counter_base(org, ORG_LEVEL, ORG_ENTITY),), q.start, q.end)
    return fold((await reader.run())[i], ALL_STATUSES).as_dict()


async def read_insight_benchmarks(redis: Redis, layout: Layout, caller: ApiKey,
                                  q: ReadQuery, *, caches: ReadCaches | None = None,
                                  orgs: list[str] | None = None) -> dict[str, Any]:
    """This org among the deployment's orgs over P, org-wide (no filters). Other orgs'
    numbers are read to rank this one and are never returned: only this org's value, its
    percentile and the number of peers leave this function."""
    if orgs is None:
        orgs = await peer_orgs(redis, layout, q.org_id)
    counted = await asyncio.gather(*(_org_counts(redis, layout, org, q) for org in orgs))
    values: dict[str, dict[str, Any]] = {}
    cohort_ok: dict[str, bool] = {}
    shares_ok: dict[str, bool] = {}
    for org, counts in zip(orgs, counted, strict=True):
        values[org] = derive(counts)
        cohort_ok[org] = counts["badges_awarded"] >= PEER_MIN
        shares_ok[org] = counts["shares"] >= PEER_MIN
    metrics = []
    for metric in BENCHMARK_METRICS:
        qualifies = shares_ok if metric == "external_impact_score" else cohort_ok
        metrics.append(benchmark(metric, q.org_id, {o: v[metric] for o, v in values.items()},
                                 qualifies))
    answer: InsightBenchmarksAnswer = {**_head(caller, q, None),
                                       "metrics": cast(list[BenchmarkAnswer], metrics)}
    return plain(answer)
