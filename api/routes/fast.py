"""Repeated reads without FastAPI's per-request dependency solving.

A dashboard polls the same few URLs (same path, same query string) over and over. For each
of them FastAPI solves the same dependency tree every time (the bearer scheme, the key,
the scope, five query parameters validated through pydantic, the read's own parameters):
under load that was most of what a cached answer cost the API process (profiled,
bench/README.md). What those dependencies parse out of a URL is a pure function of the
path, the query string and, for a period left open, today's date. So once a read has gone
through FastAPI, `respond` (api/routes/reads.py) remembers what the URL resolved to
(`ReadMemo`), and the next request for that URL is served here, in a pure ASGI
middleware, with the same steps minus the parsing:

* the caller's key, as `get_caller` verifies it: the same bearer header parsing (FastAPI's
  own helper), the same cache of verified keys (`KeyGuard.cached`, <= `auth_cache_ttl`,
  dropped at once by a revocation notice), else the key looked up in Redis and remembered;
  a key Redis does not know goes the full way, which answers its 401;
* the reader checks of `require_reader` (another org, a publisher): anything but a pass
  goes the full way, which answers its 404 / 403;
* the key's request rate (`KeyGuard.admit`), then the answer from the answer cache
  (`serve`: the stamp read, the staleness bound, a computation on a miss), exactly as
  the route does; an error on the way is answered by the app's own exception handlers
  (the same 429 / 404 / 503 bodies as the full way).

A URL that FastAPI rejects (422) never reaches `respond`, so it is never remembered, nor is
one longer than `MAX_URL_BYTES`; one whose period ends today (no `to`) is resolved again on
the next day, and remembered for that day; and while any dependency is overridden
(`app.dependency_overrides`) every request goes the full way and none is remembered.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.security.utils import get_authorization_scheme_param
from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams, State
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import today_utc
from api.limits import KeyGuard
from api.readers.answers import AnswerCache
from api.readers.caches import ReadCaches
from api.readers.scope import ReadQuery
from api.responses import JsonBytes
from core.generations import GenerationCache
from core.keys import ApiKey, hash_secret, lookup_digest
from core.settings import Settings
from schemas.layout import Layout

# What computes an answer for a caller: the route's reader over the query and parameters
# it was resolved with (it closes over those, never over the key).
Compute = Callable[[Redis, Layout, ReadCaches, ApiKey], Awaitable[dict[str, Any]]]
MEMO_SIZE = 4096  # distinct URLs remembered per process (a dashboard uses a few dozen)
# Longer URLs go the full way every time: uvicorn takes request lines up to ~64 KB and
# FastAPI ignores unknown parameters, so without a bound one key's one-off URLs could make
# the memo hold MEMO_SIZE x 64 KB (240 MB, measured: tests/api/test_fast_review.py); with
# it, a few MB. The dashboard's URLs (a period, one issuer, one badge, statuses, a limit) are
# a few hundred bytes at most with ids of a sane length.
MAX_URL_BYTES = 1024
# Set in the scope of a request that came while dependencies were overridden: what FastAPI
# resolves then is not remembered (it would outlive the override).
NOT_REMEMBERED = "badgepulse.not_remembered"


@dataclass(frozen=True, slots=True)
class Resolved:
    """What FastAPI made of one URL: the read, its query, its parameters' cache key, how to
    compute it, the route (for the metrics' label) and the day it was resolved on."""

    read: str
    q: ReadQuery
    params: tuple[Hashable, ...]
    compute: Compute
    route: Any
    day: date | None  # the day an open period ended on (None: the URL names its end)


class ReadMemo:
    """URL (path, raw query string) -> what it resolved to; one per app (app.state)."""

    def __init__(self, size: int = MEMO_SIZE, today: Callable[[], date] = today_utc) -> None:
        self.size = size
        self.today = today  # the day a URL's open period is resolved against
        self._urls: dict[tuple[str, bytes], Resolved] = {}
        self.served = 0  # requests served by `CachedReads`

    def remember(self, scope: Scope, read: str, q: ReadQuery, params: tuple[Hashable, ...],
                 compute: Compute) -> None:
        url = (scope["path"], scope.get("query_string", b""))
        if len(url[0]) + len(url[1]) > MAX_URL_BYTES or scope.get(NOT_REMEMBERED):
            return
        known = self._urls.get(url)
        if known is not None and known.day is None:
            return
        day: date | None = None
        if "to" not in QueryParams(url[1]):  # parsed as FastAPI parsed it
            # the period ends today (api/deps.py period_query): valid for today only, and
            # not kept at all if the day turned between its resolution and now
            day = self.today()
            if q.end != day or (known is not None and known.day == day):
                return
            # an entry of a day that is over is replaced by today's (below)
        if known is None and len(self._urls) >= self.size:
            self._urls.clear()  # many one-off URLs: start again rather than grow
        self._urls[url] = Resolved(read, q, params, compute, scope.get("route"), day)

    def get(self, scope: Scope) -> Resolved | None:
        found = self._urls.get((scope["path"], scope.get("query_string", b"")))
        if found is None or (found.day is not None and found.day != self.today()):
            return None
        return found


async def serve(state: State, read: str, caller: ApiKey, q: ReadQuery,
                params: tuple[Hashable, ...], compute: Compute) -> bytes:
    """The answer's JSON through the process's answer cache (api/readers/answers.py): it may
    lag its org's newest commit by `BADGEPULSE_ANSWER_STALE_MS`. Redis and the serving
    generation come from the app's state, not from dependencies."""
    redis: Redis = state.redis
    generation: GenerationCache = state.generation
    layout = await generation.get(redis)
    cache: AnswerCache = state.answers
    caches: ReadCaches = state.read_caches
    settings: Settings = state.settings
    _answer, body = await cache.get(redis, layout, caller, q, read, params,
                                    lambda: compute(redis, layout, caches, caller),
                                    max_stale=settings.answer_stale_ms / 1000)
    return body


def bearer_digest(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The digest of the bearer key, parsed as FastAPI's HTTPBearer does (the first
    Authorization header), or None where HTTPBearer would give no credentials."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            if scheme.lower() != "bearer" or not credentials:
                return None
            return hash_secret(credentials)
    return None


class CachedReads:
    """Pure ASGI middleware: a remembered read URL is served without FastAPI's routing and
    dependency solving (module doc); anything else goes on to the app."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        state = self.api.state
        memo: ReadMemo = state.read_memo
        # dependencies overridden (app.dependency_overrides, tests): always the full way,
        # and nothing it resolves remembered
        if self.api.dependency_overrides:
            scope[NOT_REMEMBERED] = True
            await self.app(scope, receive, send)
            return
        resolved = memo.get(scope)
        digest = bearer_digest(scope["headers"]) if resolved is not None else None
        if resolved is None or digest is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = resolved.route  # the metrics label the route's path, as before
        guard: KeyGuard = state.guard
        response: Response | None = None
        try:
            caller = guard.cached(digest)
            if caller is None:
                # verified as get_caller verifies it (Redis, then remembered for the TTL)
                caller = await lookup_digest(state.redis, state.layout, digest)
                if caller is not None:
                    guard.remember(digest, caller)
            # an unknown key, another org, a publisher: the full way answers 401/404/403
            if caller is not None and caller.org_id == resolved.q.org_id \
                    and caller.role != "publisher":
                memo.served += 1
                guard.admit(caller)
                body = await serve(state, resolved.read, caller, resolved.q, resolved.params,
                                   resolved.compute)
                response = JsonBytes(body)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            request = Request(scope, receive)
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
        if response is None:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Callable[..., Any] | None:
        """The app's handler for `exc`, found as Starlette's ExceptionMiddleware finds it
        (the nearest class in its MRO with one)."""
        handlers = self.api.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None
