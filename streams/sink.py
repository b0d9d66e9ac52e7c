"""Reads a batch needs, and the one atomic write that applies it (streams/apply.lua)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from core.redisclient import is_cluster
from schemas.layout import (
    DEDUP_ONE_SET,
    Layout,
    dedup_buckets,
    hash_tag,
    held_member,
    position_fields,
    split_pair,
    split_position,
    tp_field,
)
from streams.processor import AwardRef, Commit, Fetched, Lookups, dedup_member
from streams.protocol import (
    FORCED,
    ORG,
    REWIND,
    UNCHECKED,
    ApplyResult,
    Header,
    apply_lua,
    decode,
    dedup_lua,
    encode,
    split,
    written_keys,
)
from streams.state import mark_collided, state_pair

log = logging.getLogger("badgepulse.sink")
T = TypeVar("T")


class PairsLost(RedisConnectionError):
    """An award state names a pair its org's pair-digest hash does not hold (Sink._pairs):
    the hash went between the two reads. Waited out as any Redis trouble, then read again."""


@dataclass(frozen=True)
class Claim:
    epoch: int
    next: int | None
    fingerprint: str | None
    incarnation: int = 0
    rewound: int = 0  # Layout.rewound: records of no org below it are counted already


@dataclass(frozen=True)
class Position:
    """An org's position on one partition (Layout.positions), as read before a batch."""

    writes: int | None  # n:{tp}, compared and set by each org commit; None: never written
    incarnation: int | None  # of the log `next` belongs to
    next: int | None  # the offset past the org's records committed last
    as_of_us: int | None  # the org's newest applied event (its stats)

    def skips(self, incarnation: int) -> int:
        """The org's records below this offset are committed already (0: none)."""
        if self.next is None or self.incarnation != incarnation:
            return 0
        return self.next


@dataclass
class Positions:
    of: dict[str, Position] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)  # had a position here; their keys are gone


