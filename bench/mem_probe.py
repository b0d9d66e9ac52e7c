"""bench_worker with a closer look at what Redis holds, and Redis settings to compare.

    python bench/mem_probe.py --awards 200000 --out /tmp/w.json [--probe /tmp/probe.json]
    MEM_REDIS_ARGS="--hash-max-listpack-entries 512" python bench/mem_probe.py ...

Runs bench/bench_worker.py unchanged, except that (1) the embedded Redis gets
badgepulse.embedded.COMPACT_HASHES plus MEM_REDIS_ARGS (space-separated redis-server
arguments, later ones win), and (2) after the run, besides bench_worker's MEMORY USAGE by key
kind, it writes to --probe: per key kind the encodings (OBJECT ENCODING), fields/members per
key and TTLs of a sample, and a sample of packed award states (hex) for offline study.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse import embedded  # noqa: E402

PROBE = "/tmp/mem_probe.json"


def _args() -> None:
    global PROBE
    if "--probe" in sys.argv:
        i = sys.argv.index("--probe")
        PROBE = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    extra = os.environ.get("MEM_REDIS_ARGS", "").split()
    embedded.COMPACT_HASHES = (*embedded.COMPACT_HASHES, *extra)  # type: ignore[assignment]


async def probe(r: Any, sample: int = 10**9) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = collections.defaultdict(
        lambda: {"keys": 0, "bytes": 0, "enc": collections.Counter(), "n": 0, "n_max": 0,
                 "ttl_s": [], "no_ttl": 0})
    states: list[str] = []
    names: collections.Counter[str] = collections.Counter()
    seen = 0
    async for key in r.scan_iter(count=1000):
        parts = key.decode().split(":")
        if len(parts) > 3 and parts[2].startswith("{"):
            del parts[2]
        kind = parts[2] if len(parts) > 2 else parts[-1]
        if kind == "c" and len(parts) > 3:
            kind = f"c:{parts[3]}"  # the counters by level: o, i, b
        k = kinds[kind]
        k["keys"] += 1
        k["bytes"] += int(await r.memory_usage(key, samples=0) or 0)
        enc = (await r.object("encoding", key)).decode()
        typ = (await r.type(key)).decode()
        k["enc"][f"{typ}/{enc}"] += 1
        n = 0
        if typ == "hash":
            n = await r.hlen(key)
            if kind.startswith("c:") and seen % 7 == 0:
                for f in await r.hkeys(key):
                    names[f.decode()] += 1
        elif typ == "set":
            n = await r.scard(key)
        elif typ == "list":
            n = await r.llen(key)
        elif typ == "zset":
            n = await r.zcard(key)
        k["n"] += n
        k["n_max"] = max(k["n_max"], n)
        ttl = await r.ttl(key)
        if ttl >= 0:
            k["ttl_s"].append(ttl)
        else:
            k["no_ttl"] += 1
        if kind == "as" and len(states) < 3000:
            for _f, v in (await r.hgetall(key)).items():
                states.append(v.hex())
        seen += 1
        if seen >= sample:
            break
    total = await r.dbsize()
    out: dict[str, Any] = {"dbsize": total, "sampled": seen, "kinds": {}}
    for kind, k in sorted(kinds.items(), key=lambda kv: -kv[1]["bytes"]):
        ttl = sorted(k.pop("ttl_s"))
        out["kinds"][kind] = {
            **k, "enc": dict(k["enc"]),
            "bytes_per_key": round(k["bytes"] / k["keys"]),
            "n_per_key": round(k["n"] / k["keys"], 1),
            "bytes_per_item": round(k["bytes"] / max(k["n"], 1), 1),
            "ttl_s_min_median_max": [ttl[0], ttl[len(ttl) // 2], ttl[-1]] if ttl else None,
        }
    out["states_hex"] = states
    out["counter_field_names"] = dict(names.most_common())
    return out


def main() -> None:
    _args()
    import bench.bench_worker as bw  # noqa: PLC0415

    original = bw.key_kinds

    async def key_kinds(r: Any, sample: int = 4000) -> dict[str, dict[str, int]]:
        result = await original(r, sample)
        Path(PROBE).write_bytes(orjson.dumps(await probe(r), option=orjson.OPT_INDENT_2))
        return result

    bw.key_kinds = key_kinds
    asyncio.run(bw.main())


if __name__ == "__main__":
    main()
