"""Carry the keys that are not rebuilt from the topic over to the hash-tagged names
(docs/cluster.md): before 2026-11-29 they had no tag (`bp:keys`, `bp:covcfg:acme`, ...).

The aggregates themselves are not moved: the generation pointer is, so the workers find no
offsets under the new names and replay the topic into the serving generation, and
`badgepulse rebuild` then builds the next one and drops the serving one's keys, old names
included (they match the generation's SCAN pattern). Run by the worker as it starts and by
`rebuild`; a no-op once done, and on a Redis Cluster (the old names never ran on one).
"""

from __future__ import annotations

from typing import Any

from schemas.layout import Layout


async def carry_over_names(redis: Any, base: Layout) -> list[str]:
    """RENAMENX each untagged control key, and each org's coverage settings, to its tagged
    name; returns the old names moved."""
    moved: list[str] = []
    for old, new in base.untagged().items():
        if await redis.exists(old) and await redis.renamenx(old, new):
            moved.append(old)
    async for raw in redis.scan_iter(match=base.untagged_coverage(), count=1000):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        new = base.untagged_coverage(name)
        if new and await redis.renamenx(name, new):
            moved.append(name)
    return moved
