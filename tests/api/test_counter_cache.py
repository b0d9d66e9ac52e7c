"""The per-process cache of counter hashes (ReadCaches.counters, api/readers/buckets.py) never
shows an old count: every commit that writes a bucket's counter hashes bumps the bucket's
version in the same script (streams/protocol.py), an old bucket included (an award issued
long ago and accepted today changes its issue day's counters), a write of bot views alone
too; a bucket without a version (written before the worker kept them) is read again every
time; a Redis that came back empty (a new `_gen`) empties the org's entries. Expected
numbers are worked by hand."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from api.main import create_app
from api.readers.buckets import VersionedBuckets
from api.readers.counters import CounterReader, fold
from core.keys import create_key
from core.settings import Settings
from schemas.layout import (
    ORG_ENTITY,
    ORG_LEVEL,
    VERSIONS_GEN,
    Layout,
    counter_key,
    pair,
    table_version_field,
)
from streams.processor import Commit
from streams.sink import Sink
from tests.counts import entity_counts

ORG = "acme"
OLD = "2025-02-10"  # an issue day long before the periods read
PERIOD = "from=2025-01-01&to=2025-03-31"
SUMMARY = f"/v1/orgs/{ORG}/summary?{PERIOD}"


async def commit(redis: Redis, layout: Layout, day: str,
                 counts: list[tuple[str, str, str, int]], first: bool = False) -> None:
    """The worker's own write path (Commit -> apply.lua)."""
    c = Commit()
    if first:
        c.sadd.add((layout.pairs(ORG), pair("eng", "py")))
        c.hsets[(layout.issuers(ORG), "eng")] = orjson.dumps({"name": [0, "x", "eng"]})
    for iss, badge, f, n in counts:
        c.count(ORG, iss, badge, day, f, n)
    c.publish.add(ORG)
    await Sink(redis, layout).apply(c, "t", 0, 1, -1, -1, None)


