"""An attacker's and an operator's review of the remembered-URL fast way (api/routes/fast.py).

Each test asks one question of a real app on the session's real Redis (and a real worker
where numbers are needed): the app whose memo was primed by another caller (or by the same
URL written another way) must answer exactly what a fresh app, resolving the request the
full way through FastAPI, answers. Expected numbers come from the three awards of the
`acme` fixture (tests/api/test_fast_reads.py): issuer eng 2 (badge py), issuer ops 1 (k8s).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.deps import period_query, today_utc
from api.main import create_app
from api.readers.scope import ReadQuery
from api.routes.fast import MEMO_SIZE, ReadMemo
from core.generations import GENERATION_TTL
from core.redisclient import connect
from core.settings import Settings
from schemas.layout import Layout
from tests.api.test_fast_reads import Q, acme, auth, fast_get  # noqa: F401 - acme: a fixture
from tests.api.test_faults import OwnRedis
from tests.conftest import isolated_settings, make_key

ORG = "/v1/orgs/acme"
Shown = tuple[int, bytes, list[tuple[str, str]]]


async def running(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan; a 500 comes back as a response, as a client sees it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


@pytest.fixture
async def two_apps(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient,
                                                              Any, httpx.AsyncClient]]:
    """`primed`: the app under attack; `fresh`: one that answers every request the full way
    (its memo is emptied before each request, see `full_way`)."""
    async for primed, pc in running(settings):
        async for fresh, fc in running(settings):
            yield primed, pc, fresh, fc


@pytest.fixture
async def one_app(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async for pair in running(settings):
        yield pair


def shown(r: httpx.Response) -> Shown:
    return r.status_code, r.content, sorted(r.headers.items())


async def full_way(app: Any, c: httpx.AsyncClient, method: str, url: str,
                   headers: Any) -> httpx.Response:
    app.state.read_memo = ReadMemo()  # nothing remembered: FastAPI resolves it
    r = await c.request(method, url, headers=headers)
    assert app.state.read_memo.served == 0
    return r


async def fast_way(app: Any, c: httpx.AsyncClient, url: str, headers: Any) -> httpx.Response:
    """The response of the primed app's memo for `url` (fails if the memo never serves it)."""
    return await fast_get(c, app.state.read_memo, url, headers)


# --- tenants and scopes --------------------------------------------------------------------

# URLs an org_admin reads that name issuer ops (not eng's) or are org-wide
ADMIN_URLS = [
    f"{ORG}/summary?{Q}",
    f"{ORG}/badges?{Q}",
    f"{ORG}/issuer-activity?{Q}",
    f"{ORG}/top-badges?{Q}&limit=5",
    f"{ORG}/timeseries?{Q}&metric=badges_awarded&interval=day",
    f"{ORG}/issuers/ops/summary?{Q}",
    f"{ORG}/issuers/ops/badges?{Q}",
    f"{ORG}/badges/k8s/channels?{Q}",
    f"{ORG}/summary?{Q}&issuer_id=ops",
    f"{ORG}/summary?{Q}&issuer_id=eng&issuer_id=ops",
    f"{ORG}/channels?{Q}&badge_id=k8s",
    f"{ORG}/badges?{Q}&badge_id=py&badge_id=k8s",
]


@pytest.mark.usefixtures("acme")
async def test_an_issuer_key_on_urls_an_admin_made_fast_gets_only_what_the_full_way_gives_it(
        settings, two_apps):
    primed, pc, fresh, fc = two_apps
    admin = await make_key(settings, "acme", "org_admin")
    eng = await make_key(settings, "acme", "issuer", ("eng",))
    for url in ADMIN_URLS:
        assert (await pc.get(url, headers=auth(admin))).status_code == 200, url
        assert (await fast_way(primed, pc, url, auth(admin))).status_code == 200, url
    for url in ADMIN_URLS:
        got = await fast_way(primed, pc, url, auth(eng))
        assert shown(got) == shown(await full_way(fresh, fc, "GET", url, auth(eng))), url
        if "ops" in url or "k8s" in url:  # another issuer of its org: not even its existence
            assert got.status_code == 404 and got.json() == {"detail": "not found"}, url
    # eng's own numbers, worked out by hand: 2 of acme's 3 awards
    r = await fast_way(primed, pc, ADMIN_URLS[0], auth(eng))
    assert r.json()["metrics"]["badges_awarded"] == 2
    rows = (await fast_way(primed, pc, ADMIN_URLS[1], auth(eng))).json()
    assert "k8s" not in str(rows) and "ops" not in str(rows)


