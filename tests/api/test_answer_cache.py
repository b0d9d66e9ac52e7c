"""The per-process answer cache (api/readers/answers.py) never shows an old or another
tenant's number: a commit, a generation switch and a coverage setting each change the
next answer; a revoked key is refused within a second although verified keys are cached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.main import create_app
from api.readers.answers import REFRESH_AT, AnswerCache
from api.readers.scope import ReadQuery
from core.generations import GENERATION_TTL
from core.keys import ApiKey, create_key, revoke_key
from core.settings import Settings
from schemas.layout import Layout
from tests.conftest import caught_up, make_key, publish_events

T = "2026-04-13T09:30:00Z"
Q = "from=2026-04-01&to=2026-04-30"
SUMMARY = f"/v1/orgs/acme/summary?{Q}"


def issued(n: int, org: str = "acme", issuer: str = "eng", badge: str = "py") -> dict[str, str]:
    return {"event_id": f"{org}-{n}", "type": "award.issued", "occurred_at": T, "org_id": org,
            "issuer_id": issuer, "badge_id": badge, "award_id": f"{org}-a{n}", "method": "lms"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


async def awarded(c: httpx.AsyncClient, token: str, url: str = SUMMARY) -> int:
    r = await c.get(url, headers=auth(token))
    assert r.status_code == 200, r.text
    n: int = r.json()["metrics"]["badges_awarded"]
    return n


async def test_a_commit_changes_the_number_a_cached_answer_showed(settings, workers,
                                                                  app_client):
    app, c = app_client
    workers.start()
    await publish_events(settings, [issued(1), issued(2), issued(3, issuer="ops", badge="k8s")])
    await caught_up(settings)
    admin = await make_key(settings, "acme", "org_admin")
    eng = await make_key(settings, "acme", "issuer", ("eng",))
    globex = await make_key(settings, "globex", "org_admin")

    assert await awarded(c, admin) == 3
    hits = app.state.answers.hits
    assert await awarded(c, admin) == 3
    assert app.state.answers.hits == hits + 1  # the second read was served from the cache
    # the same URL with another key of the org: its own scope, not the admin's answer
    assert await awarded(c, eng) == 2
    # another org's key never gets the cached answer (nor learns that acme exists)
    r = await c.get(SUMMARY, headers=auth(globex))
    assert r.status_code == 404 and "acme" not in r.text

    # one more award of eng: the commit bumps acme's version, and every cached answer moves
    await publish_events(settings, [issued(4)])
    await caught_up(settings)
    assert await awarded(c, admin) == 4
    assert await awarded(c, eng) == 3
    # the badge table and the issuer's own summary, read before and after one more award
    table = f"/v1/orgs/acme/badges?{Q}"
    before = (await c.get(table, headers=auth(admin))).json()
    assert {row["badge_id"]: row["badges_awarded"] for row in before["items"]} == \
        {"py": 3, "k8s": 1}
    await publish_events(settings, [issued(5, issuer="ops", badge="k8s")])
    await caught_up(settings)
    after = (await c.get(table, headers=auth(admin))).json()
    assert {row["badge_id"]: row["badges_awarded"] for row in after["items"]} == \
        {"py": 3, "k8s": 2}
    assert await awarded(c, admin, f"/v1/orgs/acme/issuers/ops/summary?{Q}") == 2


async def test_a_generation_switch_is_never_answered_from_the_old_generation(
        settings, workers, app_client, redis: Redis):
    _app, c = app_client
    workers.start()
    await publish_events(settings, [issued(1), issued(2)])
    await caught_up(settings)
    admin = await make_key(settings, "acme", "org_admin")
    assert await awarded(c, admin) == 2
    assert await awarded(c, admin) == 2  # cached
    # readers switched to an (empty) generation 7, as a finished rebuild would
    await redis.hset(Layout(settings.redis_prefix).generations(), "serving", 7)
    await asyncio.sleep(GENERATION_TTL + 0.1)  # readers re-read the pointer this often
    assert await awarded(c, admin) == 0


async def test_a_coverage_setting_changes_the_next_answer(settings, workers, app_client,
                                                          redis: Redis):
    _app, c = app_client
    workers.start()
    await publish_events(settings, [issued(1)])
    await caught_up(settings)
    admin = await make_key(settings, "acme", "org_admin")
    first = (await c.get(SUMMARY, headers=auth(admin))).json()["coverage"]["first_day"]
    assert first["award.issued"] == "2026-04-13"
    # `badgepulse coverage` says awards are only tracked from 2026-04-01 (no commit)
    await redis.hset(Layout(settings.redis_prefix).coverage_config("acme"), "award.issued",
                     "2026-04-01")
    again = (await c.get(SUMMARY, headers=auth(admin))).json()["coverage"]
    assert again["first_day"]["award.issued"] == "2026-04-01"


async def test_a_revoked_key_is_refused_within_a_second_with_the_key_cache(
        settings, app_client, redis: Redis):
    app, c = app_client
    assert 0 < settings.auth_cache_ttl <= 1
    layout = Layout(settings.redis_prefix)
    key, token = await create_key(redis, layout, "acme", "org_admin")
    await app.state.live_hub.subscribed.wait()
    assert (await c.get(SUMMARY, headers=auth(token))).status_code == 200  # key now cached
    assert app.state.guard.cached is not None
    t0 = time.monotonic()
    assert await revoke_key(redis, layout, key.key_id)
    while (r := await c.get(SUMMARY, headers=auth(token))).status_code == 200:
        assert time.monotonic() - t0 < 1.0, "a revoked key still read after 1 s"
        await asyncio.sleep(0.02)
    assert r.status_code == 401
    assert time.monotonic() - t0 < 1.0


async def test_a_burst_of_misses_computes_once_and_a_cancelled_one_hands_over(
        settings, redis: Redis):
    """50 dashboards asking at once after a commit cost one computation; if the request
    computing it goes away (client gone), the others still get the answer."""
    layout = Layout(settings.redis_prefix)
    await redis.hincrby(layout.org_stats("acme"), "version", 1)
    cache = AnswerCache(1 << 20)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    calls = 0
    release = asyncio.Event()

    async def compute() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"n": calls}

    tasks = [asyncio.create_task(cache.get(redis, layout, caller, q, "channels", (), compute))
             for _ in range(50)]
    await asyncio.sleep(0.2)
    assert calls == 1
    tasks[0].cancel()  # the one computing: its client went away
    await asyncio.sleep(0.2)
    release.set()
    answers = await asyncio.gather(*tasks[1:])
    assert calls == 2  # one waiter took over, the other 48 waited for it
    assert {body for _a, body in answers} == {b'{"n":2}'}
    # the next commit: computed again, once
    await redis.hincrby(layout.org_stats("acme"), "version", 1)
    again = await asyncio.gather(*[cache.get(redis, layout, caller, q, "channels", (), compute)
                                   for _ in range(10)])
    assert calls == 3 and {body for _a, body in again} == {b'{"n":3}'}


class Ledger:
    """A stand-in for the worker's commits, on the real Redis: each adds 1 to the data the
    answer shows and bumps the org's version in one MULTI, and is remembered with the time
    it had completed."""

    def __init__(self, redis: Redis, layout: Layout, org: str) -> None:
        self.redis, self.layout, self.org = redis, layout, org
        self.data = f"{layout.prefix}:test-data:{org}"
        self.done: list[float] = []  # monotonic time each commit had completed, in order

    async def commit(self) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(self.data)
        pipe.hincrby(self.layout.org_stats(self.org), "version", 1)
        await pipe.execute()
        self.done.append(time.monotonic())

    def applied_by(self, t: float) -> int:
        """How many commits had completed at monotonic time t."""
        return sum(1 for d in self.done if d <= t)

    async def compute(self) -> dict[str, Any]:
        await asyncio.sleep(0.03)  # a computation takes a while (the reads' 3-60 ms)
        return {"n": int(await self.redis.get(self.data) or 0)}


async def test_a_stale_answer_is_never_older_than_the_bound_and_exact_once_ingest_stops(
        settings: Settings, redis: Redis):
    """Commits every ~20 ms while 20 readers poll: every answer includes each commit that
    had completed `max_stale` before the request, stale answers are served (and refreshed in
    the background, one computation at a time), and the first read `max_stale` after the
    last commit shows every commit."""
    bound = 0.25
    layout = Layout(settings.redis_prefix)
    ledger = Ledger(redis, layout, "acme")
    await ledger.commit()
    cache = AnswerCache(1 << 20, max_stale=bound)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    computing = 0
    most_at_once = 0

    async def compute() -> dict[str, Any]:
        nonlocal computing, most_at_once
        computing += 1
        most_at_once = max(most_at_once, computing)
        try:
            return await ledger.compute()
        finally:
            computing -= 1

    stop = asyncio.Event()
    checked = 0

    async def reader() -> None:
        nonlocal checked
        while not stop.is_set():
            sent = time.monotonic()
            answer, _body = await cache.get(redis, layout, caller, q, "channels", (), compute)
            # every commit completed `bound` before the request is in the answer; none that
            # had not started by the time it came back
            assert ledger.applied_by(sent - bound) <= answer["n"] <= len(ledger.done) + 1
            checked += 1
            await asyncio.sleep(0.005)

    readers = [asyncio.create_task(reader()) for _ in range(20)]
    for _ in range(100):
        await ledger.commit()
        await asyncio.sleep(0.02)
    last = time.monotonic()
    await asyncio.sleep(bound)  # past the bound (a reader may be inside a request now)
    stop.set()
    await asyncio.gather(*readers)
    assert checked > 500
    assert cache.stale > 0 and cache.refreshes > 0  # the bound was used, not just misses
    assert most_at_once == 1  # one computation of the key at a time, however many readers
    # the first read past the bound after the last commit: exactly the 101 commits
    assert time.monotonic() - last > bound
    answer, _body = await cache.get(redis, layout, caller, q, "channels", (), compute)
    assert answer == {"n": 101}


async def test_exact_mode_shows_each_commit_at_once(settings: Settings, redis: Redis):
    """max_stale=0 (what /live reads): the read after a commit shows it, however recent."""
    layout = Layout(settings.redis_prefix)
    ledger = Ledger(redis, layout, "acme")
    cache = AnswerCache(1 << 20, max_stale=0.25)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    for n in range(1, 21):
        await ledger.commit()
        exact, _b = await cache.get(redis, layout, caller, q, "channels", (), ledger.compute,
                                    max_stale=0)
        assert exact == {"n": n}
    # within the bound the default may answer from the entry; it is the latest one here
    again, _b = await cache.get(redis, layout, caller, q, "channels", (), ledger.compute)
    assert again == {"n": 20}


async def test_the_api_is_exact_a_bound_after_the_last_event(settings: Settings, workers,
                                                             redis: Redis):
    """Through the app with the default bound (250 ms): dashboards read while awards arrive;
    once the worker has applied the last one, a read a bound later shows every award (the
    number counted by hand: one per event published)."""
    s = settings.model_copy(update={"answer_stale_ms": 250})
    app = create_app(s)
    workers.start()
    await publish_events(settings, [issued(1)])
    await caught_up(settings)
    admin = await make_key(settings, "acme", "org_admin")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            seen = [await awarded(c, admin)]
            for n in range(2, 12):
                await publish_events(settings, [issued(n)])
                seen.append(await awarded(c, admin))
                await asyncio.sleep(0.05)
            await caught_up(settings)
            await asyncio.sleep(0.25)
            assert await awarded(c, admin) == 11
            assert seen == sorted(seen) and seen[0] == 1  # never back in time


async def test_background_refreshes_of_different_answers_run_one_at_a_time(
        settings: Settings, redis: Redis):
    """Stale answers of five reads are refreshed in the background one after another (each
    then takes its own time, not the interleaving of all), and all of them are refreshed."""
    bound = 2.0  # the five first reads take ~0.16 s: all five stay within it
    layout = Layout(settings.redis_prefix)
    ledger = Ledger(redis, layout, "acme")
    await ledger.commit()
    cache = AnswerCache(1 << 20, max_stale=bound)
    caller = ApiKey("k1", "acme", "org_admin")
    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))
    running = 0
    most = 0

    async def compute() -> dict[str, Any]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return await ledger.compute()
        finally:
            running -= 1

    reads = [("timeseries", (m,)) for m in range(5)]
    for read, params in reads:  # cached, exact
        assert (await cache.get(redis, layout, caller, q, read, params, compute))[0] == {"n": 1}
    await ledger.commit()
    await asyncio.sleep(bound * (REFRESH_AT + 0.025))  # stale answers start refreshes
    most = 0
    for read, params in reads:
        got, _b = await cache.get(redis, layout, caller, q, read, params, compute)
        assert got == {"n": 1}  # served stale, within the bound
    assert cache.refreshes == 5
    await asyncio.sleep(5 * 0.03 + 0.1)  # five computations of 30 ms, one after another
    assert most == 1
    for read, params in reads:  # refreshed: the hit shows the second commit
        got, _b = await cache.get(redis, layout, caller, q, read, params, compute)
        assert got == {"n": 2}
