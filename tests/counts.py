"""One entity's counters in one bucket as Redis holds them, read by hand (not through the
API's readers): the field of the org's packed hash for the bucket, a MessagePack map of
field codes to counts (schemas/layout.py), plus the hash of the same entity and bucket that
workers before the packed layout wrote (field codes to decimal counts)."""

from __future__ import annotations

from typing import Any

import msgpack

from schemas.layout import Layout


async def entity_counts(redis: Any, layout: Layout, org: str, level: str, entity: str,
                        bucket: str) -> dict[bytes, int]:
    """{stored field (a code): count}, zeros left out."""
    raw = await redis.hget(f"{layout.data}:{{{org}}}:cp:{bucket}", f"{level}{entity}")
    out: dict[bytes, int] = dict(msgpack.unpackb(raw, raw=True)) if raw else {}
    legacy = await redis.hgetall(f"{layout.data}:{{{org}}}:c:{level}:{entity}:{bucket}")
    for f, n in legacy.items():
        out[f] = out.get(f, 0) + int(n)
    return {f: n for f, n in out.items() if n}