@pytest.mark.usefixtures("acme")
async def test_an_admin_on_urls_an_issuer_key_made_fast_gets_the_whole_org(
        settings, two_apps):
    primed, pc, fresh, fc = two_apps
    admin = await make_key(settings, "acme", "org_admin")
    eng = await make_key(settings, "acme", "issuer", ("eng",))
    urls = [f"{ORG}/summary?{Q}", f"{ORG}/badges?{Q}", f"{ORG}/issuer-activity?{Q}",
            f"{ORG}/channels?{Q}", f"{ORG}/issuers/eng/summary?{Q}"]
    for url in urls:
        assert (await fast_way(primed, pc, url, auth(eng))).status_code == 200, url
    for url in urls:
        got = await fast_way(primed, pc, url, auth(admin))
        assert shown(got) == shown(await full_way(fresh, fc, "GET", url, auth(admin))), url
    r = await fast_way(primed, pc, urls[0], auth(admin))
    assert r.json()["metrics"]["badges_awarded"] == 3
    assert "k8s" in (await fast_way(primed, pc, urls[1], auth(admin))).text


@pytest.mark.usefixtures("acme")
async def test_keys_of_one_org_with_other_issuer_lists_each_get_their_own_numbers(
        settings, one_app):
    app, c = one_app
    url = f"{ORG}/summary?{Q}"
    expected = {("eng",): 2, ("ops",): 1, ("eng", "ops"): 3, ("ops", "eng"): 3,
                ("nobody",): 0}
    tokens = {iss: await make_key(settings, "acme", "issuer", iss) for iss in expected}
    for _ in range(2):  # the second round all on the fast way, interleaved
        for iss, token in tokens.items():
            r = await fast_way(app, c, url, auth(token))
            assert r.json()["metrics"]["badges_awarded"] == expected[iss], iss


# --- the same URL written another way --------------------------------------------------------

VARIANTS = [
    f"{ORG}/summary?to=2026-04-30&from=2026-04-01",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-15&to=2026-04-30",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&to=2026-04-15",
    f"{ORG}/summary?from=2026%2D04%2D01&to=2026-04-30",
    f"{ORG}/summary?fr%6Fm=2026-04-01&t%6F=2026-04-30",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&issuer_id=eng&issuer_id=eng",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&issuer_id=en+g",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&issuer_id=ops&issuer_id=",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&status=pending&status=pending",
    f"{ORG}/summary?from=2026-04-01&TO=2026-04-15",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&x=1",
    f"{ORG}/summary?from=2026-04-01&to=2026-04-30&",
    f"{ORG}/summary?&&from=2026-04-01;to=2026-04-30",
    f"{ORG}/badges?{Q}&limit=1&limit=2",
    f"{ORG}/badges/k8s/summary?{Q}&badge_id=py",
]


@pytest.mark.usefixtures("acme")
async def test_query_strings_written_another_way_are_answered_as_the_full_way_answers(
        settings, two_apps):
    primed, pc, fresh, fc = two_apps
    admin = await make_key(settings, "acme", "org_admin")
    eng = await make_key(settings, "acme", "issuer", ("eng",))
    for token in (admin, eng):
        for url in VARIANTS:
            want = shown(await full_way(fresh, fc, "GET", url, auth(token)))
            first = await pc.get(url, headers=auth(token))
            assert shown(first) == want, url
            if first.status_code == 200:
                assert shown(await fast_way(primed, pc, url, auth(token))) == want, url
    # and nothing another key made fast leaks through a variant (admin's URLs, eng's key)
    for url in VARIANTS:
        got = await pc.get(url, headers=auth(eng))
        assert shown(got) == shown(await full_way(fresh, fc, "GET", url, auth(eng))), url


