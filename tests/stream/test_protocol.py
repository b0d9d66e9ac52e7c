"""The commit protocol against the real Redis of the test session: every Op that
streams/protocol.py can encode, applied by streams/apply.lua through the Sink and read back;
and every ApplyResult, each with what it must (not) have written."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgpack
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from schemas.layout import (
    DEDUP_ONE,
    DEDUP_SPLIT,
    TABLE_VECTOR,
    VERSIONS_GEN,
    Layout,
    dedup_buckets,
    tp_field,
)
from streams.processor import Commit, dedup_member
from streams.protocol import (
    HEADER_SLOTS,
    UNCHECKED,
    ApplyResult,
    Header,
    Op,
    decode,
    encode,
)
from streams.sink import Sink
from tests.counts import entity_counts

ORG = "acme"
DAY = "2026-04-14"
# The four buckets an event of DAY lands in (schemas/layout.py), spelled out by hand.
BUCKETS = ("d20260414", "m202604", "y2026", "all")


@dataclass
class Ctx:
    """One test's prefix, a Sink on generation 1 and the epoch it claimed for partition 0."""

    redis: Redis
    layout: Layout
    sink: Sink
    topic: str
    epoch: int

    @property
    def tp(self) -> str:
        return tp_field(self.topic, 0)

    def key(self, name: str) -> str:
        return f"{self.layout.data}:test:{name}"

    async def apply(self, commit: Commit, first: int = UNCHECKED, nxt: int = UNCHECKED,
                    expected: int | None = None, fingerprint: str = "",
                    epoch: int | None = None) -> ApplyResult:
        return await self.sink.apply(commit, self.topic, 0, self.epoch if epoch is None
                                     else epoch, first, nxt, expected, fingerprint)

    async def apply_ok(self, commit: Commit, op: Op) -> None:
        """Apply `commit`, which must go out as (at least) an `op` section."""
        payload = decode(encode(commit, self.layout, Header(self.tp, self.epoch,
                                                                  UNCHECKED, UNCHECKED))[0])
        assert op in payload[len(HEADER_SLOTS):], f"the commit does not exercise {op!r}"
        assert await self.apply(commit) is ApplyResult.OK


@pytest.fixture
async def ctx(settings, redis) -> Ctx:
    layout = Layout(settings.redis_prefix)
    sink = Sink(redis, layout)
    claim = await sink.claim(settings.topic, 0)
    assert claim is not None and claim.next is None
    return Ctx(redis, layout, sink, settings.topic, claim.epoch)


# --- every op ------------------------------------------------------------------------------
Case = Callable[[Ctx], Awaitable[None]]
CASES: dict[Op, Case] = {}


def case(op: Op) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[op] = fn
        return fn
    return register


@case(Op.PACKED)
async def counters_land_in_every_level_and_bucket(c: Ctx) -> None:
    commit = Commit()
    commit.count(ORG, "eng", "py", DAY, "aw.a")
    commit.count(ORG, "eng", "py", DAY, "aw.a")
    commit.count(ORG, "eng", "py", DAY, "me.lms.a")
    await c.apply_ok(commit, Op.PACKED)
    # one hash per (org, bucket), a field per (level, entity), spelled out by hand
    # (schemas/layout.py): the entity's counts as a MessagePack map of field codes
    fields = ("o-", "ieng", "beng|py")

    async def maps(bucket: str) -> dict[bytes, dict[bytes, int]]:
        key = f"{c.layout.data}:{{{ORG}}}:cp:{bucket}"
        return {f: msgpack.unpackb(v, raw=True) for f, v in (await c.redis.hgetall(key)).items()}

    for bucket in BUCKETS[:3]:
        # aw.a and me.lms.a as stored: their codes (schemas/layout.py, field codes)
        assert await maps(bucket) == {f.encode(): {b"Aa": 2, b"M2a": 1} for f in fields}, bucket
    # All time keeps only what its one reader folds (protocol.ALL_TIME_KINDS): awarding
    # methods are read by period, never all time.
    assert await maps("all") == {f.encode(): {b"Aa": 2} for f in fields}
    # a second commit adds into the maps; a count brought to 0 leaves its map, and a map
    # left empty leaves the hash (another badge of the issuer keeps the issuer's)
    more = Commit()
    more.count(ORG, "eng", "py", DAY, "aw.a", -2)
    more.count(ORG, "eng", "py", DAY, "me.lms.a", 4)
    more.count(ORG, "eng", "go", DAY, "sc.linkedin.a", 3)
    await c.apply_ok(more, Op.PACKED)
    assert await maps("d20260414") == {
        b"o-": {b"M2a": 5, b"X0a": 3}, b"ieng": {b"M2a": 5, b"X0a": 3},
        b"beng|py": {b"M2a": 5}, b"beng|go": {b"X0a": 3}}
    assert await maps("all") == {b"o-": {b"X0a": 3}, b"ieng": {b"X0a": 3},
                                 b"beng|go": {b"X0a": 3}}


