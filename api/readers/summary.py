"""GET {S}/summary: tiles, period metrics, highlights, time to accept, coverage."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from redis.asyncio import Redis

from api.readers.caches import ReadCaches
from api.readers.counters import CounterReader, fold
from api.readers.scope import ReadQuery, resolve
from api.readers.shapes import (
    FiltersAnswer,
    KpisAnswer,
    PeriodAnswer,
    ScopeAnswer,
    SummaryAnswer,
    SummaryMetricsAnswer,
    TimeToAcceptAnswer,
    plain,
)
from core.keys import ApiKey
from core.status import iso_us
from schemas.layout import STATUS_CODES, Layout
from schemas.metrics import (
    ALL_METRICS,
    KPI_TILES,
    channel_entries,
    derive,
    incomplete,
    most_used,
    previous_period,
    time_to_accept,
    trend,
)

ALL_STATUSES = frozenset(STATUS_CODES.values())


async def read_coverage(redis: Redis, layout: Layout, org_id: str) -> dict[str, str]:
    return (await read_coverage_as_of(redis, layout, org_id, as_of=False))[0]


async def read_coverage_as_of(redis: Redis, layout: Layout, org_id: str, *, as_of: bool = True
                              ) -> tuple[dict[str, str], str | None]:
    """The org's first day per event type (observed, then configured) and, with `as_of`,
    the pipeline's as_of: one round trip."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(layout.first_day(org_id))
    pipe.hgetall(layout.coverage_config(org_id))
    if as_of:
        pipe.hget(layout.stats(), "as_of_us")
    observed, configured, *raw = await pipe.execute()
    first = {k.decode(): v.decode() for k, v in observed.items()}
    first.update({k.decode(): v.decode() for k, v in configured.items()})
    stamp = raw[0] if raw else None
    return dict(sorted(first.items())), iso_us(int(stamp)) if stamp is not None else None


def scope_out(caller: ApiKey, q: ReadQuery, issuer_ids: tuple[str, ...] | None) -> ScopeAnswer:
    return {"org_id": q.org_id, "issuer_id": q.issuer_id, "badge_id": q.badge_id,
            "issuer_ids": list(issuer_ids) if issuer_ids is not None else None}


def period_out(start: date, end: date) -> PeriodAnswer:
    return {"from": start.isoformat(), "to": end.isoformat()}


def filters_out(q: ReadQuery) -> FiltersAnswer:
    return {"issuer_id": list(q.issuer_filter), "badge_id": list(q.badge_filter),
            "status": list(q.status_filter)}


async def read_summary(redis: Redis, layout: Layout, caller: ApiKey,
                       q: ReadQuery, *, caches: ReadCaches) -> dict[str, Any]:
    res = await resolve(redis, layout, caller, q, caches.pairs)
    pstart, pend = previous_period(q.start, q.end)
    memo = caches.counter_memo
    reader = CounterReader(redis, caches.counters, layout, q.org_id, memo)
    i_cur = reader.want(res.bases, q.start, q.end)
    i_prev = reader.want(res.bases, pstart, pend)
    i_all = reader.want(res.tile_bases, None, None)
    hashes = await reader.run()
    statuses = q.status_codes
    cur = fold(hashes[i_cur], statuses, memo)
    prev = fold(hashes[i_prev], statuses, memo)
    alltime = fold(hashes[i_all], ALL_STATUSES, memo)
    m_cur, m_prev, m_all = derive(cur.as_dict()), derive(prev.as_dict()), derive(alltime.as_dict())
    # built from schemas/metrics.py's names and pure functions (their keys are held to
    # these shapes by tests/unit/test_answer_shapes.py)
    kpis = cast(KpisAnswer, {k: {"value": m_all[k], **trend(m_cur[k], m_prev[k])}
                             for k in KPI_TILES})
    metrics = cast(SummaryMetricsAnswer, {k: m_cur[k] for k in ALL_METRICS})
    first_day, as_of = await read_coverage_as_of(redis, layout, q.org_id)
    answer: SummaryAnswer = {
        "scope": scope_out(caller, q, res.issuer_ids),
        "period": period_out(q.start, q.end),
        "previous_period": period_out(pstart, pend),
        "filters": filters_out(q),
        "kpis": kpis,
        "metrics": metrics,
        "highlights": {
            "most_used_awarding_method": most_used(channel_entries(cur.methods, prev.methods)),
            "most_used_sharing_method": most_used(channel_entries(cur.channels, prev.channels)),
            "most_common_viewing_source": most_used(channel_entries(cur.sources, prev.sources)),
        },
        "time_to_accept": cast(TimeToAcceptAnswer, time_to_accept(cur.tta)),
        "coverage": {
            "first_day": first_day,
            "incomplete": incomplete([*ALL_METRICS, "time_to_accept"], first_day, pstart),
        },
        "as_of": as_of,
    }
    return plain(answer)
