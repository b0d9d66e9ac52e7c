"""Award state FORMAT 4 names its (issuer, badge) by the pair's digest (streams/state.py);
a worker that never saw the pair (another process, after a restart) reads it from the org's
`pairs` set (streams/sink.py Sink.fetch), through the real Sink and Redis. Expected counts
by hand: one award of eng|py issued, then accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.layout import BADGE_LEVEL, Layout, counter_key, pair
from streams import state
from streams.processor import PartitionBatch, Record
from streams.sink import PairsLost, Sink

NOW_US = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1_000_000)


def ev(event_id: str, typ: str, at: str, **fields: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": typ, "occurred_at": at,
                         "org_id": "acme", **fields})


ISSUED = ev("e-1", "award.issued", "2026-04-13T09:30:00Z", issuer_id="eng", badge_id="py",
            award_id="aw-1", method="lms")
ACCEPTED = ev("e-2", "award.accepted", "2026-04-14T11:02:00Z", award_id="aw-1")


async def run(sink: Sink, layout: Layout, values: list[bytes], offset: int) -> None:
    """One batch as the worker runs it: lookups, fetch, load, fold, apply (a fresh award
    cache each time: every state comes from Redis)."""
    b = PartitionBatch(layout, [Record(offset + i, b"k", v) for i, v in enumerate(values)],
                       NOW_US, {}, layout.held_index("t", 0), 8 * 86400)
    b.load(await sink.fetch(b.lookups(), layout.held_index("t", 0)))
    res = await sink.apply(b.fold(), "t", 0, 1, offset, offset + len(values), None)
    assert res.name == "OK"


def forget_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process has seen no pair: what another worker process starts with."""
    monkeypatch.setattr(state, "_PAIRS", {})
    monkeypatch.setattr(state, "_DIGEST_OF", {})


async def test_a_worker_that_never_saw_the_pair_reads_it_from_the_org_s_set(
        settings, redis, monkeypatch):
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    sink = Sink(redis, layout)
    await run(sink, layout, [ISSUED], 0)
    stored = await redis.hget(*layout.award("acme", "aw-1"))
    assert state.state_pair(stored) == state.pair_digest("acme", "eng", "py")
    assert b"eng" not in stored and await redis.sismember(layout.pairs("acme"), pair("eng", "py"))
    forget_every_pair(monkeypatch)
    await run(sink, layout, [ACCEPTED], 1)
    base = layout.counter_base("acme", BADGE_LEVEL, pair("eng", "py"))
    # by hand: the award moved from pending to accepted on its issue day, in its own badge;
    # accepted 25.5 h after the issue: time-to-accept bucket 3 (24-72 h) of lms
    assert await redis.hgetall(counter_key(base, "d20260413")) == {
        b"Ap": b"0", b"Aa": b"1", b"M2p": b"0", b"M2a": b"1", b"Ca": b"1", b"T23a": b"1"}


async def test_a_state_whose_pair_is_in_no_set_is_waited_out_not_guessed(
        settings, redis, monkeypatch):
    """The org's set went between the reads (Redis emptied): PairsLost, a transient error
    the loop waits out and reads again after, and nothing is written."""
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    sink = Sink(redis, layout)
    await run(sink, layout, [ISSUED], 0)
    await redis.delete(layout.pairs("acme"))
    forget_every_pair(monkeypatch)
    before = await redis.hget(layout.offsets(), "t:0")
    with pytest.raises(PairsLost, match="aw-1"):
        await run(sink, layout, [ACCEPTED], 1)
    assert await redis.hget(layout.offsets(), "t:0") == before
