"""The org-day's one dedup set on the local 3-master Redis Cluster: the room is the smallest
of the masters' `set-max-intset-entries` (CONFIG GET goes to one node unless asked to go to
every master), and two partitions marking, looking up and taking back the ids of the same
days, org by org, with keys coming and going (tests/stream/test_dedup_sets.py)."""

from __future__ import annotations

import pytest

from streams.sink import dedup_room
from tests.stream.test_dedup_sets import (
    test_two_partitions_writing_one_day_with_rooms_and_keys_coming_and_going as two_partitions,
)


async def test_the_room_is_the_smallest_masters_setting(redis, redis_cluster):
    nodes = [redis_cluster.node(i) for i in range(3)]
    before = [n.config_get("set-max-intset-entries")["set-max-intset-entries"] for n in nodes]
    try:
        rooms = []
        for small in range(3):  # one master keeps intsets of up to 100, the others 4,096
            for i, n in enumerate(nodes):
                n.config_set("set-max-intset-entries", 100 if i == small else 4096)
            rooms.append(await dedup_room(redis))
        assert rooms == [100, 100, 100]
    finally:
        for n, v in zip(nodes, before, strict=True):
            n.config_set("set-max-intset-entries", v)


@pytest.mark.parametrize("seed", range(3))
async def test_two_partitions_on_one_day_org_by_org(settings, redis, seed):
    await two_partitions(settings, redis, True, seed)