@pytest.mark.usefixtures("acme")
async def test_authorization_and_path_tricks_get_the_full_ways_answer(
        settings, two_apps):
    primed, pc, fresh, fc = two_apps
    admin = await make_key(settings, "acme", "org_admin")
    globex = await make_key(settings, "globex", "org_admin")
    url = f"{ORG}/summary?{Q}"
    assert (await fast_way(primed, pc, url, auth(admin))).status_code == 200
    header_sets: list[Any] = [
        [("Authorization", f"Bearer {globex}"), ("Authorization", f"Bearer {admin}")],
        [("Authorization", "Basic eA=="), ("Authorization", f"Bearer {admin}")],
        [("Authorization", f"Bearer {admin}"), ("Authorization", f"Bearer {globex}")],
        [("Authorization", f"BEARER {admin}")],
        [("Authorization", f"Bearer  {admin}")],
        [("Authorization", f"Bearer\t{admin}")],
        [("Authorization", f"Bearer {admin} ")],
        [("Authorization", f" Bearer {admin}")],
        [("Authorization", f"Bearer {admin}x")],
        [("Authorization", "Bearer ")],
    ]
    for headers in header_sets:
        for _ in range(2):  # the second time a key is in the verified-key cache
            got = await pc.get(url, headers=headers)
            assert shown(got) == shown(await full_way(fresh, fc, "GET", url, headers)), headers
    for method, path in [("GET", f"{ORG}/summary/?{Q}"), ("GET", f"/{ORG}/summary?{Q}"),
                         ("GET", f"/v1/orgs/acm%65/summary?{Q}"),
                         ("GET", f"/v1/orgs/acme%2Fsummary?{Q}"),
                         ("GET", f"/v1/orgs/acme/./summary?{Q}"),
                         ("HEAD", url), ("POST", url), ("OPTIONS", url)]:
        for _ in range(2):
            got = await pc.request(method, path, headers=auth(admin))
            want = await full_way(fresh, fc, method, path, auth(admin))
            assert shown(got) == shown(want), (method, path)
    assert (await pc.get(url, headers=auth(globex))).status_code == 404


# --- time ------------------------------------------------------------------------------------

@pytest.mark.usefixtures("acme")
async def test_an_open_period_url_is_taken_the_fast_way_again_the_day_after(
        settings, one_app):
    """Without `to` the period ends today. After midnight the remembered URL is resolved
    again by FastAPI (right), and that resolution must be remembered for the new day: a
    script polling the default 30 days should not lose the fast way at its first midnight
    for good (until 4,096 other URLs clear the memo)."""
    app, c = one_app
    admin = await make_key(settings, "acme", "org_admin")
    url = f"{ORG}/summary?from=2026-04-01"
    scope = {"path": f"{ORG}/summary", "query_string": b"from=2026-04-01"}
    # yesterday's requests left the URL remembered for yesterday (the memo's clock is
    # injected; period_query reads the real one, so yesterday's entry is put in directly)
    yesterday = today_utc() - timedelta(days=1)
    app.state.read_memo = memo = ReadMemo(today=lambda: yesterday)

    async def compute(*_a: Any) -> dict[str, Any]:
        raise AssertionError("yesterday's entry must never be served")

    memo.remember(scope, "summary", ReadQuery("acme", date(2026, 4, 1), yesterday), (),
                  compute)
    assert memo.get(scope) is not None
    memo.today = today_utc  # midnight has passed
    assert memo.get(scope) is None
    r = await c.get(url, headers=auth(admin))  # resolved again by FastAPI: today's period
    assert r.status_code == 200 and r.json()["period"]["to"] == today_utc().isoformat()
    r = await fast_way(app, c, url, auth(admin))  # ... and remembered for today
    assert r.status_code == 200 and r.json()["period"]["to"] == today_utc().isoformat()