async def app_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    # the answer cache off: each read computes, so the counter cache is what is tested
    app = create_app(settings.model_copy(update={"answer_cache_mb": 0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


@pytest.fixture
async def client(settings: Settings, redis: Redis) -> AsyncIterator[tuple[Any, httpx.AsyncClient,
                                                                          dict[str, str]]]:
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    _key, token = await create_key(redis, layout, ORG, "org_admin")
    async for app, c in app_client(settings):
        yield app, c, {"Authorization": f"Bearer {token}"}


async def counts(c: httpx.AsyncClient, h: dict[str, str]) -> dict[str, int]:
    r = await c.get(SUMMARY, headers=h)
    assert r.status_code == 200, r.text
    m = r.json()["metrics"]
    return {k: m[k] for k in ("badges_awarded", "accepted_awards", "shared_awards", "shares")}


async def test_an_old_bucket_changed_by_an_acceptance_today_is_read_again(
        settings, redis, client):
    app, c, h = client
    layout = Layout(settings.redis_prefix)
    # two awards issued on OLD, both pending; one shared on linkedin on OLD
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", 2), ("eng", "py", "sc.linkedin.p", 1),
                                      ("eng", "py", "sh.p", 1)], first=True)
    assert await counts(c, h) == {"badges_awarded": 2, "accepted_awards": 0, "shared_awards": 1,
                                  "shares": 1}
    cache: VersionedBuckets = app.state.read_caches.counters
    read_once = cache.reads
    assert read_once > 0 and cache.buckets  # parsed and kept
    # the same read again: nothing changed, so of the period's buckets only February's (the
    # one written: it has a version) comes from the cache; the others were never written (no
    # version) and `all` has none: read again
    assert await counts(c, h) == {"badges_awarded": 2, "accepted_awards": 0, "shared_awards": 1,
                                  "shares": 1}
    assert cache.reads == read_once + (read_once - 1)
    # today, the shared award is accepted: cohort fields move on its issue day (OLD), by hand:
    # aw.p -1, aw.a +1, ac.a +1, sh.p -1, sh.a +1; the share stays an activity of OLD as it was
    tv = layout.table_versions(ORG)
    buckets = [table_version_field(b) for b in ("d20250210", "m202502", "y2025")]
    before = await redis.hmget(tv, buckets)
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", -1), ("eng", "py", "aw.a", 1),
                                      ("eng", "py", "ac.a", 1), ("eng", "py", "sh.p", -1),
                                      ("eng", "py", "sh.a", 1)])
    after = await redis.hmget(tv, buckets)
    assert [int(a) - int(b) for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert await counts(c, h) == {"badges_awarded": 2, "accepted_awards": 1, "shared_awards": 1,
                                  "shares": 1}
    # pending only: one award left pending, none of it accepted or shared
    r = await c.get(SUMMARY + "&status=pending", headers=h)
    assert r.json()["metrics"]["badges_awarded"] == 1
    assert r.json()["metrics"]["shared_awards"] == 0
    # bot views alone (no table or methods field): 3 on 2025-03-02, then 2 more on OLD
    await commit(redis, layout, "2025-03-02", [("eng", "py", "bv.a", 3)])
    assert (await c.get(SUMMARY, headers=h)).json()["metrics"]["bot_views"] == 3
    before = await redis.hmget(tv, buckets)
    await commit(redis, layout, OLD, [("eng", "py", "bv.a", 2)])
    after = await redis.hmget(tv, buckets)
    assert [int(a) - int(b) for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert (await c.get(SUMMARY, headers=h)).json()["metrics"]["bot_views"] == 5
    # and a process that has cached nothing says the same
    async for _app2, c2 in app_client(settings):
        assert await counts(c2, h) == {"badges_awarded": 2, "accepted_awards": 1,
                                       "shared_awards": 1, "shares": 1}
        assert (await c2.get(SUMMARY, headers=h)).json()["metrics"]["bot_views"] == 5


async def test_a_bucket_without_a_version_is_read_every_time(settings, redis, client):
    """What a worker before the counter versions wrote, still running beside this one: its
    counters (its own hashes, one per entity and bucket), no `c:<bucket>` version bump."""
    _app, c, h = client
    layout = Layout(settings.redis_prefix)
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", 1)], first=True)
    assert (await counts(c, h))["badges_awarded"] == 1
    # the older worker adds 3 awards on 2025-03-05 (day and month buckets, and all time)
    for b in ("d20250305", "m202503", "all"):
        await redis.hincrby(counter_key(layout.legacy_counter_base(ORG, ORG_LEVEL, ORG_ENTITY), b),
                            "aw.p", 3)
    assert (await counts(c, h))["badges_awarded"] == 4
    for b in ("d20250305", "m202503"):
        await redis.hincrby(counter_key(layout.legacy_counter_base(ORG, ORG_LEVEL, ORG_ENTITY), b),
                            "aw.p", 1)
    assert (await counts(c, h))["badges_awarded"] == 5


async def test_an_org_written_only_packed_is_read_without_the_legacy_hashes(
        settings, redis, client):
    """An org whose first counters this worker wrote ('packed') is read with one HMGET per
    bucket's packed hash and no legacy HGETALL; one an older worker wrote first ('mixed')
    with them, and both read right (by hand: 2 awards each, the mixed one 3 + 2)."""
    _app, c, h = client
    layout = Layout(settings.redis_prefix)
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", 2)], first=True)
    assert await redis.hget(layout.table_versions(ORG), "_layout") == b"packed"

    async def hgetalls() -> int:
        stats = await redis.info("commandstats")
        return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))

    before = await hgetalls()
    assert (await counts(c, h))["badges_awarded"] == 2  # learns 'packed' (legacy read once)
    first = await hgetalls() - before
    reads = []
    for _ in range(2):
        before = await hgetalls()
        assert (await counts(c, h))["badges_awarded"] == 2
        reads.append(await hgetalls() - before)
    # then: the org's other hashes (stats, settings, first day), no legacy hash; the first
    # read had the legacy hash of each counter bucket it read too (`all` among them, which
    # is read every time)
    assert reads[0] == reads[1] < first
    # an older worker (of after the counter versions) still running beside this one writes
    # 3 more awards of OLD in its own hashes, and bumps the buckets' versions: read again
    legacy_org = layout.legacy_counter_base(ORG, ORG_LEVEL, ORG_ENTITY)
    for b in ("d20250210", "m202502", "y2025", "all"):
        await redis.hincrby(counter_key(legacy_org, b), "aw.p", 3)
        if b != "all":
            await redis.hincrby(layout.table_versions(ORG), table_version_field(b), 1)
    assert (await counts(c, h))["badges_awarded"] == 5
    assert await redis.hget(layout.table_versions(ORG), "_layout") == b"packed"  # as it was
    other = "globex"
    legacy = layout.legacy_counter_base(other, ORG_LEVEL, ORG_ENTITY)
    for b in ("d20250210", "m202502", "y2025", "all"):
        await redis.hincrby(counter_key(legacy, b), "aw.p", 3)
    c2 = Commit()
    c2.count(other, "eng", "py", OLD, "aw.p", 2)
    await Sink(redis, layout).apply(c2, "t", 0, 1, -1, -1, None)
    assert await redis.hget(layout.table_versions(other), "_layout") == b"mixed"
    reader = CounterReader(redis, app_cache := VersionedBuckets(64), layout, other)
    i = reader.want((layout.counter_base(other, ORG_LEVEL, ORG_ENTITY),), date(2025, 1, 1),
                    date(2025, 3, 31))
    for _ in range(2):  # parsed, then from the cache
        assert fold((await reader.run())[i], frozenset("padr")).badges_awarded == 5
    assert not app_cache.orgs[(layout.data, other)].packed_only


