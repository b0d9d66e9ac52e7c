"""A Redis restarted from an older snapshot (an RDB, or an append-only file that lost its
last second) holds older bucket versions under the same `_gen` it had then; the worker,
told by the apply script that Redis went back, claims afresh and its next commits bump the
versions again through the same numbers, with other contents. An API process that cached a
bucket at one of those numbers before the restart must not serve it for what that number
holds after: an org's `_gen` names the Redis process that set it (its run_id), and a commit
applied by another process sets it anew (Op.LIFETIME), so the restarted process's first
commit gives the org a new one.

Real parts: a redis-server of the test's own, SAVEd, killed and started again from its
dump; the worker's Sink and apply script; the API's versioned-bucket reader. Expected
numbers by hand: 1 award before the snapshot, 5 after it (lost with the restart), then 1."""

from __future__ import annotations

from redis.asyncio import Redis

from api.readers.buckets import VersionedBuckets
from schemas.layout import ORG_ENTITY, ORG_LEVEL, VERSIONS_GEN, Layout, counter_key
from streams.processor import Commit
from streams.protocol import ApplyResult
from streams.sink import Sink
from tests.stream.test_faults import Server, own_redis  # noqa: F401  (the fixture)

ORG, DAY, BUCKET = "acme", "2026-04-14", "d20260414"


def awarded(n: int) -> Commit:
    commit = Commit()
    commit.count(ORG, "eng", "py", DAY, "aw.p", n)
    return commit


async def run_id(r: Redis) -> str:
    return str((await r.info("server"))["run_id"])


async def test_a_redis_restarted_from_an_older_snapshot_is_not_read_from_the_cache(
        own_redis: Server, settings):  # noqa: F811
    layout = Layout(settings.redis_prefix)
    day = counter_key(layout.counter_base(ORG, ORG_LEVEL, ORG_ENTITY), BUCKET)
    cache = VersionedBuckets(max_buckets=8)  # an API process's, living through the restart

    async def read(r: Redis) -> dict[str, int]:
        names, (total,) = await cache.sums(r, layout, ORG, [[(day, BUCKET)]])
        return {names[i].decode(): n for i, n in enumerate(total.tolist()) if n}

    r = Redis(port=own_redis.port)
    try:
        sink = Sink(r, layout)
        claim = await sink.claim(settings.topic, 0)
        assert claim is not None
        assert await sink.apply(awarded(1), settings.topic, 0, claim.epoch, 0, 1,
                                None) is ApplyResult.OK
        gen = await r.hget(layout.table_versions(ORG), VERSIONS_GEN)
        assert gen.decode().startswith(await run_id(r) + ":")
        await r.save()  # the snapshot: 1 award, the day's version 1
        assert await sink.apply(awarded(5), settings.topic, 0, claim.epoch, 1, 2,
                                1) is ApplyResult.OK
        assert await read(r) == {"aw.p": 6}  # cached at the day's version 2
        before = await run_id(r)
    finally:
        await r.aclose()

    own_redis.kill()
    own_redis.start()  # from the dump: 1 award, version 1, the `_gen` it had then
    r = Redis(port=own_redis.port)
    try:
        assert await r.hget(layout.table_versions(ORG), BUCKET) == b"1"
        sink = Sink(r, layout)
        # the worker's next batch is refused (Redis went back), so it claims afresh
        assert await sink.apply(awarded(1), settings.topic, 0, claim.epoch, 2, 3,
                                2) is not ApplyResult.OK
        again = await sink.claim(settings.topic, 0)
        assert again is not None and again.next == 1
        assert await sink.apply(awarded(1), settings.topic, 0, again.epoch, 1, 2,
                                1) is ApplyResult.OK  # the day's version is 2 again
        assert await r.hget(layout.table_versions(ORG), BUCKET) == b"2"
        assert await run_id(r) != before
        assert await r.hget(layout.table_versions(ORG), VERSIONS_GEN) != gen
        assert await read(r) == {"aw.p": 2}, "the cached bucket of the old version 2 was served"
    finally:
        await r.aclose()
