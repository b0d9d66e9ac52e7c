"""GET {S}/live over a real uvicorn process: one key's streams cannot starve other tenants,
and a revoked key's streams end within a second."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
from redis.asyncio import Redis

from badgepulse.embedded import Embedded, free_port, wait_port
from core.keys import revoke_key
from schemas.layout import Layout
from tests.conftest import ROOT, api_server, isolated_settings, make_key, settings_env

Q = "from=2026-04-01&to=2026-04-30"
STREAMS = 150
PER_KEY = 20


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event(i: int) -> dict[str, str]:
    return {"event_id": f"g-{i}", "type": "award.issued",
            "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "org_id": "globex", "issuer_id": "hr", "badge_id": "safety",
            "award_id": f"g-{i}", "method": "manual"}


async def first_summary(lines: AsyncIterator[str]) -> dict[str, object]:
    event_name = None
    async for line in lines:
        if line.startswith("event: "):
            event_name = line[7:]
        elif line.startswith("data: ") and event_name == "summary":
            out: dict[str, object] = orjson.loads(line[6:])
            return out
    raise AssertionError("stream ended before its first summary")


async def test_one_keys_150_streams_get_429_past_its_limit_and_other_orgs_see_no_error(
        infra: Embedded) -> None:
    # a generous request rate, so what limits the streams here is the streams limit
    settings = isolated_settings(infra).model_copy(
        update={"live_streams_per_key": PER_KEY, "key_burst": 1000})
    greedy = await make_key(settings, "acme", "issuer", ("eng",))
    globex = await make_key(settings, "globex", "org_admin")
    globex_pub = await make_key(settings, "globex", "publisher")
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    with api_server(settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
            req = c.build_request("GET", f"/v1/orgs/acme/live?{Q}", headers=auth(greedy))
            streams = await asyncio.gather(*[c.send(req, stream=True) for _ in range(STREAMS)])
            try:
                codes = [s.status_code for s in streams]
                assert codes.count(200) == PER_KEY and codes.count(429) == STREAMS - PER_KEY
                for s in streams:
                    if s.status_code == 429:
                        await s.aread()
                        assert "live streams" in s.json()["detail"]
                        assert int(s.headers["retry-after"]) >= 1
                open_ = [s for s in streams if s.status_code == 200]
                firsts = await asyncio.gather(*[first_summary(s.aiter_lines()) for s in open_])
                assert all(f["scope"]["issuer_ids"] == ["eng"] for f in firsts)  # type: ignore[index]

                # meanwhile another org reads and publishes as usual: not one error
                reads = await asyncio.gather(*[
                    c.get(f"/v1/orgs/globex/summary?{Q}", headers=auth(globex))
                    for _ in range(20)])
                assert [r.status_code for r in reads] == [200] * 20, {r.text for r in reads}
                posts = await asyncio.gather(*[
                    c.post("/v1/events", json=[event(i)], headers=auth(globex_pub))
                    for i in range(10)])
                assert [(r.status_code, r.json()["accepted"]) for r in posts] == [(202, 1)] * 10
                # and the greedy key itself still reads: only its streams are capped
                r = await c.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(greedy))
                assert r.status_code == 200
            finally:
                for s in streams:
                    await s.aclose()
            # closed streams give their places back
            deadline = time.monotonic() + 5
            while True:
                again = await c.send(req, stream=True)
                await again.aclose()
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert again.status_code == 200


async def stream_end_after(c: httpx.AsyncClient, token: str, revoke: object) -> float:
    """Open a stream with `token`, call `revoke`, return the seconds until the stream ends."""
    async with c.stream("GET", f"/v1/orgs/acme/live?{Q}", headers=auth(token)) as resp:
        assert resp.status_code == 200
        lines = resp.aiter_lines()
        await first_summary(lines)
        t0 = time.perf_counter()
        await revoke()  # type: ignore[operator]
        async for _line in lines:
            pass  # until the server ends the stream
        return time.perf_counter() - t0


async def test_a_revoked_keys_live_stream_ends_within_a_second(infra: Embedded) -> None:
    settings = isolated_settings(infra)
    layout = Layout(settings.redis_prefix)
    noticed = await make_key(settings, "acme", "org_admin")
    silent = await make_key(settings, "acme", "org_admin")
    redis = Redis.from_url(settings.redis_url)
    try:
        async def revoke_as_the_cli_does() -> None:
            assert await revoke_key(redis, layout, noticed.split("_", 2)[1])

        async def revoke_without_a_notice() -> None:
            # as if the notice were lost: only the stored record says revoked
            key_id = silent.split("_", 2)[1]
            record = orjson.loads(await redis.hget(layout.api_keys(), key_id))
            await redis.hset(layout.api_keys(), key_id, orjson.dumps({**record,
                                                                      "revoked": True}))

        with api_server(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                by_notice = await stream_end_after(c, noticed, revoke_as_the_cli_does)
                by_check = await stream_end_after(c, silent, revoke_without_a_notice)
                print(f"revoked key's stream ended {by_notice:.3f} s after `keys revoke`, "
                      f"{by_check:.3f} s after a revocation without a notice")
                assert by_notice < 1.5 and by_check < 1.5
                for token in (noticed, silent):
                    r = await c.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(token))
                    assert r.status_code == 401
    finally:
        await redis.aclose()


async def test_stopping_the_api_ends_its_open_streams_at_once(infra: Embedded) -> None:
    settings = isolated_settings(infra)
    key = await make_key(settings, "acme", "org_admin")
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "api", "--port", str(port)],
                           env=settings_env(settings), cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        wait_port(port, 30, api)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            async with c.stream("GET", f"/v1/orgs/acme/live?{Q}", headers=auth(key)) as resp:
                lines = resp.aiter_lines()
                await first_summary(lines)
                t0 = time.perf_counter()
                api.terminate()  # as `up`, Kubernetes or Ctrl-C would
                async for _line in lines:
                    pass
                ended = time.perf_counter() - t0
        code = await asyncio.to_thread(api.wait, 10)
        stopped = time.perf_counter() - t0
        print(f"SIGTERM with a stream open: stream ended in {ended:.3f} s, "
              f"process gone in {stopped:.3f} s")
        assert ended < 1.5 and stopped < 3
        assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it stopped
        assert api.stderr is not None and b"Traceback" not in api.stderr.read()
    finally:
        if api.poll() is None:
            api.kill()
            api.wait()
