"""What the readers keep between requests. One ReadCaches belongs to one app
(`app.state.read_caches`, made in its lifespan, api/main.py) and is handed to the readers,
so two apps in one process, and tests, never share decoded data.

Each part is bounded and keyed by what it decodes, so an entry never goes stale: a stored
pair member or metadata value decodes the same whatever org or generation holds it; table
vectors, methods and counter hashes carry the version the worker bumps
(api/readers/buckets.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from api.readers.buckets import VersionedBuckets
from api.readers.counters import CounterMemo
from api.readers.methods import MethodCache
from api.readers.vectors import VectorCache
from schemas.layout import split_pair

MAX_PAIRS = 200_000  # decoded pair members kept (then the memo starts over)
MAX_METAS = 100_000  # decoded badge metadata values kept (then the memo starts over)
MAX_COUNTER_BUCKETS = 16_384  # parsed counter hashes kept (org, level, entity, bucket)


@dataclass
class PairCache:
    """Stored "issuer|badge" members, split once; and each org's list of pairs, kept with
    the org's data version and `_gen` it was read with (api/readers/scope.py org_pairs)."""

    split: dict[bytes, tuple[str, str]] = field(default_factory=dict)
    lists: dict[tuple[str, str], tuple[tuple[bytes, bytes], list[tuple[str, str]]]] = field(
        default_factory=dict)  # (data, org) -> ((version, _gen), pairs)

    def get(self, member: bytes) -> tuple[str, str]:
        hit = self.split.get(member)
        if hit is None:
            if len(self.split) >= MAX_PAIRS:
                self.split.clear()
            hit = self.split[member] = split_pair(member.decode())
        return hit


@dataclass
class MetaCache:
    """Badge metadata (JSON as stored), decoded once per distinct value."""

    decoded: dict[bytes | str, dict[str, Any]] = field(default_factory=dict)

    def get(self, raw: bytes | str | None) -> dict[str, Any]:
        if not raw:
            return {}
        meta = self.decoded.get(raw)
        if meta is None:
            if len(self.decoded) >= MAX_METAS:
                self.decoded.clear()
            meta = self.decoded[raw] = orjson.loads(raw)
        return meta


@dataclass
class ReadCaches:
    vectors: VectorCache = field(default_factory=VectorCache)
    pairs: PairCache = field(default_factory=PairCache)
    meta: MetaCache = field(default_factory=MetaCache)
    methods: MethodCache = field(default_factory=MethodCache)  # issuer activity's
    counters: VersionedBuckets = field(  # counter hashes (api/readers/counters.py)
        default_factory=lambda: VersionedBuckets(MAX_COUNTER_BUCKETS))
    counter_memo: CounterMemo = field(default_factory=CounterMemo)  # field names, periods
