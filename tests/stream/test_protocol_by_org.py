"""Committing org by org (docs/cluster.md) against the real Redis of the test session, each
answer with what it must (not) have written: a commit moves each org's position and then
the partition's offset; a second writer of an org is refused (stale); an older owner is
fenced; a sweep moves write counts, not offsets; a partition rewound for a lost org keeps
where it stood; a replaced log voids the orgs' positions. (On a real cluster:
tests/cluster/.)"""

from __future__ import annotations

import pytest

from core.status import pipeline_stats
from schemas.layout import Layout, tp_field
from schemas.reasons import DropReason
from streams.processor import Commit, Rejection
from streams.protocol import UNCHECKED, ApplyResult
from streams.sink import Sink
from tests.counts import entity_counts

DAY = "2026-04-14"


def batch(*orgs: str, no_org_rejections: int = 0) -> Commit:
    """One award counted for each org (twice for an org named twice), and rejections of
    events naming no org."""
    commit = Commit()
    for org in orgs:
        commit.count(org, "eng", "py", DAY, "aw.p")
        commit.stat(org, "applied")
        commit.publish.add(org)
    for _ in range(no_org_rejections):
        commit.reject(None, Rejection(None, b"{", "body: not JSON"))
    return commit


async def awarded(redis, layout: Layout, org: str) -> int:
    return (await entity_counts(redis, layout, org, "o", "-", "all")).get(b"Ap", 0)  # aw.p


@pytest.fixture
async def sink(settings, redis) -> Sink:
    return Sink(redis, Layout(settings.redis_prefix), by_org=True)


async def test_a_commit_moves_each_org_then_the_partition(settings, redis, sink):
    topic, layout = settings.topic, sink.layout
    claim = await sink.claim(topic, 0)
    assert claim is not None and claim.epoch > 10**12  # from the clock (ms)
    pos = await sink.positions({"acme", "globex"}, topic, 0)
    assert {o: p.writes for o, p in pos.of.items()} == {"acme": None, "globex": None}
    res = await sink.apply_by_org(batch("acme", "globex", no_org_rejections=2), topic, 0,
                                  claim.epoch, 0, 10, None, "fp", 0, pos)
    assert res is ApplyResult.OK
    tp = tp_field(topic, 0)
    assert await redis.hget(layout.offsets(), tp) == b"10"
    for org in ("acme", "globex"):
        assert await awarded(redis, layout, org) == 1
        assert await redis.hmget(layout.positions(org), [f"n:{tp}", f"o:{tp}"]) == [b"1",
                                                                                 b"0:10"]
    assert await redis.smembers(layout.partition_orgs(topic, 0)) == {b"acme", b"globex"}
    totals = await pipeline_stats(redis, layout)
    assert (totals["applied"], totals["rejected"]) == (2, 2)
    assert totals[f"rejected.{DropReason.NOT_JSON}"] == 2
    assert (await sink.positions({"acme"}, topic, 0)).of["acme"].skips(0) == 10


async def test_a_second_writer_of_an_org_is_refused_and_writes_nothing(settings, redis, sink):
    topic, layout = settings.topic, sink.layout
    claim = await sink.claim(topic, 0)
    assert claim is not None
    seen = await sink.positions({"acme"}, topic, 0)
    assert await sink.apply_by_org(batch("acme"), topic, 0, claim.epoch, 0, 10, None, "",
                                   0, seen) is ApplyResult.OK
    # the same positions again: someone (we) wrote the org since they were read
    res = await sink.apply_by_org(batch("acme"), topic, 0, claim.epoch, 10, 20, 10, "", 0,
                                  seen)
    assert res is ApplyResult.STALE
    assert await awarded(redis, layout, "acme") == 1
    assert await redis.hget(layout.offsets(), tp_field(topic, 0)) == b"10"


