"""The answer cache's byte bound counts what its keys hold: an org_admin may name many unknown
issuer ids in filters (each distinct set an answer of its own, ~64 KB of URL each), so a
bound that charged only the answers would let such keys take far more memory than it says."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

from redis.asyncio import Redis

from api.readers.answers import AnswerCache
from api.readers.scope import ReadQuery
from core.keys import ApiKey
from schemas.layout import Layout


def deep_size(obj: object, seen: set[int] | None = None) -> int:
    """Bytes of an object and what it holds (tuples, strings, dataclass fields): the brute
    force the cache's own accounting is compared with."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    n = sys.getsizeof(obj)
    if isinstance(obj, tuple | frozenset | list):
        n += sum(deep_size(x, seen) for x in obj)
    elif isinstance(obj, ReadQuery):
        n += sum(deep_size(getattr(obj, f), seen) for f in obj.__dataclass_fields__)
    return n


async def test_keys_with_long_filters_are_charged_and_the_bound_holds(settings, redis: Redis):
    layout = Layout(settings.redis_prefix)
    await redis.hincrby(layout.org_stats("acme"), "version", 1)
    bound = 200_000
    cache = AnswerCache(bound)
    caller = ApiKey("k1", "acme", "org_admin")
    keys_bytes = 0

    async def compute() -> dict[str, Any]:
        return {"n": 0}  # a small answer: the key is what weighs

    for i in range(40):
        # 400 unknown issuer ids of 40 characters: ~40 KB of text in the key
        ids = tuple(f"issuer-{i:04d}-{j:04d}-" + "x" * 24 for j in range(400))
        q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30), issuer_filter=ids)
        await cache.get(redis, layout, caller, q, "summary", (), compute)
        keys_bytes = sum(deep_size(k[-2]) for k in cache._entries)  # the ReadQuery of each
    # what the kept entries' queries really hold stays within the bound (before the charge:
    # all 40 were kept, ~1.6 MB of keys under a 200 KB bound)
    assert keys_bytes <= bound
    assert 1 <= len(cache._entries) < 40
    assert cache.size <= bound
