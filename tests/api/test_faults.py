"""Redis going away and coming back, and one key flooding the API: what clients see.

The outage test runs the API (in process, with its lifespan) on a Redis of its own that it
stops and restarts on the same port, with its data (append-only file); the session's
shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from badgepulse.embedded import COMPACT_HASHES, Embedded, free_port, redis_binary, wait_port
from core.settings import Settings
from tests.conftest import asgi_client, isolated_settings, make_key

SUMMARY = "/v1/orgs/acme/summary?from=2026-04-01&to=2026-04-30"
EXPORT = "/v1/orgs/acme/export/badges.csv?from=2026-04-01&to=2026-04-30"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event(i: int) -> dict[str, str]:
    return {"event_id": f"f-{i}", "type": "award.issued",
            "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "org_id": "acme",
            "issuer_id": "eng", "badge_id": "py", "award_id": f"a-{i}", "method": "lms"}


@dataclass
class OwnRedis:
    """A redis-server this test may stop and start again on the same port, keeping its data
    in an append-only file as a production Redis would."""

    port: int = field(default_factory=free_port)
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="bp-own-redis-"))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.workdir,
             "--loglevel", "warning", *COMPACT_HASHES],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis shuts down as on SHUTDOWN
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    r = OwnRedis()
    r.start()
    try:
        yield r
    finally:
        r.stop()


def outage_log(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "badgepulse.api" and words in r.getMessage()]


async def test_while_redis_is_down_every_call_is_503_and_once_it_is_back_none_fails(
        infra: Embedded, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture) -> None:
    settings = isolated_settings(infra).model_copy(update={"redis_url": own_redis.url})
    admin = await make_key(settings, "acme", "org_admin")
    publisher = await make_key(settings, "acme", "publisher")
    caplog.set_level(logging.WARNING, logger="badgepulse.api")
    async for c in asgi_client(settings):
        # 50 at once: the pool now holds many connections, all dead after the restart
        before = await asyncio.gather(*[c.get(SUMMARY, headers=auth(admin)) for _ in range(50)])
        assert [r.status_code for r in before] == [200] * 50
        numbers = before[0].json()["metrics"]

        own_redis.stop()
        await asyncio.sleep(settings.auth_cache_ttl + 0.1)  # past the verified-key cache
        t0 = time.perf_counter()
        for _ in range(3):
            answers = [
                await c.get(SUMMARY, headers=auth(admin)),
                await c.get(EXPORT, headers=auth(admin)),
                await c.get("/v1/status", headers=auth(admin)),
                await c.get("/v1/me", headers=auth(admin)),
                await c.post("/v1/events", json=[event(1)], headers=auth(publisher)),
            ]
            for r in answers:
                assert r.status_code == 503, (r.request.url, r.text)
                assert int(r.headers["retry-after"]) == settings.retry_after
                assert r.json()["detail"].startswith("redis unavailable"), r.text
        per_call = (time.perf_counter() - t0) / 15
        print(f"a call while Redis is down answers 503 in {per_call * 1000:.0f} ms")
        assert per_call < 2.0  # bounded backoff, not a hang
        ready = await c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["redis"] is False
        assert ready.headers["retry-after"]
        # one line for the outage, not one per request
        assert len(outage_log(caplog, "unavailable")) == 1, caplog.text

        own_redis.start()  # same port, same data
        after = await asyncio.gather(*[c.get(SUMMARY, headers=auth(admin)) for _ in range(50)])
        assert [r.status_code for r in after] == [200] * 50, {r.text for r in after}
        assert all(r.json()["metrics"] == numbers for r in after)
        r = await c.post("/v1/events", json=[event(2)], headers=auth(publisher))
        assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
        assert (await c.get("/readyz")).status_code == 200
        deadline = time.monotonic() + 3
        while not outage_log(caplog, "reachable again") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(outage_log(caplog, "reachable again")) == 1, caplog.text
        assert len(outage_log(caplog, "unavailable")) == 1, caplog.text


async def test_a_hung_redis_is_a_503_after_the_socket_timeout_not_a_hang(
        infra: Embedded, own_redis: OwnRedis) -> None:
    settings = isolated_settings(infra).model_copy(
        update={"redis_url": own_redis.url, "redis_socket_timeout": 1.0, "auth_cache_ttl": 0})
    admin = await make_key(settings, "acme", "org_admin")
    assert own_redis.proc is not None
    async for c in asgi_client(settings):
        assert (await c.get(SUMMARY, headers=auth(admin))).status_code == 200
        own_redis.proc.send_signal(signal.SIGSTOP)  # alive, listening, answering nothing
        try:
            t0 = time.perf_counter()
            answers = await asyncio.gather(*[c.get(SUMMARY, headers=auth(admin))
                                             for _ in range(10)])
            waited = time.perf_counter() - t0
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        print(f"10 calls to a hung Redis: all answered in {waited:.2f} s")
        assert [r.status_code for r in answers] == [503] * 10, {r.text for r in answers}
        assert all(r.headers["retry-after"] == str(settings.retry_after) for r in answers)
        assert waited < 3 * settings.redis_socket_timeout + settings.redis_pool_timeout
        after = await asyncio.gather(*[c.get(SUMMARY, headers=auth(admin)) for _ in range(10)])
        assert [r.status_code for r in after] == [200] * 10


def limited(settings: Settings, rate: float, burst: int) -> Settings:
    return settings.model_copy(update={"key_rate": rate, "key_burst": burst})


async def test_a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not(
        infra: Embedded) -> None:
    rate, burst = 2.0, 5
    settings = limited(isolated_settings(infra), rate, burst)
    flood = await make_key(settings, "acme", "org_admin")
    calm = await make_key(settings, "acme", "org_admin")
    other_org = await make_key(settings, "globex", "org_admin")
    async for c in asgi_client(settings):
        t0 = time.monotonic()
        answers = [await c.get(SUMMARY, headers=auth(flood)) for _ in range(15)]
        elapsed = time.monotonic() - t0
        codes = [r.status_code for r in answers]
        print(f"15 requests in {elapsed:.2f} s: {codes.count(200)} answered, "
              f"{codes.count(429)} refused")
        # a full bucket answers the first `burst` at once; after that only what refilled
        assert codes[:burst] == [200] * burst
        assert set(codes) == {200, 429}
        assert codes.count(200) <= burst + rate * elapsed
        for r in answers:
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1
                assert "rate limit" in r.json()["detail"]
        # the same API process serves the other keys as if nothing happened
        for key, path in ((calm, SUMMARY), (other_org, SUMMARY.replace("acme", "globex"))):
            assert [(await c.get(path, headers=auth(key))).status_code
                    for _ in range(burst)] == [200] * burst
        # and the flooding key is served again after waiting as told
        refused = next(r for r in reversed(answers) if r.status_code == 429)
        await asyncio.sleep(int(refused.headers["retry-after"]))
        assert (await c.get(SUMMARY, headers=auth(flood))).status_code == 200
