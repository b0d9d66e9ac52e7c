"""POST /v1/events: validate, then write to the events topic before answering 202."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request

from api.deps import CallerDep, SettingsDep
from api.models import IngestOut
from api.producer import BrokerUnavailable
from api.responses import OrjsonResponse
from schemas.events import EventRejected, parse_event, partition_key

router = APIRouter(tags=["ingest"])


def split_body(body: bytes, content_type: str) -> list[Any]:
    """The events of a JSON array, a single JSON object, or NDJSON."""
    if "ndjson" in content_type or "jsonlines" in content_type:
        items: list[Any] = []
        for n, line in enumerate(body.splitlines(), 1):
            if line.strip():
                try:
                    items.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    items.append(_BadLine(n))
        return items
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise HTTPException(400, f"body: not valid JSON ({err})") from err
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise HTTPException(400, "body: expected an event object, an array of events, or NDJSON")


class _BadLine:
    def __init__(self, line: int) -> None:
        self.line = line


@router.post(
    "/v1/events", status_code=202, response_model=IngestOut,
    summary="Publish events (JSON array, single object, or NDJSON)",
    responses={413: {"description": "More than 10,000 events or 5 MiB"},
               503: {"description": "Broker unreachable; nothing accepted; see Retry-After"}},
)
async def publish_events(request: Request, caller: CallerDep, settings: SettingsDep) -> Any:
    if caller.role != "publisher":
        raise HTTPException(403, "only a publisher key may publish events")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.ingest_max_bytes:
        raise HTTPException(413, f"body over {settings.ingest_max_bytes} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.ingest_max_bytes:
            raise HTTPException(413, f"body over {settings.ingest_max_bytes} bytes")
    items = split_body(body, request.headers.get("content-type", ""))
    if len(items) > settings.ingest_max_events:
        raise HTTPException(413, f"more than {settings.ingest_max_events} events")
    now_us = time.time_ns() // 1000
    records: list[tuple[bytes, bytes]] = []
    rejected: list[dict[str, Any]] = []
    for i, obj in enumerate(items):
        event_id = obj.get("event_id") if isinstance(obj, dict) else None
        if isinstance(obj, _BadLine):
            rejected.append({"index": i, "event_id": None,
                             "reason": f"line {obj.line}: not valid JSON"})
            continue
        try:
            ev = parse_event(obj, now_us)
        except EventRejected as err:
            rejected.append({"index": i, "event_id": event_id if isinstance(event_id, str)
                             else None, "reason": err.reason})
            continue
        if ev.org_id != caller.org_id:
            rejected.append({"index": i, "event_id": ev.event_id,
                             "reason": "org_id: not the organization of this key"})
            continue
        records.append((partition_key(ev), orjson.dumps(obj)))
    if records:
        try:
            await request.app.state.publisher.publish(records)
        except BrokerUnavailable as err:
            return OrjsonResponse(
                {"detail": f"broker unavailable: {err}; nothing was accepted, retry later"},
                status_code=503, headers={"Retry-After": "5"})
    return {"accepted": len(records), "rejected": rejected}
