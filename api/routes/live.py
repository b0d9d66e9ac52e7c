"""GET {S}/live: server-sent events, a fresh `summary` whenever its numbers change."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis

from api.auth import ApiKey
from api.deps import LayoutDep, ReaderDep, RedisDep
from api.readers.scope import NotFound
from api.readers.scope import Query as ReadQuery
from api.readers.summary import read_summary
from api.routes.reads import SCOPES
from schemas.layout import Layout

router = APIRouter(prefix="/v1/orgs/{org_id}", tags=["live"])

HEARTBEAT_S = 15.0
MIN_GAP_S = 0.25  # at most four summaries a second, however busy the stream


def numbers(summary: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in summary.items() if k != "as_of"})


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def summaries(request: Request, redis: Redis, layout: Layout, caller: ApiKey,
                    q: ReadQuery, first: dict[str, Any]) -> AsyncIterator[bytes]:
    pubsub = redis.pubsub()
    await pubsub.subscribe(layout.changes_channel())
    try:
        last = numbers(first)
        yield sse("summary", first)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while not await request.is_disconnected():
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                if loop.time() - quiet_since > HEARTBEAT_S:
                    quiet_since = loop.time()
                    yield b": keep-alive\n\n"
                continue
            if msg.get("data") != q.org_id.encode():
                continue
            await asyncio.sleep(MIN_GAP_S)  # let a burst of batches land in one update
            while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0):
                pass
            try:
                fresh = await read_summary(redis, layout, caller, q)
            except NotFound:
                return
            if numbers(fresh) != last:
                last = numbers(fresh)
                quiet_since = loop.time()
                yield sse("summary", fresh)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py


def add_scope(kind: str) -> None:
    prefix, dep = SCOPES[kind]
    ScopedQ = Annotated[ReadQuery, Depends(dep)]  # noqa: N806 - a type alias

    @router.get(f"{prefix}/live", response_class=StreamingResponse,
                summary=f"Server-sent events: the summary whenever it changes ({kind})",
                responses={200: {"content": {"text/event-stream": {}},
                                 "description": "`event: summary` messages"}})
    async def read_live_route(request: Request, caller: ReaderDep, q: ScopedQ,
                              redis: RedisDep, layout: LayoutDep) -> StreamingResponse:
        try:
            first = await read_summary(redis, layout, caller, q)
        except NotFound as err:
            raise HTTPException(404, "not found") from err
        return StreamingResponse(
            summaries(request, redis, layout, caller, q, first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


for _kind in SCOPES:
    add_scope(_kind)
