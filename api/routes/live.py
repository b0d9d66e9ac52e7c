"""GET {S}/live: server-sent events, a fresh `summary` whenever its numbers change."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from api.deps import LayoutDep, ReaderDep, RedisDep, get_layout
from api.live_hub import LiveHub, Subscription
from api.models import ERROR_RESPONSES
from api.readers.answers import AnswerCache
from api.readers.caches import ReadCaches
from api.readers.scope import NotFound, ReadQuery
from api.readers.summary import read_summary
from api.routes.reads import SCOPES
from core.keys import ApiKey
from core.settings import Settings
from schemas.layout import Layout

router = APIRouter(prefix="/v1/orgs/{org_id}", tags=["live"], responses=ERROR_RESPONSES)

HEARTBEAT_S = 15.0
MIN_GAP_S = 0.25  # at most four summaries a second, however busy the stream
LIVE_DESCRIPTION = """`event: summary` with the summary's JSON as `data`, first at once, then
whenever its numbers change (at most four a second); `: comment` lines keep the connection
alive. The stream ends when the key is revoked (within a second). A key may hold
`BADGEPULSE_LIVE_STREAMS_PER_KEY` (default 20) streams per API process: more is a 429."""


async def cached_summary(request: Request, redis: Redis, layout: Layout, caller: ApiKey,
                         q: ReadQuery) -> dict[str, Any]:
    """The summary through the process's answer cache (api/readers/answers.py): the streams
    of one org and scope woken by the same commit compute it once. Exact (no bounded
    staleness): a stream woken by a commit must show it, there may be no later wake."""
    answers: AnswerCache = request.app.state.answers
    caches: ReadCaches = request.app.state.read_caches
    summary, _body = await answers.get(
        redis, layout, caller, q, "summary", (),
        lambda: read_summary(redis, layout, caller, q, caches=caches), max_stale=0)
    return summary


def numbers(summary: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in summary.items() if k != "as_of"})


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class LiveResponse(StreamingResponse):
    """The stream, and its place in the hub given back however the response ends
    (finished, revoked, the client gone, or never started)."""

    def __init__(self, body: AsyncIterator[bytes], hub: LiveHub, sub: Subscription) -> None:
        super().__init__(body, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.hub = hub
        self.sub = sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.hub.release(self.sub)


async def summaries(request: Request, sub: Subscription, caller: ApiKey, q: ReadQuery,
                    first: dict[str, Any]) -> AsyncIterator[bytes]:
    """`first`, then a fresh summary each time the hub says the org changed and the numbers
    differ. Holds no Redis connection while it waits."""
    settings: Settings = request.app.state.settings
    last = numbers(first)
    yield sse("summary", first)
    retry_in: float | None = None  # set after a failed read: read again then, unprompted
    while True:
        try:
            await asyncio.wait_for(sub.wake.wait(), retry_in or HEARTBEAT_S)
        except TimeoutError:
            if retry_in is None:
                yield b": keep-alive\n\n"
                continue
        if sub.closed is None:
            await asyncio.sleep(MIN_GAP_S)  # let a burst of batches land in one update
        if sub.closed is not None:
            yield b": " + sub.closed.encode() + b"\n\n"
            return
        sub.wake.clear()
        redis: Redis = request.app.state.redis
        try:
            # the serving generation now: a rebuild may have switched it since the stream
            # opened
            layout = await get_layout(request, redis)
            fresh = await cached_summary(request, redis, layout, caller, q)
        except NotFound:
            return
        except RedisError:
            # The stream stays open (a 503 cannot be sent any more) and reads again later;
            # the watcher in api/faults.py logs the outage.
            retry_in = float(settings.retry_after)
            yield b": redis unavailable, retrying\n\n"
            continue
        retry_in = None
        if numbers(fresh) != last:
            last = numbers(fresh)
            yield sse("summary", fresh)


def add_scope(kind: str) -> None:
    prefix, dep = SCOPES[kind]
    ScopedQ = Annotated[ReadQuery, Depends(dep)]  # noqa: N806 - a type alias

    @router.get(f"{prefix}/live", response_class=StreamingResponse,
                summary=f"Server-sent events: the summary whenever it changes ({kind})",
                description=LIVE_DESCRIPTION,
                responses={200: {"content": {"text/event-stream": {}},
                                 "description": "`event: summary` messages"}})
    async def read_live_route(request: Request, caller: ReaderDep, q: ScopedQ,
                              redis: RedisDep, layout: LayoutDep) -> StreamingResponse:
        hub: LiveHub = request.app.state.live_hub
        hub.admit(caller.key_id)  # the 429 before any read
        try:
            first = await cached_summary(request, redis, layout, caller, q)
        except NotFound as err:
            raise HTTPException(404, "not found") from err
        sub = hub.open(caller, q.org_id)  # no await between this and the response
        return LiveResponse(summaries(request, sub, caller, q, first), hub, sub)


for _kind in SCOPES:
    add_scope(_kind)
