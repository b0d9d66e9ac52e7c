"""Read latency of every analytics endpoint on a big org, in-process against a real Redis.

    python bench/bench_api.py [--badges 2000] [--issuers 100] [--awards 1000000] [--days 730]

The org's aggregates are written by the worker's own code path (Commit -> apply.lua) from
synthetic per-award outcomes (no Kafka: this measures reads). Each endpoint is timed for
periods of 30, 365 and 730 days; a Redis PING from the same process is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.auth import create_key  # noqa: E402
from api.main import create_app  # noqa: E402
from badgepulse.embedded import Embedded  # noqa: E402
from badgepulse.settings import Settings  # noqa: E402
from schemas.layout import Layout, pair  # noqa: E402
from schemas.metrics import tta_bucket_index  # noqa: E402
from streams.processor import Commit  # noqa: E402
from streams.sink import Sink  # noqa: E402

ORG = "bigorg"
METHODS = ["lms", "manual", "api", "bulk", "integration", "automation"]
CHANNELS = ["linkedin", "url", "email", "facebook", "embed"]
SOURCES = ["linkedin", "direct", "verification", "embed", "email"]


async def populate(redis: Redis, layout: Layout, badges: int, issuers: int, awards: int,
                   days: int, today: date) -> None:
    rng = random.Random(5)
    sink = Sink(redis, layout)
    await redis.hset(layout.epochs(), "bench:0", 1)
    start = today - timedelta(days=days - 1)
    per_day = awards // days
    weights = [1 / (i + 1) ** 0.8 for i in range(badges)]
    badge_ids = [f"badge-{i:04d}" for i in range(badges)]
    commit = Commit()
    for b, bid in enumerate(badge_ids):
        iss = f"issuer-{b % issuers:03d}"
        commit.sadd.add((layout.pairs(ORG), pair(iss, bid)))
        commit.hsets[(layout.badges(ORG), bid)] = orjson.dumps({
            "created": [0, "x"], "issuer_id": iss, "name": [0, "x", f"Badge {b}"],
            "skills": [0, "x", ["python"]], "visibility": [0, "x", "public"]})
        commit.count(ORG, iss, bid, start.isoformat(), "bc")
    for i in range(issuers):
        iss = f"issuer-{i:03d}"
        commit.hsets[(layout.issuers(ORG), iss)] = orjson.dumps({"name": [0, "x", iss]})
    await sink.apply(commit, "bench", 0, 1, -1, -1, None)
    t0 = time.perf_counter()
    for d in range(days):
        day = (start + timedelta(days=d)).isoformat()
        if d % 30 == 0:
            commit = Commit()
        for b in rng.choices(range(badges), weights, k=per_day):
            bid, iss = badge_ids[b], f"issuer-{b % issuers:03d}"
            status = rng.choices("padr", (20, 65, 10, 5))[0]
            c = commit.count
            c(ORG, iss, bid, day, f"aw.{status}")
            c(ORG, iss, bid, day, f"me.{rng.choice(METHODS)}.{status}")
            if status in "ar" or rng.random() < 0.1:
                c(ORG, iss, bid, day, f"ac.{status}")
                c(ORG, iss, bid, day, f"tt.{tta_bucket_index(rng.expovariate(1 / 30))}.{status}")
            if rng.random() < 0.3:
                c(ORG, iss, bid, day, f"pu.{status}")
            if status == "a" and rng.random() < 0.4:
                c(ORG, iss, bid, day, f"sh.{status}")
                for _ in range(rng.randint(1, 3)):
                    c(ORG, iss, bid, day, f"sc.{rng.choice(CHANNELS)}.a")
                for _ in range(rng.randint(0, 8)):
                    c(ORG, iss, bid, day, f"vs.{rng.choice(SOURCES)}.a")
        if d % 30 == 29 or d == days - 1:
            await sink.apply(commit, "bench", 0, 1, -1, -1, None)
            print(f"  populated {d + 1}/{days} days ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr)
    await redis.hset(layout.first_day(ORG), mapping={
        t: start.isoformat() for t in ("award.issued", "award.accepted", "award.shared",
                                       "award.viewed", "badge.created")})


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--badges", type=int, default=2000)
    ap.add_argument("--issuers", type=int, default=100)
    ap.add_argument("--awards", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "api.json"))
    args = ap.parse_args()
    emb = Embedded()
    try:
        emb.start_redis()
        assert emb.redis_url
        # one key times every endpoint back to back: lift its request rate limit (api/limits.py)
        settings = Settings(redis_url=emb.redis_url, redis_prefix="bench",
                            kafka_bootstrap="127.0.0.1:1", key_rate=1e6, key_burst=1_000_000)
        layout = Layout(settings.redis_prefix)
        redis = Redis.from_url(emb.redis_url)
        today = datetime.now(UTC).date()
        t = time.perf_counter()
        await populate(redis, layout, args.badges, args.issuers, args.awards, args.days, today)
        populate_s = time.perf_counter() - t
        _key, token = await create_key(redis, layout, ORG, "org_admin")
        app = create_app(settings)
        results: dict[str, dict[str, float]] = {}
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://bench") as client:
                h = {"Authorization": f"Bearer {token}"}
                pings = []
                for _ in range(args.repeat * 3):
                    t = time.perf_counter()
                    await redis.ping()
                    pings.append(time.perf_counter() - t)
                results["redis_ping"] = stats(pings)
                endpoints = {
                    "summary": "summary", "channels": "channels",
                    "badges (2000 rows)": "badges?limit=1000",
                    "top-badges": "top-badges",
                    "timeseries (week)": "timeseries?metric=badges_awarded&interval=week",
                    "issuer-activity": "issuer-activity",
                }
                for span in (30, 365, 730):
                    frm = (today - timedelta(days=span - 1)).isoformat()
                    for name, path in endpoints.items():
                        sep = "&" if "?" in path else "?"
                        url = f"/v1/orgs/{ORG}/{path}{sep}from={frm}&to={today.isoformat()}"
                        warm = await client.get(url, headers=h)  # not timed: steady state
                        assert warm.status_code == 200, warm.text[:300]
                        samples = []
                        for _ in range(args.repeat):
                            t = time.perf_counter()
                            r = await client.get(url, headers=h)
                            samples.append(time.perf_counter() - t)
                            assert r.status_code == 200, r.text[:300]
                        results[f"{name} {span}d"] = stats(samples)
        await redis.aclose()
        out = {"badges": args.badges, "issuers": args.issuers, "awards": args.awards,
               "days": args.days, "populate_s": round(populate_s, 1),
               "latency_ms": results,
               "p99_over_ping_p50": {k: round(v["p99"] / results["redis_ping"]["p50"], 1)
                                     for k, v in results.items()}}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        text = orjson.dumps(out, option=orjson.OPT_INDENT_2).decode()
        Path(args.out).write_text(text)
        print(text)
    finally:
        emb.stop()


def stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {"p50": round(statistics.median(ms), 2),
            "p99": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)}


if __name__ == "__main__":
    asyncio.run(main())
