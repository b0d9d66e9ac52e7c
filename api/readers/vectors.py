"""Per-badge table vectors of a period, with unchanged buckets cached by the app
(ReadCaches.vectors, api/readers/caches.py).

A table bucket (a day, month or year of one org) holds one packed vector per badge. Past
buckets rarely change, so each is cached with the version the worker bumps on every write
to it (`Layout.table_versions`; the mechanism, shared with the methods and counter hashes,
is api/readers/buckets.py): a read fetches the versions in one round trip and only the
buckets that changed.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date
from typing import Any

import numpy as np
from redis.asyncio import Redis

from api.readers.buckets import VersionedBuckets
from schemas.layout import TABLE_VECTOR, Layout, period_buckets, table_version_field

MAX_BUCKETS = 4096  # cached (org, bucket) entries per app


class VectorCache:
    def __init__(self) -> None:
        self.cache = VersionedBuckets(MAX_BUCKETS, width=TABLE_VECTOR)

    @property
    def buckets(self) -> OrderedDict[tuple[str, str, str], Any]:
        """The cached buckets (api/readers/buckets.py)."""
        return self.cache.buckets

    async def period_totals(self, redis: Redis, layout: Layout, org_id: str,
                            periods: list[tuple[date, date]]) -> tuple[list[bytes],
                                                                       list[np.ndarray]]:
        """(names of the org's pairs, one (len(names), TABLE_VECTOR) total per period)."""
        groups = [[(layout.table(org_id, b), table_version_field(b)) for b in period_buckets(a, z)]
                  for a, z in periods]
        return await self.cache.sums(redis, layout, org_id, groups)
