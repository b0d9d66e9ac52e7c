"""Realistic demo events: a few issuers and badges, awards, then acceptances, shares, views;
and publishing them to the topic (`simulate`, `up --demo`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from badgepulse.settings import Settings

METHODS = (("lms", 40), ("manual", 25), ("api", 15), ("bulk", 10), ("integration", 6),
           ("automation", 4))
CHANNELS = (("linkedin", 45), ("linkedin_profile", 15), ("url", 12), ("email", 8),
            ("facebook", 6), ("x", 5), ("embed", 5), ("download", 4))
SOURCES = (("linkedin", 45), ("direct", 25), ("verification", 10), ("embed", 8), ("email", 6),
           ("search", 4), ("social", 2))
SKILLS = ("python", "data", "leadership", "safety", "cloud", "design", "sql", "writing")


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events(org: str, n: int, seed: int = 7, days: int = 90, now: datetime | None = None,
           catalog: bool = True) -> Iterator[tuple[bytes, bytes]]:
    """About n (key, value) records for one org, in a plausible publish order.

    With catalog=False the issuers and badges are assumed to exist already (a stream that
    continues an earlier one): only awards and what follows them are published."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    start = now - timedelta(days=days)
    seq = 0

    def emit(key: str, ev: dict[str, object]) -> tuple[bytes, bytes]:
        nonlocal seq
        seq += 1
        ev["event_id"] = f"{org}-{seed}-{seq}"
        ev["org_id"] = org
        return key.encode(), orjson.dumps(ev)

    issuers = [f"{org}-iss-{i}" for i in range(4)]
    badges: list[tuple[str, str]] = []
    for i, iss in enumerate(issuers):
        if catalog:
            yield emit(iss, {"type": "issuer.created", "occurred_at": _ts(start),
                             "issuer_id": iss, "name": f"School of {SKILLS[i].title()}"})
        for b in range(5):
            bid = f"{iss}-b{b}"
            badges.append((iss, bid))
            if not catalog:
                continue
            yield emit(bid, {"type": "badge.created", "occurred_at": _ts(start),
                             "issuer_id": iss, "badge_id": bid,
                             "name": f"{SKILLS[(i + b) % len(SKILLS)].title()} {b + 1}",
                             "skills": rng.sample(SKILLS, 2),
                             "visibility": "public" if b % 4 else "private"})
    produced = len(issuers) * 6 if catalog else 0
    award = 0
    while produced < n:
        award += 1
        iss, bid = rng.choice(badges)
        aid = f"{org}-aw-{seed}-{award}"
        issued = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
        out: list[dict[str, object]]
        out = [{"type": "award.issued", "occurred_at": _ts(issued), "issuer_id": iss,
                "badge_id": bid, "award_id": aid, "method": _pick(rng, METHODS),
                "visibility": "public" if rng.random() < 0.3 else "private"}]
        t = issued
        if rng.random() < 0.72:
            t = t + timedelta(hours=rng.expovariate(1 / 30))
            out.append({"type": "award.accepted", "occurred_at": _ts(t), "award_id": aid})
            if rng.random() < 0.15:
                out.append({"type": "award.visibility_changed", "award_id": aid,
                            "occurred_at": _ts(t + timedelta(minutes=5)), "visibility": "public"})
            if rng.random() < 0.6:
                for _ in range(rng.randint(1, 4)):
                    t = t + timedelta(hours=rng.expovariate(1 / 12))
                    out.append({"type": "award.shared", "occurred_at": _ts(t), "award_id": aid,
                                "channel": _pick(rng, CHANNELS)})
                for _ in range(int(rng.expovariate(1 / 12))):
                    v = t + timedelta(hours=rng.expovariate(1 / 48))
                    out.append({"type": "award.viewed", "occurred_at": _ts(v), "award_id": aid,
                                "source": _pick(rng, SOURCES)})
        elif rng.random() < 0.3:
            out.append({"type": "award.declined", "award_id": aid,
                        "occurred_at": _ts(t + timedelta(hours=rng.expovariate(1 / 20)))})
        if rng.random() < 0.02:
            out.append({"type": "award.revoked", "award_id": aid, "reason": "issued in error",
                        "occurred_at": _ts(t + timedelta(days=1))})
        for ev in out:
            if datetime.fromisoformat(str(ev["occurred_at"])) > now:
                ev["occurred_at"] = _ts(now)
            yield emit(aid, ev)
        produced += len(out)


async def publish(settings: Settings, records: Iterable[tuple[bytes, bytes]], total: int,
                  rate: float | None, console: Console, progress: bool = True) -> int:
    """Send records to the topic, at most `rate` a second; a progress bar on console."""
    from aiokafka import AIOKafkaProducer

    from badgepulse.kafka import ensure_topics

    # Bounded: the admin client would wait for an absent broker forever.
    await asyncio.wait_for(ensure_topics(settings), 30)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    sent = 0
    try:
        with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console, disable=not progress) as bar:
            task = bar.add_task("events", total=total)
            start = time.monotonic()
            futs = []
            for key, value in records:
                futs.append(await producer.send(settings.topic, value, key=key))
                sent += 1
                if len(futs) >= 2000:
                    await asyncio.gather(*futs)
                    futs.clear()
                    bar.update(task, completed=sent)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0.05:
                        await asyncio.gather(*futs)
                        futs.clear()
                        bar.update(task, completed=sent)
                        await asyncio.sleep(ahead)
            await asyncio.gather(*futs)
            bar.update(task, completed=sent)
    finally:
        await producer.stop()
    return sent
