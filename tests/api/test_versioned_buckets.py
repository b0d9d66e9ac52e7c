"""The generic versioned-bucket cache (api/readers/buckets.py) against brute force on the real
Redis: random writes to random buckets (versions bumped with each, as the worker does; one
bucket never versioned, as one written before the worker kept versions; each count either
in the bucket's packed map or in its legacy hash, both read as one), random groups of
buckets summed after each, a cache small enough to evict, and once Redis "comes back empty"
(every key gone, versions start over under a new `_gen`): every sum equals the one computed
from what was written."""

from __future__ import annotations

import random
from collections import defaultdict

import msgpack
from redis.asyncio import Redis

from api.readers.buckets import VersionedBuckets
from core.settings import Settings
from schemas.layout import ORG_ENTITY, ORG_LEVEL, VERSIONS_GEN, Layout, counter_key, counter_parts

ORG = "acme"


async def test_sums_equal_brute_force_through_random_changes(settings: Settings, redis: Redis):
    layout = Layout(settings.redis_prefix)
    base = layout.counter_base(ORG, ORG_LEVEL, ORG_ENTITY)
    tv = layout.table_versions(ORG)
    rng = random.Random(7)
    buckets = [f"d202604{d:02d}" for d in range(1, 21)]
    unversioned = buckets[0]
    fields = [f"f{i}" for i in range(12)]
    shapes = [buckets[:7], buckets[5:], buckets[::3], buckets, [buckets[4], buckets[4]]]
    cache = VersionedBuckets(max_buckets=8)
    truth: dict[str, defaultdict[str, int]] = {b: defaultdict(int) for b in buckets}
    await redis.hset(tv, VERSIONS_GEN, "gen-1")
    for step in range(120):
        if step == 70:  # Redis came back empty: versions start over under another _gen
            await redis.flushdb()
            await redis.hset(tv, VERSIONS_GEN, "gen-2")
            truth = {b: defaultdict(int) for b in buckets}
        pipe = redis.pipeline(transaction=True)
        for _ in range(rng.randrange(4)):
            b, f, n = rng.choice(buckets), rng.choice(fields), rng.randrange(-3, 6)
            truth[b][f] += n
            packed, field, legacy = counter_parts(counter_key(base, b)) or ("", "", "")
            if rng.random() < 0.5:
                pipe.hincrby(legacy, f, n)
            else:  # the packed map, read and written back now (this test is its only writer)
                raw = await redis.hget(packed, field)
                have = msgpack.unpackb(raw, raw=False) if raw else {}
                have[f] = have.get(f, 0) + n
                await redis.hset(packed, field, msgpack.packb(have))
            if b != unversioned:
                pipe.hincrby(tv, b, 1)
        await pipe.execute()
        chosen = rng.sample(shapes, 2)
        groups = [[(counter_key(base, b), None if b == unversioned else b) for b in shape]
                  for shape in chosen]
        names, totals = await cache.sums(redis, layout, ORG, groups)
        for shape, total in zip(chosen, totals, strict=True):
            expected: defaultdict[str, int] = defaultdict(int)
            for b in shape:
                for f, n in truth[b].items():
                    expected[f] += n
            got = {names[i].decode(): n for i, n in enumerate(total.tolist()) if n}
            assert got == {f: n for f, n in expected.items() if n}, (step, shape)
    assert cache.reads < 120 * 2 * 20  # buckets were served from the cache, not all read
    assert len(cache.buckets) <= 8


async def test_a_new_gen_with_the_same_version_numbers_is_read_again(settings: Settings,
                                                                     redis: Redis):
    layout = Layout(settings.redis_prefix)
    key = counter_key(layout.legacy_counter_base(ORG, ORG_LEVEL, ORG_ENTITY), "d20260401")
    tv = layout.table_versions(ORG)
    cache = VersionedBuckets(max_buckets=8)

    async def read() -> dict[str, int]:
        names, (total,) = await cache.sums(redis, layout, ORG, [[(key, "d20260401")]])
        return {names[i].decode(): n for i, n in enumerate(total.tolist()) if n}

    await redis.hset(tv, mapping={VERSIONS_GEN: "gen-1", "d20260401": 1})
    await redis.hset(key, "f", 5)
    assert await read() == {"f": 5}
    await redis.flushdb()  # came back empty, and one write since: version 1 again
    await redis.hset(tv, mapping={VERSIONS_GEN: "gen-2", "d20260401": 1})
    await redis.hset(key, "g", 7)
    assert await read() == {"g": 7}


async def test_a_read_of_cached_buckets_is_one_multi_with_the_unversioned_bucket_in_it(
        settings: Settings, redis: Redis):
    layout = Layout(settings.redis_prefix)
    base = layout.legacy_counter_base(ORG, ORG_LEVEL, ORG_ENTITY)
    tv = layout.table_versions(ORG)
    day, alltime = counter_key(base, "d20260401"), counter_key(base, "all")
    cache = VersionedBuckets(max_buckets=8)
    groups = [[(day, "d20260401")], [(alltime, None)]]

    async def read() -> tuple[list[dict[str, int]], int]:
        before = (await redis.info("commandstats"))["cmdstat_exec"]["calls"]
        names, totals = await cache.sums(redis, layout, ORG, groups)
        after = (await redis.info("commandstats"))["cmdstat_exec"]["calls"]
        return [{names[i].decode(): n for i, n in enumerate(t.tolist()) if n}
                for t in totals], after - before

    await redis.hset(tv, mapping={VERSIONS_GEN: "gen-1", "d20260401": 1})
    await redis.hset(day, "f", 2)
    await redis.hset(alltime, "f", 2)
    # first read: the day is not cached yet, so a second MULTI reads it (and `all` again)
    assert await read() == ([{"f": 2}, {"f": 2}], 2)
    # the day cached and current: one MULTI, `all` read in it (it has no version: always read)
    await redis.hincrby(alltime, "f", 5)
    assert await read() == ([{"f": 2}, {"f": 7}], 1)
    assert await read() == ([{"f": 2}, {"f": 7}], 1)
    # the day moves: read again, with `all`, in a second MULTI of the same snapshot
    await redis.hincrby(day, "f", 1)
    await redis.hincrby(tv, "d20260401", 1)
    await redis.hincrby(alltime, "f", 1)
    assert await read() == ([{"f": 3}, {"f": 8}], 2)
