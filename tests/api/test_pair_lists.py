"""An org's pair list kept per process (api/readers/scope.py org_pairs) by the org's data
version and `_gen`: a pair added by a commit (the worker's write path, Commit -> apply.lua)
is seen by the next read; pairs written without a version bump are never trusted from the
cache (version absent); a Redis that came back empty and reached the same version with
other pairs is read again (a new `_gen`)."""

from __future__ import annotations

from redis.asyncio import Redis

from api.readers.caches import PairCache
from api.readers.scope import org_pairs
from core.settings import Settings
from schemas.layout import VERSIONS_GEN, Layout, pair
from streams.processor import Commit
from streams.sink import Sink

ORG = "acme"


async def add(redis: Redis, layout: Layout, *pairs: tuple[str, str]) -> None:
    c = Commit()
    for p in pairs:
        c.sadd.add((layout.pairs(ORG), pair(*p)))
        c.count(ORG, p[0], p[1], "2026-11-29", "cr", 1)
    c.publish.add(ORG)
    await Sink(redis, layout).apply(c, "t", 0, 1, -1, -1, None)


async def test_pair_lists_follow_the_org_version(settings: Settings, redis: Redis):
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    memo = PairCache()
    # written with no version at all (an older worker): read every time
    await redis.sadd(layout.pairs(ORG), pair("eng", "py"))
    assert await org_pairs(redis, layout, ORG, memo) == [("eng", "py")]
    await redis.sadd(layout.pairs(ORG), pair("eng", "go"))
    assert sorted(await org_pairs(redis, layout, ORG, memo)) == [("eng", "go"), ("eng", "py")]
    await add(redis, layout, ("ops", "k8s"))
    want = [("eng", "go"), ("eng", "py"), ("ops", "k8s")]
    assert sorted(await org_pairs(redis, layout, ORG, memo)) == want
    assert sorted(await org_pairs(redis, layout, ORG, memo)) == want  # from the memo
    await add(redis, layout, ("ops", "helm"))
    assert sorted(await org_pairs(redis, layout, ORG, memo)) == sorted(
        [*want, ("ops", "helm")])
    # Redis comes back empty; the worker writes again up to the same version number, with
    # other pairs, under a new `_gen`
    version = await redis.hget(layout.org_stats(ORG), "version")
    await redis.flushdb()
    await redis.hset(layout.epochs(), "t:0", 1)
    await redis.hset(layout.table_versions(ORG), VERSIONS_GEN, "another-gen")
    await add(redis, layout, ("hr", "onboarding"))
    await redis.hset(layout.org_stats(ORG), "version", version)
    assert await org_pairs(redis, layout, ORG, memo) == [("hr", "onboarding")]
