"""Channels and time series, from the scope's counter hashes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal, cast

from redis.asyncio import Redis

from api.readers.caches import ReadCaches
from api.readers.counters import CounterReader, fold
from api.readers.scope import ReadQuery, resolve
from api.readers.shapes import (
    ChannelEntryAnswer,
    ChannelsAnswer,
    PointAnswer,
    TimeseriesAnswer,
    plain,
)
from api.readers.summary import period_out, read_coverage
from core.keys import ApiKey
from schemas.layout import (
    ACCEPTED,
    AWARDED,
    CREATED,
    PUBLIC,
    SHARED,
    status_field,
)
from schemas.metrics import channel_entries, incomplete, previous_period

Interval = Literal["day", "week", "month"]


async def read_channels(redis: Redis, layout: Any, caller: ApiKey, q: ReadQuery, *,
                        caches: ReadCaches) -> dict[str, Any]:
    res = await resolve(redis, layout, caller, q, caches.pairs)
    pstart, pend = previous_period(q.start, q.end)
    memo = caches.counter_memo
    reader = CounterReader(redis, caches.counters, layout, q.org_id, memo)
    i_cur = reader.want(res.bases, q.start, q.end)
    i_prev = reader.want(res.bases, pstart, pend)
    hashes = await reader.run()
    cur = fold(hashes[i_cur], q.status_codes, memo)
    prev = fold(hashes[i_prev], q.status_codes, memo)
    first_day = await read_coverage(redis, layout, q.org_id)
    answer: ChannelsAnswer = {
        "period": period_out(q.start, q.end), "previous_period": period_out(pstart, pend),
        "awarding": entries(cur.methods, prev.methods),
        "sharing": entries(cur.channels, prev.channels),
        "viewing": entries(cur.sources, prev.sources),
        "coverage": {"first_day": first_day,
                     "incomplete": incomplete(["sharing_methods", "viewing_sources"],
                                              first_day, pstart)},
    }
    return plain(answer)


def entries(current: dict[str, int], previous: dict[str, int]) -> list[ChannelEntryAnswer]:
    """schemas/metrics.py's channel entries (their keys are held to ChannelEntryAnswer by
    tests/unit/test_answer_shapes.py)."""
    return cast(list[ChannelEntryAnswer], channel_entries(current, previous))


def intervals(start: date, end: date, interval: Interval) -> list[tuple[date, date]]:
    """Consecutive intervals covering [start, end], the first and last clipped to it."""
    out = []
    d = start
    while d <= end:
        if interval == "day":
            nxt = d + timedelta(days=1)
        elif interval == "week":
            nxt = d + timedelta(days=7 - d.weekday())  # weeks start on Monday
        else:
            nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        last = min(nxt - timedelta(days=1), end)
        out.append((d, last))
        d = last + timedelta(days=1)
    return out


# Count metrics held in fields of known names (`kind.status`, or `bc`): a time series of one
# sums just those fields of each span's buckets (parsed once per bucket version by the
# process, api/readers/buckets.py), not every field. Shares and views are spread over
# channel/source fields, so they are folded.
FIELD_KINDS = {"badges_awarded": AWARDED, "accepted_awards": ACCEPTED,
               "shared_awards": SHARED, "public_awards": PUBLIC}


def metric_fields(metric: str, statuses: frozenset[str]) -> list[str] | None:
    """The counter fields whose sum is `metric` for these status codes (fold's reading),
    or None when the metric needs whole hashes."""
    if metric == "badges_created":
        return [CREATED]  # badges created have no status
    kind = FIELD_KINDS.get(metric)
    return None if kind is None else [status_field(kind, st) for st in sorted(statuses)]


async def read_timeseries(redis: Redis, layout: Any, caller: ApiKey, q: ReadQuery, metric: str,
                          interval: Interval, *, caches: ReadCaches) -> dict[str, Any]:
    res = await resolve(redis, layout, caller, q, caches.pairs)
    spans = intervals(q.start, q.end, interval)
    fields = metric_fields(metric, q.status_codes)
    reader = CounterReader(redis, caches.counters, layout, q.org_id,
                           caches.counter_memo)
    idx = [reader.want(res.bases, a, b) for a, b in spans]
    if fields is not None:
        # the process's parsed buckets (only those that changed are read): the fields picked
        wanted = [f.encode() for f in fields]
        values = [sum(int(m.get(f, 0)) for m in got for f in wanted)
                  for got in await reader.run()]
    else:
        hashes = await reader.run()
        values = [fold(hashes[i], q.status_codes, caches.counter_memo).as_dict()[metric]
                  for i in idx]
    points: list[PointAnswer] = [{"start": a.isoformat(), "value": v}
                                 for (a, _b), v in zip(spans, values, strict=True)]
    first_day = await read_coverage(redis, layout, q.org_id)
    answer: TimeseriesAnswer = {
        "metric": metric, "interval": interval, "period": period_out(q.start, q.end),
        "points": points,
        "coverage": {"first_day": first_day,
                     "incomplete": incomplete([metric], first_day, q.start)}}
    return plain(answer)
