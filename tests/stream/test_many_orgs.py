"""A batch spanning many orgs, through a worker in this process (real broker and Redis): the
reads and claims the worker makes per org or per claim go over one connection, never one
each at once (the client's pool refuses past 100 connections, an error the worker would
wait out for ever). Expected offsets and counts by hand."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from core.redisclient import connect
from core.settings import Settings
from schemas.layout import Layout, tp_field
from streams import state
from streams.aggregator import Aggregator
from streams.protocol import ApplyResult
from streams.sink import Sink
from tests.conftest import isolated_settings, publish_events
from tests.stream.conftest import in_process
from tests.stream.test_pair_digest import issued, run

ORGS = 300


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def applied_to(redis, settings: Settings, want: int, timeout: float) -> int | None:
    """Partition 0's stored next offset once it is `want` (or what it was at the timeout)."""
    layout = Layout(settings.redis_prefix)
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        raw = await redis.hget(layout.offsets(), tp_field(settings.topic, 0))
        got = None if raw is None else int(raw)
        if got == want:
            return got
        await asyncio.sleep(0.25)
    return got


class Worker(Aggregator):
    pass


async def many_orgs_issued_then_accepted(settings: Settings, caplog) -> None:
    """One award in each of ORGS orgs, then (a fresh worker: every state read from Redis)
    each accepted: every record applied."""
    issued_events = [{"event_id": f"i-{i}", "type": "award.issued", "occurred_at": at(2),
                      "org_id": f"org-{i}", "issuer_id": "eng", "badge_id": "py",
                      "award_id": f"aw-{i}", "method": "lms"} for i in range(ORGS)]
    await publish_events(settings, issued_events)
    redis = connect(settings)
    try:
        async with in_process(Worker, settings):
            assert await applied_to(redis, settings, ORGS, 60) == ORGS
        await publish_events(settings, [{"event_id": f"a-{i}", "type": "award.accepted",
                                         "occurred_at": at(1), "org_id": f"org-{i}",
                                         "award_id": f"aw-{i}"} for i in range(ORGS)])
        caplog.set_level(logging.WARNING)
        async with in_process(Worker, settings):
            got = await applied_to(redis, settings, 2 * ORGS, 60)
        errors = sorted({r.getMessage()[:120] for r in caplog.records
                         if "unavailable" in r.getMessage().lower()})
        assert got == 2 * ORGS, f"stalled at offset {got}; logged: {errors}"
    finally:
        await redis.aclose()


async def test_a_fresh_worker_applies_a_batch_of_300_orgs(infra, caplog):
    await many_orgs_issued_then_accepted(
        isolated_settings(infra).model_copy(update={"partitions": 1}), caplog)


async def test_a_collision_among_150_claims_is_learned(settings, redis, monkeypatch):
    layout = Layout(settings.redis_prefix)
    await redis.hset(layout.epochs(), "t:0", 1)
    monkeypatch.setattr(state, "COLLIDED", set())
    sink = Sink(redis, layout)
    # another pair holds the digest of (eng, b0) already (a collision, made on purpose)
    d = state.pair_digest("acme", "eng", "b0")
    await redis.hset(layout.pair_digests("acme"), d.hex(), "ops|go")
    batch = [issued(i, "eng", f"b{i}") for i in range(150)]  # 150 pairs: 150 claims
    assert await run(sink, layout, batch, 0) is ApplyResult.COLLISION
    assert state.COLLIDED == {("acme", d)}
    assert await run(sink, layout, batch, 0) is ApplyResult.OK
