"""Reads a batch needs, and the one atomic write that applies it (streams/apply.lua)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from schemas.layout import Layout, tp_field
from streams.processor import AwardRef, Commit, Fetched, Lookups, dedup_member
from streams.protocol import FORCED, ApplyResult, Header, apply_lua, encode


@dataclass(frozen=True)
class Claim:
    epoch: int
    next: int | None
    fingerprint: str | None


class Sink:
    """Everything the worker reads from and writes to Redis."""

    def __init__(self, redis: Redis, layout: Layout) -> None:
        self.redis = redis
        self.layout = layout
        self.apply_script = redis.register_script(apply_lua())
        self.claim_script = redis.register_script(CLAIM_LUA)
        self.lookup_script = redis.register_script(LOOKUP_LUA)

    async def fetch(self, lk: Lookups, hold_index: str) -> Fetched:
        layout = self.layout
        pipe = self.redis.pipeline(transaction=False)
        # The dedup marks (one set per org, day and bucket) and the award states (one hash
        # field each) in one script call: a command per set or award in the pipeline would
        # cost more Python than the whole lookup costs Redis (bench/README.md).
        asked: list[tuple[str, str, str, str, int]] = []  # org, day, id, set key, position
        sets: dict[str, list[str]] = {}
        for (org, day), ids in lk.dedup.items():
            for eid in ids:
                key, member = dedup_member(layout, org, day, eid)
                members = sets.setdefault(key, [])
                asked.append((org, day, eid, key, len(members)))
                members.append(member)
        fields: list[str] = []
        for ref in lk.awards:
            fields.extend(layout.award(*ref))
        looking = bool(sets or fields)
        if looking:
            await self.lookup_script(keys=[], args=[orjson.dumps([list(sets.items()), fields])],
                                     client=pipe)
        if lk.held:
            # One ZMSCORE says which new awards have held events waiting; usually none.
            pipe.zmscore(hold_index, [f"{org}|{award}" for org, award in lk.held])
        for org, badge in lk.badges:
            pipe.hget(layout.badges(org), badge)
        for org, issuer in lk.issuers:
            pipe.hget(layout.issuers(org), issuer)
        res = await pipe.execute() if len(pipe) else []
        out = Fetched()
        i = 0
        if looking:
            flags, *states = res[0]
            i = 1
            start, at = {}, 0
            for key, members in sets.items():
                start[key] = at
                at += len(members)
            for org, day, eid, key, j in asked:
                if flags[start[key] + j] == 49:  # b"1"
                    out.seen.add((org, day, eid))
            out.awards = dict(zip(lk.awards, states, strict=True))
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
        res = await self.apply_script(keys=[], args=encode(commit, self.layout, header))
        return ApplyResult(res.decode() if isinstance(res, bytes) else str(res))

    async def claim(self, topic: str, partition: int) -> Claim | None:
        """Take ownership of a partition in this generation: a new epoch, the stored next
        offset and the fingerprint of the record before it; None if the generation is no
        longer serving or building."""
        layout = self.layout
        res = await self.claim_script(
            keys=[layout.generations(), layout.epochs(), layout.offsets(),
                  layout.fingerprints()],
            args=[layout.gen, tp_field(topic, partition)])
        if not res:
            return None
        epoch, stored, fp = res
        fp = fp.decode() if isinstance(fp, bytes) else str(fp)
        return Claim(int(epoch), None if stored in (b"", "") else int(stored), fp or None)

    async def reset_offset(self, topic: str, partition: int, epoch: int,
                           offset: int) -> ApplyResult:
        """Store `offset` as the partition's next one whatever it was (fenced by epoch)."""
        return await self.apply(Commit(), topic, partition, epoch, FORCED, offset, None)


# What a batch needs to know before folding (Sink.fetch): ARGV[1] = JSON [[[set key,
# [members]]...], [hash, field, hash, field...]]. Answers {flags, state...}: flags one
# byte per member asked, '1' if it is in its set; then each award's state, or nil.
LOOKUP_LUA = """
local q = cjson.decode(ARGV[1])
local flags = {}
for _, ask in ipairs(q[1]) do
  local m = ask[2]
  for s = 1, #m, 4000 do  -- unpack stays far below Lua's stack limit
    local hits = redis.call('SMISMEMBER', ask[1], unpack(m, s, math.min(s + 3999, #m)))
    for j = 1, #hits do flags[#flags + 1] = hits[j] == 1 and '1' or '0' end
  end
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
local stored = redis.call('HGET', KEYS[3], ARGV[2]) or ''
return {epoch, stored, redis.call('HGET', KEYS[4], ARGV[2]) or ''}
"""