@case(Op.LAYOUT)
async def an_org_s_counter_layout_is_set_once_by_its_first_packed_commit(c: Ctx) -> None:
    """An org with an all-time hash of an older worker is 'mixed' (readers add its legacy
    hashes in), one without is 'packed'; what is set stays (the field names spelled by
    hand: schemas/layout.py VERSIONS_LAYOUT)."""
    old = f"{c.layout.data}:{{globex}}:c:o:-:all"

    async def layouts_after_a_commit_each() -> list[bytes | None]:
        for org in (ORG, "globex"):
            commit = Commit()
            commit.count(org, "eng", "py", DAY, "aw.p")
            await c.apply_ok(commit, Op.LAYOUT)
        return [await c.redis.hget(c.layout.table_versions(org), "_layout")
                for org in (ORG, "globex")]

    await c.redis.hset(old, "Ap", 4)  # what a worker before the packed counters wrote
    assert await layouts_after_a_commit_each() == [b"packed", b"mixed"]
    await c.redis.hset(f"{c.layout.data}:{{{ORG}}}:c:o:-:all", "Ap", 1)
    await c.redis.delete(old)
    assert await layouts_after_a_commit_each() == [b"packed", b"mixed"]


@case(Op.COUNTERS)
async def awarding_methods_land_in_their_period_buckets(c: Ctx) -> None:
    commit = Commit()
    commit.count(ORG, "eng", "py", DAY, "aw.a")
    commit.count(ORG, "eng", "py", DAY, "me.lms.a")
    await c.apply_ok(commit, Op.COUNTERS)
    # Awarding methods per issuer, for issuer activity: by period bucket, not all time.
    for bucket in BUCKETS[:3]:
        assert await c.redis.hget(c.layout.table_methods(ORG, bucket), "eng|lms.a") == b"1"
    assert not await c.redis.exists(c.layout.table_methods(ORG, "all"))


@case(Op.TABLE)
async def table_vectors_add_up_across_commits(c: Ctx) -> None:
    first = Commit()
    first.count(ORG, "eng", "py", DAY, "aw.p")
    await c.apply_ok(first, Op.TABLE)
    second = Commit()  # the award is accepted, then shared three times
    second.count(ORG, "eng", "py", DAY, "aw.p", -1)
    second.count(ORG, "eng", "py", DAY, "aw.a")
    second.count(ORG, "eng", "py", DAY, "ac.a")
    second.count(ORG, "eng", "py", DAY, "sc.linkedin.a", 3)
    await c.apply_ok(second, Op.TABLE)
    expected = [0] * 25  # (aw, ac, sh, pu, sc, vs) x (p, a, d, r), then badges created
    expected[1] = 1  # aw.a
    expected[5] = 1  # ac.a
    expected[17] = 3  # sc.*.a
    for bucket in BUCKETS[:3]:
        raw = await c.redis.hget(c.layout.table(ORG, bucket), "eng|py")
        # stored without its trailing zeros: up to sc.a, 18 int32s
        assert raw is not None and len(raw) == 4 * 18
        assert list(struct.unpack("<18i", raw)) == expected[:18], bucket
        # Each write bumps the bucket's version, so readers drop what they cached of it.
        assert await c.redis.hget(c.layout.table_versions(ORG), bucket) == b"2"
    assert not await c.redis.exists(c.layout.table(ORG, "all"))
    # A vector written whole (before vectors lost their trailing zeros) is added to alike;
    # one whose counts all cancel is stored empty.
    day = c.layout.table(ORG, BUCKETS[0])
    await c.redis.hset(day, "eng|js", struct.pack(f"<{TABLE_VECTOR}i", 2, *[0] * 24))
    third = Commit()
    third.count(ORG, "eng", "js", DAY, "aw.p", -2)
    third.count(ORG, "eng", "js", DAY, "ac.p")
    third.count(ORG, "eng", "py", DAY, "aw.a", -1)
    third.count(ORG, "eng", "py", DAY, "ac.a", -1)
    third.count(ORG, "eng", "py", DAY, "sc.linkedin.a", -3)
    await c.apply_ok(third, Op.TABLE)
    assert await c.redis.hget(day, "eng|js") == struct.pack("<5i", 0, 0, 0, 0, 1)  # ac.p
    assert await c.redis.hget(day, "eng|py") == b""