async def test_a_new_gen_empties_the_org_s_cached_buckets(settings, redis, client):
    """Redis came back empty and was written again: versions start over, so a cached bucket
    with the same version number but other contents must not be used."""
    app, c, h = client
    layout = Layout(settings.redis_prefix)
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", 2)], first=True)
    assert (await counts(c, h))["badges_awarded"] == 2
    # the same version numbers, other contents, another _gen (what a FLUSHDB and one commit
    # of 7 awards leave)
    await redis.flushdb()
    await redis.hset(layout.epochs(), "t:0", 1)
    _key, token = await create_key(redis, layout, ORG, "org_admin")
    h = {"Authorization": f"Bearer {token}"}
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", 7)], first=True)
    assert await redis.hget(layout.table_versions(ORG), table_version_field("d20250210")) \
        == b"1"
    assert (await counts(c, h))["badges_awarded"] == 7
    gen = await redis.hget(layout.table_versions(ORG), VERSIONS_GEN)
    assert app.state.read_caches.counters.orgs[(layout.data, ORG)].gen == gen


async def test_a_bucket_written_before_and_after_the_field_codes_adds_both_spellings(
        settings, redis, client):
    """A worker before the field codes and the packed counters (schemas/layout.py) wrote
    `aw.p` and `sc.linkedin.p` by name into a hash per entity and bucket; this one writes
    the same fields into the same buckets as `Ap` and `X0p`, in the packed map. The summary
    (cached buckets), the time series (fields picked by name) and a reader with no cache
    add the two places and spellings up. By hand: 3 + 2 awards, 4 + 1 shares."""
    _app, c, h = client
    layout = Layout(settings.redis_prefix)
    base = layout.counter_base(ORG, ORG_LEVEL, ORG_ENTITY)
    legacy = layout.legacy_counter_base(ORG, ORG_LEVEL, ORG_ENTITY)
    for b in ("d20250210", "m202502", "y2025", "all"):
        await redis.hincrby(counter_key(legacy, b), "aw.p", 3)
        await redis.hincrby(counter_key(legacy, b), "sc.linkedin.p", 4)
    await commit(redis, layout, OLD, [("eng", "py", "aw.p", 2), ("eng", "py", "sc.linkedin.p", 1)],
                 first=True)
    assert await redis.hgetall(counter_key(legacy, "d20250210")) == {
        b"aw.p": b"3", b"sc.linkedin.p": b"4"}  # the old hash is not written again
    assert await entity_counts(redis, layout, ORG, ORG_LEVEL, ORG_ENTITY, "d20250210") == {
        b"aw.p": 3, b"sc.linkedin.p": 4, b"Ap": 2, b"X0p": 1}
    for _ in range(2):  # parsed, then from the cache
        got = await counts(c, h)
        assert (got["badges_awarded"], got["shares"]) == (5, 5)
    r = await c.get(f"/v1/orgs/{ORG}/timeseries?metric=badges_awarded&interval=month&{PERIOD}",
                    headers=h)
    assert r.status_code == 200, r.text
    assert [p["value"] for p in r.json()["points"]] == [0, 5, 0]
    r = await c.get(f"/v1/orgs/{ORG}/channels?{PERIOD}", headers=h)
    assert r.status_code == 200, r.text
    assert [(e["key"], e["count"]) for e in r.json()["sharing"]] == [("linkedin", 5)]
    reader = CounterReader(redis)
    i = reader.want((base,), date(2025, 2, 1), date(2025, 2, 28))
    folded = fold((await reader.run())[i], frozenset("padr"))
    assert (folded.badges_awarded, folded.shares, dict(folded.channels)) == (5, 5, {"linkedin": 5})


async def test_table_vectors_whole_trimmed_and_empty_read_alike(settings, redis, client):
    """Table vectors are stored without their trailing zeros (streams/apply.lua); one
    written whole by an earlier worker, and one whose counts all cancelled (stored empty),
    share a bucket with them. The badge table reads each as its 25 numbers. By hand: py 2
    awards (1 accepted), js 3 awards (whole, by hand), rb none."""
    _app, c, h = client
    layout = Layout(settings.redis_prefix)
    await commit(redis, layout, OLD, [("eng", "py", "aw.a", 1), ("eng", "py", "ac.a", 1),
                                      ("eng", "py", "aw.p", 1)], first=True)
    await redis.sadd(layout.pairs(ORG), pair("eng", "js"), pair("eng", "rb"))
    whole = struct.pack("<25i", 3, *[0] * 24)  # aw.p 3, as a worker before wrote it
    for b in ("d20250210", "m202502", "y2025"):
        raw = await redis.hget(layout.table(ORG, b), pair("eng", "py"))
        assert raw == struct.pack("<6i", 1, 1, 0, 0, 0, 1)  # aw.p aw.a, then ac.a: 6 int32s
        await redis.hset(layout.table(ORG, b), mapping={pair("eng", "js"): whole,
                                                       pair("eng", "rb"): b""})
    r = await c.get(f"/v1/orgs/{ORG}/badges?{PERIOD}&min_awards=0", headers=h)
    assert r.status_code == 200, r.text
    rows = {row["badge_id"]: row for row in r.json()["items"]}
    assert (rows["py"]["badges_awarded"], rows["py"]["accepted_awards"]) == (2, 1)
    assert (rows["js"]["badges_awarded"], rows["js"]["accepted_awards"]) == (3, 0)
    assert rows.get("rb", {"badges_awarded": 0})["badges_awarded"] == 0
