"""What is kept only for a window goes away on time (issue 8, memory): the dedup marks expire
DEDUP_DAYS (7) + 1 days after their set's last write, and an orphan award event leaves
Redis when its hold runs out (dead-lettered as unknown_award, its mark given back). Through
a real broker, worker and Redis."""

from __future__ import annotations

import asyncio
import time

import orjson

from core.generations import serving_layout
from core.redisclient import connect
from schemas.layout import held_member
from streams.processor import dedup_member
from tests.conftest import caught_up, publish

T = "2026-04-13T09:30:00Z"
DAY = "2026-04-13"
DEDUP_TTL = 8 * 86400  # seconds: the 7-day window plus the day the set's events fall in


def ev(**fields: object) -> bytes:
    return orjson.dumps({"org_id": "acme", "occurred_at": T, **fields})


async def test_dedup_marks_expire_and_an_orphan_leaves_when_its_hold_runs_out(settings,
                                                                               workers):
    settings = settings.model_copy(update={"hold_seconds": 3})
    workers.settings = settings
    workers.start()
    await publish(settings, [
        (b"aw1", ev(event_id="i1", type="award.issued", issuer_id="eng", badge_id="py",
                    award_id="aw1", method="lms")),
        (b"aw1", ev(event_id="v1", type="award.viewed", award_id="aw1", source="direct")),
        (b"aw9", ev(event_id="o1", type="award.viewed", award_id="aw9", source="direct")),
    ])
    status = await caught_up(settings)
    assert status["held"] == 1
    r = connect(settings)
    try:
        layout = await serving_layout(r, settings.redis_prefix)
        # the day's few marks are in its one set (schemas/layout.py DEDUP_ONE_SET)
        marks = [(key, member) for key, _b, member in
                 (dedup_member(layout, "acme", DAY, e) for e in ("i1", "v1", "o1"))]
        for key, member in marks:  # every mark, the held event's too, with its expiry
            assert await r.sismember(key, member)
            assert DEDUP_TTL - 120 < await r.ttl(key) <= DEDUP_TTL
        held = layout.held("acme", "aw9")
        assert await r.llen(held) == 1
        # the hold (3 s here, 7 days by default) runs out: the event leaves Redis
        deadline = time.monotonic() + 30
        while await r.exists(held) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not await r.exists(held)
        for p in range(settings.partitions):
            index = layout.held_index(settings.topic, p)
            assert await r.zscore(index, held_member("acme", "aw9")) is None
        # its id is no longer reserved; the applied events keep theirs
        key, member = marks[2]
        assert not await r.sismember(key, member)
        for key, member in marks[:2]:
            assert await r.sismember(key, member)
        status = await caught_up(settings)
        assert status["held"] == 0
        assert status["rejected_by_reason"] == {"unknown_award": 1}
    finally:
        await r.aclose()
