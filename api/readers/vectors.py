"""Per-badge table vectors of a period, with unchanged buckets cached by the app
(ReadCaches.vectors, api/readers/caches.py).

A table bucket (a day, month or year of one org) holds one packed vector per badge. Past
buckets rarely change, so each is cached with the version the worker bumps on every write
to it (`Layout.table_versions`); a read fetches the versions in one round trip and only the
buckets that changed. A Redis that lost its data gets a new `_gen`, which empties the cache
for the org.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import cast

import numpy as np
from redis.asyncio import Redis

from schemas.layout import TABLE_VECTOR, Layout, period_buckets

MAX_BUCKETS = 4096  # cached (org, bucket) entries per app


@dataclass
class _Org:
    gen: bytes | None = None
    index: dict[bytes, int] = field(default_factory=dict)  # "issuer|badge" -> row


@dataclass
class _Bucket:
    version: bytes | None
    rows: np.ndarray  # row of each vector in the org index
    vectors: np.ndarray  # (n, TABLE_VECTOR) int64


class VectorCache:
    def __init__(self) -> None:
        self.orgs: dict[tuple[str, str], _Org] = {}  # (layout.data, org)
        self.buckets: OrderedDict[tuple[str, str, str], _Bucket] = OrderedDict()  # + bucket

    def _org(self, key: tuple[str, str], gen: bytes | None) -> _Org:
        org = self.orgs.get(key)
        if org is None or org.gen != gen:
            org = self.orgs[key] = _Org(gen)
            for k in [k for k in self.buckets if k[:2] == key]:
                del self.buckets[k]
        return org

    async def period_totals(self, redis: Redis, layout: Layout, org_id: str,
                            periods: list[tuple[date, date]]) -> tuple[list[bytes],
                                                                       list[np.ndarray]]:
        """(names of the org's pairs, one (len(names), TABLE_VECTOR) total per period)."""
        per_period = [period_buckets(a, b) for a, b in periods]
        wanted = sorted({b for bs in per_period for b in bs})
        tv = layout.table_versions(org_id)
        got = cast(list[bytes | None], await redis.hmget(tv, ["_gen", *wanted]))
        gen, versions = got[0], dict(zip(wanted, got[1:], strict=True))
        ckey = (layout.data, org_id)
        org = self._org(ckey, gen)
        stale = [b for b in wanted if (hit := self.buckets.get((*ckey, b))) is None
                 or hit.version != versions[b]]
        if stale:
            # versions and contents in one snapshot, so a cached bucket is never newer
            # or older than the version stored with it
            pipe = redis.pipeline(transaction=True)
            pipe.hget(tv, "_gen")
            for b in stale:
                pipe.hget(tv, b)
                pipe.hgetall(layout.table(org_id, b))
            res = await pipe.execute()
            if res[0] != gen:
                org = self._org(ckey, res[0])
            for j, b in enumerate(stale):
                version, h = res[1 + 2 * j], res[2 + 2 * j]
                names = list(h.keys())
                rows = np.fromiter([org.index.setdefault(n, len(org.index)) for n in names],
                                   dtype=np.int64, count=len(names))
                vectors = np.frombuffer(b"".join(h.values()), dtype="<i4").reshape(
                    -1, TABLE_VECTOR).astype(np.int64)
                self.buckets[(*ckey, b)] = _Bucket(version, rows, vectors)
                self.buckets.move_to_end((*ckey, b))
            while len(self.buckets) > MAX_BUCKETS:
                self.buckets.popitem(last=False)
        names = list(org.index)
        totals = []
        for buckets in per_period:
            total = np.zeros((len(names), TABLE_VECTOR), dtype=np.int64)
            for b in buckets:
                hit = self.buckets[(*ckey, b)]
                if len(hit.rows):
                    total[hit.rows] += hit.vectors  # rows are unique within a bucket
            totals.append(total)
        return names, totals

