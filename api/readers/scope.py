"""Which counter hashes answer a scope, for a caller, with filters. Framework-free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

from redis.asyncio import Redis

from api.readers.caches import PairCache
from core.keys import ApiKey
from schemas.layout import (
    BADGE_LEVEL,
    ISSUER_LEVEL,
    ORG_ENTITY,
    ORG_LEVEL,
    STATUS_CODES,
    VERSIONS_GEN,
    Layout,
    pair,
)


class NotFound(Exception):
    """The scope does not exist for this caller (or at all: the two look the same)."""


@dataclass(frozen=True)
class ReadQuery:
    """A read's scope, period and filters."""

    org_id: str
    start: date
    end: date
    issuer_id: str | None = None  # issuer scope
    badge_id: str | None = None  # badge scope
    issuer_filter: tuple[str, ...] = ()
    badge_filter: tuple[str, ...] = ()
    status_filter: tuple[str, ...] = ()

    @property
    def status_codes(self) -> frozenset[str]:
        if not self.status_filter:
            return frozenset(STATUS_CODES.values())
        return frozenset(STATUS_CODES[s] for s in self.status_filter)



@dataclass(frozen=True)
class Resolved:
    """Counter key bases for the scope with filters, and for the scope alone (tiles)."""

    bases: tuple[str, ...]
    tile_bases: tuple[str, ...]
    issuer_ids: tuple[str, ...] | None  # the issuers an issuer key restricts to
    pairs: tuple[tuple[str, str], ...]  # (issuer, badge) pairs in the filtered scope


MAX_PAIR_LISTS = 1024  # orgs whose pair lists are kept (then the memo starts over)


async def org_pairs(redis: Redis, layout: Layout, org_id: str,
                    memo: PairCache | None = None) -> list[tuple[str, str]]:
    """The org's (issuer, badge) pairs (a shared list: never modify it); with the app's memo
    (ReadCaches.pairs) each stored member is split once, without one every time.

    With the memo, the list is kept with the org's data version (`Layout.org_stats`
    ``version``) and `_gen` it was read with: the worker adds a pair only in a commit that
    bumps that version in the same script (streams/protocol.py), and `_gen` tells a Redis
    that came back empty (versions start over). So the same (version, `_gen`) means the same
    set, and a hit costs two small HGETs instead of the whole set. Either absent: not kept."""
    if memo is None:
        raw = cast(set[bytes], await redis.smembers(layout.pairs(org_id)))
        return [PairCache().get(p) for p in raw]
    key = (layout.data, org_id)
    hit = memo.lists.get(key)
    if hit is not None:
        pipe = redis.pipeline(transaction=True)
        pipe.hget(layout.org_stats(org_id), "version")
        pipe.hget(layout.table_versions(org_id), VERSIONS_GEN)
        version, gen = await pipe.execute()
        if hit[0] == (version, gen):
            return hit[1]
    pipe = redis.pipeline(transaction=True)
    pipe.hget(layout.org_stats(org_id), "version")
    pipe.hget(layout.table_versions(org_id), VERSIONS_GEN)
    pipe.smembers(layout.pairs(org_id))
    version, gen, raw = await pipe.execute()
    pairs = [memo.get(p) for p in cast(set[bytes], raw)]
    if version is not None and gen is not None:
        if len(memo.lists) >= MAX_PAIR_LISTS:
            memo.lists.clear()
        memo.lists[key] = ((version, gen), pairs)
    else:
        memo.lists.pop(key, None)
    return pairs


async def resolve(redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery,
                  memo: PairCache | None = None) -> Resolved:
    """Raise NotFound for anything outside the caller's reach or absent from the org.
    `memo`: the app's split pair members (ReadCaches.pairs)."""
    if caller.org_id != q.org_id:
        raise NotFound
    pairs = await org_pairs(redis, layout, q.org_id, memo)
    known_issuers = {i for i, _ in pairs}
    if q.issuer_id is not None:
        known_issuers |= {q.issuer_id} if await redis.hexists(
            layout.issuers(q.org_id), q.issuer_id) else set()
    restricted = caller.role == "issuer"
    allowed = set(caller.issuers) if restricted else None

    def visible(issuer: str) -> bool:
        return allowed is None or issuer in allowed

    if any(not visible(i) for i in q.issuer_filter):
        raise NotFound
    scope_pairs = [p for p in pairs if visible(p[0])]
    if allowed is not None and q.badge_filter:
        # an issuer key may only name its own badges; others look like unknown ones
        own = {b for _i, b in scope_pairs}
        if any(b not in own for b in q.badge_filter):
            raise NotFound
    if q.issuer_id is not None:
        if not visible(q.issuer_id) or q.issuer_id not in known_issuers:
            raise NotFound
        scope_pairs = [p for p in scope_pairs if p[0] == q.issuer_id]
    if q.badge_id is not None:
        scope_pairs = [p for p in scope_pairs if p[1] == q.badge_id]
        if not scope_pairs:
            raise NotFound

    def bases_for(level_pairs: list[tuple[str, str]], narrowed: bool) -> tuple[str, ...]:
        org = q.org_id
        if q.badge_id is not None or narrowed:
            return tuple(layout.counter_base(org, BADGE_LEVEL, pair(i, b)) for i, b in level_pairs)
        if q.issuer_id is not None:
            return (layout.counter_base(org, ISSUER_LEVEL, q.issuer_id),)
        if allowed is not None:
            return tuple(layout.counter_base(org, ISSUER_LEVEL, i) for i in sorted(allowed))
        return (layout.counter_base(org, ORG_LEVEL, ORG_ENTITY),)

    tile_bases = bases_for(scope_pairs, False)
    fpairs = scope_pairs
    if q.issuer_filter:
        fpairs = [p for p in fpairs if p[0] in q.issuer_filter]
    if q.badge_filter:
        fpairs = [p for p in fpairs if p[1] in q.badge_filter]
    if q.badge_filter or q.issuer_filter:
        if q.badge_filter or q.badge_id is not None:
            bases = tuple(layout.counter_base(q.org_id, BADGE_LEVEL, pair(i, b)) for i, b in fpairs)
        else:
            issuers = sorted({i for i in q.issuer_filter if visible(i)}
                             & ({q.issuer_id} if q.issuer_id else set(q.issuer_filter)))
            bases = tuple(layout.counter_base(q.org_id, ISSUER_LEVEL, i) for i in issuers)
    else:
        bases = tile_bases
    return Resolved(bases, tile_bases,
                    tuple(sorted(allowed)) if allowed is not None else None, tuple(fpairs))
