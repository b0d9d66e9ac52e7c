"""A believable badge program for the demo (`up --demo`) and `simulate`.

A catalog where each issuer owns badges of its own field ("School of Data" awards "SQL
Fundamentals"), launched at different times over the period; awards arriving at a steady
daily rate shaped like a working week (busier in office hours, quieter at weekends), each
followed by what recipients do (accept, share, get views) hours or days later.

`Program.history()` is the period up to now, in time order. `Program.due(until)` continues
it in real time: the awards arriving until then, at the same rate for the time of day, and
the follow-ups of earlier awards that have come due. Nothing is ever stamped in the future,
and a live run never adds to a day that is over.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.settings import Settings

METHODS = (("lms", 40), ("manual", 25), ("api", 15), ("bulk", 10), ("integration", 6),
           ("automation", 4))
CHANNELS = (("linkedin", 45), ("linkedin_profile", 15), ("url", 12), ("email", 8),
            ("facebook", 6), ("x", 5), ("embed", 5), ("download", 4))
SOURCES = (("linkedin", 45), ("direct", 25), ("verification", 10), ("embed", 8), ("email", 6),
           ("search", 4), ("social", 2))
# who fetched a viewed badge (award.viewed's user_agent): people's browsers and apps, and the
# link-preview fetchers and crawlers that count as bot views (insights.md)
AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 20),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", 8),
    ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
     14),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", 5),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", 4),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4),
    ("Twitterbot/1.0", 2),
    ("", 13),  # none sent: a person's view
)

# issuer id, name, its badges (badge id, name, skills). Ids are readable; the dashboard
# shows the names.
CATALOG: tuple[tuple[str, str, tuple[tuple[str, str, tuple[str, ...]], ...]], ...] = (
    ("school-of-data", "School of Data", (
        ("sql-fundamentals", "SQL Fundamentals", ("sql", "databases")),
        ("python-for-analysts", "Python for Analysts", ("python", "data analysis")),
        ("data-visualization", "Data Visualization", ("visualization", "storytelling")),
        ("statistics-essentials", "Statistics Essentials", ("statistics", "data analysis")),
        ("machine-learning-foundations", "Machine Learning Foundations",
         ("machine learning", "python")),
    )),
    ("cloud-academy", "Cloud Academy", (
        ("cloud-practitioner", "Cloud Practitioner", ("cloud", "networking")),
        ("kubernetes-operator", "Kubernetes Operator", ("kubernetes", "containers")),
        ("serverless-developer", "Serverless Developer", ("serverless", "cloud")),
        ("cloud-security-specialist", "Cloud Security Specialist", ("security", "cloud")),
    )),
    ("safety-institute", "Safety Institute", (
        ("workplace-safety", "Workplace Safety", ("safety", "compliance")),
        ("first-aid-responder", "First Aid Responder", ("first aid", "safety")),
        ("fire-warden", "Fire Warden", ("fire safety", "emergency response")),
        ("forklift-operator", "Forklift Operator", ("forklift", "logistics")),
    )),
    ("leadership-center", "Leadership Center", (
        ("team-lead-essentials", "Team Lead Essentials", ("leadership", "feedback")),
        ("coaching-conversations", "Coaching Conversations", ("coaching", "communication")),
        ("project-management-basics", "Project Management Basics",
         ("project management", "planning")),
        ("inclusive-leadership", "Inclusive Leadership", ("leadership", "inclusion")),
    )),
    ("design-studio", "Design Studio", (
        ("ux-research", "UX Research", ("user research", "interviews")),
        ("accessible-design", "Accessible Design", ("accessibility", "design")),
        ("design-systems", "Design Systems", ("design", "components")),
    )),
)

# How busy each hour of the day (UTC) and each weekday (Monday first) is, relative to each
# other; normalised below so that a week holds 7 days' worth of awards.
HOURLY = (0.15, 0.1, 0.1, 0.1, 0.15, 0.25, 0.45, 0.8, 1.3, 1.7, 1.8, 1.7,
          1.4, 1.6, 1.7, 1.6, 1.4, 1.1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2)
WEEKDAY = (1.15, 1.2, 1.2, 1.15, 1.0, 0.35, 0.3)
_WEEK_MEAN = sum(WEEKDAY) / 7 * sum(HOURLY) / 24
_PEAK = max(HOURLY) * max(WEEKDAY) / _WEEK_MEAN

# Roughly how many events an award brings (itself, acceptance, shares, views): turns a
# number of events into an award rate.
EVENTS_PER_AWARD = 5.0


def intensity(t: datetime) -> float:
    """How busy time t is against the average (the week's mean is 1)."""
    return HOURLY[t.hour] * WEEKDAY[t.weekday()] / _WEEK_MEAN


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Record = tuple[bytes, bytes]


@dataclass(frozen=True)
class Badge:
    issuer_id: str
    badge_id: str
    name: str
    skills: tuple[str, ...]
    created: datetime
    popularity: float
    public: bool


@dataclass
class Program:
    """One org's badge program over `days` up to `now`, with `awards_per_day` on average."""

    org: str
    seed: int = 7
    days: int = 90
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    awards_per_day: float = 60.0
    rng: random.Random = field(init=False, repr=False)
    start: datetime = field(init=False)
    issuers: list[tuple[str, str, datetime]] = field(init=False, default_factory=list)
    badges: list[Badge] = field(init=False, default_factory=list)
    clock: datetime = field(init=False)  # everything up to here has been handed out
    _pending: list[tuple[datetime, int, str, dict[str, object]]] = field(
        init=False, default_factory=list, repr=False)
    _seq: int = field(init=False, default=0)
    _awards: int = field(init=False, default=0)
    _pushes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.agents = random.Random(f"agents-{self.seed}")
        self.start = self.now - timedelta(days=self.days)
        self.clock = self.start
        span = self.now - self.start
        for i, (iid, iname, badges) in enumerate(CATALOG):
            # The first issuers run from the start; the last ones launch during the period.
            opened = self.start + span * (0 if i < 3 else self.rng.uniform(0.25, 0.6))
            self.issuers.append((iid, iname, opened))
            for b, (bid, bname, skills) in enumerate(badges):
                # An issuer's first badge opens with it; later ones launch over the rest of
                # the period, so some are recent.
                created = opened if b == 0 else opened + (self.now - opened) * \
                    self.rng.uniform(0.05, 0.9)
                self.badges.append(Badge(iid, bid, bname, skills, created,
                                         popularity=self.rng.lognormvariate(0, 0.6),
                                         public=self.rng.random() < 0.8))

    # --- events -----------------------------------------------------------------------
    def _event(self, key: str, ev: dict[str, object]) -> Record:
        self._seq += 1
        ev["event_id"] = f"{self.org}-{self.seed}-{self._seq}"
        ev["org_id"] = self.org
        return key.encode(), orjson.dumps(ev)

    def catalog_events(self) -> list[tuple[datetime, str, dict[str, object]]]:
        out: list[tuple[datetime, str, dict[str, object]]] = []
        for iid, name, opened in self.issuers:
            out.append((opened, iid, {"type": "issuer.created", "occurred_at": _ts(opened),
                                      "issuer_id": iid, "name": name}))
        for b in self.badges:
            out.append((b.created, b.badge_id, {
                "type": "badge.created", "occurred_at": _ts(b.created),
                "issuer_id": b.issuer_id, "badge_id": b.badge_id, "name": b.name,
                "skills": list(b.skills), "visibility": "public" if b.public else "private"}))
        return out

    def award(self, t: datetime) -> list[tuple[datetime, str, dict[str, object]]]:
        """An award at time t of a badge open then, with what its recipient does after."""
        rng = self.rng
        open_now = [b for b in self.badges if b.created <= t]
        if not open_now:
            return []
        b = rng.choices(open_now, [x.popularity for x in open_now])[0]
        self._awards += 1
        aid = f"{self.org}-aw-{self.seed}-{self._awards}"
        out: list[tuple[datetime, str, dict[str, object]]] = [(t, aid, {
            "type": "award.issued", "occurred_at": _ts(t), "issuer_id": b.issuer_id,
            "badge_id": b.badge_id, "award_id": aid, "method": _pick(rng, METHODS),
            "visibility": "public" if rng.random() < 0.3 else "private"})]

        def then(at: datetime, ev: dict[str, object]) -> None:
            ev["occurred_at"] = _ts(at)
            ev["award_id"] = aid
            out.append((at, aid, ev))

        at = t
        if rng.random() < 0.72:
            at = at + timedelta(hours=rng.expovariate(1 / 30))
            then(at, {"type": "award.accepted"})
            if rng.random() < 0.15:
                then(at + timedelta(minutes=5),
                     {"type": "award.visibility_changed", "visibility": "public"})
            if rng.random() < 0.6:
                for _ in range(rng.randint(1, 3)):
                    at = at + timedelta(hours=rng.expovariate(1 / 12))
                    then(at, {"type": "award.shared", "channel": _pick(rng, CHANNELS)})
                for _ in range(int(rng.expovariate(1 / 6))):
                    view: dict[str, object] = {"type": "award.viewed",
                                               "source": _pick(rng, SOURCES)}
                    agent = _pick(self.agents, AGENTS)  # its own RNG: the rest stays as it was
                    if agent:
                        view["user_agent"] = agent
                    then(at + timedelta(hours=rng.expovariate(1 / 48)), view)
        elif rng.random() < 0.3:
            then(at + timedelta(hours=rng.expovariate(1 / 20)), {"type": "award.declined"})
        if rng.random() < 0.02:
            then(at + timedelta(days=1), {"type": "award.revoked", "reason": "issued in error"})
        return out

    def _award_times(self, since: datetime, until: datetime) -> Iterator[datetime]:
        """Award times in (since, until]: a Poisson process at awards_per_day, shaped by
        the hour and the weekday (thinning)."""
        peak = self.awards_per_day / 86400 * _PEAK  # awards a second at the busiest
        t = since
        while True:
            t = t + timedelta(seconds=self.rng.expovariate(peak))
            if t > until:
                return
            if self.rng.random() * _PEAK < intensity(t):
                yield t

    def _schedule(self, items: Iterable[tuple[datetime, str, dict[str, object]]]) -> None:
        for at, key, ev in items:
            # The counter keeps equal times in the order given (and dicts uncompared).
            self._pushes += 1
            heapq.heappush(self._pending, (at, self._pushes, key, ev))

    def _release(self, until: datetime) -> list[Record]:
        out = []
        while self._pending and self._pending[0][0] <= until:
            _at, _n, key, ev = heapq.heappop(self._pending)
            out.append(self._event(key, ev))
        return out

    def history(self, catalog: bool = True) -> list[Record]:
        """Everything up to now, in time order (follow-ups due later stay pending)."""
        if catalog:
            self._schedule(self.catalog_events())
        for t in self._award_times(self.start, self.now):
            self._schedule(self.award(t))
        self.clock = self.now
        return self._release(self.now)

    def due(self, until: datetime) -> list[Record]:
        """What happens after the history up to `until` (a live run calls this with the
        wall clock): new awards at the time of day's rate, follow-ups come due."""
        until = max(until, self.clock)
        for t in self._award_times(self.clock, until):
            self._schedule(self.award(t))
        self.clock = until
        return self._release(until)


def events(org: str, n: int, seed: int = 7, days: int = 90, now: datetime | None = None,
           catalog: bool = True) -> Iterator[Record]:
    """n (key, value) records for one org (fewer only for a tiny n): a program's catalog
    and its history over `days` up to now, in time order.

    The awards are drawn at a slightly higher rate, then whole awards are left out at
    random until n fits (the last one kept may lose its latest follow-ups), so the history
    keeps its shape whatever n is. With catalog=False the issuers and badges are assumed to
    exist already: only awards and what follows them are published."""
    now = now or datetime.now(UTC)
    # How many awards a window holds depends on the time of day it ends at (the rate follows
    # the hours): draw more until there are enough (at 23:48 UTC, 1.2x gave 293 of 300).
    boost = 1.2
    while True:
        per_day = max(n, 1) / EVENTS_PER_AWARD / days * boost
        program = Program(org, seed, days, now, awards_per_day=per_day)
        chosen = program.catalog_events() if catalog else []
        awards = [sorted((x for x in program.award(t) if x[0] <= now), key=lambda x: x[0])
                  for t in program._award_times(program.start, now)]
        if len(chosen) + sum(map(len, awards)) >= n or boost > 50:
            break
        boost *= 1.5
    random.Random(seed + 1).shuffle(awards)
    room = n - len(chosen)
    for group in awards:
        if room <= 0:
            break
        chosen += group[:room]
        room -= len(group[:room])
    chosen.sort(key=lambda x: x[0])
    for _at, key, ev in chosen[:n]:
        yield program._event(key, ev)


async def publish(settings: Settings, records: Iterable[tuple[bytes, bytes]], total: int,
                  rate: float | None, console: Console, progress: bool = True) -> int:
    """Send records to the topic, at most `rate` a second; a progress bar on console."""
    from core.kafka import ensure_topics, make_producer

    # Bounded: the admin client would wait for an absent broker forever.
    await asyncio.wait_for(ensure_topics(settings), 30)
    producer = make_producer(settings)
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


async def run_demo(settings: Settings, org: str, console: Console,
                   say: Callable[[str], None], history_events: int = 30_000,
                   tick: float = 2.0) -> None:
    """`up --demo`: publish a program's history, then keep it going in real time until
    cancelled. A failed publish (the broker restarting) is retried, not fatal."""
    from aiokafka.errors import KafkaError

    per_day = history_events / EVENTS_PER_AWARD / 90
    program = Program(org, seed=8, awards_per_day=per_day)
    backlog = program.history()
    while True:
        try:
            sent = await publish(settings, backlog, len(backlog), None, console, progress=False)
            break
        except (KafkaError, OSError, TimeoutError) as err:
            say(f"demo: publishing failed ({err!r}); retrying in 2 s")
            await asyncio.sleep(2)
    say(f"demo: published {sent} events over {program.days} days; new ones arrive as they "
        f"happen (about {math.ceil(program.awards_per_day)} awards a day), Ctrl-C to stop")
    backlog = []
    while True:
        await asyncio.sleep(tick)
        backlog += program.due(datetime.now(UTC))
        if not backlog:
            continue
        try:
            await publish(settings, backlog, len(backlog), None, console, progress=False)
            backlog = []
        except (KafkaError, OSError, TimeoutError) as err:
            say(f"demo: publishing failed ({err!r}); retrying")
