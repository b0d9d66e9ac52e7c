"""Reads a batch needs, and the one atomic write that applies it (streams/apply.lua)."""

from __future__ import annotations

from dataclasses import dataclass

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

    async def fetch(self, lk: Lookups, hold_index: str) -> Fetched:
        layout = self.layout
        pipe = self.redis.pipeline(transaction=False)
        # one SMISMEMBER per (org, day, bucket) set of the ids' digests
        dedup_asks: list[tuple[str, str, list[str]]] = []
        for (org, day), ids in lk.dedup.items():
            by_key: dict[str, tuple[list[str], list[str]]] = {}
            for eid in ids:
                key, member = dedup_member(layout, org, day, eid)
                entry = by_key.setdefault(key, ([], []))
                entry[0].append(eid)
                entry[1].append(member)
            for key, (eids, members) in by_key.items():
                pipe.smismember(key, members)
                dedup_asks.append((org, day, eids))
        for ref in lk.awards:
            pipe.hget(*layout.award(*ref))
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
        for org, day, eids in dedup_asks:
            for eid, hit in zip(eids, res[i], strict=True):
                if hit:
                    out.seen.add((org, day, eid))
            i += 1
        for ref in lk.awards:
            out.awards[ref] = res[i]
            i += 1
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


# Claim a partition in one generation, unless that generation has been retired meanwhile.
CLAIM_LUA = """
local g = redis.call('HMGET', KEYS[1], 'serving', 'building')
if ARGV[1] ~= (g[1] or '1') and ARGV[1] ~= g[2] then return false end
local epoch = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local stored = redis.call('HGET', KEYS[3], ARGV[2]) or ''
return {epoch, stored, redis.call('HGET', KEYS[4], ARGV[2]) or ''}
"""