@case(Op.DEDUP)
async def dedup_marks_fill_the_days_one_set_then_go_to_their_buckets(c: Ctx) -> None:
    c.sink.dedup_room = 10  # as if Redis kept sets of up to 10 integers as intsets
    layout, r = c.layout, c.redis
    one = layout.dedup_set(ORG, DAY)
    marks = [dedup_member(layout, ORG, DAY, f"e-{i}") for i in range(4510)]

    def bucket(mark: tuple[str, str, str]) -> str:
        return layout.dedup(ORG, DAY, int(mark[1], 16))

    async def ttl_near(key: str, secs: int) -> bool:
        return secs - 60 < await r.ttl(key) <= secs

    await c.apply_ok(Commit(dedup_marks=marks[:6], dedup_ttl=1000), Op.DEDUP)
    # the day's first marks: its one set, with the sentinel that says so ("0"), 7 members
    held = {DEDUP_ONE.encode(), *(m.encode() for _k, _b, m in marks[:6])}
    assert await r.smembers(one) == held
    assert await r.exists(*{bucket(m) for m in marks}) == 0
    assert await ttl_near(one, 1000)
    # 7 + 3 and the split sentinel would be 11 members, past the room of 10: the three go
    # to their buckets, the six stay where they are, and "1" says the day is split
    await c.apply_ok(Commit(dedup_marks=marks[6:9], dedup_ttl=2000), Op.DEDUP)
    assert await r.smembers(one) == held | {DEDUP_SPLIT.encode()}
    for m in marks[6:9]:
        assert await r.sismember(bucket(m), m[2])
        assert await ttl_near(bucket(m), 2000)
    assert await ttl_near(one, 2000)  # every write keeps the one set as long as its buckets
    # 4,501 more in one commit: past 4,000 in one SADD
    await c.apply_ok(Commit(dedup_marks=marks[9:], dedup_ttl=2000), Op.DEDUP)
    assert await r.scard(one) == 8
    in_buckets = sum([await r.scard(k) for k in dedup_buckets(one)])
    assert in_buckets == 4510 - 6
    assert await r.smismember(bucket(marks[-1]), [marks[-1][2]]) == [1]

    # a fresh day with more marks than room: only the split sentinel in its one set
    day2 = "2026-04-15"
    many = [dedup_member(layout, ORG, day2, f"f-{i}") for i in range(20)]
    await c.apply_ok(Commit(dedup_marks=many, dedup_ttl=1000), Op.DEDUP)
    assert await r.smembers(layout.dedup_set(ORG, day2)) == {DEDUP_SPLIT.encode()}
    assert sum([await r.scard(k) for k in dedup_buckets(layout.dedup_set(ORG, day2))]) == 20

    # a day marked by a worker before the one set (its buckets only): marked there still
    day3 = "2026-04-16"
    old = dedup_member(layout, ORG, day3, "g-0")
    await r.sadd(layout.dedup(ORG, day3, int(old[1], 16)), old[2])
    new = dedup_member(layout, ORG, day3, "g-1")
    await c.apply_ok(Commit(dedup_marks=[new], dedup_ttl=1000), Op.DEDUP)
    assert await r.smembers(layout.dedup_set(ORG, day3)) == {DEDUP_SPLIT.encode()}
    assert await r.sismember(layout.dedup(ORG, day3, int(new[1], 16)), new[2])


@case(Op.UNDEDUP)
async def a_mark_is_taken_back(c: Ctx) -> None:
    await c.redis.sadd(c.key("dd"), "1", "2")
    commit = Commit()
    commit.dedup_unmarks = [(c.key("dd"), "1"), (c.key("dd"), "3")]  # 3 was never there
    await c.apply_ok(commit, Op.UNDEDUP)
    assert await c.redis.smembers(c.key("dd")) == {b"2"}