# --- memory and CPU under one-off URLs -------------------------------------------------------

@pytest.mark.usefixtures("acme")
async def test_one_off_urls_with_long_query_strings_do_not_hold_the_memos_memory(
        settings, one_app):
    """uvicorn (httptools) takes request lines up to ~64 KB and FastAPI ignores unknown
    parameters, so one reader key (50 requests/s by default) can have every URL it sends
    remembered with its raw query string: MEMO_SIZE x 60 KB = 240 MB per API process before
    the memo starts over, in ~80 s. Bound: under 32 MiB at MEMO_SIZE, whatever the URLs."""
    app, c = one_app
    admin = await make_key(settings, "acme", "org_admin")
    # an attacker's long request line; then ~1 KB: of padding, and of distinct filter ids
    # (parsed into the remembered query: many small strings)
    ids = "&".join(f"issuer_id=i{j}" for j in range(64))
    for label, tail in (("60 KB pad", "a" * 60_000), ("1 KB pad", "a" * 900),
                        ("1 KB of filters", f"&{ids}")):
        n = 50
        gc.collect()
        tracemalloc.start()
        try:
            for i in range(n):
                r = await c.get(f"{ORG}/summary?{Q}&p{i}={tail}", headers=auth(admin))
                assert r.status_code == 200
            gc.collect()
            with_memo = tracemalloc.get_traced_memory()[0]
            app.state.read_memo = ReadMemo()  # what the memo held goes with it
            gc.collect()
            held = with_memo - tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        per_url = held / n
        print(f"memo: {per_url / 1024:.1f} KiB held per one-off URL ({label}), "
              f"{per_url * MEMO_SIZE / 2**20:.0f} MiB at MEMO_SIZE ({MEMO_SIZE})")
        assert per_url * MEMO_SIZE < 32 * 2**20, f"{per_url:.0f} bytes held per URL"


@pytest.mark.usefixtures("acme")
async def test_a_flood_of_one_off_urls_costs_no_more_than_the_full_way(
        settings, one_app):
    """An attacker's random query strings: each one is resolved once by FastAPI (as before
    the memo), the memo stays within MEMO_SIZE, and a dashboard's URL is served fast again
    right after a flood cleared the memo."""
    app, c = one_app
    admin = await make_key(settings, "acme", "org_admin")
    app.state.read_memo = memo = ReadMemo(size=64)
    url = f"{ORG}/summary?{Q}"
    assert (await fast_way(app, c, url, auth(admin))).status_code == 200
    for i in range(200):
        assert (await c.get(f"{url}&r={i}", headers=auth(admin))).status_code == 200
    assert len(memo._urls) <= 64
    assert (await c.get(url, headers=auth(admin))).status_code == 200
    assert (await fast_way(app, c, url, auth(admin))).status_code == 200


# --- keys that stop existing, Redis going away, generations -------------------------------

@pytest.fixture
def own_redis() -> Any:
    r = OwnRedis()
    r.start()
    try:
        yield r
    finally:
        r.stop()


async def test_a_key_lost_by_an_emptied_redis_is_refused_once_the_ttl_runs_out(
        infra, own_redis):
    settings = isolated_settings(infra).model_copy(update={"redis_url": own_redis.url})
    admin = await make_key(settings, "acme", "org_admin")
    url = f"{ORG}/summary?{Q}"
    async for app, c in running(settings):
        assert (await fast_way(app, c, url, auth(admin))).status_code == 200
        r = connect(settings)
        try:
            await r.flushall()  # Redis restarted empty
        finally:
            await r.aclose()
        t0 = time.monotonic()
        while (got := await c.get(url, headers=auth(admin))).status_code == 200:
            assert time.monotonic() - t0 <= settings.auth_cache_ttl + 0.2, \
                "a key Redis no longer has is still served past the verified-key TTL"
            await asyncio.sleep(0.02)
        assert got.status_code == 401 and got.json() == {"detail": "unknown or revoked key"}
        for _ in range(3):  # and stays refused, fast way or not
            assert (await c.get(url, headers=auth(admin))).status_code == 401


