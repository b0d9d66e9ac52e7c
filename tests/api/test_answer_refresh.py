"""Background refreshes of the answer cache (api/readers/answers.py) queue one at a time, and
no request waits behind another key's refresh: a request past the bound whose own refresh is
still queued computes it at once (for everyone waiting on it), and the queued one then does
nothing; a refresh reads the stamp when its turn comes."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from redis.asyncio import Redis

from api.readers.answers import REFRESH_AT, AnswerCache
from api.readers.scope import ReadQuery
from core.keys import ApiKey
from core.settings import Settings
from schemas.layout import Layout
from tests.api.test_answer_cache import Ledger


async def test_a_request_past_the_bound_takes_over_its_queued_refresh(settings: Settings,
                                                                      redis: Redis):
    bound = 0.4
    layout = Layout(settings.redis_prefix)
    ledger = Ledger(redis, layout, "acme")
    await ledger.commit()
    cache = AnswerCache(1 << 20, max_stale=bound)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    gate = asyncio.Event()
    calls = {"a": 0, "b": 0}

    async def slow_a() -> dict[str, Any]:  # its refresh hangs until the gate opens
        calls["a"] += 1
        if calls["a"] > 1:
            await gate.wait()
        return await ledger.compute()

    async def b() -> dict[str, Any]:
        calls["b"] += 1
        return await ledger.compute()

    def get(name: str, compute: Any) -> Any:
        return cache.get(redis, layout, caller, q, "channels", (name,), compute)

    assert (await get("a", slow_a))[0] == {"n": 1}
    assert (await get("b", b))[0] == {"n": 1}
    await ledger.commit()
    await asyncio.sleep(bound * (REFRESH_AT + 0.05))  # stale answers, refreshes queued
    assert (await get("a", slow_a))[0] == {"n": 1}  # A's refresh runs and hangs
    assert (await get("b", b))[0] == {"n": 1}  # B's waits behind it
    assert cache.refreshes == 2
    await asyncio.sleep(bound * 0.6)  # B's answer is past the bound now
    got = await asyncio.wait_for(get("b", b), 1.0)  # not behind A's hanging refresh
    assert got[0] == {"n": 2} and calls["b"] == 2
    gate.set()
    await asyncio.sleep(0.3)  # A's refresh ends; B's queued one finds itself taken over
    assert calls == {"a": 2, "b": 2}
    assert (await get("a", slow_a))[0] == {"n": 2}


async def test_an_exact_read_takes_over_a_queued_refresh(settings: Settings, redis: Redis):
    """What /live reads (max_stale=0) while the key's refresh waits in the queue: computed at
    once, not behind the queue, and the queued refresh then computes nothing."""
    bound = 0.4
    layout = Layout(settings.redis_prefix)
    ledger = Ledger(redis, layout, "acme")
    await ledger.commit()
    cache = AnswerCache(1 << 20, max_stale=bound)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    calls = 0

    async def compute() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return await ledger.compute()

    assert (await cache.get(redis, layout, caller, q, "channels", (), compute))[0] == {"n": 1}
    await ledger.commit()
    await asyncio.sleep(bound * (REFRESH_AT + 0.05))
    hold = asyncio.Lock()  # the queue, held by another key's refresh
    await hold.acquire()
    cache._refresh_slot = hold  # type: ignore[assignment]
    assert (await cache.get(redis, layout, caller, q, "channels", (), compute))[0] == {"n": 1}
    assert calls == 1 and cache.refreshes == 1  # stale served, a refresh queued
    exact = await asyncio.wait_for(
        cache.get(redis, layout, caller, q, "channels", (), compute, max_stale=0), 1.0)
    assert exact[0] == {"n": 2} and calls == 2
    hold.release()
    await asyncio.sleep(0.1)
    assert calls == 2


async def test_requests_with_a_bound_share_a_stamp_read_exact_ones_never(
        settings: Settings, redis: Redis, monkeypatch: Any):
    import api.readers.answers as answers

    reads = 0
    real = answers.read_fresh

    async def counted(*args: Any) -> Any:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.02)  # a stamp read under way while the others come
        return await real(*args)

    monkeypatch.setattr(answers, "read_fresh", counted)
    layout = Layout(settings.redis_prefix)
    ledger = Ledger(redis, layout, "acme")
    await ledger.commit()
    cache = AnswerCache(1 << 20, max_stale=0.4)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    assert (await cache.get(redis, layout, caller, q, "channels", (), ledger.compute))[0] \
        == {"n": 1}
    reads = 0
    got = await asyncio.gather(*(cache.get(redis, layout, caller, q, "channels", (),
                                           ledger.compute) for _ in range(20)))
    assert {a["n"] for a, _b in got} == {1}
    assert reads == 1 and cache.shared_stamps == 19
    reads = 0
    await ledger.commit()
    exact = await asyncio.gather(*(cache.get(redis, layout, caller, q, "channels", (),
                                             ledger.compute, max_stale=0) for _ in range(5)))
    assert reads == 5 and {a["n"] for a, _b in exact} == {2}  # each its own, after it came