async def test_a_call_missing_its_binary_values_writes_nothing(ctx: Ctx) -> None:
    commit = Commit()
    commit.states[(ctx.key("s"), "aw-1")] = b"\x00"
    commit.incr[(ctx.key("h"), "f")] += 1
    args = encode(commit, ctx.layout, Header(ctx.tp, ctx.epoch, UNCHECKED, UNCHECKED))
    with pytest.raises(ResponseError, match="expected 1 binary values, got 0"):
        await ctx.sink.apply_script(keys=[], args=args[:1])
    assert await ctx.redis.exists(ctx.key("h"), ctx.key("s")) == 0


@case(Op.HINCRBY)
async def increments_add_and_carry_the_stats(c: Ctx) -> None:
    for n in (5, -2):
        commit = Commit()
        commit.incr[(c.key("h"), "f")] += n
        commit.stat(ORG, "applied", 3)
        commit.stat(None, "rejected")
        await c.apply_ok(commit, Op.HINCRBY)
    assert await c.redis.hget(c.key("h"), "f") == b"3"
    # the pipeline's own stats hold what no org owns; the org's counts are in its stats
    assert await c.redis.hgetall(c.layout.stats()) == {b"rejected": b"2"}
    # two commits touched the org: its data version moved twice
    assert await c.redis.hgetall(c.layout.org_stats(ORG)) == {b"applied": b"6", b"version": b"2"}


@case(Op.HSETNX)
async def hsetnx_keeps_the_first_value(c: Ctx) -> None:
    for value in ("first", "second"):
        commit = Commit()
        commit.hsetnx[(c.key("nx"), "f")] = value
        await c.apply_ok(commit, Op.HSETNX)
    assert await c.redis.hget(c.key("nx"), "f") == b"first"


@case(Op.LIFETIME)
async def an_orgs_gen_changes_only_with_the_redis_process_or_when_absent(c: Ctx) -> None:
    tv = c.layout.table_versions(ORG)
    run_id = str((await c.redis.info("server"))["run_id"])
    await c.redis.hset(tv, VERSIONS_GEN, "0123abcd:set-by-a-redis-before-a-restart")
    await c.apply_ok(counted(), Op.LIFETIME)
    gen = (await c.redis.hget(tv, VERSIONS_GEN)).decode()
    assert gen.startswith(f"{run_id}:") and len(gen) > len(run_id) + 1
    await c.apply_ok(counted(), Op.LIFETIME)  # the same process: kept
    assert (await c.redis.hget(tv, VERSIONS_GEN)).decode() == gen
    await c.redis.hdel(tv, VERSIONS_GEN)  # flushed: a new one, from this commit's token
    await c.apply_ok(counted(), Op.LIFETIME)
    again = (await c.redis.hget(tv, VERSIONS_GEN)).decode()
    assert again.startswith(f"{run_id}:") and again != gen


async def test_a_redis_user_denied_info_still_commits_and_sets_gen_once(ctx, settings):
    """An ACL without INFO (it is in @dangerous): the commit goes through, and `_gen` is set
    once from the commit's token, as before run_ids were used."""
    user = f"noinfo-{ctx.layout.data.replace(':', '-')}"
    await ctx.redis.execute_command("ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all",
                                    "-info")
    limited = Redis.from_url(settings.redis_url, username=user, password="pw")
    try:
        sink = Sink(limited, ctx.layout)
        tv = ctx.layout.table_versions(ORG)
        for _ in range(2):
            assert await sink.apply(counted(), ctx.topic, 0, ctx.epoch, UNCHECKED, UNCHECKED,
                                    None) is ApplyResult.OK
            gen = await ctx.redis.hget(tv, VERSIONS_GEN)
            assert gen is not None and b":" not in gen
        assert await awards(ctx) == 2
        assert await ctx.redis.hget(tv, VERSIONS_GEN) == gen  # kept: set once
    finally:
        await limited.aclose()
        await ctx.redis.execute_command("ACL", "DELUSER", user)


@case(Op.STATE)
async def states_are_stored_byte_for_byte(c: Ctx) -> None:
    commit = Commit()
    commit.states[(c.key("s"), "aw-1")] = b'["eng","py",1]'
    binary = bytes(range(256))  # a packed award state is any bytes, not text
    commit.states[(c.key("s"), "aw-2")] = binary
    commit.states[(c.key("t"), "aw-3")] = b"\x00"
    await c.apply_ok(commit, Op.STATE)
    assert await c.redis.hgetall(c.key("s")) == {b"aw-1": b'["eng","py",1]', b"aw-2": binary}
    assert await c.redis.hgetall(c.key("t")) == {b"aw-3": b"\x00"}


