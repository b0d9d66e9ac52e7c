"""Bucket hashes cached per process by the version the worker bumps with every write to them:
one mechanism for the badge-table vectors (api/readers/vectors.py), the awarding methods of
issuer activity (api/readers/methods.py) and the counter hashes (api/readers/counters.py).

A bucket (a day, month or year of one org) has one version in the org's versions hash
(`Layout.table_versions`, field `table_version_field(bucket)`), shared by its table hash,
its methods hash and its counter hashes of every level and entity. streams/protocol.py
bumps it in the same script as any write to them, so a bucket's contents and its version
always change together. A closed bucket is parsed once and kept with its version; a read
fetches the versions of what it wants in one round trip and reads only the hashes whose
version moved. Old buckets do change (cohort counters are filed by issue day: an award
accepted today changes its issue day's buckets), and the version says so exactly. One
version per bucket rather than per hash: the org-level counters of a bucket change with
any of its entities anyway (what dashboards read), and the worker writes one more field
only for a bucket written with no table or methods write beside it (bot views alone).

Version semantics:

* a version that is absent (None) means *unknown*: a bucket written before the worker kept
  versions (an existing deployment upgraded), one never written, and the ``all`` bucket
  (`version_field` None: it changes with every commit). It is read again on every request,
  never trusted from the cache, so an upgrade needs no migration;
* `_gen` (set once per Redis lifetime by the worker) tells a Redis that came back empty,
  whose versions start over, from the one a bucket was cached from: a new `_gen` empties
  the org's entries.

Buckets before the org's first event (counters only, `first_key` = `Layout.first_day`):
the worker keeps the org's first day per event type with HMIN in the same script as the
writes of that event, and every counter write is filed on the day of an event applied in the
same or an earlier commit (an award's issue day, a follow-up's own day). So a bucket that
ends before the least of those days is empty by definition, version or not: it is neither
read nor cached, and the first day is read in the same snapshot as the versions. A late
event older than the first day moves it in the commit that writes its bucket, so the next
read sees both. An absent or empty first-day hash skips nothing (unknown).

One snapshot: a request sums its buckets as of one moment. When some buckets must be read,
their contents are fetched in one MULTI together with the versions of *every* wanted
bucket; a cached bucket whose version moved between the two round trips makes the request
try again (after a few tries it reads every bucket in that one MULTI).

Values are kept as numpy arrays over a per-org index of the hashes' field names, so a
period's total is a handful of array additions whatever the period's length.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack
import numpy as np
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.layout import LAYOUT_PACKED, VERSIONS_LAYOUT, Layout, counter_parts, stored_names
from schemas.layout import VERSIONS_GEN as GEN_FIELD

MAX_SUMS = 256  # groups' last totals kept, and at most this many bytes of them (a badge
MAX_SUM_BYTES = 32 << 20  # table's total is 8 bytes x 25 x the org's pairs: 400 kB for 2,000)
_PACKED = LAYOUT_PACKED.encode()
TRIES = 3  # snapshots attempted with the cache before reading every bucket at once

Item = tuple[str, str | None]  # (hash key, its version field in the versions hash or None)


@dataclass
class _Org:
    gen: bytes | None = None
    index: dict[bytes, int] = field(default_factory=dict)  # field name -> position
    # the org's counters were all packed at the last read (`_heads`): the next read skips
    # the legacy hashes, and reads again with them if its own MULTI says otherwise
    packed_only: bool = False


@dataclass
class _Bucket:
    version: bytes | None
    rows: np.ndarray  # position of each field in the org index (unique)
    values: np.ndarray  # int64: (n,) or (n, width)


_EMPTY = _Bucket(None, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _floor(first: dict[bytes, bytes] | None) -> str | None:
    """The org's first event day as ``YYYYMMDD`` (the digits of a day bucket), or None."""
    if not first:
        return None
    return min(first.values()).decode().replace("-", "")


def queue_hashes(pipe: Pipeline, keys: Sequence[str], legacy: bool = True) -> None:
    """Queue the reads of bucket hashes (`take_hashes` reads their answers): HGETALL each
    plain hash; the counter keys' fields (schemas/layout.py counter_key) with one HMGET per
    packed hash, then, with `legacy`, each one's legacy hash."""
    fields: dict[str, list[str]] = {}
    olds: list[str] = []
    for key in keys:
        parts = counter_parts(key)
        if parts is None:
            pipe.hgetall(key)
        else:
            fields.setdefault(parts[0], []).append(parts[1])
            olds.append(parts[2])
    for packed, names in fields.items():
        pipe.hmget(packed, names)
    if legacy:
        for old in olds:
            pipe.hgetall(old)


