"""Read counter hashes for sets of buckets and fold their fields into counts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from redis.asyncio import Redis

from api.readers.buckets import VersionedBuckets, queue_hashes, take_hashes
from schemas.layout import (
    ACCEPTED,
    ALL_BUCKET,
    AWARDED,
    BOT_VIEWS,
    CREATED,
    FIELD_SEP,
    METHOD,
    METHOD_SHARED,
    METHOD_TIME_TO_ACCEPT,
    PUBLIC,
    SHARE_CHANNEL,
    SHARED,
    TIME_TO_ACCEPT,
    VIEW_SOURCE,
    VIEWED,
    Layout,
    counter_key,
    period_buckets,
    split_field,
    stored_names,
    version_field,
)
from schemas.metrics import TTA_BOUNDS


@dataclass
class Counts:
    """What a set of counter hashes says, for one status filter."""

    badges_created: int = 0
    badges_awarded: int = 0
    accepted_awards: int = 0
    shared_awards: int = 0
    public_awards: int = 0
    shares: int = 0
    views: int = 0  # human views only
    bot_views: int = 0
    viewed_awards: int = 0  # cohort awards with a human view, ever
    methods: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    method_accepted: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    method_shared: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    method_tta: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(TTA_BOUNDS)))
    channels: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    sources: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    tta: list[int] = field(default_factory=lambda: [0] * len(TTA_BOUNDS))

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in (
            "badges_created", "badges_awarded", "accepted_awards", "shared_awards",
            "public_awards", "shares", "views", "bot_views")}


_CREATED = ("", "", "")  # the field is CREATED itself (told apart by identity)
MAX_FIELDS = 1 << 16  # parsed field names kept (then the memo starts over)
MAX_PERIODS = 4096  # periods' bucket lists kept (then the memo starts over)


@dataclass
class CounterMemo:
    """What the counter readers would otherwise work out again on every request, kept by
    the app (ReadCaches.counter_memo): each stored field name's (kind, head, status) (an
    org's hashes share a few hundred names) and each period's buckets (dashboards ask for
    the same few periods). Both pure functions of their key: never stale."""

    fields: dict[bytes, tuple[str, str, str]] = field(default_factory=dict)
    periods: dict[tuple[date, date], list[str]] = field(default_factory=dict)

    def parse(self, raw: bytes) -> tuple[str, str, str]:
        parsed = self.fields.get(raw)
        if parsed is None:
            parsed = _parse_field(raw)
            if len(self.fields) >= MAX_FIELDS:
                self.fields.clear()
            self.fields[raw] = parsed
        return parsed

    def buckets(self, start: date, end: date) -> list[str]:
        """period_buckets(start, end): a shared list, never modify it."""
        buckets = self.periods.get((start, end))
        if buckets is None:
            if len(self.periods) >= MAX_PERIODS:
                self.periods.clear()
            buckets = self.periods[(start, end)] = period_buckets(start, end)
        return buckets


def _parse_field(raw: bytes) -> tuple[str, str, str]:
    f = raw.decode()  # a name: CounterReader.run hands hashes over named (stored_names)
    return _CREATED if f == CREATED else split_field(f)


def fold(hashes: Iterable[Mapping[bytes, bytes | int]], statuses: frozenset[str],
         memo: CounterMemo | None = None) -> Counts:
    """Sum counter fields, keeping only the given status codes.

    Two steps: add up every field across the hashes (one dict update per field), then
    interpret each distinct field once (a few hundred, however long the period); with
    `memo` (the app's) each name is parsed once per process."""
    parse = memo.parse if memo is not None else _parse_field
    totals: dict[bytes, int] = {}
    get = totals.get
    for h in hashes:
        for raw_f, raw_v in h.items():
            totals[raw_f] = get(raw_f, 0) + int(raw_v)
    c = Counts()
    for raw_f, n in totals.items():
        if not n:
            continue
        parsed = parse(raw_f)
        if parsed is _CREATED:
            c.badges_created += n
            continue
        kind, head, s = parsed
        if s not in statuses:
            continue
        if kind == AWARDED:
            c.badges_awarded += n
        elif kind == ACCEPTED:
            c.accepted_awards += n
        elif kind == SHARED:
            c.shared_awards += n
        elif kind == PUBLIC:
            c.public_awards += n
        elif kind == METHOD:
            c.methods[head] += n
        elif kind == SHARE_CHANNEL:
            c.shares += n
            c.channels[head] += n
        elif kind == VIEW_SOURCE:
            c.views += n
            c.sources[head] += n
        elif kind == TIME_TO_ACCEPT:  # written by workers before the insights (mt since)
            c.tta[int(head)] += n
        elif kind == BOT_VIEWS:
            c.bot_views += n
        elif kind == VIEWED:
            c.viewed_awards += n
        elif kind == METHOD_SHARED:
            c.method_shared[head] += n
        elif kind == METHOD_TIME_TO_ACCEPT:
            method, _, bucket = head.rpartition(FIELD_SEP)
            c.method_tta[method][int(bucket)] += n
            c.method_accepted[method] += n  # each accepted award is in one bucket
            c.tta[int(bucket)] += n  # and the histogram is the methods' sum
    return c


class CounterReader:
    """Batches the counter hashes of many (bases, period) requests into one snapshot.

    With `cache` (the app's ReadCaches.counters) and the org whose bases they are, closed
    buckets come from the process's parsed copies, kept by their counter version
    (api/readers/buckets.py), and each request's hashes arrive already summed (one mapping);
    without it, every hash is fetched whole in one MULTI."""

    def __init__(self, redis: Redis, cache: VersionedBuckets | None = None,
                 layout: Layout | None = None, org_id: str | None = None,
                 memo: CounterMemo | None = None) -> None:
        self.redis = redis
        self.period_buckets = memo.buckets if memo is not None else period_buckets
        self.cache = cache if layout is not None and org_id is not None else None
        self.layout = layout
        self.org_id = org_id
        self.requests: list[tuple[Sequence[str], list[str]]] = []

    def want(self, bases: Sequence[str], start: date | None, end: date | None) -> int:
        buckets = ([ALL_BUCKET] if start is None or end is None
                   else self.period_buckets(start, end))
        self.requests.append((bases, buckets))
        return len(self.requests) - 1

    async def run(self) -> list[list[Mapping[bytes, bytes | int]]]:
        if self.cache is not None and self.layout is not None and self.org_id is not None:
            bucket_of: dict[str, str] = {}
            groups = []
            for bases, buckets in self.requests:
                g = []
                for base in bases:
                    for b in buckets:
                        key = counter_key(base, b)
                        bucket_of[key] = b
                        g.append((key, version_field(b)))
                groups.append(g)
            # buckets before the org's first event day are empty (api/readers/buckets.py)
            names, totals = await self.cache.sums(
                self.redis, self.layout, self.org_id, groups,
                first_key=self.layout.first_day(self.org_id), bucket_of=bucket_of)
            return [[{name: n for name, n in zip(names, t.tolist(), strict=True) if n}]
                    for t in totals]
        # MULTI/EXEC: one snapshot, so a batch applied mid-read cannot split a response.
        pipe = self.redis.pipeline(transaction=True)
        keys = [counter_key(base, b) for bases, buckets in self.requests
                for base in bases for b in buckets]
        queue_hashes(pipe, keys)  # and their legacy hashes (no versions read to say)
        answers = iter(await pipe.execute() if len(pipe) else [])
        res: list[Mapping[bytes, bytes | int]] = [stored_names(h)
                                                  for h in take_hashes(keys, answers)]
        out: list[list[Mapping[bytes, bytes | int]]] = []
        i = 0
        for bases, buckets in self.requests:
            n = len(bases) * len(buckets)
            out.append(res[i:i + n])
            i += n
        return out
