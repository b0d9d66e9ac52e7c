"""Worker catch-up rate vs a bare aiokafka consumer, on one topic preloaded with a realistic mix.

    python bench/bench_worker.py [--events 200000] [--out bench/results/worker.json]

Starts its own Tansu broker and Redis. Both rates are measured in this one run, so the
ratio holds on a noisy machine even when the absolute numbers move.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse import demo  # noqa: E402
from badgepulse.embedded import Embedded  # noqa: E402
from badgepulse.settings import Settings  # noqa: E402
from schemas.layout import Layout  # noqa: E402
from tests.conftest import publish, settings_env  # noqa: E402


def records(n: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    org = 0
    while len(out) < n:
        out.extend(demo.events(f"org{org}", min(50_000, n - len(out)), seed=org))
        org += 1
    return out[:n]


async def bare_consumer(s: Settings, n: int) -> float:
    c = AIOKafkaConsumer(s.topic, bootstrap_servers=s.kafka_bootstrap,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         group_id=None, max_partition_fetch_bytes=4 * 1024 * 1024,
                         fetch_max_bytes=32 * 1024 * 1024)
    await c.start()
    got = 0
    start = None
    try:
        while got < n:
            data = await c.getmany(timeout_ms=100, max_records=s.batch_max)
            if start is None and data:
                start = time.perf_counter()
            for msgs in data.values():
                for m in msgs:
                    orjson.loads(m.value)
                got += sum(len(v) for v in data.values())
    finally:
        await c.stop()
    assert start is not None
    return n / (time.perf_counter() - start)


async def worker_rate(s: Settings, n: int) -> tuple[float, float]:
    """(events/s from the first applied batch to the last, seconds to first batch)."""
    r = Redis.from_url(s.redis_url)
    stats = Layout(s.redis_prefix).stats()
    t0 = time.perf_counter()
    log = open(ROOT / "bench" / "results" / "worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "worker"],
                            env=settings_env(s), cwd=ROOT, stdout=log, stderr=log)
    try:
        first_t = first_n = None
        while True:
            vals = await r.hmget(stats, ["applied", "rejected", "duplicates"])
            done = sum(int(v or 0) for v in vals)
            now = time.perf_counter()
            if done and first_t is None:
                first_t, first_n = now, done
            if done >= n:
                assert first_t is not None and first_n is not None
                return (done - first_n) / (now - first_t), first_t - t0
            if now - t0 > 600:
                raise TimeoutError(f"only {done} of {n} after 600 s")
            await asyncio.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()
        log.close()
        await r.aclose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "worker.json"))
    args = ap.parse_args()
    emb = Embedded()
    try:
        emb.start_kafka()
        emb.start_redis()
        tag = uuid.uuid4().hex[:6]
        s = Settings(kafka_bootstrap=emb.kafka_bootstrap, redis_url=emb.redis_url,
                     redis_prefix=f"b{tag}", topic=f"bench-{tag}", dlq_topic=f"bdlq-{tag}",
                     consumer_group=f"bg-{tag}", partitions=args.partitions)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        recs = records(args.events)
        mix = collections.Counter(orjson.loads(v)["type"] for _, v in recs)
        t = time.perf_counter()
        await publish(s, recs)
        produce_rate = len(recs) / (time.perf_counter() - t)
        bare = await bare_consumer(s, len(recs))
        rate, startup = await worker_rate(s, len(recs))
        result = {
            "events": len(recs), "partitions": args.partitions,
            "mix": dict(mix.most_common()),
            "producer_events_per_s": round(produce_rate),
            "bare_consumer_events_per_s": round(bare),
            "worker_events_per_s": round(rate),
            "worker_to_bare_ratio": round(rate / bare, 3),
            "worker_startup_s": round(startup, 2),
            "cpu_count": os.cpu_count(),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    finally:
        emb.stop()


if __name__ == "__main__":
    asyncio.run(main())
