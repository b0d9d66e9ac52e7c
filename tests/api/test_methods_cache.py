"""Issuer activity's per-process cache of methods buckets (api/readers/methods.py) never
shows an old count: every commit that writes a bucket's methods hash bumps the bucket's
version, even one that changes no table vector (streams/protocol.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from api.main import create_app
from core.keys import create_key
from core.settings import Settings
from schemas.layout import Layout, pair
from streams.processor import Commit
from streams.sink import Sink

ORG = "acme"
DAY = "2026-04-13"
URL = f"/v1/orgs/{ORG}/issuer-activity?from=2026-04-01&to=2026-04-30"


async def commit(redis: Redis, layout: Layout, counts: list[tuple[str, str, str, int]],
                 first: bool = False) -> None:
    """The worker's own write path (Commit -> apply.lua), as bench/bench_api.py uses it."""
    c = Commit()
    if first:
        for iss, badge in (("eng", "py"), ("ops", "k8s")):
            c.sadd.add((layout.pairs(ORG), pair(iss, badge)))
            c.hsets[(layout.issuers(ORG), iss)] = orjson.dumps({"name": [0, "x", iss]})
    for iss, badge, f, n in counts:
        c.count(ORG, iss, badge, DAY, f, n)
    await Sink(redis, layout).apply(c, "t", 0, 1, -1, -1, None)


@pytest.fixture
async def client(settings: Settings, redis: Redis) -> AsyncIterator[tuple[Any, httpx.AsyncClient,
                                                                          dict[str, str]]]:
    # the answer cache off: each read computes, so the methods cache is what is tested
    app = create_app(settings.model_copy(update={"answer_cache_mb": 0}))
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    _key, token = await create_key(redis, layout, ORG, "org_admin")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c, {"Authorization": f"Bearer {token}"}


async def methods(c: httpx.AsyncClient, h: dict[str, str]) -> dict[str, dict[str, int]]:
    r = await c.get(URL, headers=h)
    assert r.status_code == 200, r.text
    return {it["issuer_id"]: it["methods"] for it in r.json()["items"]}


async def test_a_methods_only_commit_is_seen_by_the_cached_buckets(settings, redis, client):
    app, c, h = client
    layout = Layout(settings.redis_prefix)
    # eng: 3 awards by lms, 1 by api (pending); ops: 2 by bulk (accepted)
    await commit(redis, layout, [("eng", "py", "aw.p", 4), ("eng", "py", "me.lms.p", 3),
                                 ("eng", "py", "me.api.p", 1), ("ops", "k8s", "aw.a", 2),
                                 ("ops", "k8s", "me.bulk.a", 2)], first=True)
    assert await methods(c, h) == {"eng": {"lms": 3, "api": 1}, "ops": {"bulk": 2}}
    assert app.state.read_caches.methods.buckets  # the buckets are cached now
    # a commit that moves one of eng's awards from lms to api and changes no table vector
    # (two awards of one pair trading statuses in one batch nets the table to zero)
    versions = await redis.hgetall(layout.table_versions(ORG))
    await commit(redis, layout, [("eng", "py", "me.lms.p", -1), ("eng", "py", "me.api.p", 1)])
    after = await redis.hgetall(layout.table_versions(ORG))
    for bucket in (b"d20260413", b"m202604", b"y2026"):  # the day's buckets, by hand
        assert int(after[bucket]) == int(versions[bucket]) + 1
    assert await methods(c, h) == {"eng": {"lms": 2, "api": 2}, "ops": {"bulk": 2}}
    # and the same numbers from a process that has cached nothing
    fresh = create_app(settings.model_copy(update={"answer_cache_mb": 0}))
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c2:
            assert await methods(c2, h) == {"eng": {"lms": 2, "api": 2}, "ops": {"bulk": 2}}
