"""Micro-benchmark of schemas.events.decode_event (orjson decode + validation).

Times decode_event over 200,000 typical events (mostly award.viewed / award.shared, some
award.issued / accepted and a few badge events) and prints one JSON object to stdout. No
assertions.

Two timestamp profiles: "live" spreads the events over one hour (many events share a
whole-second occurred_at, 20% carry a fraction), "replay" spreads them over 100 days (almost
every occurred_at string is distinct, so its cache rarely helps). Also times parse_event alone
on the award.viewed dicts of the live profile.

    .venv/bin/python bench/bench_parse.py [N]
"""

from __future__ import annotations

import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.events import decode_event, parse_event  # noqa: E402

SOURCES = ["linkedin", "direct", "embed", "email", "search", "social", "verification", "other"]
CHANNELS = ["linkedin", "linkedin_profile", "facebook", "x", "email", "url", "embed", "wallet"]
METHODS = ["manual", "bulk", "lms", "api", "integration", "automation"]


def make_events(n: int, span_s: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[bytes] = []
    for i in range(n):
        t = start + timedelta(seconds=rng.randrange(0, span_s))
        r = rng.random()
        if r < 0.1:
            t = t.replace(microsecond=rng.randrange(1, 1000) * 1000)
        elif r < 0.2:
            t = t.replace(microsecond=rng.randrange(1, 1_000_000))
        occurred_at = t.isoformat().replace("+00:00", "Z")
        org = f"org-{rng.randrange(20)}"
        award = f"aw-{rng.randrange(50_000):06d}"
        obj: dict[str, object] = {
            "event_id": f"ev-{i:09d}",
            "occurred_at": occurred_at,
            "org_id": org,
        }
        r = rng.random()
        if r < 0.55:
            obj.update(type="award.viewed", award_id=award, source=rng.choice(SOURCES))
        elif r < 0.75:
            obj.update(type="award.shared", award_id=award, channel=rng.choice(CHANNELS))
        elif r < 0.85:
            obj.update(type="award.accepted", award_id=award)
        elif r < 0.97:
            obj.update(
                type="award.issued",
                issuer_id=f"iss-{rng.randrange(50)}",
                badge_id=f"badge-{rng.randrange(500):04d}",
                award_id=award,
                method=rng.choice(METHODS),
                visibility=rng.choice(["public", "private"]),
            )
        else:
            obj.update(
                type="badge.created",
                issuer_id=f"iss-{rng.randrange(50)}",
                badge_id=f"badge-{rng.randrange(500):04d}",
                name="Python Fundamentals",
                skills=["python", "testing"],
            )
        out.append(orjson.dumps(obj))
    return out


def time_decode(raws: list[bytes], now_us: int) -> float:
    """Best of 3 wall-clock seconds of decode_event over `raws`."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for raw in raws:
            decode_event(raw, now_us)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    now_us = int(time.time() * 1_000_000)
    live = make_events(n, span_s=3600)
    replay = make_events(n, span_s=100 * 86400, seed=8)
    viewed = [o for o in map(orjson.loads, live) if o["type"] == "award.viewed"]

    for raw in live[:1000]:  # warm-up
        decode_event(raw, now_us)

    live_s = time_decode(live, now_us)
    replay_s = time_decode(replay, now_us)
    parse_s = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for obj in viewed:
            parse_event(obj, now_us)
        parse_s = min(parse_s, time.perf_counter() - t0)

    result = {
        "events": n,
        "events_per_s": round(n / live_s),
        "decode_event_us": round(live_s / n * 1e6, 3),
        "replay_events_per_s": round(n / replay_s),
        "replay_decode_event_us": round(replay_s / n * 1e6, 3),
        "parse_event_award_viewed_per_s": round(len(viewed) / parse_s),
        "parse_event_award_viewed_us": round(parse_s / len(viewed) * 1e6, 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
