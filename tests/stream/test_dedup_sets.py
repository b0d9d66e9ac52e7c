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


REVIEW_ORGS = ("acme", "globex")
REVIEW_DAYS = ("2026-04-13", "2026-04-14")


async def where(redis, layout, org, day, eid) -> str | None:
    one, b, m = dedup_member(layout, org, day, eid)
    if await redis.sismember(one, m):
        return one
    if await redis.sismember(f"{one}:{b}", m):
        return f"{one}:{b}"
    return None


@pytest.mark.parametrize("by_org", [False, True], ids=["one-script", "org-by-org"])
@pytest.mark.parametrize("seed", range(6))
async def test_two_partitions_writing_one_day_with_rooms_and_keys_coming_and_going(
        settings, redis, by_org: bool, seed: int) -> None:
    """Two sinks on two partitions mark, look up and take back the ids of the same
    org-days, each commit with another room (3 to 2,048); days of an older worker (buckets
    only) appear, and single keys or whole days go (expired early, evicted, flushed): the
    lookup says marked exactly what the model of where each mark is holds."""
    layout = Layout(settings.redis_prefix)
    sinks = [Sink(redis, layout, by_org=by_org), Sink(redis, layout, by_org=by_org)]
    epochs = []
    for p, s in enumerate(sinks):
        claim = await s.claim(settings.topic, p)
        assert claim is not None
        epochs.append(claim.epoch)
    rng = random.Random(seed)
    marked: dict[tuple[str, str, str], str] = {}  # id -> key holding its mark
    pool = [(o, d, f"e-{i}") for o in REVIEW_ORGS for d in REVIEW_DAYS for i in range(300)]
    for rnd in range(120):
        if rng.random() < 0.08:  # an old worker's day (buckets only), when no one set is there
            org, day = rng.choice(REVIEW_ORGS), rng.choice(REVIEW_DAYS)
            if not await redis.exists(layout.dedup_set(org, day)):
                for a in rng.sample([a for a in pool if a[:2] == (org, day)], 20):
                    if a not in marked:
                        one, b, m = dedup_member(layout, *a)
                        await redis.sadd(f"{one}:{b}", m)
                        marked[a] = f"{one}:{b}"
        p = rng.randrange(2)
        sink = sinks[p]
        sink.dedup_room = rng.choice((3, 5, 12, 40, 200, 2048))
        asked = rng.sample(pool, rng.randrange(1, 60))
        lk = Lookups()
        for org, day, eid in asked:
            lk.dedup.setdefault((org, day), []).append(eid)
        fetched = await sink.fetch(lk, layout.held_index(settings.topic, p))
        assert fetched.seen == {a for a in asked if a in marked}, rnd
        commit = Commit(dedup_ttl=3600)
        new = []
        for a in asked:
            if a not in marked and rng.random() < 0.7:
                commit.dedup_marks.append(dedup_member(layout, *a))
                new.append(a)
            elif a in marked and rng.random() < 0.1:
                commit.dedup_unmarks.extend(dedup_places(layout, *a))
                del marked[a]
        if by_org:
            pos = await sink.positions({a[0] for a in asked}, settings.topic, p)
            res = await sink.apply_by_org(commit, settings.topic, p, epochs[p], UNCHECKED,
                                          UNCHECKED, None, "", 0, pos)
        else:
            res = await sink.apply(commit, settings.topic, p, epochs[p], UNCHECKED,
                                   UNCHECKED, None)
        assert res == "ok", rnd
        for a in new:
            marked[a] = await where(redis, layout, *a)
            assert marked[a] is not None
        # the layout's invariant: buckets only beside a one set that says split (or none)
        for org in REVIEW_ORGS:
            for day in REVIEW_DAYS:
                one = layout.dedup_set(org, day)
                if await redis.exists(*dedup_buckets(one)) and await redis.exists(one):
                    assert await redis.sismember(one, DEDUP_SPLIT), (rnd, one)
        # a key lost (expired early, evicted, flushed): its marks go with it
        r = rng.random()
        if r < 0.1:
            org, day = rng.choice(REVIEW_ORGS), rng.choice(REVIEW_DAYS)
            one = layout.dedup_set(org, day)
            victim = rng.choice([one, *dedup_buckets(one)])
            await redis.delete(victim)
            marked = {a: k for a, k in marked.items() if k != victim}
        elif r < 0.13:
            for org in REVIEW_ORGS:
                for day in REVIEW_DAYS:
                    one = layout.dedup_set(org, day)
                    await redis.delete(one, *dedup_buckets(one))
            marked = {}


@pytest.mark.parametrize("by_org", [False, True], ids=["one-script", "org-by-org"])
@pytest.mark.parametrize("room", [2048, 12])
async def test_batches_past_luas_unpack_limit(settings, redis, by_org: bool,
                                              room: int) -> None:
    """Lookups of 9,500 ids and commits of 5,000 marks of one day, in either layout."""
    layout = Layout(settings.redis_prefix)
    sink = Sink(redis, layout, by_org=by_org)
    claim = await sink.claim(settings.topic, 0)
    sink.dedup_room = room
    day = REVIEW_DAYS[0]
    ids = [f"x-{i}" for i in range(9500)]
    rng = random.Random(1)
    first = set(rng.sample(ids, 100))
    second = set(rng.sample(sorted(set(ids) - first), 5000))
    for batch in (first, second):
        commit = Commit(dedup_ttl=3600,
                        dedup_marks=[dedup_member(layout, "acme", day, e) for e in sorted(batch)])
        if by_org:
            pos = await sink.positions({"acme"}, settings.topic, 0)
            res = await sink.apply_by_org(commit, settings.topic, 0, claim.epoch, UNCHECKED,
                                          UNCHECKED, None, "", 0, pos)
        else:
            res = await sink.apply(commit, settings.topic, 0, claim.epoch, UNCHECKED,
                                   UNCHECKED, None)
        assert res == "ok"
        lk = Lookups(dedup={("acme", day): ids})
        fetched = await sink.fetch(lk, layout.held_index(settings.topic, 0))
        got = {e for _o, _d, e in fetched.seen}
        assert got == (first if batch is first else first | second)


async def test_a_redis_keeping_no_intsets_gets_no_marks_in_the_one_set(settings, redis) -> None:
    """set-max-intset-entries 0 (Redis keeps no set as an intset): the room is 0, and the
    one set holds the split sentinel only (a Sink once took 0 for 'not read' and filled
    the one set to 2,048 as a hashtable)."""
    before = (await redis.config_get("set-max-intset-entries"))["set-max-intset-entries"]
    layout = Layout(settings.redis_prefix)
    sink = Sink(redis, layout)
    claim = await sink.claim(settings.topic, 0)
    try:
        await redis.config_set("set-max-intset-entries", 0)
        marks = [dedup_member(layout, "acme", REVIEW_DAYS[0], f"z-{i}") for i in range(500)]
        res = await sink.apply(Commit(dedup_ttl=3600, dedup_marks=marks), settings.topic, 0,
                               claim.epoch, UNCHECKED, UNCHECKED, None)
        assert res == "ok"
        assert sink.dedup_room == 0
        one = layout.dedup_set("acme", REVIEW_DAYS[0])
        assert await redis.scard(one) <= 1, await redis.scard(one)
    finally:
        await redis.config_set("set-max-intset-entries", before)
