"""Where a worker's time goes, per phase, with the worker's own code and a real Redis.

    python bench/profile_worker.py [--events 100000] [--batch 2500]

Folds a realistic mix (badgepulse.demo) through PartitionBatch -> Sink.apply exactly as
streams/aggregator.py does, partition by partition, without Kafka, and prints microseconds per
event for each phase (wall clock), this process's CPU per event in all, plus Redis's own
command statistics for the Lua apply.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse import demo  # noqa: E402
from badgepulse.embedded import Embedded  # noqa: E402
from schemas.layout import Layout, tp_field  # noqa: E402
from streams.processor import PartitionBatch, Record  # noqa: E402
from streams.protocol import ApplyResult, Header, encode  # noqa: E402
from streams.sink import Sink  # noqa: E402

PARTITIONS = 8


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=2500)
    args = ap.parse_args()
    emb = Embedded()
    try:
        emb.start_redis()
        assert emb.redis_url
        r = Redis.from_url(emb.redis_url)
        layout = Layout("prof")
        sink = Sink(r, layout)
        parts: dict[int, list[bytes]] = collections.defaultdict(list)
        n = 0
        for org in range(max(1, args.events // 50_000)):
            for key, value in demo.events(f"org{org}", min(50_000, args.events - n), seed=org):
                parts[zlib.crc32(key) % PARTITIONS].append(value)
                n += 1
        await r.hset(layout.epochs(), mapping={f"t:{p}": 1 for p in range(PARTITIONS)})
        caches: dict[int, dict[Any, Any]] = {p: {} for p in range(PARTITIONS)}
        spent: collections.Counter[str] = collections.Counter()
        pos = dict.fromkeys(range(PARTITIONS), 0)
        busy = True
        cpu0 = time.process_time()
        while busy:
            busy = False
            for p in range(PARTITIONS):
                values = parts[p][pos[p]:pos[p] + args.batch]
                if not values:
                    continue
                busy = True
                recs = [Record(pos[p] + i, None, v) for i, v in enumerate(values)]
                t0 = time.perf_counter()
                batch = PartitionBatch(layout, recs, time.time_ns() // 1000, caches[p],
                                       layout.held_index("t", p), 8 * 86400)
                t1 = time.perf_counter()
                batch.load(await sink.fetch(batch.lookups(), layout.held_index("t", p)))
                t2 = time.perf_counter()
                commit = batch.fold()
                t3 = time.perf_counter()
                header = Header(tp_field("t", p), 1, pos[p], pos[p] + len(values),
                                None if pos[p] == 0 else pos[p])
                payload = encode(commit, layout, header)
                t4 = time.perf_counter()
                res = await sink.apply_script(keys=[], args=payload)
                assert ApplyResult(res.decode()) is ApplyResult.OK
                t5 = time.perf_counter()
                spent["decode + validate"] += t1 - t0
                spent["fetch state"] += t2 - t1
                spent["fold"] += t3 - t2
                spent["build commit"] += t4 - t3
                spent["apply (Redis Lua, round trip)"] += t5 - t4
                pos[p] += len(values)
        cpu = time.process_time() - cpu0
        stats = await r.info("commandstats")
        out = {
            "events": n, "batch": args.batch,
            "us_per_event": {k: round(v / n * 1e6, 1) for k, v in spent.items()},
            # this process's CPU (all phases, Redis's own time excluded): steadier than the
            # wall-clock phases on a busy machine
            "python_cpu_us_per_event": round(cpu / n * 1e6, 1),
            "redis_us_per_event": {
                k.removeprefix("cmdstat_"): round(v["usec"] / n, 2)
                for k, v in sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:6]},
        }
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        await r.aclose()
    finally:
        emb.stop()


if __name__ == "__main__":
    asyncio.run(main())
