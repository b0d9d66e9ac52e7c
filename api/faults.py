"""How the API rides out Redis trouble.

* The pool: a dead pooled connection (Redis restarted) or a refused connect is retried with
  bounded, jittered exponential backoff (redis-py's own Retry), which reconnects it; an idle
  connection is PINGed before use; a reply has a deadline. So a restart of Redis costs no
  request a 5xx once Redis answers again.
* While Redis is unavailable every request that needs it answers 503 with `Retry-After` and a
  detail naming Redis, never 500 (`install`).
* A change of state (down -> up -> down) is logged once, not once per request (`Health`); a
  watcher PINGs Redis while it is down, so the recovery is logged when it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    MaxConnectionsError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.responses import OrjsonResponse
from core.redisclient import connect_pooled
from core.settings import Settings

log = logging.getLogger("badgepulse.api")

REDIS = "redis"
KAFKA = "kafka"
# Redis answers these while it cannot serve (no memory, a replica, failing over): the same
# for a client as an unreachable Redis.
_UNSERVICEABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError, ReadOnlyError)
WATCH_INTERVAL_S = 0.5


def make_redis(settings: Settings) -> Redis:
    """The API's Redis client: one bounded pool that waits (not fails) when every connection
    is busy, and replaces dead connections transparently."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.02, cap=settings.redis_backoff_cap),
                  settings.redis_retries,
                  # Only connection errors: asking a slow Redis again would multiply the wait.
                  supported_errors=(RedisConnectionError,))
    return connect_pooled(
        settings,
        settings.redis_max_connections,
        settings.redis_pool_timeout,
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_connect_timeout,
        health_check_interval=settings.redis_health_check_interval,
        retry=retry,
        retry_on_error=[RedisConnectionError],
        # names this deployment's connections in CLIENT LIST
        client_name=f"badgepulse-api:{settings.redis_prefix}",
    )


def pool_exhausted(err: BaseException) -> bool:
    """Every pooled connection stayed busy for redis_pool_timeout: the API is overloaded,
    Redis itself may be fine."""
    return isinstance(err, MaxConnectionsError) or (
        isinstance(err, RedisConnectionError) and isinstance(err.__cause__, TimeoutError))


def why(err: BaseException) -> str:
    return str(err) or type(err).__name__


@dataclass
class Health:
    """Which dependencies this process last found unavailable, and since when."""

    down_since: dict[str, float] = field(default_factory=dict)

    def down(self, dep: str, reason: str) -> None:
        if dep not in self.down_since:
            self.down_since[dep] = time.monotonic()
            log.warning("%s unavailable (%s): answering 503 until it is back", dep, reason)

    def up(self, dep: str) -> None:
        since = self.down_since.pop(dep, None)
        if since is not None:
            log.warning("%s reachable again after %.1f s", dep, time.monotonic() - since)

    def is_down(self, dep: str) -> bool:
        return dep in self.down_since


def unavailable(dep: str, detail: str, retry_after: int) -> OrjsonResponse:
    return OrjsonResponse({"detail": f"{dep} unavailable: {detail}"}, status_code=503,
                          headers={"Retry-After": str(retry_after)})


def install(app: FastAPI) -> None:
    """Answer any Redis failure that reaches a route with 503 + Retry-After, never 500."""

    @app.exception_handler(RedisError)
    async def redis_failed(request: Request, exc: RedisError) -> OrjsonResponse:
        settings: Settings = request.app.state.settings
        health: Health = request.app.state.health
        if pool_exhausted(exc):
            return unavailable(REDIS, "every connection of this API process is busy",
                               settings.retry_after)
        if isinstance(exc, _UNSERVICEABLE):
            health.down(REDIS, why(exc))
            return unavailable(REDIS, why(exc), settings.retry_after)
        # Redis refused a command for another reason (a bug of ours, most likely): keep the
        # trace in the log, and still answer what the client can act on.
        log.error("redis refused a command on %s", request.url.path, exc_info=exc)
        return unavailable(REDIS, f"the command was refused ({why(exc)})",
                           settings.retry_after)


async def watch_redis(redis: Redis, health: Health, timeout: float) -> None:
    """While Redis is marked down, PING it every WATCH_INTERVAL_S and mark it up (logged)
    as soon as it answers. Runs for the app's lifetime."""
    while True:
        await asyncio.sleep(WATCH_INTERVAL_S)
        if not health.is_down(REDIS):
            continue
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            if await asyncio.wait_for(redis.ping(), timeout):
                health.up(REDIS)
