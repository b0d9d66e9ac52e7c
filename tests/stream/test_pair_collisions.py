"""Award state FORMAT 4 names an award's pair by a digest (streams/state.py); two pairs of one
org with one digest must never be mixed up. Here the digest keeps one byte of entropy, so
the random stream's pairs collide again and again (what a tenant could do on purpose to its
own org, or chance to an org of billions of pairs): the worker, in this process so its
digest can be replaced, must end with every summary number equal to the brute-force count
of tests/oracle.py, as with real digests. Broker and Redis are real."""

from __future__ import annotations

import hashlib

from core.settings import Settings
from streams import state
from streams.aggregator import Aggregator
from tests.conftest import asgi_client, isolated_settings, publish
from tests.stream.conftest import expected_totals, in_process, totals, wait_exact
from tests.stream.test_correctness import compare_everything, oracle_of


def one_byte_digest(org: str, issuer: str, badge: str) -> bytes:
    """256 digests in all: the stream's pairs collide within their orgs."""
    return hashlib.blake2b(f"{org}|{issuer}|{badge}".encode(), digest_size=1).digest() * 8


async def colliding_stream_ends_exact(settings: Settings, stream, monkeypatch) -> None:
    """The random stream through an in-process worker with one-byte pair digests: totals
    and every summary number equal to the oracle's, and a claim found a collision."""
    records, now = stream
    oracle = oracle_of(records)
    pairs = {(org, a.issuer_id, a.badge_id) for org, od in oracle._orgs.items()
             for a in od.awards.values()}
    digests = {one_byte_digest(*p) for p in pairs}
    assert len(digests) < len(pairs), "no two pairs collide: the test shows nothing"
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


async def test_colliding_pair_digests_keep_every_count_exact(infra, stream, monkeypatch):
    await colliding_stream_ends_exact(isolated_settings(infra), stream, monkeypatch)
