"""The per-event Python a worker cannot do without, against what it spends (issue 8).

    python bench/floor_worker.py [--events 100000] [--batch 2500]

On the demo mix, split into 8 partitions and batches as the worker splits them, this process
times (CPU, `time.process_time`, best of 3 passes) each piece of per-event work that any
Python worker folding these events exactly must do at least once, and the worker's own phases
for comparison:

* `json_loads`: orjson.loads of each record (what bench_worker's bare consumer does besides
  aiokafka's own record parsing; that consumer's whole cost is ≈ 1.3 µs/event);
* `decode_validate`: schemas.fastevents.decode_events (decode + every rule + the Event);
* `dedup_digest`: the 64-bit digest of each event id and its dedup set key
  (streams.processor.dedup_member, the digest cache emptied first: every id is new);
* `counter_ops`: one dict increment per (key, field) the batch's commit writes, the 3 levels
  x 4 buckets roll-up included (counted from the real fold's Commit), i.e. the least dict
  work that produces those counters;
* `worker_fold` and `worker_encode`: PartitionBatch.lookups + load + fold, and
  protocol.encode, as the worker runs them (no Redis: a fresh state).

Prints one JSON object (and writes bench/results/worker_floor.json).
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from badgepulse import demo  # noqa: E402
from schemas.fastevents import decode_events  # noqa: E402
from schemas.layout import Layout, tp_field  # noqa: E402
from streams import state  # noqa: E402
from streams.processor import Fetched, PartitionBatch, Record, dedup_member  # noqa: E402
from streams.protocol import HEADER_SLOTS, Header, Op, decode, encode  # noqa: E402

PARTITIONS = 8
NOW_US = 2_000_000_000_000_000  # 2033: no demo event is in the future


def best_of(fn: Callable[[], Any], n: int, rounds: int = 3) -> float:
    """Best CPU µs per event of `fn` over `rounds` passes."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return round(best / n * 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=2500)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "worker_floor.json")
    args = ap.parse_args()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # as the worker runs (streams/aggregator.py)
    parts: dict[int, list[bytes]] = collections.defaultdict(list)
    n = 0
    for org in range(max(1, -(-args.events // 50_000))):
        for key, value in demo.events(f"org{org}", min(50_000, args.events - n), seed=org):
            parts[zlib.crc32(key) % PARTITIONS].append(value)
            n += 1
    batches = [(p, i, vals[i:i + args.batch]) for p, vals in sorted(parts.items())
               for i in range(0, len(vals), args.batch)]
    raws = [v for _p, _i, b in batches for v in b]
    layout = Layout("floor")

    def json_loads() -> None:
        for raw in raws:
            orjson.loads(raw)

    def decoded() -> list[Any]:
        return [decode_events(b, NOW_US) for _p, _i, b in batches]

    events = [ev for evs in decoded() for ev in evs]

    def digests() -> None:
        state.digest.cache_clear()
        for ev in events:
            dedup_member(layout, ev.org_id, ev.day, ev.event_id)

    def fold() -> list[Any]:
        commits = []
        caches: dict[int, dict[Any, Any]] = {p: {} for p in range(PARTITIONS)}
        for p, i, b in batches:
            recs = [Record(i + j, None, v) for j, v in enumerate(b)]
            batch = PartitionBatch(layout, recs, NOW_US, caches[p], layout.held_index("t", p),
                                   8 * 86400)
            batch.lookups()
            batch.load(Fetched())
            commits.append((p, i, len(b), batch.fold()))
        return commits

    commits = fold()
    payloads = [decode(encode(c, layout, Header(tp_field("t", p), 1, i, i + m, None))[0])
                for p, i, m, c in commits]
    # (key, field) writes per batch: each counter written by the PACKED and COUNTERS
    # sections (protocol.Op), which come first, in that order (after any CLAIM; LAYOUT
    # between them writes no counter)
    cells: list[list[tuple[str, str]]] = []
    for payload in payloads:
        out: list[tuple[str, str]] = []
        j = len(HEADER_SLOTS)
        if j < len(payload) and payload[j] == Op.CLAIM:
            j += 2 + 3 * int(payload[j + 1])
        while j < len(payload) and payload[j] in (Op.PACKED, Op.LAYOUT, Op.COUNTERS):
            if payload[j] == Op.LAYOUT:
                j += 2 + 2 * int(payload[j + 1])
                continue
            head = 3 if payload[j] == Op.PACKED else 2  # key (field) count, then pairs
            nkeys, at = int(payload[j + 1]), j + 2
            for _ in range(nkeys):
                key = "".join(payload[at:at + head - 1])  # the hash (and the entity's field)
                nf = int(payload[at + head - 1])
                out.extend((key, payload[at + head + 2 * f]) for f in range(nf))
                at += head + 2 * nf
            j = at
        cells.append(out)
    writes = sum(len(c) for c in cells)

    def counter_ops() -> None:
        for out in cells:
            acc: dict[str, dict[str, int]] = {}
            for key, f in out:
                tgt = acc.get(key)
                if tgt is None:
                    tgt = acc[key] = {}
                tgt[f] = tgt.get(f, 0) + 1

    def encoded() -> None:
        for p, i, m, c in commits:
            encode(c, layout, Header(tp_field("t", p), 1, i, i + m, None))

    result = {
        "events": n, "batch": args.batch,
        "counter_writes_per_event": round(writes / n, 2),
        "cpu_us_per_event": {
            "json_loads": best_of(json_loads, n),
            "decode_validate": best_of(decoded, n),
            "dedup_digest": best_of(digests, n),
            "counter_ops": best_of(counter_ops, n),
            "worker_decode_and_fold": best_of(fold, n),
            "worker_encode": best_of(encoded, n),
        },
    }
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