def take_hashes(keys: Sequence[str], answers: Iterator[Any],
                legacy: bool = True) -> list[dict[bytes, Any]]:
    """Each key's hash, from the answers to `queue_hashes(keys, legacy)` in order: a
    counter key's packed map (and legacy hash, added up: both as stored, field codes)."""
    out: list[dict[bytes, Any] | None] = []
    packed: dict[str, list[int]] = {}  # packed hash -> positions of its keys in `out`
    for i, key in enumerate(keys):
        parts = counter_parts(key)
        if parts is None:
            out.append(cast(dict[bytes, Any], next(answers)))
        else:
            out.append(None)
            packed.setdefault(parts[0], []).append(i)
    raw: dict[int, bytes | None] = {}
    for at in packed.values():
        raw.update(zip(at, next(answers), strict=True))
    for i in range(len(keys)):
        if out[i] is None:
            out[i] = merged_counts(raw[i], next(answers) if legacy else {})
    return cast(list[dict[bytes, Any]], out)


def merged_counts(raw: bytes | None, legacy: dict[bytes, bytes]) -> dict[bytes, Any]:
    """A packed counter field's map (MessagePack, field -> count; None: absent) added to
    the legacy hash of the same entity and bucket (HGETALL: field -> decimal count)."""
    if not raw:
        return legacy
    packed: dict[bytes, int] = msgpack.unpackb(raw, raw=True)
    if not legacy:
        return packed
    out: dict[bytes, Any] = dict(legacy)
    for f, n in packed.items():
        had = out.get(f)
        out[f] = n if had is None else int(had) + n
    return out


async def _snapshot(redis: Redis, tv: str, vfields: list[str], keys: list[str],
                    first_key: str | None, legacy: bool, old_all: str,
                    ) -> tuple[list[bytes | None], list[dict[bytes, Any]],
                               dict[bytes, bytes] | None]:
    """One MULTI: the org's heads (`_queue_heads`), each key's hash (`legacy`: and its
    legacy hash), and the first-day hash when one is named (else None): what a read sums,
    as of one moment."""
    pipe = redis.pipeline(transaction=True)
    _queue_heads(pipe, tv, vfields, old_all)
    queue_hashes(pipe, keys, legacy)
    if first_key is not None:
        pipe.hgetall(first_key)
    got, there, *answers = await pipe.execute()
    first = answers.pop() if first_key is not None else None
    return _heads(got, there), take_hashes(keys, iter(answers), legacy), first


def _queue_heads(pipe: Pipeline, tv: str, vfields: list[str], old_all: str) -> None:
    """What a read asks first: the org's `_gen`, counter layout and bucket versions, and
    whether its all-time org hash of before the packed counters exists (`_heads`)."""
    pipe.hmget(tv, [GEN_FIELD, VERSIONS_LAYOUT, *vfields])
    pipe.exists(old_all)


def _heads(got: list[bytes | None], there: int) -> list[bytes | None]:
    """`_gen`, then _PACKED if the org's counters are all packed, else None, then the
    buckets' versions. All packed: the org's first packed commit found no legacy hash
    (VERSIONS_LAYOUT) and none has come since (an older worker still running beside this
    one writes the org's all-time hash with every commit of counters: README)."""
    return [got[0], _PACKED if got[1] == _PACKED and not there else None, *got[2:]]


def _before(bucket: str, floor: str | None) -> bool:
    """Whether a day/month/year bucket (``dYYYYMMDD``, ``mYYYYMM``, ``yYYYY``) ends before
    the day `floor` (``YYYYMMDD``): its digits sort before the floor's same-length prefix."""
    if floor is None or bucket[:1] not in ("d", "m", "y"):
        return False
    digits = bucket[1:]
    return digits.isdigit() and digits < floor[:len(digits)]


@dataclass
class _Sum:
    org: _Org  # the index the total's rows are positions in
    parts: list[_Bucket]  # the buckets summed, in the group's order
    total: np.ndarray  # never modified once stored (callers get it too)


