"""The alert store's Lua steps on the real Redis: one delivery per state change however
many processes try, leases, stale senders, the last-100 log, deletion."""

from __future__ import annotations

import asyncio

import pytest

from api.alerting.store import KEEP_DELIVERIES, AlertStore, Enqueued, Outcome, now_ms
from schemas.layout import Layout

ALERT = {"alert_id": "al_1", "org_id": "acme", "metric": "views", "scope": {},
         "window_days": 1, "condition": {"op": "above", "value": 1}, "min_awards": 0,
         "url": "https://x.test/", "created_at": "2026-01-01T00:00:00.000Z"}


@pytest.fixture
async def store(settings, redis):
    s = AlertStore(redis, Layout(settings.redis_prefix))
    await s.create("acme", dict(ALERT), "whsec_1")
    return s


async def test_ten_processes_seeing_the_same_change_queue_one_delivery(store):
    results = await asyncio.gather(*(store.enqueue("acme", "al_1", "firing", b"{}", 1000)
                                     for _ in range(10)))
    assert sorted(r for r, _ in results) == [Enqueued.UNCHANGED] * 9 + [Enqueued.QUEUED]
    assert (await store.alerts("acme"))[0]["state"] == "firing"
    # resolving: again once; a second resolve and a resolve of an `ok` alert: nothing
    assert (await store.enqueue("acme", "al_1", "resolved", b"{}", 2000))[0] is Enqueued.QUEUED
    assert (await store.enqueue("acme", "al_1", "resolved", b"{}", 3000))[0] is Enqueued.UNCHANGED
    assert [d["state"] for d in await store.deliveries("acme", "al_1")] == ["resolved", "firing"]
    assert (await store.enqueue("acme", "al_x", "firing", b"{}", 1000))[0] is Enqueued.NO_ALERT


async def test_a_slow_evaluation_cannot_undo_a_newer_change(store):
    """A read `ok` and, on older numbers, decided `firing`; meanwhile B fired and C, on
    newer numbers, resolved. A's late step must not fire again (without the state read,
    `resolved` -> `firing` is a move, and a third delivery went out)."""
    assert (await store.enqueue("acme", "al_1", "firing", b"{}", 1000, read="ok"))[0] \
        is Enqueued.QUEUED  # B
    assert (await store.enqueue("acme", "al_1", "resolved", b"{}", 2000, read="firing"))[0] \
        is Enqueued.QUEUED  # C
    assert (await store.enqueue("acme", "al_1", "firing", b"{}", 3000, read="ok"))[0] \
        is Enqueued.UNCHANGED  # A, late
    assert [d["state"] for d in await store.deliveries("acme", "al_1")] == ["resolved", "firing"]
    # an evaluation that read `resolved` and sees the condition again fires again
    assert (await store.enqueue("acme", "al_1", "firing", b"{}", 4000, read="resolved"))[0] \
        is Enqueued.QUEUED


async def test_a_due_delivery_is_leased_to_one_process_and_retaken_after_the_lease(store):
    _r, did = await store.enqueue("acme", "al_1", "firing", b'{"a":1}', 1000)
    a, b = await asyncio.gather(store.claim("acme", "A", 5000, 10, at_ms=1000),
                                store.claim("acme", "B", 5000, 10, at_ms=1000))
    assert len(a) + len(b) == 1
    mine = (a or b)[0]
    assert mine["attempts"] == 1 and mine["body"] == '{"a":1}'
    assert await store.claim("acme", "C", 5000, 10, at_ms=5999) == []  # leased until 6000
    taken = await store.claim("acme", "C", 5000, 10, at_ms=6000)  # the holder died
    assert [t["delivery_id"] for t in taken] == [did] and taken[0]["attempts"] == 2
    # the first holder's late answer writes nothing; the new holder's does
    assert not await store.finish("acme", mine, mine["owner"], Outcome.DELIVERED, None, 200,
                                  None)
    assert await store.finish("acme", taken[0], "C", Outcome.RETRY, 70_000, 500, "HTTP 500")
    rec = (await store.deliveries("acme", "al_1"))[0]
    assert (rec["status"], rec["attempts"], rec["next_retry_at"], rec["http_status"]) == (
        "pending", 2, 70_000, 500)
    assert await store.claim("acme", "C", 5000, 10, at_ms=69_999) == []
    again = await store.claim("acme", "D", 5000, 10, at_ms=70_000)
    assert await store.finish("acme", again[0], "D", Outcome.DELIVERED, None, 204, None)
    rec = (await store.deliveries("acme", "al_1"))[0]
    assert (rec["status"], rec["attempts"], rec["http_status"]) == ("delivered", 3, 204)
    assert await store.claim("acme", "E", 5000, 10, at_ms=10**13) == []  # never again


async def test_the_log_keeps_the_last_100_and_delete_drops_everything(store, redis, settings):
    ids = [(await store.enqueue("acme", "al_1", "test", b"{}", i, test=True))[1]
           for i in range(KEEP_DELIVERIES + 5)]
    kept = await store.deliveries("acme", "al_1")
    assert [d["delivery_id"] for d in kept] == ids[::-1][:KEEP_DELIVERIES]
    lay = Layout(settings.redis_prefix)
    # the 5 trimmed ones are still queued: their records stay until they finish
    assert await redis.hlen(lay.alert_deliveries("acme")) == KEEP_DELIVERIES + 5
    assert await store.delete("acme", "al_1")
    assert not await store.delete("acme", "al_1")
    for key in (lay.alerts("acme"), lay.alert_secrets("acme"), lay.alert_states("acme"),
                lay.alert_deliveries("acme"), lay.alert_log("acme", "al_1"),
                lay.alert_due("acme")):
        assert await redis.exists(key) == 0, key


async def test_a_delivery_whose_senders_keep_dying_is_given_up_after_the_horizon(store):
    _r, did = await store.enqueue("acme", "al_1", "firing", b"{}", 1000)
    [first] = await store.claim("acme", "A", 5000, 10, at_ms=1000, horizon_ms=60_000)
    assert first["attempts"] == 1  # A dies; so does every retaker until 61,000 ms
    assert await store.claim("acme", "B", 5000, 10, at_ms=61_001, horizon_ms=60_000) == []
    rec = (await store.deliveries("acme", "al_1"))[0]
    assert (rec["delivery_id"], rec["status"], rec["attempts"]) == (did, "failed", 1)
    assert await store.claim("acme", "C", 5000, 10, at_ms=10**13) == []


async def test_a_process_whose_clock_runs_ahead_cannot_take_a_leased_delivery(store,
                                                                              monkeypatch):
    from api.alerting import store as store_module

    _r, did = await store.enqueue("acme", "al_1", "firing", b'{"a":1}', now_ms())
    [mine] = await store.claim("acme", "A", 60_000, 10)
    real = store_module.now_ms
    monkeypatch.setattr(store_module, "now_ms", lambda: real() + 120_000)  # B's clock
    assert await store.claim("acme", "B", 60_000, 10) == []
    assert await store.claim("acme", "B", 60_000, 10, ids=[did]) == []
    assert await store.finish("acme", mine, "A", Outcome.DELIVERED, None, 200, None)
