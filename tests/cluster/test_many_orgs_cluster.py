"""On the local 3-master Redis Cluster (the worker commits org by org, one script per org):
a batch of 300 orgs, and the random stream with pair digests cut to one byte (pairs collide
throughout), each claim in its org's script. Expected: by hand, and tests/oracle.py."""

from __future__ import annotations

from tests.stream.test_many_orgs import many_orgs_issued_then_accepted
from tests.stream.test_pair_collisions import colliding_stream_ends_exact


async def test_a_fresh_worker_applies_a_batch_of_300_orgs_org_by_org(settings, caplog):
    await many_orgs_issued_then_accepted(settings.model_copy(update={"partitions": 1}), caplog)


async def test_colliding_pair_digests_on_the_cluster(settings, stream, monkeypatch):
    await colliding_stream_ends_exact(settings, stream, monkeypatch)
