"""Awarding-method counts per issuer over a period, with unchanged buckets cached in the
process (issuer activity).

Each (org, bucket) has one methods hash (`Layout.table_methods`, field
``issuer|method.status``): ~2,400 fields for 100 issuers, and a year's period covers ~40
buckets, so fetching and parsing them on every read cost most of issuer activity's time
(bench/README.md). The worker bumps a bucket's table version (`Layout.table_versions`)
with every write to its table *or* methods hash (streams/protocol.py), so a bucket is
cached with that version, as the table vectors are (api/readers/vectors.py): a read fetches
the versions in one round trip and only the buckets that changed, each with its version in
one MULTI. A Redis that lost its data gets a new `_gen`, which empties the org's entries.

Each bucket is kept as two arrays (field numbers in the org's field index, counts) so a
period's total is a numpy sum; the fold into issuer -> method for the chosen statuses runs
once per read over the org's distinct fields, not per bucket.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import cast

import numpy as np
from redis.asyncio import Redis

from schemas.layout import Layout, period_buckets, split_method_field

MAX_BUCKETS = 4096  # cached (org, bucket) entries per process


@dataclass
class _Org:
    gen: bytes | None = None
    index: dict[bytes, int] = field(default_factory=dict)  # field -> column
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (issuer, method, status)


@dataclass
class _Bucket:
    version: bytes | None
    cols: np.ndarray  # column of each field in the org index
    counts: np.ndarray  # int64


class MethodCache:
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

    async def period(self, redis: Redis, layout: Layout, org_id: str, start: date, end: date,
                     statuses: frozenset[str], issuers: set[str] | None,
                     ) -> defaultdict[str, defaultdict[str, int]]:
        """issuer -> method -> awards of the period with one of `statuses` (issuers limited
        to `issuers` unless None)."""
        wanted = period_buckets(start, end)
        tv = layout.table_versions(org_id)
        got = cast(list[bytes | None], await redis.hmget(tv, ["_gen", *wanted]))
        gen, versions = got[0], dict(zip(wanted, got[1:], strict=True))
        ckey = (layout.data, org_id)
        org = self._org(ckey, gen)
        stale = [b for b in wanted if (hit := self.buckets.get((*ckey, b))) is None
                 or hit.version is None or hit.version != versions[b]]
        if stale:
            # versions and contents in one snapshot, so a cached bucket is never newer or
            # older than the version stored with it
            pipe = redis.pipeline(transaction=True)
            pipe.hget(tv, "_gen")
            for b in stale:
                pipe.hget(tv, b)
                pipe.hgetall(layout.table_methods(org_id, b))
            res = await pipe.execute()
            if res[0] != gen:  # Redis lost its data between the two round trips: again
                self._org(ckey, res[0])
                return await self.period(redis, layout, org_id, start, end, statuses, issuers)
            for j, b in enumerate(stale):
                version, h = res[1 + 2 * j], cast(dict[bytes, bytes], res[2 + 2 * j])
                cols = []
                for name in h:
                    col = org.index.get(name)
                    if col is None:
                        col = org.index[name] = len(org.fields)
                        org.fields.append(split_method_field(name.decode()))
                    cols.append(col)
                self.buckets[(*ckey, b)] = _Bucket(
                    version, np.array(cols, dtype=np.int64),
                    np.array([int(v) for v in h.values()], dtype=np.int64))
                self.buckets.move_to_end((*ckey, b))
            while len(self.buckets) > MAX_BUCKETS:
                self.buckets.popitem(last=False)
        total = np.zeros(len(org.fields), dtype=np.int64)
        for b in wanted:
            hit = self.buckets[(*ckey, b)]
            if len(hit.cols):
                total[hit.cols] += hit.counts  # columns are unique within a bucket
        out: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (issuer, method, status), n in zip(org.fields, total.tolist(), strict=True):
            if n and status in statuses and (issuers is None or issuer in issuers):
                out[issuer][method] += n
        return out