class Sink:
    """Everything the worker reads from and writes to Redis.

    `by_org`: commit org by org (Redis Cluster, docs/cluster.md): each org's writes in one
    script in the org's slot, then the partition's in the control slot; else one script."""

    def __init__(self, redis: Redis, layout: Layout, by_org: bool = False) -> None:
        self.redis = redis
        self.layout = layout
        self.by_org = by_org
        self.apply_script = redis.register_script(apply_lua())
        self.claim_script = redis.register_script(CLAIM_LUA)
        self.lookup_script = redis.register_script(LOOKUP_LUA)
        self.dedup_room: int | None = None  # read when first needed, again after each claim

    async def fetch(self, lk: Lookups, hold_index: str) -> Fetched:
        layout = self.layout
        pipe = self.redis.pipeline(transaction=False)
        # The dedup marks (an org-day's one set, or its buckets) and the award states (one hash
        # field each) in one script call: a command per set or award in the pipeline would
        # cost more Python than the whole lookup costs Redis (bench/README.md).
        asked: list[tuple[str, str, str, str, int]] = []  # org, day, id, one set, position
        sets: dict[str, tuple[list[str], list[str]]] = {}  # one set -> (members, buckets)
        out = Fetched()
        marks = out.marks
        for (org, day), ids in lk.dedup.items():
            for eid in ids:
                mark = marks[(org, day, eid)] = dedup_member(layout, org, day, eid)
                key, bucket, member = mark
                at = sets.get(key)
                if at is None:
                    at = sets[key] = ([], [])
                asked.append((org, day, eid, key, len(at[0])))
                at[0].append(member)
                at[1].append(bucket)
        asks = [(key, members, "".join(buckets)) for key, (members, buckets) in sets.items()]
        fields: list[str] = []
        for ref in lk.awards:
            fields.extend(layout.award(*ref))
        looking = bool(sets or fields)
        if looking and not self.by_org:
            await self.lookup_script(
                keys=[], args=[msgspec.msgpack.encode([asks, fields])], client=pipe)
        if lk.held:
            # One ZMSCORE says which new awards have held events waiting; usually none.
            pipe.zmscore(hold_index, [held_member(org, award) for org, award in lk.held])
        for org, badge in lk.badges:
            pipe.hget(layout.badges(org), badge)
        for org, issuer in lk.issuers:
            pipe.hget(layout.issuers(org), issuer)
        if looking and self.by_org:
            # one lookup per org, in its slot, beside the pipeline (a cluster pipeline
            # cannot load scripts)
            found, res = await asyncio.gather(self._lookup_by_org(asks, fields),
                                              pipe.execute() if len(pipe) else _nothing())
            res = [found, *res]
        else:
            res = await pipe.execute() if len(pipe) else []
        i = 0
        if looking:
            flags, *states = res[0]
            i = 1
            start: dict[str, int] = {}
            pos = 0
            for key, (members, _b) in sets.items():
                start[key] = pos
                pos += len(members)
            for org, day, eid, key, j in asked:
                if flags[start[key] + j] == 49:  # b"1"
                    out.seen.add((org, day, eid))
            out.awards = dict(zip(lk.awards, states, strict=True))
            out.pairs = await self._pairs(out.awards)
        waiting: list[AwardRef] = []
        if lk.held:
            waiting = [ref for ref, score in zip(lk.held, res[i], strict=True)
                       if score is not None]
            i += 1
        for ref in lk.badges:
            out.badges[ref] = res[i]
            i += 1
        for ref in lk.issuers:
            out.issuers[ref] = res[i]
            i += 1
        if waiting:
            pipe = self.redis.pipeline(transaction=False)
            for ref in waiting:
                pipe.lrange(layout.held(*ref), 0, -1)
            for ref, raws in zip(waiting, await pipe.execute(), strict=True):
                if raws:
                    out.held[ref] = raws
        return out

    async def _pairs(self, states: dict[AwardRef, bytes | None],
                     ) -> dict[tuple[str, bytes], tuple[str, str]]:
        """The pairs the FORMAT 4 states name (streams/state.py), from their orgs'
        pair-digest hashes: one HMGET per org. A digest found in no hash: the hash went
        between the two reads (Redis emptied meanwhile): `PairsLost`, transient, and the
        commit that follows would find Redis wiped anyway."""
        wanted: dict[str, dict[bytes, None]] = {}
        for (org, _award), raw in states.items():
            if raw is not None and (d := state_pair(raw)) is not None:
                wanted.setdefault(org, {})[d] = None
        if not wanted:
            return {}
        orgs = sorted(wanted)
        pipe = self.redis.pipeline(transaction=False)  # one connection however many orgs
        for o in orgs:
            pipe.hmget(self.layout.pair_digests(o), [d.hex() for d in wanted[o]])
        got = await pipe.execute()
        out: dict[tuple[str, bytes], tuple[str, str]] = {}
        for org, values in zip(orgs, got, strict=True):
            for d, v in zip(wanted[org], values, strict=True):
                if v is None:
                    raise PairsLost(f"an award state of {org} names pair {d.hex()}, which "
                                    f"its org's pair-digest hash does not hold")
                out[(org, d)] = split_pair(v.decode() if isinstance(v, bytes) else v)
        return out

    async def _collided(self, commit: Commit) -> None:
        """After a COLLISION: the claims whose digest names another pair, kept
        (streams/state.py mark_collided) so the batch, read again, writes their states with
        the ids."""
        claims = list(commit.pair_claims.items())
        pipe = self.redis.pipeline(transaction=False)  # one connection however many claims
        for (org, f), _v in claims:
            pipe.hget(self.layout.pair_digests(org), f)
        got = await pipe.execute()
        for ((org, f), v), have in zip(claims, got, strict=True):
            have_s = have.decode() if isinstance(have, bytes) else have
            if have_s is not None and have_s != v:
                mark_collided(org, bytes.fromhex(f))
                log.warning("%s: pair %s and %s share the digest %s: its award states are "
                            "written with their ids", org, have_s, v, f)

    async def _lookup_by_org(self, asks: list[tuple[str, list[str], str]],
                             fields: list[str]) -> list[bytes | None]:
        """LOOKUP_LUA's answer for the sets and fields asked, asked org by org."""
        by: dict[str, tuple[list[tuple[str, list[str], str]], list[str]]] = {}
        for ask in asks:
            by.setdefault(hash_tag(ask[0]), ([], []))[0].append(ask)
        for j in range(0, len(fields), 2):
            by.setdefault(hash_tag(fields[j]), ([], []))[1].extend(fields[j:j + 2])
        tags = list(by)
        answers = await bounded_gather(
            self.lookup_script(keys=_declared(by[t][0], by[t][1]),
                               args=[msgspec.msgpack.encode([by[t][0], by[t][1]])])
            for t in tags)
        # back into the order asked: flags set by set, then states field by field
        flags: dict[str, bytes] = {}
        states: dict[tuple[str, str], bytes | None] = {}
        for t, (flag, *got) in zip(tags, answers, strict=True):
            at = 0
            for key, members, _b in by[t][0]:
                flags[key] = flag[at:at + len(members)]
                at += len(members)
            hf = by[t][1]
            for j in range(0, len(hf), 2):
                states[(hf[j], hf[j + 1])] = got[j // 2]
        return [b"".join(flags[ask[0]] for ask in asks),
                *(states[(fields[j], fields[j + 1])] for j in range(0, len(fields), 2))]

    async def positions(self, orgs: Iterable[str], topic: str, partition: int) -> Positions:
        """Each org's position on the partition, and which orgs lost theirs (registered as
        holding one, none found: their slot came back empty)."""
        layout, tp = self.layout, tp_field(topic, partition)
        names = sorted(orgs)
        if not names:
            return Positions()
        pipe = self.redis.pipeline(transaction=False)
        for org in names:
            pipe.hmget(layout.positions(org), list(position_fields(tp)[1:]))
            pipe.hget(layout.org_stats(org), "as_of_us")
        pipe.smismember(layout.partition_orgs(topic, partition), names)
        res = await pipe.execute()
        out = Positions()
        for j, org in enumerate(names):
            (n, o), as_of = res[2 * j], res[2 * j + 1]
            inc, nxt = split_position(o.decode() if o else "")
            out.of[org] = Position(None if n is None else int(n), inc, nxt,
                                   None if as_of is None else int(as_of))
            if n is None and res[-1][j]:
                out.lost.add(org)
        return out

    async def lost_orgs(self, topic: str, partition: int) -> set[str]:
        """The orgs registered as holding a position on the partition that hold none."""
        layout = self.layout
        members = await self.redis.smembers(layout.partition_orgs(topic, partition))
        names = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        if not names:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for org in names:
            pipe.hexists(layout.positions(org), position_fields(tp_field(topic, partition))[1])
        return {org for org, there in zip(names, await pipe.execute(), strict=True)
                if not there}

    async def rewind(self, topic: str, partition: int, epoch: int,
                     lost: Iterable[str]) -> ApplyResult:
        """Replay the partition from the log's start (fenced by epoch): the `lost` orgs are
        rebuilt, the others skip what their positions hold."""
        commit = Commit()
        key = self.layout.partition_orgs(topic, partition)
        commit.dedup_unmarks.extend((key, org) for org in sorted(lost))  # SREM
        return await self._apply_one(commit, Header(tp_field(topic, partition), epoch, REWIND,
                                                    UNCHECKED))

    async def _apply_one(self, commit: Commit, header: Header) -> ApplyResult:
        if commit.dedup_marks and self.dedup_room is None:
            self.dedup_room = await dedup_room(self.redis)
        room = DEDUP_ONE_SET if self.dedup_room is None else self.dedup_room
        args = encode(commit, self.layout, header, room)
        keys: list[str] = []
        if self.by_org:
            keys = header.keys(self.layout) + written_keys(decode(args[0]))
        res = await self.apply_script(keys=keys, args=args)
        result = ApplyResult(res.decode() if isinstance(res, bytes) else str(res))
        if result is ApplyResult.COLLISION:
            await self._collided(commit)
        return result

    async def apply_by_org(self, commit: Commit, topic: str, partition: int, epoch: int,
                           first: int, nxt: int, expected: int | None, fingerprint: str,
                           incarnation: int, positions: Positions) -> ApplyResult:
        """Commit org by org (docs/cluster.md): the registry and held-index entries first
        (idempotent), then each org's writes in one script fenced by the org's position,
        then the partition's own (no-org outcomes, held-index removals, next offset) as
        `apply` does. A stop between two steps leaves each org either wholly committed,
        with its position moved (the replay skips its records), or untouched."""
        layout, tp = self.layout, tp_field(topic, partition)
        parts = split(commit, layout)
        if parts.pre_sadd or parts.pre_zadd or parts.orgs:
            pipe = self.redis.pipeline(transaction=False)
            for key, member in sorted(parts.pre_sadd):
                pipe.sadd(key, member)
            for key, score, member in parts.pre_zadd:
                pipe.zadd(key, {member: score})
            if parts.orgs:
                pipe.sadd(layout.partition_orgs(topic, partition), *sorted(parts.orgs))
            await pipe.execute()
        if parts.orgs:
            results = await bounded_gather((
                self._apply_one(c, Header(tp, epoch, first, nxt, _writes(positions, org),
                                          mode=ORG, org=org, incarnation=incarnation))
                for org, c in parts.orgs.items()))
            if ApplyResult.FENCED in results:
                return ApplyResult.FENCED
            if ApplyResult.COLLISION in results:
                return ApplyResult.COLLISION  # learned (_collided): claim afresh
            if any(r is not ApplyResult.OK for r in results):
                return ApplyResult.STALE  # someone else wrote an org meanwhile: claim afresh
        return await self._apply_one(parts.control, Header(tp, epoch, first, nxt, expected,
                                                           fingerprint))

    async def apply(
        self,
        commit: Commit,
        topic: str,
        partition: int,
        epoch: int,
        first: int,
        nxt: int,
        expected: int | None,
        fingerprint: str = "",
    ) -> ApplyResult:
        """Apply atomically (see streams/protocol.py for `first` and `nxt`, ApplyResult for
        the answer). `expected` is the next offset we believe stored, None for none yet."""
        header = Header(tp_field(topic, partition), epoch, first, nxt, expected, fingerprint)
        return await self._apply_one(commit, header)

    async def claim(self, topic: str, partition: int) -> Claim | None:
        """Take ownership of a partition in this generation: a new epoch, the stored next
        offset and the fingerprint of the record before it; None if the generation is no
        longer serving or building."""
        layout = self.layout
        self.dedup_room = None  # Redis may have come back with other settings
        # Committing org by org, an org's position keeps the epoch of its last writer even
        # when the control slot came back empty: epochs then start from the clock (ms), so
        # a new claim is still newer than every one before it.
        floor = int(time.time() * 1000) if self.by_org else 0
        res = await self.claim_script(
            keys=[layout.generations(), layout.epochs(), layout.offsets(),
                  layout.fingerprints(), layout.incarnations(), layout.rewound()],
            args=[layout.gen, tp_field(topic, partition), floor])
        if not res:
            return None
        epoch, stored, fp, inc, rewound = res
        fp = fp.decode() if isinstance(fp, bytes) else str(fp)
        return Claim(int(epoch), None if stored in (b"", "") else int(stored), fp or None,
                     int(inc), int(rewound))

    async def reset_offset(self, topic: str, partition: int, epoch: int,
                           offset: int) -> ApplyResult:
        """Store `offset` as the partition's next one whatever it was (fenced by epoch)."""
        return await self.apply(Commit(), topic, partition, epoch, FORCED, offset, None)


# What a batch needs to know before folding (Sink.fetch): ARGV[1] = MessagePack [[[an
# org-day's one dedup set, [members], their buckets' hex digits]...], [hash, field, hash,
# field...]]. Answers {flags, state...}: flags one byte per member asked, '1' if it is
# marked (in the one set or, past its room, in its bucket: schemas/layout.py
# DEDUP_ONE_SET); then each award's state, or nil.
LOOKUP_LUA = dedup_lua() + """
local q = cmsgpack.unpack(ARGV[1])
local flags = {}
for _, ask in ipairs(q[1]) do
  local one, m, bs = ask[1], ask[2], ask[3]
  local n = #m
  local hit = {}
  -- the one set's layout (its two sentinels) and its marks in one call
  local first = math.min(n, 3998)  -- unpack stays far below Lua's stack limit
  local r = redis.call('SMISMEMBER', one, DEDUP.ONE, DEDUP.SPLIT, unpack(m, 1, first))
  for j = 1, first do hit[j] = r[j + 2] end
  for s = first + 1, n, 4000 do
    local rr = redis.call('SMISMEMBER', one, unpack(m, s, math.min(s + 3999, n)))
    for j = 1, #rr do hit[s + j - 1] = rr[j] end
  end
  if dedup_split(one, r) then  -- the rest may be in their buckets
    local missed = function(j) return hit[j] == 0 end
    for _, bucket in ipairs(dedup_by_bucket(one, bs, n, missed)) do
      local key, js, ids = bucket[1], bucket[2], {}
      for k = 1, #js do ids[k] = m[js[k]] end
      for s = 1, #ids, 4000 do
        local rr = redis.call('SMISMEMBER', key, unpack(ids, s, math.min(s + 3999, #ids)))
        for k = 1, #rr do hit[js[s + k - 1]] = rr[k] end
      end
    end
  end
  for j = 1, n do flags[#flags + 1] = hit[j] == 1 and '1' or '0' end
end
local out = {table.concat(flags)}
local f = q[2]
for j = 1, #f, 2 do out[#out + 1] = redis.call('HGET', f[j], f[j + 1]) end
return out
"""


# Claim a partition in one generation, unless that generation has been retired meanwhile.
CLAIM_LUA = """
local g = redis.call('HMGET', KEYS[1], 'serving', 'building')
if ARGV[1] ~= (g[1] or '1') and ARGV[1] ~= g[2] then return false end
local epoch = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if epoch < tonumber(ARGV[3]) then
  epoch = tonumber(ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[2], epoch)
end
local stored = redis.call('HGET', KEYS[3], ARGV[2]) or ''
return {epoch, stored, redis.call('HGET', KEYS[4], ARGV[2]) or '',
        tonumber(redis.call('HGET', KEYS[5], ARGV[2]) or '0'),
        tonumber(redis.call('HGET', KEYS[6], ARGV[2]) or '0')}
"""


# Scripts sent at once, one per org, when committing org by org: a cluster pipeline cannot
# carry scripts, and a gather of one per org would ask the client's pool for as many
# connections at once (redis-py refuses past 100: MaxConnectionsError, which the worker
# would wait out for ever on a batch of that many orgs).
ORG_SCRIPTS_AT_ONCE = 16


async def bounded_gather(aws: Iterable[Awaitable[T]], limit: int = ORG_SCRIPTS_AT_ONCE) -> list[T]:
    """asyncio.gather of `aws`, at most `limit` of them running at once; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(aw: Awaitable[T]) -> T:
        async with gate:
            return await aw

    return list(await asyncio.gather(*(one(aw) for aw in aws)))


def _writes(positions: Positions, org: str) -> int | None:
    pos = positions.of.get(org)
    return None if pos is None else pos.writes


async def _nothing() -> list[object]:
    return []


async def dedup_room(redis: Redis) -> int:
    """How many members an org-day's one dedup set may hold (schemas/layout.py
    DEDUP_ONE_SET): Redis's `set-max-intset-entries` (on a Redis Cluster the smallest of its
    masters'), past which a set of integers is a hash table (≈ 5 times the bytes), or
    Redis's default (512) where CONFIG is denied or answers what is not a number."""
    entries = 512
    try:
        if is_cluster(redis):
            got = await redis.config_get("set-max-intset-entries",
                                         target_nodes=RedisCluster.PRIMARIES)
        else:
            got = await redis.config_get("set-max-intset-entries")
    except ResponseError as e:  # CONFIG renamed or denied (managed Redis services)
        log.info("CONFIG GET set-max-intset-entries: %s; taking Redis's default, 512", e)
    else:
        values = [v for k, v in _flat_config(got) if k == "set-max-intset-entries"]
        if values and all(v.isdigit() for v in values):
            entries = min(int(v) for v in values)
    return max(0, min(DEDUP_ONE_SET, entries))


def _flat_config(got: object) -> list[tuple[str, str]]:
    """CONFIG GET's answer as (name, value) pairs: a dict of them, or (a cluster client's)
    a dict of node -> such a dict."""
    out: list[tuple[str, str]] = []
    if isinstance(got, dict):
        for k, v in got.items():
            if isinstance(v, dict):
                out.extend(_flat_config(v))
            else:
                out.append((_text(k), _text(v)))
    return out


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _declared(asks: list[tuple[str, list[str], str]], fields: list[str]) -> list[str]:
    """The keys of one org's lookup, each once: the dedup sets, every bucket of them that
    the lookup may read, and the award-state hashes."""
    keys: dict[str, None] = {}
    for one, _m, _b in asks:
        keys[one] = None
        keys.update(dict.fromkeys(dedup_buckets(one)))
    keys.update(dict.fromkeys(fields[0::2]))
    return list(keys)
