"""POST /v1/events: a verdict per event, and 202 only once the broker has acknowledged.

Every event is judged by `schemas.events.decode_event` on the very bytes that go to the
topic: an NDJSON line as it came, an element of a JSON array (or a single object) as orjson
encodes it. The worker decodes those same bytes with the same function, so whatever this
route accepts the worker accepts, and whatever the worker would reject is rejected here
with the same reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request

from api.deps import CallerDep, SettingsDep
from api.models import ERROR_RESPONSES, INGEST_BODY, ErrorOut, IngestOut
from api.producer import BrokerUnavailable, Failed
from api.responses import OrjsonResponse
from core.settings import Settings
from schemas.events import EventRejected, decode_event, encode_event, partition_key

router = APIRouter(tags=["ingest"])

RETRY_AFTER_S = 5


@dataclass(slots=True)
class Item:
    """One posted event: its raw NDJSON line, or its decoded JSON value."""

    line: int | None  # 1-based line of an NDJSON body
    raw: bytes | None = None
    value: object = None


async def read_body(request: Request, settings: Settings) -> bytes:
    """The body, or 413 as soon as it is known to be over the limit."""
    limit = settings.ingest_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def split_body(body: bytes, content_type: str) -> list[Item]:
    """The events of NDJSON (one per non-blank line), a JSON array, or a single object."""
    if "ndjson" in content_type or "jsonlines" in content_type:
        # JSON text cannot hold a raw line break, so splitting on them never cuts an event
        return [Item(n, raw=line.strip()) for n, line in enumerate(body.splitlines(), 1)
                if line.strip()]
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise HTTPException(400, f"body: not valid JSON ({err})") from err
    if isinstance(doc, list):
        return [Item(None, value=v) for v in doc]
    if isinstance(doc, dict):
        return [Item(None, value=doc)]
    raise HTTPException(400, "body: expected an event object, an array of events, or NDJSON")


def rejection(index: int, item: Item, reason: str, event_id: str | None = None,
              retryable: bool = False) -> dict[str, Any]:
    return {"index": index, "event_id": event_id, "reason": reason, "retryable": retryable,
            "line": item.line}


@router.post(
    "/v1/events", status_code=202, response_model=IngestOut,
    summary="Publish events (JSON array, single object, or NDJSON)",
    description="""Each event gets its own verdict: the 202 counts the accepted ones (every
index not listed under `rejected`) and lists the others with a reason naming the field or the
limit. An event is checked exactly as the worker checks what is on the topic (events.md), plus
against the key's org; over `BADGEPULSE_EVENT_MAX_BYTES` (default 921,600 bytes) it is
`too_large`, nested more than 32 levels `too_deep`. `retryable: true` marks an event the
broker did not acknowledge (it went away mid-request): send it again, a repeated `event_id`
is ignored. 202 only once the broker acknowledged every accepted event; 503 with `Retry-After`
when it acknowledged none because it is unreachable (send the batch again).""",
    openapi_extra={"requestBody": INGEST_BODY},
    responses={**ERROR_RESPONSES,
               400: {"model": ErrorOut,
                     "description": "The body is not JSON (or not an object or array)"},
               413: {"model": ErrorOut,
                     "description": "More than 10,000 events or 5 MiB"},
               503: {"model": ErrorOut,
                     "description": "Broker unreachable; no event acknowledged; see "
                                    "Retry-After"}},
)
async def publish_events(request: Request, caller: CallerDep, settings: SettingsDep) -> Any:
    if caller.role != "publisher":
        raise HTTPException(403, "only a publisher key may publish events")
    body = await read_body(request, settings)
    items = split_body(body, request.headers.get("content-type", ""))
    if len(items) > settings.ingest_max_events:
        raise HTTPException(413, f"more than {settings.ingest_max_events} events")
    now_us = time.time_ns() // 1000
    limits = settings.event_limits
    records: list[tuple[bytes, bytes]] = []
    record_of: list[tuple[int, str]] = []  # (index, event_id) of each record
    rejected: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            raw = item.raw if item.raw is not None else encode_event(item.value, limits)
            ev = decode_event(raw, now_us, limits)
        except EventRejected as err:
            rejected.append(rejection(i, item, err.reason, err.event_id))
            continue
        if ev.org_id != caller.org_id:
            rejected.append(rejection(i, item, "org_id: not the organization of this key",
                                      ev.event_id))
            continue
        records.append((partition_key(ev), raw))
        record_of.append((i, ev.event_id))
    if not records:
        return {"accepted": 0, "rejected": rejected}
    try:
        outcomes = await request.app.state.publisher.publish(records)
    except BrokerUnavailable as err:
        return unavailable(f"{err}; nothing was sent")
    failures: list[tuple[int, str, Failed]] = [
        (*record_of[n], o) for n, o in enumerate(outcomes) if o is not None]
    if len(failures) == len(records) and any(f.retryable for _i, _e, f in failures):
        return unavailable("it acknowledged no event of the batch")
    for i, event_id, failed in failures:
        rejected.append(rejection(i, items[i], failed.reason, event_id, failed.retryable))
    rejected.sort(key=lambda r: int(r["index"]))
    return {"accepted": len(records) - len(failures), "rejected": rejected}


def unavailable(why: str) -> OrjsonResponse:
    return OrjsonResponse(
        {"detail": f"broker unavailable: {why}. Send the batch again after Retry-After "
                   "(a repeated event_id is ignored)"},
        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
