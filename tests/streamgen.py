"""Random, realistic, deliberately messy event streams for the oracle tests.

``generate`` returns ``(key, value)`` pairs in publish order.  Deterministic for a seed.

What a stream holds, per org: a few issuers, badges (some updated), awards with methods
weighted toward lms/manual/api (bulk awards come in batches sharing one instant), and per
award accepts, declines, revokes, shares, views and visibility changes.  Some orgs start
tracking views or acceptances later than awarding (coverage).  Award and badge ids repeat
across orgs, and so do event ids (both are per org).

Mixed in: exact duplicate payloads re-sent later, invalid payloads of many kinds, follow-ups
published before their ``award.issued``, late events published at the very end, orphan
follow-ups whose award never exists, second ``award.issued`` events for an existing award and
follow-ups carrying a mismatching ``badge_id`` / ``issuer_id``.

Duplicates are drawn from the normal events, the orphans and the invalid events with a fresh
``event_id`` (never from the deliberately semantically rejected events, whose re-sends the
spec leaves open).  Some invalid events borrow the ``event_id`` of a valid event published
*later* (a rejected event does not reserve its id).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

METHODS = [
    ("lms", 30),
    ("manual", 25),
    ("api", 20),
    ("bulk", 2),  # bulk awards come in batches of 3-10
    ("integration", 7),
    ("automation", 6),
    ("other", 4),
]
CUSTOM_METHODS = ["sso_import", "hr_sync"]
CHANNELS = [
    ("linkedin", 40),
    ("linkedin_profile", 8),
    ("facebook", 8),
    ("x", 8),
    ("email", 10),
    ("url", 8),
    ("embed", 4),
    ("download", 6),
    ("wallet", 4),
    ("other", 4),
]
# Views' user agents: link-preview fetchers and crawlers, and people's browsers and apps.
BOT_AGENTS = [
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Twitterbot/1.0",
]
HUMAN_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
]
SOURCES = [
    ("linkedin", 35),
    ("direct", 30),
    ("embed", 8),
    ("email", 8),
    ("search", 8),
    ("social", 6),
    ("verification", 3),
    ("other", 2),
]
OFFSETS_MIN = [(0, 50), (120, 25), (-300, 25)]  # Z, +02:00, -05:00
SKILLS = [
    "python",
    "sql",
    "leadership",
    "cloud",
    "security",
    "data-analysis",
    "communication",
    "kafka",
    "first aid",
    "gestión de proyectos",
]
BADGE_WORDS = ["Intro", "Advanced", "Certified", "Café", "Practitioner", "Expert", "Ünïcode"]

FOLLOW_TYPES = (
    "award.accepted",
    "award.declined",
    "award.revoked",
    "award.shared",
    "award.viewed",
    "award.visibility_changed",
)


@dataclass
class Rec:
    """One event to publish."""

    org: str
    key: str
    payload: dict[str, Any] | None  # None: ``raw`` is used as is
    t: datetime | None = None  # occurred_at (UTC), for ordering
    raw: bytes | None = None
    award_id: str | None = None
    order: float = 0.0  # final publish-order key
    dup_ok: bool = True  # may be re-sent as an exact duplicate
    encoded: bytes = b""

    @property
    def type(self) -> str | None:
        return None if self.payload is None else self.payload.get("type")

    def encode(self, rng: random.Random) -> bytes:
        if not self.encoded:
            if self.raw is not None:
                self.encoded = self.raw
            elif rng.random() < 0.1:
                self.encoded = json.dumps(self.payload, ensure_ascii=False).encode()
            else:
                self.encoded = json.dumps(
                    self.payload, separators=(",", ":"), ensure_ascii=False
                ).encode()
        assert isinstance(self.encoded, bytes)
        return self.encoded


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    keys = [k for k, _ in items]
    weights = [w for _, w in items]
    return rng.choices(keys, weights=weights, k=1)[0]


def fmt_time(rng: random.Random, t: datetime) -> str:
    """RFC 3339 with one of a few offsets; same instant as ``t``."""
    off = int(_weighted(rng, [(str(o), w) for o, w in OFFSETS_MIN]))
    local = (t + timedelta(minutes=off)).replace(tzinfo=None)
    s = local.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        if t.microsecond % 1000 == 0:
            s += f".{t.microsecond // 1000:03d}"
        else:
            s += f".{t.microsecond:06d}"
    if off == 0:
        return s + "Z"
    sign = "+" if off > 0 else "-"
    hh, mm = divmod(abs(off), 60)
    return f"{s}{sign}{hh:02d}:{mm:02d}"


def _delay_hours(rng: random.Random) -> float:
    """Heavy-tailed delay: median ~12 h, from minutes to months."""
    return min(3000.0, math.exp(rng.gauss(2.5, 2.0)))


@dataclass
class _OrgGen:
    rng: random.Random
    org: str
    now: datetime
    days: int
    counter: int = 0
    award_counter: int = 0
    recs: list[Rec] = field(default_factory=list)
    issuers: list[str] = field(default_factory=list)
    badges: list[tuple[str, str, datetime]] = field(default_factory=list)  # id, issuer, created
    award_info: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    ua_rng: random.Random | None = None

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=self.days)

    @property
    def limit(self) -> datetime:
        return self.now + timedelta(hours=1)

    def user_agent(self) -> dict[str, str]:
        """Most views carry a user agent (a browser, or a crawler / link-preview fetcher);
        from an RNG of their own, so the rest of the stream is the same as without them."""
        if self.ua_rng is None:
            self.ua_rng = random.Random(f"ua-{self.org}")
        r = self.ua_rng.random()
        if r < 0.3:
            return {}
        if r < 0.55:
            return {"user_agent": self.ua_rng.choice(BOT_AGENTS)}
        return {"user_agent": self.ua_rng.choice(HUMAN_AGENTS)}

    def eid(self) -> str:
        self.counter += 1
        return f"ev-{self.counter:07d}"

    def when(self, t: datetime) -> datetime:
        """Random sub-second part for some events (others whole seconds)."""
        t = t.replace(microsecond=0)
        r = self.rng.random()
        if r < 0.1:
            return t.replace(microsecond=self.rng.randrange(1, 1000) * 1000)
        if r < 0.2:
            return t.replace(microsecond=self.rng.randrange(1, 1_000_000))
        return t

    def rand_time(self, lo: datetime, hi: datetime) -> datetime:
        if hi <= lo:
            return lo
        return lo + (hi - lo) * self.rng.random()

    def payload(self, typ: str, t: datetime, **fields: Any) -> dict[str, Any]:
        p: dict[str, Any] = {
            "event_id": self.eid(),
            "type": typ,
            "occurred_at": fmt_time(self.rng, t),
            "org_id": self.org,
        }
        p.update({k: v for k, v in fields.items() if v is not None})
        r = self.rng.random()
        if r < 0.05:
            p["schema_version"] = 1
        elif r < 0.08:
            p["x_platform"] = self.rng.choice(["moodle", "canvas", {"v": 2}])
        return p

    def add(self, key: str, payload: dict[str, Any], t: datetime, award_id: str | None = None):
        rec = Rec(org=self.org, key=key, payload=payload, t=t, award_id=award_id)
        self.recs.append(rec)
        return rec

    # ---- structure

    def make_issuers_and_badges(self, budget: int) -> None:
        rng = self.rng
        n_issuers = 1 if budget < 300 else rng.randint(2, 4)
        for i in range(n_issuers):
            iid = f"iss-{i + 1}"
            t = self.when(self.rand_time(self.start, self.start + timedelta(days=2)))
            self.add(
                iid, self.payload("issuer.created", t, issuer_id=iid, name=f"Issuer {i + 1}"), t
            )
            self.issuers.append(iid)
        n_badges = max(2, min(60, budget // 250))
        for b in range(n_badges):
            bid = f"badge-{b + 1:03d}"
            iid = rng.choice(self.issuers)
            t = self.when(self.rand_time(self.start, self.start + timedelta(days=self.days * 0.85)))
            fields: dict[str, Any] = {
                "issuer_id": iid,
                "badge_id": bid,
                "name": f"{rng.choice(BADGE_WORDS)} {rng.choice(SKILLS).title()} {b + 1}",
            }
            if rng.random() < 0.8:
                fields["skills"] = rng.sample(SKILLS, rng.randint(0, 3))
            if rng.random() < 0.7:
                fields["visibility"] = "public" if rng.random() < 0.8 else "private"
            self.add(bid, self.payload("badge.created", t, **fields), t)
            self.badges.append((bid, iid, t))
            if rng.random() < 0.2:
                tu = self.when(self.rand_time(t, self.now))
                upd: dict[str, Any] = {"badge_id": bid}
                if rng.random() < 0.5:
                    upd["name"] = fields["name"] + " (v2)"
                if rng.random() < 0.5:
                    upd["skills"] = rng.sample(SKILLS, rng.randint(1, 3))
                if rng.random() < 0.5:
                    upd["visibility"] = rng.choice(["public", "private"])
                self.add(bid, self.payload("badge.updated", tu, **upd), tu)

    # ---- awards

    def follow(self, typ: str, award_id: str, t: datetime, **fields: Any) -> Rec | None:
        if t > self.limit:
            return None  # has not happened yet
        if self.rng.random() < 0.1:  # a few follow-ups repeat the (matching) issuer/badge
            issuer, badge, _ = self.award_info[award_id]
            fields.setdefault("issuer_id", issuer)
            fields.setdefault("badge_id", badge)
        return self.add(award_id, self.payload(typ, t, award_id=award_id, **fields), t, award_id)

    def make_awards(self, budget: int, view_start: datetime, accept_start: datetime) -> None:
        rng = self.rng
        while len(self.recs) < budget:
            bid, iid, created = rng.choice(self.badges)
            method = _weighted(rng, METHODS)
            if rng.random() < 0.01:
                method = rng.choice(CUSTOM_METHODS)
            t_issue = self.when(self.rand_time(created, self.now))
            batch = rng.randint(3, 10) if method == "bulk" else 1
            for _ in range(batch):
                self.make_award(bid, iid, method, t_issue, view_start, accept_start)

    def make_award(
        self,
        bid: str,
        iid: str,
        method: str,
        t_issue: datetime,
        view_start: datetime,
        accept_start: datetime,
    ) -> None:
        rng = self.rng
        self.award_counter += 1
        aid = f"aw-{self.award_counter:06d}"
        self.award_info[aid] = (iid, bid, t_issue)
        fields: dict[str, Any] = {
            "issuer_id": iid,
            "badge_id": bid,
            "award_id": aid,
            "method": method,
        }
        r = rng.random()
        if r < 0.3:
            fields["visibility"] = "public"
        elif r < 0.6:
            fields["visibility"] = "private"
        if rng.random() < 0.7:
            fields["recipient_id"] = f"learner-{rng.randrange(1, 5000)}"
        self.add(aid, self.payload("award.issued", t_issue, **fields), t_issue, aid)
        public = fields.get("visibility") == "public"

        def after(t: datetime) -> datetime:
            return self.when(t + timedelta(hours=_delay_hours(rng)))

        status_times: set[datetime] = set()
        accepted_t: datetime | None = None
        u = rng.random()
        if u < 0.70:
            t = after(t_issue)
            if rng.random() < 0.015:  # clock skew: accepted a few seconds "before" issue
                t = t_issue - timedelta(seconds=rng.randint(1, 30))
            if t >= accept_start and self.follow("award.accepted", aid, t):
                accepted_t = t
                status_times.add(t)
                if rng.random() < 0.02:  # a second accept changes nothing
                    t2 = after(t)
                    if self.follow("award.accepted", aid, t2):
                        status_times.add(t2)
        elif u < 0.78:
            t = after(t_issue)
            if self.follow("award.declined", aid, t):
                status_times.add(t)
        if rng.random() < 0.03:
            base = accepted_t if accepted_t is not None and rng.random() < 0.6 else t_issue
            t = after(base)
            if self.follow("award.revoked", aid, t, reason=rng.choice([None, "fraud", "error"])):
                status_times.add(t)
                if accepted_t is None and rng.random() < 0.3:  # accept after revoke: ignored
                    t2 = after(t)
                    if self.follow("award.accepted", aid, t2):
                        status_times.add(t2)

        def distinct(t: datetime) -> datetime:
            # keep shares/views off the exact instant of a status event of the same award
            while t in status_times:
                t += timedelta(seconds=1)
            return t

        share_times: list[datetime] = []
        if rng.random() < 0.35:
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
                if accepted_t is not None and rng.random() < 0.8:
                    t = after(accepted_t)
                else:
                    t = after(t_issue)  # may be while still pending
                t = distinct(t)
                if self.follow("award.shared", aid, t, channel=_weighted(rng, CHANNELS)):
                    share_times.append(t)
                    public = True
        view_bases = []
        for ts in share_times:
            view_bases += [ts] * rng.randint(1, 7)
        if public or accepted_t is not None:
            view_bases += [t_issue] * rng.randint(0, 2)
        for base in view_bases:
            t = distinct(after(base))
            if t >= view_start:
                self.follow("award.viewed", aid, t, source=_weighted(rng, SOURCES),
                            **self.user_agent())
        if rng.random() < 0.10:
            vis = "public" if fields.get("visibility") != "public" else "private"
            t = after(t_issue)
            for _ in range(rng.choice([1, 1, 2])):
                self.follow("award.visibility_changed", aid, t, visibility=vis)
                vis = "private" if vis == "public" else "public"
                t = after(t)


def generate(
    seed: int,
    n_events: int,
    orgs: list[str],
    *,
    now: datetime,
    days: int = 120,
    dup_rate: float = 0.03,
    invalid_rate: float = 0.02,
    reorder_rate: float = 0.05,
    late_rate: float = 0.03,
    orphan_rate: float = 0.005,
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs in publish order; exactly ``n_events`` of them when
    ``n_events`` is large enough for the orgs' issuers and badges (a few hundred)."""
    rng = random.Random(seed)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)

    n_dup = round(n_events * dup_rate)
    n_invalid = round(n_events * invalid_rate)
    n_orphan = round(n_events * orphan_rate)
    n_second = max(1, n_events // 3000) if n_events >= 100 else 0
    n_mismatch = max(1, n_events // 2000) if n_events >= 100 else 0
    n_base = max(0, n_events - n_dup - n_invalid - n_orphan - n_second - n_mismatch)

    # ---- normal events, org by org
    gens: dict[str, _OrgGen] = {}
    base: list[Rec] = []
    for i, org in enumerate(orgs):
        budget = n_base // len(orgs) + (1 if i < n_base % len(orgs) else 0)
        g = _OrgGen(rng=rng, org=org, now=now, days=days)
        gens[org] = g
        g.make_issuers_and_badges(budget)
        view_start = g.start + timedelta(days=rng.choice([0, 0, 0, days * 0.3, days * 0.5]))
        accept_start = g.start + timedelta(days=rng.choice([0, 0, 0, days * 0.25]))
        g.make_awards(budget, view_start, accept_start)
        base += g.recs

    # trim to exactly n_base by dropping random follow-ups (each is independent)
    excess = len(base) - n_base
    if excess > 0:
        droppable = [i for i, r in enumerate(base) if r.type in FOLLOW_TYPES]
        drop = set(rng.sample(droppable, min(excess, len(droppable))))
        base = [r for i, r in enumerate(base) if i not in drop]

    # ---- publish order of the normal events: by occurred_at plus a little latency,
    # some follow-ups before their award.issued, some old events at the very end
    now_ts = now.timestamp()
    pub: dict[int, float] = {}
    issued_pub: dict[tuple[str, str], float] = {}
    for r in base:
        assert r.t is not None
        pub[id(r)] = r.t.timestamp() + rng.uniform(0, 120)
        if r.type == "award.issued":
            issued_pub[(r.org, r.award_id or "")] = pub[id(r)]
    for r in base:
        assert r.t is not None
        if r.type in FOLLOW_TYPES and rng.random() < reorder_rate:
            pub[id(r)] = issued_pub[(r.org, r.award_id or "")] - rng.uniform(1, 3600)
        if r.t < now - timedelta(days=7) and rng.random() < late_rate:
            pub[id(r)] = now_ts + 86_400 + rng.uniform(0, 1000)
    base.sort(key=lambda r: pub[id(r)])
    for i, r in enumerate(base):
        r.order = float(i)
    end = float(len(base))

    def after(order: float) -> float:
        return order + (end - order) * rng.uniform(0.001, 1.0)

    specials: list[Rec] = []
    issued_recs = [r for r in base if r.type == "award.issued"]

    # ---- orphan follow-ups: their award_id is never issued
    for n in range(n_orphan):
        org = rng.choice(orgs)
        g = gens[org]
        aid = f"aw-orphan-{n + 1:05d}"
        t = g.when(g.rand_time(g.start, now))
        typ = rng.choice(["award.viewed", "award.viewed", "award.shared", "award.accepted"])
        extra = {
            "award.viewed": {"source": _weighted(rng, SOURCES)},
            "award.shared": {"channel": _weighted(rng, CHANNELS)},
        }.get(typ, {})
        payload = g.payload(typ, t, award_id=aid, **extra)
        rec = Rec(org=org, key=aid, payload=payload, t=t, award_id=aid)
        rec.order = rng.uniform(0, end)
        specials.append(rec)

    # ---- second award.issued for an existing award, new event_id: award_already_issued
    for _ in range(n_second if issued_recs else 0):
        orig = rng.choice(issued_recs)
        g = gens[orig.org]
        assert orig.payload is not None and orig.t is not None
        fields = {k: orig.payload[k] for k in ("issuer_id", "badge_id", "award_id")}
        fields["method"] = _weighted(rng, METHODS)
        fields["visibility"] = rng.choice(["public", "private"])
        t = min(g.when(orig.t + timedelta(minutes=rng.randint(1, 600))), now)
        payload = g.payload("award.issued", t, **fields)
        rec = Rec(org=orig.org, key=orig.key, payload=payload, t=t, award_id=orig.award_id)
        rec.order = after(orig.order)
        rec.dup_ok = False
        specials.append(rec)

    # ---- follow-ups whose badge_id (or issuer_id) does not match their award
    for _ in range(n_mismatch if issued_recs else 0):
        orig = rng.choice(issued_recs)
        g = gens[orig.org]
        assert orig.payload is not None and orig.t is not None
        aid = orig.payload["award_id"]
        t = g.when(orig.t + timedelta(hours=_delay_hours(rng)))
        t = min(t, now)
        if rng.random() < 0.7:
            others = [b for b, _, _ in g.badges if b != orig.payload["badge_id"]] or ["badge-x"]
            wrong = {"badge_id": rng.choice(others)}
        else:
            wrong = {"issuer_id": orig.payload["issuer_id"] + "-other"}
        payload = g.payload(
            "award.viewed", t, award_id=aid, source=_weighted(rng, SOURCES), **wrong
        )
        rec = Rec(org=orig.org, key=aid, payload=payload, t=t, award_id=aid)
        rec.order = rng.uniform(0, end)  # sometimes before the award.issued: held, then rejected
        rec.dup_ok = False
        specials.append(rec)

    # ---- invalid events
    issued_by_org: dict[str, list[Rec]] = {}
    for r in issued_recs:
        issued_by_org.setdefault(r.org, []).append(r)
    for _ in range(n_invalid):
        specials.append(_invalid(rng, gens, orgs, base, issued_by_org, now, end))

    # ---- exact duplicates, re-sent later
    pool = [r for r in base + specials if r.dup_ok]
    dups: list[Rec] = []
    for _ in range(n_dup if pool else 0):
        orig = rng.choice(pool)
        dup = Rec(
            org=orig.org, key=orig.key, payload=orig.payload, t=orig.t, award_id=orig.award_id
        )
        dup.encoded = orig.encode(rng)
        dup.order = after(orig.order)
        dups.append(dup)

    everything = base + specials + dups
    everything.sort(key=lambda r: r.order)
    return [(r.key.encode(), r.encode(rng)) for r in everything]


def _invalid(
    rng: random.Random,
    gens: dict[str, _OrgGen],
    orgs: list[str],
    base: list[Rec],
    issued_by_org: dict[str, list[Rec]],
    now: datetime,
    end: float,
) -> Rec:
    org = rng.choice(orgs)
    g = gens[org]
    t = g.when(g.rand_time(g.start, now))
    org_issued = issued_by_org.get(org)
    aid = rng.choice(org_issued).award_id if org_issued else "aw-000001"
    assert aid is not None
    kind = rng.choice(
        [
            "bad_json",
            "missing",
            "unknown_type",
            "bad_method",
            "future",
            "bad_org",
            "bad_event_id",
            "wrong_type",
            "bad_time",
        ]
    )
    order = rng.uniform(0, end)
    view = g.payload("award.viewed", t, award_id=aid, source=_weighted(rng, SOURCES))
    p: dict[str, Any] | None = view
    raw: bytes | None = None
    if kind == "bad_json":
        p = None
        raw = rng.choice(
            [
                b'{"event_id":"ev-broken","type":"award.viewed","occurred_at":',
                b"\xff\xfe\x00garbage",
                b"not json at all",
                b"null",
                b"42",
                b"",
            ]
        )
    elif kind == "missing":
        field_name = rng.choice(["award_id", "occurred_at", "org_id", "event_id", "type", "source"])
        del view[field_name]
    elif kind == "unknown_type":
        view["type"] = rng.choice(["award.exploded", "badge.deleted", "AWARD.VIEWED"])
    elif kind == "bad_method":
        new_aid = f"aw-badmethod-{rng.randrange(10**6):06d}"
        iid, bid = (g.badges[0][1], g.badges[0][0]) if g.badges else ("iss-1", "badge-001")
        p = g.payload(
            "award.issued",
            t,
            issuer_id=iid,
            badge_id=bid,
            award_id=new_aid,
            method=rng.choice(["LMS", "bulk upload", "api-v2", "", "m" * 33]),
        )
        aid = new_aid
    elif kind == "future":
        view["occurred_at"] = fmt_time(rng, g.when(now + timedelta(days=3)))
    elif kind == "bad_org":
        view["org_id"] = rng.choice(["", "acme corp", "o" * 65, 42, "ümlaut"])
    elif kind == "bad_event_id":
        view["event_id"] = rng.choice(["", "ev 1", "e" * 129, 17, "ev/1"])
    elif kind == "wrong_type":
        choice = rng.randrange(4)
        if choice == 0:
            view["schema_version"] = "1"
        elif choice == 1:
            view["source"] = ["linkedin"]
        elif choice == 2:
            view["type"] = "award.visibility_changed"
            view.pop("source")
            view["visibility"] = "friends"
        else:
            view["award_id"] = 12345
    elif kind == "bad_time":
        view["occurred_at"] = rng.choice(
            [
                t.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset
                t.strftime("%Y-%m-%d"),
                int(t.timestamp()),
                "2026-02-30T10:00:00Z",
                "yesterday",
            ]
        )
    rec = Rec(org=org, key=aid, payload=p, t=t, raw=raw, award_id=aid)
    rec.order = order
    # borrow the event_id of a valid event of the same org published later: the rejected
    # event must not reserve it.  Such an event is never duplicated (the order of
    # validation and de-duplication for a later re-send is the implementation's).
    if p is not None and kind not in ("bad_org", "bad_event_id", "missing") and rng.random() < 0.3:
        first_later = int(order) + 1  # base[i].order == i
        for _ in range(20):
            if first_later >= len(base):
                break
            target = base[rng.randrange(first_later, len(base))]
            if target.org == org and target.payload is not None:
                p["event_id"] = target.payload["event_id"]
                rec.dup_ok = False
                break
    return rec
