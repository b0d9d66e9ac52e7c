"""Award state FORMAT 4 names its (issuer, badge) by the pair's digest (streams/state.py),
claimed in the org's pair-digest hash by the script that writes the state (apply.lua,
CLAIM), and read back with the state (streams/sink.py Sink.fetch); through the real Sink
and Redis. Expected counts by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import msgpack
import orjson
import pytest

from schemas.layout import BADGE_LEVEL, Layout, pair
from streams import state
from streams.processor import PartitionBatch, Record
from streams.protocol import ApplyResult
from streams.sink import PairsLost, Sink
from tests.counts import entity_counts

NOW_US = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1_000_000)


def ev(event_id: str, typ: str, at: str, **fields: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": typ, "occurred_at": at,
                         "org_id": "acme", **fields})


def issued(n: int, issuer: str, badge: str) -> bytes:
    return ev(f"i-{n}", "award.issued", "2026-04-13T09:30:00Z", issuer_id=issuer,
              badge_id=badge, award_id=f"aw-{n}", method="lms")


def accepted(n: int) -> bytes:
    return ev(f"a-{n}", "award.accepted", "2026-04-14T11:02:00Z", award_id=f"aw-{n}")


async def run(sink: Sink, layout: Layout, values: list[bytes], offset: int) -> ApplyResult:
    """One batch as the worker runs it: lookups, fetch, load, fold, apply (a fresh award
    cache each time: every state comes from Redis, as in another worker process)."""
    b = PartitionBatch(layout, [Record(offset + i, b"k", v) for i, v in enumerate(values)],
                       NOW_US, {}, layout.held_index("t", 0), 8 * 86400)
    b.load(await sink.fetch(b.lookups(), layout.held_index("t", 0)))
    return await sink.apply(b.fold(), "t", 0, 1, offset, offset + len(values), None)


async def badge_day(redis, layout: Layout, issuer: str, badge: str) -> dict[bytes, int]:
    return await entity_counts(redis, layout, "acme", BADGE_LEVEL, pair(issuer, badge),
                               "d20260413")


# by hand: one lms award accepted 25.5 h after its issue: aw, me, ac accepted, and time to
# accept bucket 3 (24-72 h) of lms
ACCEPTED_ONCE = {b"Aa": 1, b"M2a": 1, b"Ca": 1, b"T23a": 1}


async def test_a_state_is_stored_with_its_pair_digest_and_read_back_with_its_pair(
        settings, redis):
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    sink = Sink(redis, layout)
    assert await run(sink, layout, [issued(1, "eng", "py")], 0) is ApplyResult.OK
    stored = await redis.hget(*layout.award("acme", "aw-1"))
    d = state.pair_digest("acme", "eng", "py")
    assert state.state_pair(stored) == d and b"eng" not in stored
    assert await redis.hgetall(layout.pair_digests("acme")) == {d.hex().encode(): b"eng|py"}
    assert await run(sink, layout, [accepted(1)], 1) is ApplyResult.OK
    assert await badge_day(redis, layout, "eng", "py") == ACCEPTED_ONCE


async def test_a_state_whose_pair_is_in_no_hash_is_waited_out_not_guessed(settings, redis):
    """The org's hash went between the reads (Redis emptied): PairsLost, a transient error
    the loop waits out and reads again after, and nothing is written."""
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    sink = Sink(redis, layout)
    await run(sink, layout, [issued(1, "eng", "py")], 0)
    await redis.delete(layout.pair_digests("acme"))
    before = await redis.hget(layout.offsets(), "t:0")
    with pytest.raises(PairsLost, match="acme"):
        await run(sink, layout, [accepted(1)], 1)
    assert await redis.hget(layout.offsets(), "t:0") == before


async def test_two_pairs_with_one_digest_are_kept_apart(settings, redis, monkeypatch):
    """Every pair given one digest (what a collision does, made on purpose): the second
    pair's commit is refused whole (COLLISION, nothing written), the worker learns of it and
    the same batch, folded again, writes that pair's state with its ids; each award's
    acceptance then lands on its own badge, in this worker and in a fresh one (refused
    once, as the first was)."""
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    monkeypatch.setattr(state, "pair_digest", lambda org, issuer, badge: b"\x01" * 8)
    monkeypatch.setattr(state, "COLLIDED", set())
    sink = Sink(redis, layout)
    assert await run(sink, layout, [issued(1, "eng", "py")], 0) is ApplyResult.OK
    before = await redis.hget(layout.offsets(), "t:0")
    assert await run(sink, layout, [issued(2, "ops", "go")], 1) is ApplyResult.COLLISION
    assert await redis.hget(*layout.award("acme", "aw-2")) is None
    assert await redis.hget(layout.offsets(), "t:0") == before
    assert state.COLLIDED == {("acme", b"\x01" * 8)}
    assert await run(sink, layout, [issued(2, "ops", "go")], 1) is ApplyResult.OK
    assert msgpack.unpackb(await redis.hget(*layout.award("acme", "aw-2")))[:3] == \
        [3, "ops", "go"]
    assert await redis.hgetall(layout.pair_digests("acme")) == {b"0101010101010101": b"eng|py"}
    # another worker process knows of no collision: it would write aw-2 back as FORMAT 4,
    # is refused, learns, and writes it with its ids; both read right
    monkeypatch.setattr(state, "COLLIDED", set())
    assert await run(sink, layout, [accepted(2)], 2) is ApplyResult.COLLISION
    assert await run(sink, layout, [accepted(2)], 2) is ApplyResult.OK
    assert await run(sink, layout, [accepted(1)], 3) is ApplyResult.OK
    assert await badge_day(redis, layout, "eng", "py") == ACCEPTED_ONCE
    assert await badge_day(redis, layout, "ops", "go") == ACCEPTED_ONCE
