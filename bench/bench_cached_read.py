"""CPU per cached read through the whole ASGI app (middleware, routing, key check, the
stamp read, the answer), in-process and without a network: what one API process spends on
a dashboard's poll that the answer cache answers.

    python bench/bench_cached_read.py [--requests 4000] [--tree PATH]

`--tree` runs another checkout's app (its modules first on the path) for an A/B; run the
trees in turn, several rounds each. A small org (50 badges, 5,000 awards over 60 days) is
enough: a cached read's cost does not depend on the data. Sequential requests, so every
request reads its own stamp (under concurrent load they share one, api/readers/answers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


async def main(args: argparse.Namespace) -> None:
    from redis.asyncio import Redis

    from api.main import create_app
    from badgepulse.embedded import Embedded
    from bench.bench_api import ORG, populate
    from core.keys import create_key
    from core.settings import Settings
    from schemas.layout import Layout

    emb = Embedded()
    emb.start_redis()
    try:
        assert emb.redis_url
        settings = Settings(redis_url=emb.redis_url, redis_prefix="cr",
                            kafka_bootstrap="127.0.0.1:1", key_rate=1e6, key_burst=1_000_000,
                            alerts_enabled=False)
        redis = Redis.from_url(emb.redis_url, socket_timeout=60)
        layout = Layout("cr")
        today = datetime.now(UTC).date()
        await populate(redis, layout, 50, 5, 5000, 60, today)
        token = (await create_key(redis, layout, ORG, "org_admin"))[1]
        app = create_app(settings)
        period = f"from={(today - timedelta(days=29)).isoformat()}&to={today.isoformat()}"
        urls = [(f"/v1/orgs/{ORG}/{read}", f"{extra}{period}".encode()) for read, extra in
                (("summary", ""), ("channels", ""), ("badges", ""),
                 ("timeseries", "metric=badges_awarded&interval=week&"))]
        headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]

        async def get(path: str, query: bytes) -> int:
            scope: dict[str, Any] = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                "root_path": "", "query_string": query, "headers": headers,
                "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
            sent: list[Any] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: Any) -> None:
                sent.append(message)

            await app(scope, receive, send)
            status: int = sent[0]["status"]
            return status

        async with app.router.lifespan_context(app):
            for path, query in urls * 50:  # computed once, then cached (and remembered)
                assert await get(path, query) == 200
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(args.requests):
                await get(*urls[i % len(urls)])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"tree={args.tree or '.'} cached reads: {1000 * cpu / args.requests:.3f} ms CPU "
              f"and {1000 * wall / args.requests:.3f} ms wall per request "
              f"(load {os.getloadavg()[0]:.2f})")
        await redis.aclose()
    finally:
        emb.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--tree", default="", help="another checkout's app (an A/B)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.tree).resolve() if args.tree else ROOT))
    asyncio.run(main(args))
