"""A read URL seen once is served again without FastAPI's dependency solving
(api/routes/fast.py): the same bytes as the full way, and every check the full way makes
still made: a revoked key refused within a second, another org's key a 404, a publisher's a
403, no key a 401, the key's rate a 429, a scope outside the caller's reach a 404."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import HTTPException
from redis.asyncio import Redis

from api.deps import require_reader, today_utc
from api.main import create_app
from api.routes.fast import ReadMemo
from core.keys import create_key, hash_secret, revoke_key
from core.settings import Settings
from schemas.layout import Layout
from tests.conftest import caught_up, make_key, publish_events

T = "2026-04-13T09:30:00Z"
Q = "from=2026-04-01&to=2026-04-30"
URLS = [
    f"/v1/orgs/acme/summary?{Q}",
    f"/v1/orgs/acme/channels?{Q}",
    f"/v1/orgs/acme/badges?{Q}&limit=2&sort=badges_awarded&order=asc",
    f"/v1/orgs/acme/top-badges?{Q}&limit=1",
    f"/v1/orgs/acme/timeseries?{Q}&metric=badges_awarded&interval=week",
    f"/v1/orgs/acme/issuer-activity?{Q}",
    f"/v1/orgs/acme/issuers/eng/summary?{Q}&status=pending",
    f"/v1/orgs/acme/badges/py/channels?{Q}",
]
SUMMARY = URLS[0]


def issued(n: int, issuer: str = "eng", badge: str = "py") -> dict[str, str]:
    return {"event_id": f"acme-{n}", "type": "award.issued", "occurred_at": T,
            "org_id": "acme", "issuer_id": issuer, "badge_id": badge,
            "award_id": f"acme-a{n}", "method": "lms"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def started(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async for pair in started(settings):
        yield pair


@pytest.fixture
async def acme(settings: Settings, workers: Any) -> None:
    """Three awards of acme (two issuers), applied by a real worker."""
    workers.start()
    await publish_events(settings, [issued(1), issued(2), issued(3, "ops", "k8s")])
    await caught_up(settings)


async def fast_get(c: httpx.AsyncClient, memo: ReadMemo, url: str,
                   headers: dict[str, str]) -> httpx.Response:
    """GET a remembered URL until the memo serves it: the verified-key cache keeps a key
    0.5 s, which a slow step of a test on a busy machine may outlast (the full way then
    verifies it again)."""
    for _ in range(5):
        served = memo.served
        r = await c.get(url, headers=headers)
        if memo.served == served + 1:
            return r
    raise AssertionError(f"{url} never taken the fast way")


def shown(r: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    return r.status_code, r.content, sorted(r.headers.items())


async def test_a_remembered_url_gets_the_bytes_and_headers_of_the_full_way(
        settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    memo: ReadMemo = app.state.read_memo
    for url in URLS:
        served = memo.served
        full = await c.get(url, headers=auth(admin))
        assert full.status_code == 200, (url, full.text)
        assert memo.served == served  # the first time: FastAPI resolved it
        # then from the memo (once the key is in the verified-key cache: a slow first
        # computation on a busy machine may outlast its 0.5 s, and the full way runs again)
        for _ in range(5):
            again = await c.get(url, headers=auth(admin))
            assert shown(again) == shown(full), url
            if memo.served == served + 1:
                break
        assert memo.served == served + 1, url
    assert (await c.get(SUMMARY, headers=auth(admin))).json()["metrics"]["badges_awarded"] == 3

    # and the fast way follows a commit like the full way (the answer cache's stamp)
    await publish_events(settings, [issued(4)])
    await caught_up(settings)
    r = await fast_get(c, memo, SUMMARY, auth(admin))
    assert r.json()["metrics"]["badges_awarded"] == 4


async def test_a_revoked_key_is_refused_within_a_second_on_the_fast_way(
        settings, acme, app_client, redis: Redis):
    app, c = app_client
    layout = Layout(settings.redis_prefix)
    key, token = await create_key(redis, layout, "acme", "org_admin")
    await app.state.live_hub.subscribed.wait()
    assert (await c.get(SUMMARY, headers=auth(token))).status_code == 200
    # the key and the URL are on the fast way
    assert (await fast_get(c, app.state.read_memo, SUMMARY, auth(token))).status_code == 200
    t0 = time.monotonic()
    assert await revoke_key(redis, layout, key.key_id)
    while (r := await c.get(SUMMARY, headers=auth(token))).status_code == 200:
        assert time.monotonic() - t0 < 1.0, "a revoked key still read after 1 s"
        await asyncio.sleep(0.02)
    assert r.status_code == 401 and r.json() == {"detail": "unknown or revoked key"}
    assert r.headers["www-authenticate"] == "Bearer"


async def test_a_key_out_of_the_verified_cache_is_looked_up_on_the_fast_way(
        settings, acme, app_client, redis: Redis):
    app, c = app_client
    layout = Layout(settings.redis_prefix)
    key, token = await create_key(redis, layout, "acme", "org_admin")
    assert (await c.get(SUMMARY, headers=auth(token))).status_code == 200
    app.state.guard.forget(key.key_id)
    served = app.state.read_memo.served
    assert (await c.get(SUMMARY, headers=auth(token))).status_code == 200
    assert app.state.read_memo.served == served + 1
    assert app.state.guard.cached(hash_secret(token)) == key  # verified, remembered

    # a revocation whose notice never came: the key is refused once the TTL has run out
    await app.state.live_hub.subscribed.wait()
    assert await revoke_key(redis, layout, key.key_id)
    await asyncio.sleep(0.2)
    app.state.guard.remember(hash_secret(token), key)  # as if the notice were lost
    t0 = time.monotonic()
    while (r := await c.get(SUMMARY, headers=auth(token))).status_code == 200:
        assert time.monotonic() - t0 <= settings.auth_cache_ttl + 0.2
        await asyncio.sleep(0.02)
    assert r.status_code == 401


async def test_other_keys_on_a_remembered_url_get_the_full_ways_refusals(
        settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    globex = await make_key(settings, "globex", "org_admin")
    publisher = await make_key(settings, "acme", "publisher")
    for _ in range(2):
        assert (await c.get(SUMMARY, headers=auth(admin))).status_code == 200
    served = app.state.read_memo.served
    for _ in range(2):  # the second time each key is a verified (cached) key
        other = await c.get(SUMMARY, headers=auth(globex))
        assert other.status_code == 404 and other.json() == {"detail": "not found"}
        assert "acme" not in other.text
        pub = await c.get(SUMMARY, headers=auth(publisher))
        assert pub.status_code == 403
        assert pub.json() == {"detail": "a publisher key cannot read analytics"}
        for headers in ({}, {"Authorization": f"Basic {admin}"}, {"Authorization": "Bearer"},
                        auth("bp_not_a_key")):
            r = await c.get(SUMMARY, headers=headers)
            assert r.status_code == 401, headers
    assert app.state.read_memo.served == served  # none of them took the fast way
    # header names are case-blind, and the scheme too, as on the full way
    r = await fast_get(c, app.state.read_memo, SUMMARY, {"AUTHORIZATION": f"bearer {admin}"})
    assert r.status_code == 200


async def test_a_scope_outside_an_issuer_keys_reach_is_404_on_the_fast_way(
        settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    eng = await make_key(settings, "acme", "issuer", ("eng",))
    url = f"/v1/orgs/acme/issuers/ops/summary?{Q}"
    assert (await c.get(url, headers=auth(admin))).status_code == 200  # remembered
    assert (await c.get(url, headers=auth(eng))).status_code == 404  # eng's key now cached
    r = await fast_get(c, app.state.read_memo, url, auth(eng))
    assert r.status_code == 404 and r.json() == {"detail": "not found"}
    # the issuer's own scope: its own numbers, not the admin's cached answer
    own = f"/v1/orgs/acme/summary?{Q}"
    assert (await c.get(own, headers=auth(admin))).json()["metrics"]["badges_awarded"] == 3
    for _ in range(2):
        r = await c.get(own, headers=auth(eng))
        assert r.json()["metrics"]["badges_awarded"] == 2


async def test_the_keys_rate_holds_on_the_fast_way(settings, acme):
    limited = settings.model_copy(update={"key_rate": 0.01, "key_burst": 3})
    async for app, c in started(limited):
        admin = await make_key(settings, "acme", "org_admin")
        full = [await c.get(SUMMARY, headers=auth(admin)) for _ in range(3)]
        assert [r.status_code for r in full] == [200, 200, 200]
        assert app.state.read_memo.served == 2  # two of the three on the fast way
        r = await c.get(SUMMARY, headers=auth(admin))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert app.state.read_memo.served == 3
        assert r.json()["detail"].startswith("rate limit: this key may send 0.01 requests/s")
        # another URL, the full way: the same 429 (the same bucket was spent)
        other = await c.get(URLS[1], headers=auth(admin))
        assert other.status_code == 429 and other.json() == r.json()


async def test_a_url_the_app_rejects_is_never_remembered(settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    for url in ("/v1/orgs/acme/summary?from=2026-04-30&to=2026-04-01",
                "/v1/orgs/acme/summary?to=0", "/v1/orgs/acme/badges?limit=0",
                "/v1/orgs/acme/timeseries?metric=nope"):
        for _ in range(2):
            r = await c.get(url, headers=auth(admin))
            assert r.status_code == 422, url
            assert r.json()["detail"][0]["loc"][0] == "query"
    assert app.state.read_memo.served == 0


async def test_a_period_ending_today_is_resolved_again_the_next_day(
        settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    day = today_utc()
    app.state.read_memo = memo = ReadMemo(today=lambda: day)
    url = "/v1/orgs/acme/summary"  # the last 30 days, to today
    first = await c.get(url, headers=auth(admin))
    assert first.status_code == 200 and first.json()["period"]["to"] == day.isoformat()
    assert (await fast_get(c, memo, url, auth(admin))).status_code == 200
    served = memo.served
    day += timedelta(days=1)  # midnight: the remembered URL ended yesterday
    for _ in range(3):
        assert (await c.get(url, headers=auth(admin))).status_code == 200
    assert memo.served == served
    # a period with its end named is the same URL every day
    named = f"{url}?{Q}"
    await c.get(named, headers=auth(admin))
    day += timedelta(days=1)
    assert (await fast_get(c, memo, named, auth(admin))).status_code == 200


def test_the_memo_forgets_everything_rather_than_grow():
    memo = ReadMemo(size=2, today=lambda: date(2026, 4, 30))
    from api.readers.scope import ReadQuery

    q = ReadQuery("acme", date(2026, 4, 1), date(2026, 4, 30))

    def scope(path: str) -> dict[str, Any]:
        return {"path": path, "query_string": b"to=2026-04-30"}

    async def compute(*_a: Any) -> dict[str, Any]:
        return {}

    for path in ("/a", "/b", "/c"):
        memo.remember(scope(path), "summary", q, (), compute)
    assert memo.get(scope("/c")) is not None
    assert memo.get(scope("/a")) is None and memo.get(scope("/b")) is None


async def test_fast_reads_are_counted_in_the_metrics_by_route(settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    sent = 0
    while app.state.read_memo.served < 2:
        assert (await c.get(SUMMARY, headers=auth(admin))).status_code == 200
        sent += 1
        assert sent < 10
    text = (await c.get("/metrics")).text
    # every request counted once under the route's path, whichever way it was served
    assert ('badgepulse_http_requests_total{method="GET",route="/v1/orgs/{org_id}/summary",'
            f'status="200"}} {float(sent)}') in text


async def test_overridden_dependencies_always_apply(settings, acme, app_client):
    app, c = app_client
    admin = await make_key(settings, "acme", "org_admin")
    assert (await c.get(SUMMARY, headers=auth(admin))).status_code == 200
    assert (await fast_get(c, app.state.read_memo, SUMMARY, auth(admin))).status_code == 200
    served = app.state.read_memo.served

    async def nobody() -> None:
        raise HTTPException(418, "overridden")

    app.dependency_overrides[require_reader] = nobody
    r = await c.get(SUMMARY, headers=auth(admin))
    assert r.status_code == 418 and app.state.read_memo.served == served
