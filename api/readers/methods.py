"""Awarding-method counts per issuer over a period, with unchanged buckets cached in the
process (issuer activity).

Each (org, bucket) has one methods hash (`Layout.table_methods`, field
``issuer|method.status``): ~2,400 fields for 100 issuers, and a year's period covers ~40
buckets, so fetching and parsing them on every read cost most of issuer activity's time
(bench/README.md). The worker bumps a bucket's table version (`Layout.table_versions`)
with every write to its table *or* methods hash (streams/protocol.py), so a bucket is
cached with that version by the mechanism the table vectors and counters share
(api/readers/buckets.py): a read fetches the versions in one round trip and only the
buckets that changed.

Each bucket is kept as two arrays (field numbers in the org's field index, counts) so a
period's total is a numpy sum; the fold into issuer -> method for the chosen statuses runs
once per read over the org's distinct fields, not per bucket.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from datetime import date
from typing import Any

from redis.asyncio import Redis

from api.readers.buckets import VersionedBuckets
from schemas.layout import Layout, period_buckets, split_method_field, table_version_field

MAX_BUCKETS = 4096  # cached (org, bucket) entries per process


class MethodCache:
    def __init__(self) -> None:
        self.cache = VersionedBuckets(MAX_BUCKETS)
        self._split: dict[bytes, tuple[str, str, str]] = {}  # field -> (issuer, method, status)

    @property
    def buckets(self) -> OrderedDict[tuple[str, str, str], Any]:
        """The cached buckets (api/readers/buckets.py)."""
        return self.cache.buckets

    async def period(self, redis: Redis, layout: Layout, org_id: str, start: date, end: date,
                     statuses: frozenset[str], issuers: set[str] | None,
                     ) -> defaultdict[str, defaultdict[str, int]]:
        """issuer -> method -> awards of the period with one of `statuses` (issuers limited
        to `issuers` unless None)."""
        group = [(layout.table_methods(org_id, b), table_version_field(b))
                 for b in period_buckets(start, end)]
        names, (total,) = await self.cache.sums(redis, layout, org_id, [group])
        out: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        split = self._split
        for name, n in zip(names, total.tolist(), strict=True):
            if not n:
                continue
            parts = split.get(name)
            if parts is None:
                if len(split) >= 100_000:
                    split.clear()
                parts = split[name] = split_method_field(name.decode())
            issuer, method, status = parts
            if status in statuses and (issuers is None or issuer in issuers):
                out[issuer][method] += n
        return out
