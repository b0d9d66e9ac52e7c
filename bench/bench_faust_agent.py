"""Why the aggregator is not a Faust stream: a Faust agent that only counts, with
`stream.take`, against a bare aiokafka consumer on the same preloaded topic.

    python bench/bench_faust_agent.py [--events 100000]

Starts its own Tansu broker; runs the Faust worker in a subprocess of this script.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse import demo  # noqa: E402
from badgepulse.embedded import Embedded  # noqa: E402
from bench.bench_worker import bare_consumer  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.conftest import publish  # noqa: E402

AGENT = '''
import os, sys, time, faust, orjson
N = int(os.environ["N"])
app = faust.App(os.environ["APP"], broker="kafka://" + os.environ["BOOT"], web_enabled=False,
                broker_session_timeout=6, broker_rebalance_timeout=3,
                broker_heartbeat_interval=1, consumer_auto_offset_reset="earliest",
                stream_buffer_maxsize=65536, broker_max_poll_records=20000)
topic = app.topic(os.environ["TOPIC"], value_serializer="raw", key_serializer="raw")
seen = {"n": 0, "t0": None}

@app.agent(topic)
async def count(stream):
    async for batch in stream.take(5000, within=0.2):
        seen["t0"] = seen["t0"] or time.perf_counter()
        for value in batch:
            orjson.loads(value)
        seen["n"] += len(batch)
        if seen["n"] >= N:
            print(f"RATE={N / (time.perf_counter() - seen['t0'])}", flush=True)
            os._exit(0)

app.main()
'''


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    emb = Embedded()
    try:
        emb.start_kafka()
        assert emb.kafka_bootstrap
        tag = uuid.uuid4().hex[:6]
        s = Settings(kafka_bootstrap=emb.kafka_bootstrap, topic=f"faust-{tag}", partitions=8)
        recs = list(demo.events("org0", args.events))[:args.events]
        await publish(s, recs)
        bare = await bare_consumer(s, len(recs))
        env = {**os.environ, "N": str(len(recs)), "APP": f"faust-bench-{tag}",
               "BOOT": emb.kafka_bootstrap, "TOPIC": s.topic}
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", AGENT, "worker", "-l", "warn"], env=env,
                             capture_output=True, text=True, timeout=900, cwd="/tmp")
        lines = (out.stdout + out.stderr).splitlines()
        rate = next(float(line.split("RATE=")[1].split()[0]) for line in lines if "RATE=" in line)
        result = {"events": len(recs), "bare_consumer_events_per_s": round(bare),
                  "faust_take_agent_events_per_s": round(rate),
                  "ratio": round(rate / bare, 3), "wall_s": round(time.perf_counter() - t, 1)}
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    finally:
        emb.stop()


if __name__ == "__main__":
    asyncio.run(main())