async def test_redis_down_on_the_fast_way_is_a_503_not_a_500(infra, own_redis):
    settings = isolated_settings(infra).model_copy(update={"redis_url": own_redis.url})
    admin = await make_key(settings, "acme", "org_admin")
    url = f"{ORG}/summary?{Q}"
    async for app, c in running(settings):
        assert (await fast_way(app, c, url, auth(admin))).status_code == 200
        own_redis.stop()
        served = app.state.read_memo.served
        for _ in range(2):  # the key in the verified-key cache, then maybe not
            r = await c.get(url, headers=auth(admin))
            assert r.status_code == 503, r.text
            assert r.json()["detail"].startswith("redis unavailable")
            assert int(r.headers["retry-after"]) == settings.retry_after
        assert app.state.read_memo.served > served  # on the fast way
        own_redis.start()


@pytest.mark.usefixtures("acme")
async def test_a_generation_switch_reaches_remembered_urls(settings, two_apps):
    primed, pc, fresh, fc = two_apps
    admin = await make_key(settings, "acme", "org_admin")
    url = f"{ORG}/summary?{Q}"
    assert (await fast_way(primed, pc, url, auth(admin))).json()["metrics"][
        "badges_awarded"] == 3
    r = connect(settings)
    try:  # readers switched to an (empty) generation 7, as a rebuild's switch does
        await r.hset(Layout(settings.redis_prefix).generations(), "serving", 7)
    finally:
        await r.aclose()
    await asyncio.sleep(GENERATION_TTL + 0.1)
    got = await fast_way(primed, pc, url, auth(admin))
    assert shown(got) == shown(await full_way(fresh, fc, "GET", url, auth(admin)))
    assert got.json()["metrics"]["badges_awarded"] == 0


@pytest.mark.usefixtures("acme")
async def test_an_error_without_a_handler_is_the_same_500_as_on_the_full_way(
        settings, two_apps, redis: Redis):
    primed, pc, fresh, fc = two_apps
    admin = await make_key(settings, "acme", "org_admin")
    url = f"{ORG}/summary?{Q}"
    assert (await fast_way(primed, pc, url, auth(admin))).status_code == 200
    layout = await primed.state.generation.get(redis)
    await redis.hset(layout.stats(), "as_of_us", "not-a-number")  # data no reader expects
    served = primed.state.read_memo.served
    got = await pc.get(url, headers=auth(admin))
    assert primed.state.read_memo.served == served + 1
    want = await full_way(fresh, fc, "GET", url, auth(admin))
    assert got.status_code == want.status_code == 500
    assert got.content == want.content == b"Internal Server Error"  # no traceback


# --- dependency overrides --------------------------------------------------------------------

@pytest.mark.usefixtures("acme")
async def test_a_url_resolved_under_an_override_is_not_served_once_it_is_gone(
        settings, one_app):
    """The memo is not consulted while dependencies are overridden; what FastAPI resolved
    under an override must not be remembered either, or the override outlives itself."""
    app, c = one_app
    admin = await make_key(settings, "acme", "org_admin")
    url = f"{ORG}/summary?{Q}"

    async def january(org_id: str) -> ReadQuery:
        return ReadQuery(org_id, date(2026, 1, 1), date(2026, 1, 31))

    app.dependency_overrides[period_query] = january
    r = await c.get(url, headers=auth(admin))
    assert r.json()["period"]["from"] == "2026-01-01"
    app.dependency_overrides.clear()
    for _ in range(3):
        r = await c.get(url, headers=auth(admin))
        assert r.json()["period"]["from"] == "2026-04-01", "the override outlived itself"
        assert r.json()["metrics"]["badges_awarded"] == 3
