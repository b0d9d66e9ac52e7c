"""Requests/s and latency of `badgepulse api` over HTTP for a dashboard's mix, while ingest
runs, with open /live streams timed from an event to its update.

    python bench/bench_http.py [--clients 50] [--rate 0] [--duration 30] [--workers 1,2]
                               [--ingest-rate 200] [--ingest-org other,read]
                               [--live-streams 200] [--cache on,off] [--awards 1000000]
                               [--stale-ms 0,250]

Starts its own Tansu broker and Redis, populates the same big org as bench_api.py (same
seed: 2,000 badges, 100 issuers, 1 M awards over 730 days), then a `badgepulse worker` and,
for each API configuration, `badgepulse api` as users run it (a subprocess; processes from
BADGEPULSE_API_WORKERS). Meanwhile:

* ingest: `badgepulse simulate --org bigorg --rate R` publishes realistic events for the
  dashboards' own org, so the worker commits into it (and bumps its data version, so every
  cached answer is computed again) all along; `--ingest-org other` publishes them for
  another tenant instead (the dashboards' numbers change only when their org's do); by
  default both are measured in turn;
* `--stale-ms`: the API's bounded staleness (BADGEPULSE_ANSWER_STALE_MS; 0 = every commit
  recomputes the answers before they are served again), each value measured in turn;
* `--clients` concurrent dashboard users (aiohttp, one key each), each looping over
  summary, channels, badges (first 50 rows) and the weekly time series, for the last 30,
  90 or 365 days (a third of the users each): as fast as answered (closed loop, the
  default: the API's most), or `--rate R` requests/s in all on a fixed schedule (open
  loop: latency at a given load, each request timed from when it was due);
* `--live-streams` open `GET /live` streams (on a small org of their own, keys of 20
  streams each: a key's limit per process), and every 3 s one award published to that org:
  the time from publishing it to each stream's summary showing it.

Writes bench/results/http.json (one entry per configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse.embedded import Embedded, free_port, wait_port  # noqa: E402
from bench.bench_api import ORG, populate  # noqa: E402
from core.kafka import ensure_topics  # noqa: E402
from core.keys import create_key  # noqa: E402
from core.settings import Settings  # noqa: E402
from schemas.layout import Layout  # noqa: E402
from tests.conftest import settings_env  # noqa: E402

LIVE_ORG = "liveorg"
OTHER_ORG = "otherorg"  # --ingest-org other: the events go to another tenant
MIX = ("summary", "channels", "badges", "timeseries?metric=badges_awarded&interval=week")
SPANS = (30, 90, 365)
MARKER_EVERY_S = 3.0
LOGS = ROOT / "bench" / "results"


def api_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of `badgepulse api` and its server processes so far."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def pct(ms: list[float], q: float) -> float:
    return round(ms[min(len(ms) - 1, int(len(ms) * q))], 1) if ms else float("nan")


class Live:
    """Open /live streams and the award markers published to their org."""

    def __init__(self) -> None:
        self.markers: list[float] = []  # publish time of marker k (k = 1, 2, ...)
        self.base: int | None = None  # badges_awarded before the first marker
        self.seen: list[list[float]] = []  # per marker: delay to each stream
        self.errors = 0
        self.opened = 0

    async def stream(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        shown = 0
        try:
            async with session.get(url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=aiohttp.ClientTimeout(total=None)) as r:
                if r.status != 200:
                    self.errors += 1
                    return
                self.opened += 1
                async for line in r.content:
                    if not line.startswith(b"data: "):
                        continue
                    n = orjson.loads(line[6:])["metrics"]["badges_awarded"]
                    now = time.perf_counter()
                    if self.base is None:
                        continue
                    while shown < len(self.markers) and n >= self.base + shown + 1:
                        self.seen[shown].append((now - self.markers[shown]) * 1000)
                        shown += 1
        except (TimeoutError, aiohttp.ClientError):
            self.errors += 1


def marker_event(k: int, run: str) -> dict[str, str]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"event_id": f"live-{run}-{k}", "type": "award.issued", "occurred_at": now,
            "org_id": LIVE_ORG, "issuer_id": "live-iss", "badge_id": "live-badge",
            "award_id": f"live-{run}-{k}", "method": "api"}


async def dashboard_user(session: aiohttp.ClientSession, base: str, token: str, span: int,
                         stop: asyncio.Event, samples: list[float], errors: dict[str, int],
                         rng: random.Random, interval: float = 0.0) -> None:
    """One dashboard user. interval 0: the next request as soon as the last is answered
    (closed loop); otherwise one request every `interval` seconds on a fixed schedule (open
    loop), each timed from when it was due, so a slow answer that delays the next ones
    counts in theirs too (no coordinated omission)."""
    h = {"Authorization": f"Bearer {token}"}
    today = datetime.now(UTC).date()
    period = f"from={(today - timedelta(days=span - 1)).isoformat()}&to={today.isoformat()}"
    urls = [f"{base}/v1/orgs/{ORG}/{p}{'&' if '?' in p else '?'}{period}" for p in MIX]
    due = time.perf_counter() + rng.random() * interval
    while not stop.is_set():
        url = rng.choice(urls)
        if interval:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            t = due
            due += interval
        else:
            t = time.perf_counter()
        try:
            async with session.get(url, headers=h) as r:
                await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError) as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            continue
        if status != 200:
            errors[str(status)] = errors.get(str(status), 0) + 1
        else:
            samples.append((time.perf_counter() - t) * 1000)


async def version(redis: Redis, layout: Layout) -> int:
    return int(await redis.hget(layout.org_stats(ORG), "version") or 0)


async def run_config(args: argparse.Namespace, settings: Settings, redis: Redis,
                     readers: list[str], live_keys: list[str], workers: int,
                     cache: bool, ingest_org: str, stale_ms: int,
                     api_env: str = "-", tree: str = "") -> dict[str, Any]:
    layout = Layout(settings.redis_prefix)
    port = free_port()
    env = settings_env(settings)
    extra = dict(kv.split("=", 1) for kv in api_env.split()) if api_env != "-" else {}
    env.update(extra)
    env["BADGEPULSE_API_WORKERS"] = str(workers)
    env["BADGEPULSE_ANSWER_CACHE_MB"] = "64" if cache else "0"
    env["BADGEPULSE_ANSWER_STALE_MS"] = str(stale_ms)
    # --trees: the API from another checkout (an A/B of two trees in one invocation, on
    # the same data, worker and broker); its modules come first on the path
    api_root = Path(tree).resolve() if tree else ROOT
    if tree:
        env["PYTHONPATH"] = str(api_root)
    name = (f"workers={workers} cache={'on' if cache else 'off'} "
            f"stale={stale_ms}ms ingest={args.ingest_rate:g}/s->{ingest_org}"
            + (f" env={api_env}" if extra else "") + (f" tree={tree}" if tree else ""))
    log = open(LOGS / "http-api.log", "ab")  # noqa: SIM115
    api = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "api", "--port", str(port)],
                           env=env, cwd=api_root, stdout=log, stderr=log)
    spy: subprocess.Popen[bytes] | None = None
    ingest: subprocess.Popen[bytes] | None = None
    try:
        wait_port(port, 60, api)
        base = f"http://127.0.0.1:{port}"
        run = uuid.uuid4().hex[:6]
        total_s = args.warmup + args.duration + 5
        if args.ingest_rate > 0:
            ingest = subprocess.Popen(
                [sys.executable, "-m", "badgepulse.cli", "simulate", "--org",
                 ORG if ingest_org == "read" else OTHER_ORG,
                 "--events", str(int(args.ingest_rate * total_s) + 1),
                 "--rate", str(args.ingest_rate), "--seed", str(random.randrange(1 << 30))],
                env=settings_env(settings), cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=log)
        live = Live()
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as live_session, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients),
                                      timeout=aiohttp.ClientTimeout(total=30)) as session:
            live_url = f"{base}/v1/orgs/{LIVE_ORG}/live"
            streams = [asyncio.create_task(live.stream(live_session, live_url,
                                                       live_keys[i // 20]))
                       for i in range(args.live_streams)]
            stop = asyncio.Event()
            samples: list[float] = []
            errors: dict[str, int] = {}
            rng = random.Random(9)
            users = [asyncio.create_task(dashboard_user(
                session, base, readers[i], SPANS[i % len(SPANS)], stop, samples, errors,
                random.Random(rng.random()),
                args.clients / args.rate if args.rate else 0.0)) for i in range(args.clients)]
            await asyncio.sleep(args.warmup)
            # the streams' first summaries are in: the count before the first marker
            # (again while the API answers 503: a Redis timeout on a busy machine)
            for _ in range(30):
                async with live_session.get(
                        f"{base}/v1/orgs/{LIVE_ORG}/summary",
                        headers={"Authorization": f"Bearer {live_keys[0]}"}) as r:
                    if r.status == 200:
                        live.base = (await r.json())["metrics"]["badges_awarded"]
                        break
                await asyncio.sleep(1)
            assert live.base is not None, "the live org's summary never answered"
            samples.clear()
            errors.clear()
            v0 = await version(redis, layout)
            if args.py_spy:
                # a sampling profile of the API process over the measured window
                prof = Path(args.py_spy) / f"api-{run}.txt"
                prof.parent.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(api.pid), "--format", "raw",
                     "--duration", str(int(args.duration)), "--rate", "200", "-o", str(prof)],
                    stdout=subprocess.DEVNULL, stderr=log)
            cpu0 = api_cpu_s(api.pid)
            t0 = time.perf_counter()
            producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
            await producer.start()
            try:
                k = 0
                while time.perf_counter() - t0 < args.duration:
                    if args.live_streams:
                        k += 1
                        ev = marker_event(k, run)
                        live.seen.append([])
                        live.markers.append(time.perf_counter())
                        await producer.send_and_wait(settings.topic, orjson.dumps(ev),
                                                     key=ev["award_id"].encode())
                    await asyncio.sleep(min(MARKER_EVERY_S,
                                            max(0.0, args.duration
                                                - (time.perf_counter() - t0))))
            finally:
                await producer.stop()
            elapsed = time.perf_counter() - t0
            done = len(samples)
            cpu = api_cpu_s(api.pid) - cpu0
            v1 = await version(redis, layout)
            stop.set()
            await asyncio.gather(*users)
            await asyncio.sleep(1.5)  # the last marker reaches the streams
            for t in streams:
                t.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
        ms = sorted(samples[:done])
        delays = sorted(d for per in live.seen for d in per)
        missed = sum(live.opened - len(per) for per in live.seen)
        result: dict[str, Any] = {
            "config": name, "api_workers": workers, "answer_cache": cache,
            "tree": tree or ".",
            "answer_stale_ms": stale_ms, "api_env": extra,
            "clients": args.clients, "offered_rate": args.rate or "closed loop",
            "duration_s": round(elapsed, 1),
            "requests": done, "requests_per_s": round(done / elapsed),
            "latency_ms": {"p50": pct(ms, 0.5), "p90": pct(ms, 0.9), "p99": pct(ms, 0.99),
                           "max": round(ms[-1], 1) if ms else None},
            "errors": errors,
            # what the API spent, whatever else loads the machine: CPU per request (the
            # live streams' share included) and the cores it kept busy
            "api_cpu_ms_per_request": round(cpu * 1000 / done, 3) if done else None,
            "api_cores_busy": round(cpu / elapsed, 2),
            "ingest_events_per_s": args.ingest_rate,
            "ingest_org": ORG if ingest_org == "read" else OTHER_ORG,
            "org_versions_per_s": round((v1 - v0) / elapsed, 1),
            # the machine is shared: its 1-minute load at the end of the run (2 cores)
            "load_average_1m": round(os.getloadavg()[0], 2),
            "live": {"streams_open": live.opened, "stream_errors": live.errors,
                     "markers": len(live.markers),
                     "event_to_stream_ms": {"p50": pct(delays, 0.5), "p99": pct(delays, 0.99),
                                            "max": round(delays[-1], 1) if delays else None},
                     "updates_missed": missed},
        }
        print(orjson.dumps(result).decode(), file=sys.stderr)
        return result
    finally:
        if spy is not None:
            spy.wait(60)
        if ingest is not None and ingest.poll() is None:
            ingest.terminate()
            ingest.wait(10)
        api.terminate()
        try:
            api.wait(20)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()
        log.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--badges", type=int, default=2000)
    ap.add_argument("--issuers", type=int, default=100)
    ap.add_argument("--awards", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="requests/s offered by all clients together, on a fixed schedule "
                         "(open loop, timed from when each was due); 0: closed loop")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--workers", default="1,2", help="API processes to measure, e.g. 1,2,3")
    ap.add_argument("--cache", default="on", help="answer cache: on, off or on,off")
    ap.add_argument("--ingest-rate", type=float, default=200.0, help="events/s published")
    ap.add_argument("--ingest-org", default="other,read",
                    help="publish for another tenant (other), for the dashboards' own org "
                         "(read: each commit changes what they read), or both in turn")
    ap.add_argument("--live-streams", type=int, default=200)
    ap.add_argument("--stale-ms", default="250",
                    help="BADGEPULSE_ANSWER_STALE_MS of the API, e.g. 0,250 for both in turn")
    ap.add_argument("--api-env", default="-",
                    help="variants of the API's environment, '|' between variants, each "
                         "'NAME=VALUE NAME=VALUE' or '-' (none), each measured in turn")
    ap.add_argument("--trees", default="",
                    help="checkouts whose API to measure, ',' between them, each in turn "
                         "('' or '.': this one), e.g. .,/tmp/wt-base for an A/B")
    ap.add_argument("--py-spy", default="",
                    help="a folder: record a py-spy profile (raw, for flamegraphs) of the "
                         "API over each measured window")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure every configuration this many times, in turn (A,B,A,B)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "http.json"))
    args = ap.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    emb = Embedded()
    worker: subprocess.Popen[bytes] | None = None
    try:
        emb.start_kafka()
        emb.start_redis()
        assert emb.redis_url and emb.kafka_bootstrap
        settings = Settings(kafka_bootstrap=emb.kafka_bootstrap, redis_url=emb.redis_url,
                            redis_prefix="bench", topic="bench-http", dlq_topic="bench-dlq",
                            consumer_group="bench-http", partitions=4,
                            # each synthetic user sends ~20-30 requests/s back to back, far
                            # above a person's dashboard: the per-key rate limit is lifted
                            # (api/limits.py; tests/api/test_faults.py tests it)
                            key_rate=1e6, key_burst=1_000_000)
        await ensure_topics(settings)
        # populate applies 30 days per script: seconds on a busy machine (redis-py times out
        # at 5 s by default)
        redis = Redis.from_url(emb.redis_url, socket_timeout=120)
        layout = Layout(settings.redis_prefix)
        t = time.perf_counter()
        await populate(redis, layout, args.badges, args.issuers, args.awards, args.days,
                       datetime.now(UTC).date())
        populate_s = time.perf_counter() - t
        readers = [(await create_key(redis, layout, ORG, "org_admin"))[1]
                   for _ in range(args.clients)]
        live_keys = [(await create_key(redis, layout, LIVE_ORG, "org_admin"))[1]
                     for _ in range((args.live_streams + 19) // 20 or 1)]
        wlog = open(LOGS / "http-worker.log", "ab")  # noqa: SIM115
        worker = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "worker"],
                                  env=settings_env(settings), cwd=ROOT, stdout=wlog,
                                  stderr=wlog)
        # the live org exists before the streams open (one award, applied)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        ev = marker_event(0, "seed")
        await producer.send_and_wait(settings.topic, orjson.dumps(ev),
                                     key=ev["award_id"].encode())
        await producer.stop()
        deadline = time.monotonic() + 90
        while not await redis.hget(Layout(settings.redis_prefix).org_stats(LIVE_ORG),
                                   "version"):
            assert time.monotonic() < deadline, "the worker did not apply the first event"
            await asyncio.sleep(0.2)
        configs = []
        for ingest_org in [o.strip() for o in args.ingest_org.split(",")]:
            assert ingest_org in ("read", "other"), ingest_org
            for cache in [c.strip() == "on" for c in args.cache.split(",")]:
                for workers in [int(w) for w in args.workers.split(",")]:
                    # staleness only matters with the cache on and the dashboards' org
                    # ingesting; elsewhere the first value stands for all
                    stales = [int(x) for x in args.stale_ms.split(",")]
                    for stale_ms in stales if cache and ingest_org == "read" else stales[:1]:
                        for api_env in [v.strip() for v in args.api_env.split("|")]:
                            for tree in args.trees.split(","):
                                tree = "" if tree.strip() in ("", ".") else tree.strip()
                                configs.append((workers, cache, ingest_org, stale_ms,
                                                api_env, tree))
        runs = []
        for _ in range(args.repeat):
            for workers, cache, ingest_org, stale_ms, api_env, tree in configs:
                runs.append(await run_config(args, settings, redis, readers, live_keys,
                                             workers, cache, ingest_org, stale_ms, api_env,
                                             tree))
        await redis.aclose()
        out = {
            "command": "python bench/bench_http.py " + " ".join(sys.argv[1:]),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(), "badges": args.badges, "awards": args.awards,
            "days": args.days, "populate_s": round(populate_s, 1),
            "mix": [m.split("?")[0] for m in MIX], "spans_days": SPANS,
            "runs": runs,
            "targets": {f"{r['config']} #{i}": {
                "requests_per_s >= 1000": r["requests_per_s"] >= 1000,
                "p99 <= 100 ms": r["latency_ms"]["p99"] <= 100,
                "0 errors": not r["errors"],
                "live within 1 s": bool(r["live"]["event_to_stream_ms"]["max"] is not None
                                        and r["live"]["event_to_stream_ms"]["max"] <= 1000
                                        and not r["live"]["updates_missed"]),
            } for i, r in enumerate(runs)},
        }
        text = orjson.dumps(out, option=orjson.OPT_INDENT_2).decode()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
        print(text)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        emb.stop()


if __name__ == "__main__":
    asyncio.run(main())