@case(Op.HSET)
async def hset_overwrites(c: Ctx) -> None:
    for value in (b"v1", b'{"name":"Python"}'):
        commit = Commit()
        commit.hsets[(c.key("hs"), "py")] = value
        await c.apply_ok(commit, Op.HSET)
    assert await c.redis.hgetall(c.key("hs")) == {b"py": b'{"name":"Python"}'}


@case(Op.EXPIRE)
async def expire_sets_a_ttl(c: Ctx) -> None:
    await c.redis.set(c.key("e"), "v")
    commit = Commit()
    commit.expire[c.key("e")] = 691200
    await c.apply_ok(commit, Op.EXPIRE)
    assert 691100 < await c.redis.ttl(c.key("e")) <= 691200


@case(Op.RPUSH)
async def rpush_keeps_order(c: Ctx) -> None:
    commit = Commit()
    commit.rpush = [(c.key("l"), b'{"n":1}'), (c.key("l"), b'{"n":2}')]
    await c.apply_ok(commit, Op.RPUSH)
    assert await c.redis.lrange(c.key("l"), 0, -1) == [b'{"n":1}', b'{"n":2}']


@case(Op.DEL)
async def del_removes_the_key(c: Ctx) -> None:
    await c.redis.rpush(c.key("gone"), "a", "b")
    await c.redis.set(c.key("kept"), "v")
    commit = Commit()
    commit.dels = [c.key("gone")]
    await c.apply_ok(commit, Op.DEL)
    assert not await c.redis.exists(c.key("gone"))
    assert await c.redis.get(c.key("kept")) == b"v"


@case(Op.ZADD)
async def zadd_keeps_the_exact_score(c: Ctx) -> None:
    commit = Commit()
    commit.zadd = [(c.key("z"), 1776157800.123456, "acme|aw1"), (c.key("z"), 5.0, "acme|aw2")]
    await c.apply_ok(commit, Op.ZADD)
    assert await c.redis.zscore(c.key("z"), "acme|aw1") == 1776157800.123456
    assert await c.redis.zrange(c.key("z"), 0, -1) == [b"acme|aw2", b"acme|aw1"]


@case(Op.ZREM)
async def zrem_removes_one_member(c: Ctx) -> None:
    await c.redis.zadd(c.key("zr"), {"a": 1, "b": 2})
    commit = Commit()
    commit.zrem = [(c.key("zr"), "a")]
    await c.apply_ok(commit, Op.ZREM)
    assert await c.redis.zrange(c.key("zr"), 0, -1) == [b"b"]


@case(Op.SADD)
async def sadd_adds_members(c: Ctx) -> None:
    commit = Commit()
    commit.sadd = {(c.key("set"), "eng|py"), (c.key("set"), "eng|go")}
    await c.apply_ok(commit, Op.SADD)
    assert await c.redis.smembers(c.key("set")) == {b"eng|py", b"eng|go"}


@case(Op.HMIN)
async def hmin_keeps_the_earliest_day(c: Ctx) -> None:
    for day in ("2026-04-14", "2026-04-20", "2026-03-01"):
        commit = Commit()
        commit.min_(c.key("first"), "award.issued", day)
        await c.apply_ok(commit, Op.HMIN)
        if day == "2026-04-20":
            assert await c.redis.hget(c.key("first"), "award.issued") == b"2026-04-14"
    assert await c.redis.hget(c.key("first"), "award.issued") == b"2026-03-01"


@case(Op.HMAX)
async def hmax_keeps_the_largest_number(c: Ctx) -> None:
    for v in (9, 10, 8):  # numeric order: "9" > "10" as strings, but 10 must win
        commit = Commit()
        commit.max_(c.key("max"), "as_of_us", v)
        await c.apply_ok(commit, Op.HMAX)
    assert await c.redis.hget(c.key("max"), "as_of_us") == b"10"


@case(Op.PUBLISH)
async def publish_names_each_changed_org(c: Ctx) -> None:
    pubsub = c.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(c.layout.changes_channel())
    try:
        commit = Commit()
        commit.publish = {"acme", "globex"}
        await c.apply_ok(commit, Op.PUBLISH)
        got: list[bytes] = []
        async with asyncio.timeout(5):
            while len(got) < 2:
                msg = await pubsub.get_message(timeout=1)
                if msg is not None:
                    got.append(msg["data"])
        assert sorted(got) == [b"acme", b"globex"]
    finally:
        await pubsub.aclose()