async def test_an_older_owner_is_fenced_by_the_org_s_position(settings, redis, sink):
    topic, layout = settings.topic, sink.layout
    old = await sink.claim(topic, 0)
    new = await sink.claim(topic, 0)
    assert old is not None and new is not None and new.epoch > old.epoch
    seen = await sink.positions({"acme"}, topic, 0)
    assert await sink.apply_by_org(batch("acme"), topic, 0, new.epoch, 0, 10, None, "", 0,
                                   seen) is ApplyResult.OK
    # the old owner read the position before the new one wrote: fenced, not merely stale
    res = await sink.apply_by_org(batch("acme"), topic, 0, old.epoch, 0, 10, None, "", 0,
                                  await sink.positions({"acme"}, topic, 0))
    assert res is ApplyResult.FENCED
    assert await awarded(redis, layout, "acme") == 1


async def test_a_rewind_forgets_the_offset_and_keeps_where_it_stood(settings, redis, sink):
    topic, layout = settings.topic, sink.layout
    claim = await sink.claim(topic, 0)
    assert claim is not None
    seen = await sink.positions({"acme", "globex"}, topic, 0)
    assert await sink.apply_by_org(batch("acme", "globex"), topic, 0, claim.epoch, 0, 10,
                                   None, "", 0, seen) is ApplyResult.OK
    # globex's slot comes back empty: found lost, the partition rewound
    await redis.delete(layout.positions("globex"), layout.org_stats("globex"))
    found = await sink.positions({"acme", "globex"}, topic, 0)
    assert found.lost == {"globex"} and await sink.lost_orgs(topic, 0) == {"globex"}
    assert await sink.rewind(topic, 0, claim.epoch, found.lost) is ApplyResult.OK
    again = await sink.claim(topic, 0)
    assert again is not None and (again.next, again.rewound) == (None, 10)
    assert await redis.smembers(layout.partition_orgs(topic, 0)) == {b"acme"}
    assert (await sink.positions({"globex"}, topic, 0)).lost == set()  # no loop


async def test_a_replaced_log_voids_the_orgs_positions(settings, redis, sink):
    topic = settings.topic
    claim = await sink.claim(topic, 0)
    assert claim is not None and claim.incarnation == 0
    seen = await sink.positions({"acme"}, topic, 0)
    assert await sink.apply_by_org(batch("acme"), topic, 0, claim.epoch, 0, 10, None, "", 0,
                                   seen) is ApplyResult.OK
    assert await sink.reset_offset(topic, 0, claim.epoch, 0) is ApplyResult.OK
    again = await sink.claim(topic, 0)
    assert again is not None and again.incarnation == 1 and again.next == 0
    pos = (await sink.positions({"acme"}, topic, 0)).of["acme"]
    assert pos.skips(0) == 10 and pos.skips(again.incarnation) == 0


async def test_a_sweep_writes_orgs_without_moving_their_offsets(settings, redis, sink):
    """A held-event sweep (no offsets): each org's write count moves, so a batch that read
    the position before the sweep is refused; the org's offset and the partition's stay."""
    topic, layout = settings.topic, sink.layout
    tp = tp_field(topic, 0)
    claim = await sink.claim(topic, 0)
    assert claim is not None
    seen = await sink.positions({"acme"}, topic, 0)
    assert await sink.apply_by_org(batch("acme"), topic, 0, claim.epoch, 0, 10, None, "", 0,
                                   seen) is ApplyResult.OK
    before_sweep = await sink.positions({"acme"}, topic, 0)
    sweep = Commit()
    sweep.stat("acme", "held", -1)
    sweep.dels.append(layout.held("acme", "aw-9"))
    sweep.zrem.append((layout.held_index(topic, 0), "acme|aw-9"))
    await redis.rpush(layout.held("acme", "aw-9"), b"{}")
    await redis.zadd(layout.held_index(topic, 0), {"acme|aw-9": 1.0})
    assert await sink.apply_by_org(sweep, topic, 0, claim.epoch, UNCHECKED, UNCHECKED, None,
                                   "", 0, before_sweep) is ApplyResult.OK
    assert not await redis.exists(layout.held("acme", "aw-9"))
    assert await redis.zcard(layout.held_index(topic, 0)) == 0
    assert await redis.hmget(layout.positions("acme"), [f"n:{tp}", f"o:{tp}"]) == [b"2",
                                                                                 b"0:10"]
    assert await redis.hget(layout.offsets(), tp) == b"10"
    assert await sink.apply_by_org(batch("acme"), topic, 0, claim.epoch, 10, 20, 10, "", 0,
                                   before_sweep) is ApplyResult.STALE
