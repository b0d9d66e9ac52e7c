"""GET {S}/live over a real uvicorn server: a published event reaches an open stream."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import orjson

from tests.conftest import api_server, caught_up, make_key, publish


def award(i: int, issuer: str = "eng") -> tuple[bytes, bytes]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ev = {"event_id": f"live-{i}", "type": "award.issued", "occurred_at": now, "org_id": "acme",
          "issuer_id": issuer, "badge_id": f"{issuer}-b", "award_id": f"aw-{i}",
          "method": "api"}
    return ev["award_id"].encode(), orjson.dumps(ev)


async def next_summary(lines, timeout: float) -> dict:
    async def read() -> dict:
        event = None
        async for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "summary":
                return orjson.loads(line[6:])
        raise AssertionError("stream ended")
    return await asyncio.wait_for(read(), timeout)


async def test_an_open_live_stream_sees_a_new_award_within_seconds(settings, workers):
    workers.start()
    await publish(settings, [award(0), award(1, "ops")])
    await caught_up(settings)
    with api_server(settings) as url:
        admin = await make_key(settings, "acme", "org_admin")
        eng = await make_key(settings, "acme", "issuer", ("eng",))
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            r = await c.get("/v1/orgs/acme/issuers/ops/live",
                            headers={"Authorization": f"Bearer {eng}"})
            assert r.status_code == 404
            async with c.stream("GET", "/v1/orgs/acme/live",
                                headers={"Authorization": f"Bearer {admin}"}) as resp:
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                lines = resp.aiter_lines()
                first = await next_summary(lines, 10)
                assert first["kpis"]["badges_awarded"]["value"] == 2
                t0 = time.perf_counter()
                await publish(settings, [award(2)])
                second = await next_summary(lines, 10)
                latency = time.perf_counter() - t0
                assert second["kpis"]["badges_awarded"]["value"] == 3
                print(f"publish-to-live latency: {latency:.3f} s")
                assert latency < 5