@case(Op.CLAIM)
async def claim_sets_a_field_once_and_refuses_the_commit_if_it_holds_another_value(
        c: Ctx) -> None:
    commit = Commit()
    commit.pair_claims[(ORG, "0a0b")] = "eng|py"
    await c.apply_ok(commit, Op.CLAIM)
    await c.apply_ok(commit, Op.CLAIM)  # the same claim again: holds, nothing changes
    assert await c.redis.hgetall(c.layout.pair_digests(ORG)) == {b"0a0b": b"eng|py"}
    other = Commit()
    other.pair_claims[(ORG, "0a0b")] = "ops|go"
    other.pair_claims[(ORG, "0c0d")] = "ops|py"
    other.incr[(c.key("h"), "f")] += 1
    assert await c.apply(other) is ApplyResult.COLLISION
    # nothing of the refused commit was written, not even the claims before or after it
    assert await c.redis.hgetall(c.layout.pair_digests(ORG)) == {b"0a0b": b"eng|py"}
    assert await c.redis.exists(c.key("h")) == 0


@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.name)
async def test_each_op_makes_its_writes_in_redis(ctx, op):
    assert op in CASES, f"{op!r} has no case in this file"
    await CASES[op](ctx)


# --- every result ------------------------------------------------------------------------
def counted(n: int = 1) -> Commit:
    commit = Commit()
    commit.count(ORG, "eng", "py", DAY, "aw.p", n)
    return commit


async def awards(c: Ctx, layout: Layout | None = None) -> int:
    layout = layout or c.layout
    return (await entity_counts(c.redis, layout, ORG, "o", "-", "all")).get(b"Ap", 0)  # aw.p


async def test_an_applied_batch_stores_its_next_offset_and_fingerprint(ctx):
    assert await ctx.apply(counted(), 0, 10, None, "fp-9") is ApplyResult.OK
    assert await awards(ctx) == 1
    assert await ctx.redis.hget(ctx.layout.offsets(), ctx.tp) == b"10"
    assert await ctx.redis.hget(ctx.layout.fingerprints(), ctx.tp) == b"fp-9"
    claim = await ctx.sink.claim(ctx.topic, 0)
    assert claim is not None and (claim.next, claim.fingerprint) == (10, "fp-9")
    # A batch whose last record has no fingerprint leaves none behind to compare against.
    assert await ctx.apply(counted(), 10, 20, 10, "", claim.epoch) is ApplyResult.OK
    assert await ctx.redis.hget(ctx.layout.offsets(), ctx.tp) == b"20"
    assert not await ctx.redis.hexists(ctx.layout.fingerprints(), ctx.tp)
    assert await awards(ctx) == 2


async def test_a_batch_applied_twice_counts_once(ctx):
    assert await ctx.apply(counted(), 0, 10, None, "fp-9") is ApplyResult.OK
    assert await ctx.apply(counted(), 0, 10, 10, "fp-9") is ApplyResult.STALE
    assert await ctx.apply(counted(), 5, 10, 10, "fp-9") is ApplyResult.STALE
    assert await awards(ctx) == 1
    assert await ctx.redis.hget(ctx.layout.offsets(), ctx.tp) == b"10"


async def test_a_worker_whose_partition_was_claimed_since_is_fenced_out(ctx):
    newer = await ctx.sink.claim(ctx.topic, 0)
    assert newer is not None and newer.epoch == ctx.epoch + 1
    assert await ctx.apply(counted(), 0, 10, None, "fp") is ApplyResult.FENCED
    assert await ctx.sink.reset_offset(ctx.topic, 0, ctx.epoch, 3) is ApplyResult.FENCED
    assert await awards(ctx) == 0
    assert not await ctx.redis.hexists(ctx.layout.offsets(), ctx.tp)
    assert await ctx.apply(counted(), 0, 10, None, "fp", newer.epoch) is ApplyResult.OK
    assert await awards(ctx) == 1


async def test_a_redis_that_lost_its_epochs_or_offsets_is_reported_wiped(ctx):
    # Never claimed (or flushed since): no epoch for the partition.
    other = Sink(ctx.redis, ctx.layout)
    res = await other.apply(counted(), ctx.topic, 1, 1, 0, 10, None)
    assert res is ApplyResult.WIPED
    # Claimed and applied, then the offsets vanished: the worker expected one.
    assert await ctx.apply(counted(), 0, 10, None) is ApplyResult.OK
    await ctx.redis.delete(ctx.layout.offsets())
    assert await ctx.apply(counted(), 10, 20, 10) is ApplyResult.WIPED
    assert await awards(ctx) == 1