class VersionedBuckets:
    """Parsed bucket hashes of one kind, keyed by (layout.data, org, hash key).

    `width` None: every value is a decimal integer (HINCRBY counters), each field kept under
    its name (`schemas.layout.stored_names`: a counter hash stores field codes); else each
    value is up to `width` packed little-endian int32s, the rest zeros (the table vectors,
    stored without their trailing zeros)."""

    def __init__(self, max_buckets: int, width: int | None = None) -> None:
        self.max_buckets = max_buckets
        self.width = width
        self.orgs: dict[tuple[str, str], _Org] = {}
        self.buckets: OrderedDict[tuple[str, str, str], _Bucket] = OrderedDict()
        # each group's last total (data, org, its hash keys): the next one of the same
        # buckets adds only what changed
        self.totals: OrderedDict[tuple[str, str, tuple[str, ...]], _Sum] = OrderedDict()
        self.sum_bytes = 0  # of the totals kept
        self.reads = 0  # hashes fetched from Redis (tests and benches look)

    def _org(self, key: tuple[str, str], gen: bytes | None) -> _Org:
        org = self.orgs.get(key)
        if org is None or org.gen != gen:
            org = self.orgs[key] = _Org(gen)
            for k in [k for k in self.buckets if k[:2] == key]:
                del self.buckets[k]
            for t in [t for t in self.totals if t[:2] == key]:
                self.sum_bytes -= self.totals.pop(t).total.nbytes
        return org

    async def sums(self, redis: Redis, layout: Layout, org_id: str,
                   groups: Sequence[Sequence[Item]], first_key: str | None = None,
                   bucket_of: dict[str, str] | None = None,
                   ) -> tuple[list[bytes], list[np.ndarray]]:
        """(the org's field names, one total per group indexed by them): each group's
        hashes summed field by field, all groups from one snapshot. The totals are shared
        with the cache: read them, never modify them.

        `first_key` (with `bucket_of`: hash key -> its bucket): the org's first-day hash;
        buckets wholly before it are empty (module doc)."""
        tv = layout.table_versions(org_id)
        old_all = layout.legacy_org_all(org_id)
        ckey = (layout.data, org_id)
        wanted = list(dict.fromkeys(it for g in groups for it in g))
        vfields = list(dict.fromkeys(vf for _k, vf in wanted if vf is not None))
        # never versioned (`all`), so never served from the cache: read with the versions,
        # and when every versioned bucket is cached and current, that one MULTI is the read
        eager = [it for it in wanted if it[1] is None]
        for attempt in range(TRIES + 1):
            fresh: list[dict[bytes, Any]] = []
            # the legacy hashes are skipped where the org was seen all packed (the last try
            # reads them whatever it was seen as)
            known = self.orgs.get(ckey)
            legacy = attempt == TRIES or known is None or not known.packed_only
            if first_key is None and not eager:
                pipe = redis.pipeline(transaction=True)
                _queue_heads(pipe, tv, vfields, old_all)
                got = _heads(*await pipe.execute())
                floor = None
            else:
                got, fresh, first = await _snapshot(redis, tv, vfields,
                                                    [key for key, _vf in eager], first_key,
                                                    legacy, old_all)
                # the last try reads every bucket in one MULTI: nothing skipped
                floor = _floor(first) if first_key is not None and attempt < TRIES else None
            gen = got[0]
            versions: dict[str | None, bytes | None] = dict(zip(vfields, got[2:], strict=True))
            versions[None] = None
            org = self._org(ckey, gen)
            org.packed_only = got[1] == _PACKED
            if eager and not legacy and not org.packed_only:
                continue  # not all packed after all (another Redis, `_gen`): with them
            local: dict[str, _Bucket] = {}
            stale: list[Item] = []
            for it in wanted:
                if it[1] is None:
                    continue  # eager: below
                if floor is not None and bucket_of is not None and _before(
                        bucket_of.get(it[0], ""), floor):
                    local[it[0]] = _EMPTY
                    continue
                hit = self.buckets.get((*ckey, it[0]))
                if (attempt < TRIES and hit is not None and hit.version is not None
                        and hit.version == versions[it[1]]):
                    local[it[0]] = hit
                else:
                    stale.append(it)
            if not stale:
                # one MULTI: every bucket as of that moment
                self.reads += len(eager)
                for (key, _vf), h in zip(eager, fresh, strict=True):
                    local[key] = self._parse(org, None, h)
                break
            # read again with the stale ones, so that the request sums one snapshot
            stale.extend(eager)
            legacy = attempt == TRIES or not org.packed_only
            got2, hashes, first = await _snapshot(redis, tv, vfields,
                                                  [key for key, _vf in stale], first_key,
                                                  legacy, old_all)
            if not legacy and got2[1] != _PACKED:
                continue  # an older worker wrote the org meanwhile: again, with its hashes
            if floor is not None and _floor(first) != floor:
                continue  # an older event moved the first day meanwhile: again
            now: dict[str | None, bytes | None] = dict(zip(vfields, got2[2:], strict=True))
            now[None] = None
            if got2[0] != gen:  # Redis lost its data between the two round trips
                if attempt < TRIES:
                    continue  # again
                org = self._org(ckey, got2[0])  # every bucket is in this MULTI: use it
            if any(local[k].version != now[vf] for k, vf in wanted
                   if k in local and local[k] is not _EMPTY):
                continue  # a commit between the round trips moved a cached bucket: again
            self.reads += len(stale)
            keep = self.orgs.get(ckey) is org  # not if another request saw a new `_gen`
            for (key, vf), h in zip(stale, hashes, strict=True):
                b = local[key] = self._parse(org, now[vf], h)
                if keep and b.version is not None:  # never served without one: not kept
                    self.buckets[(*ckey, key)] = b
                    self.buckets.move_to_end((*ckey, key))
            while len(self.buckets) > self.max_buckets:
                self.buckets.popitem(last=False)
            break
        for key in local:
            if (*ckey, key) in self.buckets:
                self.buckets.move_to_end((*ckey, key))
        n = len(org.index)
        totals = []
        for g in groups:
            keys = tuple(key for key, _vf in g)
            parts = [local[key] for key in keys]
            skey = (*ckey, keys)
            prev = self.totals.get(skey)
            if prev is not None and prev.org is org:
                # the group's last total, with only the buckets that changed since swapped:
                # a period costs the buckets that moved, not all of them
                total = prev.total
                changed = [(a, b) for a, b in zip(prev.parts, parts, strict=True) if a is not b]
                if changed or len(total) < n:
                    total = self._grown(total, n)
                    for old, new in changed:
                        if len(old.rows):
                            total[old.rows] -= old.values
                        if len(new.rows):
                            total[new.rows] += new.values
            else:
                total = self._grown(np.zeros(0 if self.width is None else (0, self.width),
                                             dtype=np.int64), n)
                for b in parts:
                    if len(b.rows):
                        total[b.rows] += b.values  # rows are unique within a bucket
            if self.orgs.get(ckey) is org:
                gone = self.totals.pop(skey, None)
                if gone is not None:
                    self.sum_bytes -= gone.total.nbytes
                self.totals[skey] = _Sum(org, parts, total)
                self.sum_bytes += total.nbytes
                while len(self.totals) > MAX_SUMS or self.sum_bytes > MAX_SUM_BYTES:
                    _k, gone = self.totals.popitem(last=False)
                    self.sum_bytes -= gone.total.nbytes
            totals.append(total)
        return list(org.index), totals

    def _grown(self, total: np.ndarray, n: int) -> np.ndarray:
        """A new array: `total` with zero rows added up to n (never `total` itself, which
        a cached sum or a caller may hold)."""
        shape: tuple[int, ...] = (n,) if self.width is None else (n, self.width)
        out = np.zeros(shape, dtype=np.int64)
        out[:len(total)] = total
        return out

    def _parse(self, org: _Org, version: bytes | None, h: dict[bytes, bytes]) -> _Bucket:
        index = org.index
        if self.width is None:
            h = stored_names(h)
        rows = np.fromiter([index.setdefault(name, len(index)) for name in h],
                           dtype=np.int64, count=len(h))
        if self.width is None:
            values = np.fromiter([int(v) for v in h.values()], dtype=np.int64, count=len(h))
        else:
            raw, full = b"".join(h.values()), 4 * self.width
            if len(raw) != full * len(h):  # vectors stored without their trailing zeros
                raw = b"".join(v.ljust(full, b"\0") for v in h.values())
            values = np.frombuffer(raw, dtype="<i4").reshape(-1, self.width).astype(np.int64)
        return _Bucket(version, rows, values)
