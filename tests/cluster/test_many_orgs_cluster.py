"""On the local 3-master Redis Cluster (the worker commits org by org, one script per org):
a batch of 300 orgs, and the random stream with pair digests cut to one byte (pairs collide
throughout), each claim in its org's script. Expected: by hand, and tests/oracle.py."""

from __future__ import annotations

from streams import state
from streams.aggregator import Aggregator
from tests.conftest import asgi_client, publish
from tests.stream.conftest import expected_totals, in_process, totals, wait_exact
from tests.stream.test_correctness import compare_everything, oracle_of
from tests.stream.test_many_orgs import many_orgs_issued_then_accepted
from tests.stream.test_pair_collisions import one_byte_digest


async def test_a_fresh_worker_applies_a_batch_of_300_orgs_org_by_org(settings, caplog):
    await many_orgs_issued_then_accepted(settings.model_copy(update={"partitions": 1}), caplog)


async def test_colliding_pair_digests_on_the_cluster(settings, stream, monkeypatch):
    records, now = stream
    oracle = oracle_of(records)
    monkeypatch.setattr(state, "pair_digest", one_byte_digest)
    monkeypatch.setattr(state, "COLLIDED", set())
    await publish(settings, records)

    class Worker(Aggregator):
        pass

    async with in_process(Worker, settings):
        status = await wait_exact(settings, oracle, timeout=180)
    assert totals(status) == expected_totals(oracle)
    assert state.COLLIDED, "no collision was ever found by a claim"
    async for client in asgi_client(settings):
        await compare_everything(client, oracle, settings, now, seed=3)
