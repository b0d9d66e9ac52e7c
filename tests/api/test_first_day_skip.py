"""Counter buckets wholly before the org's first event day are skipped (api/readers/buckets.py):
empty by definition, because the worker lowers the first day (HMIN of `Layout.first_day`) in
the same commit as the writes of an older event. Checked against brute force on the real Redis
through the worker's write path (Commit -> apply.lua), with late backfills older than the
first day arriving after a reader cached the periods."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

from redis.asyncio import Redis

from api.readers.buckets import VersionedBuckets
from api.readers.counters import CounterReader
from core.settings import Settings
from schemas.layout import ORG_ENTITY, ORG_LEVEL, Layout
from streams.processor import Commit
from streams.sink import Sink

ORG = "acme"
TODAY = date(2026, 11, 29)


async def commit(redis: Redis, layout: Layout, writes: list[tuple[date, str, int]]) -> None:
    """What the worker commits for events on those days: their counters and, in the same
    script, the first day per event type (streams/processor.py _settle_applied)."""
    c = Commit()
    for day, f, n in writes:
        c.count(ORG, "eng", "py", day.isoformat(), f, n)
        c.min_(layout.first_day(ORG), "award.issued", day.isoformat())
    c.publish.add(ORG)
    await Sink(redis, layout).apply(c, "t", 0, 1, -1, -1, None)


async def read(redis: Redis, layout: Layout, cache: VersionedBuckets,
               periods: list[tuple[date, date]]) -> list[dict[str, int]]:
    reader = CounterReader(redis, cache, layout, ORG)
    base = layout.counter_base(ORG, ORG_LEVEL, ORG_ENTITY)
    for start, end in periods:
        reader.want([base], start, end)
    out = []
    for hashes in await reader.run():
        total: defaultdict[str, int] = defaultdict(int)
        for h in hashes:
            for f, n in h.items():
                total[f.decode()] += int(n)
        out.append({f: n for f, n in total.items() if n})
    return out


def brute(truth: dict[date, defaultdict[str, int]], start: date, end: date) -> dict[str, int]:
    total: defaultdict[str, int] = defaultdict(int)
    for day, fields in truth.items():
        if start <= day <= end:
            for f, n in fields.items():
                total[f] += n
    return {f: n for f, n in total.items() if n}


async def test_skipped_buckets_equal_brute_force_with_late_backfill(settings: Settings,
                                                                   redis: Redis):
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    rng = random.Random(11)
    cache = VersionedBuckets(max_buckets=64)
    truth: dict[date, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    ten_years = TODAY - timedelta(days=3649)
    periods = [(ten_years, TODAY), (TODAY - timedelta(days=29), TODAY),
               (date(2019, 1, 1), date(2022, 12, 31)), (date(2024, 3, 15), date(2025, 6, 2))]
    # the org starts recently; then events keep coming, some of them backfilled ever older
    first = TODAY - timedelta(days=40)
    for step in range(60):
        writes = []
        for _ in range(rng.randrange(1, 4)):
            if rng.random() < 0.3:  # a late event older than the first day so far
                first = first - timedelta(days=rng.randrange(1, 500))
                day = first
            else:
                day = first + timedelta(days=rng.randrange((TODAY - first).days + 1))
            f, n = rng.choice(["aw.p", "ac.p", "sc.linkedin.p"]), rng.randrange(1, 4)
            truth[day][f] += n
            writes.append((day, f, n))
        await commit(redis, layout, writes)
        got = await read(redis, layout, cache, periods)
        assert got == [brute(truth, s, e) for s, e in periods], step
    assert min(truth) < date(2022, 1, 1)  # backfill reached the cached older periods


async def test_buckets_before_the_first_day_are_not_read(settings: Settings, redis: Redis):
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    await commit(redis, layout, [(date(2026, 11, 2), "aw.p", 2)])
    cache = VersionedBuckets(max_buckets=1024)
    ten_years = (date(2016, 12, 2), TODAY)
    assert await read(redis, layout, cache, [ten_years]) == [{"aw.p": 2}]
    # day 2016-12-02..31 and 2026-11-01..29 are days, 2017-2025 years, 2026-01..10 months:
    # only buckets from the first day on can hold anything: d20261102..d20261129 (28)
    assert cache.reads == 28
    # an award issued in 2018 arrives late: its buckets are read, the rest stays skipped
    await commit(redis, layout, [(date(2018, 5, 6), "aw.p", 1)])
    assert await read(redis, layout, cache, [ten_years]) == [{"aw.p": 3}]
    assert (await read(redis, layout, cache, [(date(2018, 1, 1), date(2018, 12, 31))])
            == [{"aw.p": 1}])
