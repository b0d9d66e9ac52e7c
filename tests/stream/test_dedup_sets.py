"""An org-day's dedup marks in its one set, then past its room in its buckets
(schemas/layout.py DEDUP_ONE_SET), written by apply.lua and read by the worker's lookup
(Sink.fetch) against the real Redis: what the lookup says is marked is, round after round,
exactly what a plain set of the marked ids holds."""

from __future__ import annotations

import random

import pytest

from schemas.layout import DEDUP_SPLIT, Layout, dedup_buckets
from streams.processor import Commit, Lookups, dedup_member, dedup_places
from streams.protocol import UNCHECKED
from streams.sink import Sink, dedup_room

ORG, OTHER = "acme", "globex"
DAYS = ("2026-04-13", "2026-04-14", "2026-04-15")


@pytest.mark.parametrize("by_org", [False, True], ids=["one-script", "org-by-org"])
async def test_the_lookup_finds_exactly_the_marks_in_either_layout(settings, redis,
                                                                  by_org: bool) -> None:
    layout = Layout(settings.redis_prefix)
    sink = Sink(redis, layout, by_org=by_org)
    claim = await sink.claim(settings.topic, 0)
    assert claim is not None
    sink.dedup_room = 12  # small, so days split within a few rounds
    rng = random.Random(7)
    # a day marked by a worker before the one set: its buckets only
    for i in range(5):
        one, bucket, member = dedup_member(layout, ORG, DAYS[2], f"old-{i}")
        await redis.sadd(layout.dedup(ORG, DAYS[2], int(bucket, 16)), member)
    marked = {(ORG, DAYS[2], f"old-{i}") for i in range(5)}
    # 40 ids a day, but for one day of 5 (never past the room)
    pool = [(org, day, f"e-{i}") for org in (ORG, OTHER) for day in DAYS
            for i in range(5 if (org, day) == (OTHER, DAYS[0]) else 40)]
    pool += sorted(marked)
    for _round in range(25):
        asked = rng.sample(pool, rng.randrange(1, 30))
        lk = Lookups()
        for org, day, eid in asked:
            lk.dedup.setdefault((org, day), []).append(eid)
        fetched = await sink.fetch(lk, layout.held_index(settings.topic, 0))
        assert fetched.seen == {a for a in asked if a in marked}
        commit = Commit(dedup_ttl=3600)
        for org, day, eid in asked:
            if (org, day, eid) not in marked and rng.random() < 0.7:
                commit.dedup_marks.append(dedup_member(layout, org, day, eid))
                marked.add((org, day, eid))
            elif (org, day, eid) in marked and rng.random() < 0.1:  # a held event's, taken back
                commit.dedup_unmarks.extend(dedup_places(layout, org, day, eid))
                marked.discard((org, day, eid))
        assert await sink.apply(commit, settings.topic, 0, claim.epoch, UNCHECKED,
                                UNCHECKED, None) == "ok"
    # every layout was met: days split past the room, and one still in its one set
    layouts = set()
    for org in (ORG, OTHER):
        for day in DAYS:
            one = layout.dedup_set(org, day)
            split = bool(await redis.sismember(one, DEDUP_SPLIT))
            layouts.add(split)
            if not split:
                assert await redis.exists(*dedup_buckets(one)) == 0
    assert layouts == {True, False}


async def test_the_room_is_what_redis_keeps_as_an_intset(redis) -> None:
    before = (await redis.config_get("set-max-intset-entries"))["set-max-intset-entries"]
    try:
        await redis.config_set("set-max-intset-entries", 300)
        assert await dedup_room(redis) == 300
        await redis.config_set("set-max-intset-entries", 100000)
        assert await dedup_room(redis) == 2048  # DEDUP_ONE_SET: past it, the buckets
    finally:
        await redis.config_set("set-max-intset-entries", before)