async def test_a_redis_that_went_back_in_time_is_reported_wiped_not_applied(ctx):
    # Applied up to 20, then Redis came back from an older append-only file holding 10.
    assert await ctx.apply(counted(), 0, 10, None) is ApplyResult.OK
    assert await ctx.apply(counted(), 10, 20, 10) is ApplyResult.OK
    await ctx.redis.hset(ctx.layout.offsets(), ctx.tp, 10)
    assert await ctx.apply(counted(), 20, 30, 20) is ApplyResult.WIPED
    # ... or holding an epoch older than the one this worker claimed.
    await ctx.redis.hset(ctx.layout.offsets(), ctx.tp, 20)
    await ctx.redis.hset(ctx.layout.epochs(), ctx.tp, ctx.epoch - 1)
    assert await ctx.apply(counted(), 20, 30, 20) is ApplyResult.WIPED
    assert await awards(ctx) == 2


async def test_a_generation_no_longer_served_or_built_is_retired(ctx):
    building = Sink(ctx.redis, ctx.layout.at(2))
    assert await building.apply(counted(), ctx.topic, 0, 1, UNCHECKED, UNCHECKED,
                                None) is ApplyResult.RETIRED
    assert await building.claim(ctx.topic, 0) is None
    await ctx.redis.hset(ctx.layout.generations(), "building", "2")
    claim = await building.claim(ctx.topic, 0)
    assert claim is not None
    assert await building.apply(counted(), ctx.topic, 0, claim.epoch, 0, 10,
                                None) is ApplyResult.OK
    # Generation 2 now serves; generation 1's worker must not write any more.
    await ctx.redis.hset(ctx.layout.generations(), "serving", "2")
    await ctx.redis.hdel(ctx.layout.generations(), "building")
    assert await ctx.apply(counted(), 0, 10, None) is ApplyResult.RETIRED
    assert await awards(ctx) == 0
    assert await awards(ctx, ctx.layout.at(2)) == 1


async def test_a_forced_offset_replaces_the_stored_one_and_its_fingerprint(ctx):
    assert await ctx.apply(counted(), 0, 100, None, "fp-99") is ApplyResult.OK
    assert await ctx.sink.reset_offset(ctx.topic, 0, ctx.epoch, 3) is ApplyResult.OK
    assert await ctx.redis.hget(ctx.layout.offsets(), ctx.tp) == b"3"
    assert not await ctx.redis.hexists(ctx.layout.fingerprints(), ctx.tp)
    # The new log's events from offset 3 apply (they would be "stale" against 100).
    assert await ctx.apply(counted(), 3, 4, 3, "fp-3") is ApplyResult.OK
    assert await awards(ctx) == 2


async def test_an_unchecked_commit_writes_but_leaves_the_offset_alone(ctx):
    assert await ctx.apply(counted(), 0, 10, None, "fp-9") is ApplyResult.OK
    assert await ctx.apply(counted()) is ApplyResult.OK  # a held-event sweep
    assert await awards(ctx) == 2
    assert await ctx.redis.hget(ctx.layout.offsets(), ctx.tp) == b"10"
    assert await ctx.redis.hget(ctx.layout.fingerprints(), ctx.tp) == b"fp-9"


async def test_one_commit_applied_to_two_generations_counts_its_events_once_in_each(ctx):
    await ctx.redis.hset(ctx.layout.generations(), "building", "2")
    building = Sink(ctx.redis, ctx.layout.at(2))
    claim = await building.claim(ctx.topic, 0)
    assert claim is not None
    commit = counted()
    commit.stat(ORG, "applied", 3)
    assert await ctx.apply(commit, 0, 3, None) is ApplyResult.OK
    assert await building.apply(commit, ctx.topic, 0, claim.epoch, 0, 3,
                                None) is ApplyResult.OK
    for layout in (ctx.layout, ctx.layout.at(2)):
        assert await ctx.redis.hget(layout.org_stats(ORG), "applied") == b"3"
        assert await ctx.redis.smembers(layout.orgs()) == {ORG.encode()}
        assert await awards(ctx, layout) == 1
