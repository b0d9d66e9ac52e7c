"""Independent brute-force oracle for Badgepulse.

Replays the raw topic payloads with the rules of ``../shared/spec/events.md`` and
``docs/semantics.md`` and computes every figure of ``../shared/spec/metrics.md`` by scanning
the applied events of each award.  Nothing here is incremental and nothing is shared with the
service code: clarity over speed.

Decisions taken where neither the spec nor semantics.md says (see also the report):

* Validation runs before de-duplication: an invalid payload is always rejected, even when its
  ``event_id`` was already applied.  A rejected event (invalid or semantically rejected)
  never reserves its ``event_id``.
* A held event reserves its ``event_id`` (a re-send while it is held is a duplicate); if it is
  later rejected (issuer/badge mismatch on release) the reservation is dropped.
* De-duplication covers the whole stream (the 7-day window is worker clock, and a test run
  is far shorter).
* ``issuer_id``, ``badge_id`` and ``award_id`` use the ``event_id`` identifier rule
  (1-128 chars of ``[A-Za-z0-9._:-]``).  An optional field given as JSON ``null`` counts as
  absent.
* ``hold_expired=True`` means every event still held at the end went to the dead-letter
  topic (``unknown_award``): they count in ``rejected`` and ``held`` is 0.
* Badge metadata: per field, the latest ``(occurred_at, event_id)`` of the badge's
  ``badge.created`` / ``badge.updated`` events that set it.  ``badge.created`` sets all three
  fields (``skills`` default [], ``visibility`` default public); ``badge.updated`` only the
  ones it carries.  A badge never created still takes the fields its updates set.
* Repeated ``issuer.created`` events are all applied; the latest gives the name.
* Badge ranking: the row's ``issuer_id`` is its ``badge.created``'s issuer (even if the scope
  only admits other issuers' awards of it); for a badge never created, the issuer of its
  first ``award.issued`` (by ``(occurred_at, event_id)``) among the awards the scope and the
  issuer/badge filters admit, over all time and ignoring the status filter.
  ``min_awards=None`` means no threshold (any award, share or view in P); scores are not
  rounded, so ties are exact float ties.
* Time series: a metric outside ``TIMESERIES_METRICS`` or an unknown interval raises
  ``ValueError``.
* Issuer activity: ``last_awarded_at`` is truncated (not rounded) to milliseconds;
  ``methods`` is ordered like a chart (count desc, key asc).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crawlerdetect import CrawlerDetect

# --------------------------------------------------------------------------- constants

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_HOUR = 3_600_000_000
FUTURE_LIMIT_US = 24 * US_PER_HOUR

ISSUER_CREATED = "issuer.created"
BADGE_CREATED = "badge.created"
BADGE_UPDATED = "badge.updated"
AWARD_ISSUED = "award.issued"
AWARD_ACCEPTED = "award.accepted"
AWARD_DECLINED = "award.declined"
AWARD_REVOKED = "award.revoked"
AWARD_SHARED = "award.shared"
AWARD_VIEWED = "award.viewed"
AWARD_VISIBILITY = "award.visibility_changed"

FOLLOW_UP_TYPES = {
    AWARD_ACCEPTED,
    AWARD_DECLINED,
    AWARD_REVOKED,
    AWARD_SHARED,
    AWARD_VIEWED,
    AWARD_VISIBILITY,
}
ALL_TYPES = {ISSUER_CREATED, BADGE_CREATED, BADGE_UPDATED, AWARD_ISSUED} | FOLLOW_UP_TYPES

METRIC_NAMES = [
    "badges_created",
    "badges_awarded",
    "accepted_awards",
    "shared_awards",
    "public_awards",
    "acceptance_rate",
    "share_rate",
    "public_visibility_rate",
    "shares",
    "views",
    "learner_engagement_score",
    "external_impact_score",
    "bot_views",
]
TILE_NAMES = [
    "learner_engagement_score",
    "external_impact_score",
    "badges_created",
    "badges_awarded",
    "acceptance_rate",
    "share_rate",
    "public_visibility_rate",
]
# metric name -> event type it depends on (coverage)
COVERAGE_DEPENDS = {
    "accepted_awards": AWARD_ACCEPTED,
    "acceptance_rate": AWARD_ACCEPTED,
    "learner_engagement_score": AWARD_ACCEPTED,
    "time_to_accept": AWARD_ACCEPTED,
    "views": AWARD_VIEWED,
    "bot_views": AWARD_VIEWED,
    "external_impact_score": AWARD_VIEWED,
    "shares": AWARD_SHARED,
    "shared_awards": AWARD_SHARED,
    "share_rate": AWARD_SHARED,
}
# the count metrics of a badge row / a time series, in that order
COUNT_NAMES = [
    "badges_awarded",
    "accepted_awards",
    "shared_awards",
    "public_awards",
    "shares",
    "views",
]
TIMESERIES_METRICS = ["badges_created", *COUNT_NAMES, "bot_views"]
BOT_VIEWS = "bot_views"  # _activity's pseudo-type: award.viewed events by crawlers
MAX_USER_AGENT = 512
INTERVALS = ("day", "week", "month")
TTA_BOUNDS: list[int | None] = [1, 6, 24, 72, 168, 720, 2160, None]
TTA_INF_AS = 4320

# --------------------------------------------------------------------------- validation

_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ORG_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_RE = re.compile(r"[a-z0-9_]{1,32}")
_TS_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


class Invalid(Exception):
    """The payload breaks a rule of events.md."""


def parse_timestamp_us(value: Any) -> int:
    """RFC 3339 with an offset -> microseconds since the epoch (UTC)."""
    if not isinstance(value, str):
        raise Invalid("occurred_at: not a string")
    m = _TS_RE.fullmatch(value)
    if m is None:
        raise Invalid("occurred_at: not RFC 3339 with an offset")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    micro = int((frac + "000000")[:6])
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise Invalid("occurred_at: impossible date or time") from exc
    if m.group(8):
        offset = timedelta(0)
    else:
        off_h, off_m = int(m.group(10)), int(m.group(11))
        if off_h > 23 or off_m > 59:
            raise Invalid("occurred_at: bad offset")
        offset = timedelta(hours=off_h, minutes=off_m)
        if m.group(9) == "-":
            offset = -offset
    utc = local - offset
    return (utc - EPOCH) // timedelta(microseconds=1)


def us_to_day(t_us: int) -> date:
    return (EPOCH + timedelta(microseconds=t_us)).date()


def _present(d: dict[str, Any], name: str) -> bool:
    return d.get(name) is not None


def _require_id(d: dict[str, Any], name: str) -> None:
    v = d.get(name)
    if not isinstance(v, str) or _ID_RE.fullmatch(v) is None:
        raise Invalid(f"{name}: missing or bad identifier")


def _optional_id(d: dict[str, Any], name: str) -> None:
    if _present(d, name):
        _require_id(d, name)


def _require_str(d: dict[str, Any], name: str) -> None:
    if not isinstance(d.get(name), str):
        raise Invalid(f"{name}: missing or not a string")


def _optional_str(d: dict[str, Any], name: str) -> None:
    if _present(d, name) and not isinstance(d[name], str):
        raise Invalid(f"{name}: not a string")


def _require_token(d: dict[str, Any], name: str) -> None:
    v = d.get(name)
    if not isinstance(v, str) or _TOKEN_RE.fullmatch(v) is None:
        raise Invalid(f"{name}: missing or bad token")


def _optional_visibility(d: dict[str, Any], name: str = "visibility") -> None:
    if _present(d, name) and d[name] not in ("public", "private"):
        raise Invalid(f"{name}: must be public or private")


def _optional_skills(d: dict[str, Any]) -> None:
    if _present(d, "skills"):
        v = d["skills"]
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise Invalid("skills: must be a list of strings")


@dataclass
class Ev:
    org: str
    eid: str
    type: str
    t: int  # occurred_at, microseconds since epoch, UTC
    data: dict[str, Any]

    @property
    def day(self) -> date:
        return us_to_day(self.t)

    @property
    def order(self) -> tuple[int, str]:
        return (self.t, self.eid)


def validate(raw: bytes, now_us: int) -> Ev:
    """Parse and validate one payload; raises Invalid."""
    try:
        d = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("not JSON") from exc
    if not isinstance(d, dict):
        raise Invalid("not a JSON object")
    eid = d.get("event_id")
    if not isinstance(eid, str) or _ID_RE.fullmatch(eid) is None:
        raise Invalid("event_id: missing or bad")
    typ = d.get("type")
    if not isinstance(typ, str) or typ not in ALL_TYPES:
        raise Invalid("type: missing or unknown")
    t = parse_timestamp_us(d.get("occurred_at"))
    if t > now_us + FUTURE_LIMIT_US:
        raise Invalid("occurred_at: more than 24h in the future")
    org = d.get("org_id")
    if not isinstance(org, str) or _ORG_RE.fullmatch(org) is None:
        raise Invalid("org_id: missing or bad")
    if _present(d, "schema_version") and type(d["schema_version"]) is not int:
        raise Invalid("schema_version: not an integer")

    if typ == ISSUER_CREATED:
        _require_id(d, "issuer_id")
        _require_str(d, "name")
    elif typ == BADGE_CREATED:
        _require_id(d, "issuer_id")
        _require_id(d, "badge_id")
        _require_str(d, "name")
        _optional_skills(d)
        _optional_visibility(d)
    elif typ == BADGE_UPDATED:
        _require_id(d, "badge_id")
        _optional_str(d, "name")
        _optional_skills(d)
        _optional_visibility(d)
    elif typ == AWARD_ISSUED:
        _require_id(d, "issuer_id")
        _require_id(d, "badge_id")
        _require_id(d, "award_id")
        _require_token(d, "method")
        _optional_visibility(d)
        _optional_str(d, "recipient_id")
    else:  # follow-ups
        _require_id(d, "award_id")
        _optional_id(d, "issuer_id")
        _optional_id(d, "badge_id")
        if typ == AWARD_REVOKED:
            _optional_str(d, "reason")
        elif typ == AWARD_SHARED:
            _require_token(d, "channel")
        elif typ == AWARD_VIEWED:
            _require_token(d, "source")
            _optional_str(d, "user_agent")
            if _present(d, "user_agent") and len(d["user_agent"]) > MAX_USER_AGENT:
                raise Invalid("user_agent: longer than 512 characters")
        elif typ == AWARD_VISIBILITY:
            if d.get("visibility") not in ("public", "private"):
                raise Invalid("visibility: missing or bad")
    return Ev(org=org, eid=eid, type=typ, t=t, data=d)


# --------------------------------------------------------------------------- awards

_CRAWLERS = CrawlerDetect()  # insights.md: a maintained crawler list (the contract names none)


def is_bot_view(e: Ev) -> bool:
    """A view whose user agent the crawler list knows (no user agent: a person)."""
    ua = e.data.get("user_agent")
    return bool(ua) and bool(_CRAWLERS.is_crawler(ua))



@dataclass
class Award:
    issued: Ev
    follow: list[Ev] = field(default_factory=list)  # applied follow-up events

    @property
    def issuer_id(self) -> str:
        return str(self.issued.data["issuer_id"])

    @property
    def badge_id(self) -> str:
        return str(self.issued.data["badge_id"])

    @property
    def method(self) -> str:
        return str(self.issued.data["method"])

    def of_type(self, typ: str) -> list[Ev]:
        """The applied events of a type; views are people's views only, BOT_VIEWS the
        others."""
        if typ == BOT_VIEWS:
            return [e for e in self.follow if e.type == AWARD_VIEWED and is_bot_view(e)]
        if typ == AWARD_VIEWED:
            return [e for e in self.follow if e.type == typ and not is_bot_view(e)]
        return [e for e in self.follow if e.type == typ]

    def viewed_ever(self) -> bool:
        return bool(self.of_type(AWARD_VIEWED))

    def status_at(self, t: int | None) -> str:
        """Status at time t (None = +infinity = current status)."""
        evs = [
            e
            for e in self.follow
            if e.type in (AWARD_ACCEPTED, AWARD_DECLINED, AWARD_REVOKED) and (t is None or e.t <= t)
        ]
        if any(e.type == AWARD_REVOKED for e in evs):
            return "revoked"
        decisive = [e for e in evs if e.type in (AWARD_ACCEPTED, AWARD_DECLINED)]
        if not decisive:
            return "pending"
        latest = max(decisive, key=lambda e: e.order)
        return "accepted" if latest.type == AWARD_ACCEPTED else "declined"

    def first_accept_us(self) -> int | None:
        """occurred_at of the accept that makes the award accepted-ever, or None."""
        accepts = self.of_type(AWARD_ACCEPTED)
        revokes = self.of_type(AWARD_REVOKED)
        if revokes:
            limit = min(r.t for r in revokes)
            accepts = [a for a in accepts if a.t <= limit]
        if not accepts:
            return None
        return min(a.t for a in accepts)

    def accepted_ever(self) -> bool:
        return self.first_accept_us() is not None

    def shared_ever(self) -> bool:
        return bool(self.of_type(AWARD_SHARED))

    def public_now(self) -> bool:
        candidates = [self.issued, *self.of_type(AWARD_VISIBILITY)]
        latest = max(candidates, key=lambda e: e.order)
        if latest is self.issued:
            vis = self.issued.data.get("visibility") or "private"
        else:
            vis = latest.data["visibility"]
        return vis == "public"

    def hours_to_accept(self) -> float | None:
        first = self.first_accept_us()
        if first is None:
            return None
        return max(0.0, (first - self.issued.t) / US_PER_HOUR)


@dataclass
class OrgData:
    awards: dict[str, Award] = field(default_factory=dict)
    badges: dict[str, Ev] = field(default_factory=dict)  # badge_id -> applied badge.created
    first_day: dict[str, date] = field(default_factory=dict)
    # badge_id -> applied badge.created / badge.updated events (metadata, any arrival order)
    badge_meta: dict[str, list[Ev]] = field(default_factory=dict)
    # issuer_id -> applied issuer.created events (a repeat is not rejected: latest name wins)
    issuers: dict[str, list[Ev]] = field(default_factory=dict)


# --------------------------------------------------------------------------- query helpers

Period = tuple[date, date] | None  # None = all time


@dataclass(frozen=True)
class Scope:
    issuer_id: str | None = None
    badge_id: str | None = None
    key_issuers: tuple[str, ...] | None = None

    def admits(self, issuer_id: str, badge_id: str) -> bool:
        if self.issuer_id is not None and issuer_id != self.issuer_id:
            return False
        if self.badge_id is not None and badge_id != self.badge_id:
            return False
        if self.key_issuers is not None and issuer_id not in self.key_issuers:
            return False
        return True


@dataclass(frozen=True)
class Filters:
    issuer_ids: tuple[str, ...] = ()
    badge_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def admits(self, issuer_id: str, badge_id: str) -> bool:
        if self.issuer_ids and issuer_id not in self.issuer_ids:
            return False
        if self.badge_ids and badge_id not in self.badge_ids:
            return False
        return True

    def status_ok(self, status: str) -> bool:
        return not self.statuses or status in self.statuses


NO_FILTERS = Filters()


def in_period(day: date, period: Period) -> bool:
    return period is None or period[0] <= day <= period[1]


def previous_period(period: tuple[date, date]) -> tuple[date, date]:
    start, end = period
    length = (end - start).days + 1
    prev_end = start - timedelta(days=1)
    prev_start = prev_end - timedelta(days=length - 1)
    return (prev_start, prev_end)


def ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def trend(current: float | None, previous: float | None) -> dict[str, Any]:
    if current is None or previous is None:
        change = None
        change_pct = None
        direction = "flat"
    else:
        change = current - previous
        change_pct = None if previous == 0 else 100 * (current - previous) / previous
        if current > previous:
            direction = "up"
        elif current < previous:
            direction = "down"
        else:
            direction = "flat"
    return {
        "current": current,
        "previous": previous,
        "change": change,
        "change_pct": change_pct,
        "direction": direction,
    }


def scores(c: dict[str, int]) -> dict[str, float | None]:
    """Rates and scores of metrics.md from the six count metrics in ``c``."""
    awarded = c["badges_awarded"]
    acceptance_rate = ratio(c["accepted_awards"], awarded)
    share_rate = ratio(c["shared_awards"], awarded)
    if acceptance_rate is None or share_rate is None:
        les = None
    else:
        les = (acceptance_rate * 0.60 + share_rate * 0.40) * 100
    return {
        "acceptance_rate": acceptance_rate,
        "share_rate": share_rate,
        "public_visibility_rate": ratio(c["public_awards"], awarded),
        "learner_engagement_score": les,
        "external_impact_score": ratio(c["views"], c["shares"]),
    }


def interval_start(day: date, interval: str) -> date:
    """Start of the (unclipped) interval holding ``day``; weeks start on Monday."""
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown interval {interval!r}")


def rfc3339_ms(t_us: int) -> str:
    """Microseconds since the epoch -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, truncated to ms)."""
    dt = EPOCH + timedelta(microseconds=t_us)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def badge_metadata(events: list[Ev]) -> dict[str, Any]:
    """name / skills / visibility of a badge: per field, the value of the latest event (by
    ``(occurred_at, event_id)``) among its badge.created / badge.updated events that set it.
    ``badge.created`` sets all three (skills default [], visibility default public);
    ``badge.updated`` sets the fields it carries."""
    latest: dict[str, tuple[tuple[int, str], Any]] = {}
    for e in events:
        if e.type == BADGE_CREATED:
            values = {
                "name": e.data["name"],
                "skills": list(e.data.get("skills") or []),
                "visibility": e.data.get("visibility") or "public",
            }
        else:
            values = {
                k: e.data[k] for k in ("name", "skills", "visibility") if e.data.get(k) is not None
            }
        for k, v in values.items():
            if k not in latest or latest[k][0] < e.order:
                latest[k] = (e.order, v)
    return {
        "name": latest["name"][1] if "name" in latest else None,
        "skills": list(latest["skills"][1]) if "skills" in latest else [],
        "visibility": latest["visibility"][1] if "visibility" in latest else None,
    }


def ordered_entries(counter: Counter[str]) -> list[tuple[str, int]]:
    items = [(k, c) for k, c in counter.items() if c > 0]
    items.sort(key=lambda kc: (-kc[1], kc[0]))
    return items


def tta_histogram(awards: list[Award]) -> dict[str, Any]:
    """metrics.md's time to accept of these awards: histogram and interpolated median."""
    hours = [h for h in (a.hours_to_accept() for a in awards) if h is not None]
    counts = []
    for i, bound in enumerate(TTA_BOUNDS):
        lower = None if i == 0 else TTA_BOUNDS[i - 1]
        n = 0
        for h in hours:
            above_lower = lower is None or h > lower
            below_upper = bound is None or h <= bound
            if above_lower and below_upper:
                n += 1
        counts.append(n)
    buckets = [{"le": b, "count": c} for b, c in zip(TTA_BOUNDS, counts, strict=True)]
    median = None
    total = len(hours)
    if total:
        target = total / 2
        cum_before = 0
        for i, c in enumerate(counts):
            if cum_before + c >= target:
                lower_h = 0 if i == 0 else TTA_BOUNDS[i - 1]
                upper_h = TTA_BOUNDS[i] if TTA_BOUNDS[i] is not None else TTA_INF_AS
                assert lower_h is not None and upper_h is not None
                median = lower_h + (upper_h - lower_h) * (target - cum_before) / c
                break
            cum_before += c
    return {"buckets": buckets, "median_hours": median}


# --------------------------------------------------------------------------- the oracle


class Oracle:
    def __init__(self, raw_events: list[bytes], now_us: int, hold_expired: bool = False):
        self.now_us = now_us
        self.rejected = 0
        self.held = 0
        self.applied = 0
        self.reasons: Counter[str] = Counter()  # rejection reason -> count (for debugging)
        self._orgs: dict[str, OrgData] = {}
        self._reserved: set[tuple[str, str]] = set()
        self._held: dict[tuple[str, str], list[Ev]] = {}
        for raw in raw_events:
            self._ingest(raw)
        still_held = sum(len(v) for v in self._held.values())
        if hold_expired:
            self.rejected += still_held  # dead-lettered: unknown_award
            self.reasons["unknown_award"] += still_held
            self.held = 0
        else:
            self.held = still_held

    # ---- replay

    def _org(self, org: str) -> OrgData:
        return self._orgs.setdefault(org, OrgData())

    def _ingest(self, raw: bytes) -> None:
        try:
            ev = validate(raw, self.now_us)
        except Invalid as exc:
            self._reject(str(exc).split(":")[0])
            return
        if (ev.org, ev.eid) in self._reserved:
            return  # duplicate: no effect
        od = self._org(ev.org)
        if ev.type == BADGE_CREATED:
            if ev.data["badge_id"] in od.badges:
                self._reject("badge_already_created")
                return
            od.badges[ev.data["badge_id"]] = ev
            od.badge_meta.setdefault(ev.data["badge_id"], []).append(ev)
            self._apply(ev)
        elif ev.type == AWARD_ISSUED:
            aid = ev.data["award_id"]
            if aid in od.awards:
                self._reject("award_already_issued")
                return
            od.awards[aid] = Award(issued=ev)
            self._apply(ev)
            for waiting in self._held.pop((ev.org, aid), []):
                self._reserved.discard((waiting.org, waiting.eid))
                self._follow_up(waiting, od.awards[aid])
        elif ev.type in FOLLOW_UP_TYPES:
            award = od.awards.get(ev.data["award_id"])
            if award is None:
                self._held.setdefault((ev.org, ev.data["award_id"]), []).append(ev)
                self._reserved.add((ev.org, ev.eid))
            else:
                self._follow_up(ev, award)
        else:  # issuer.created, badge.updated: no metric effect, always applied
            if ev.type == BADGE_UPDATED:
                od.badge_meta.setdefault(ev.data["badge_id"], []).append(ev)
            else:
                od.issuers.setdefault(ev.data["issuer_id"], []).append(ev)
            self._apply(ev)

    def _follow_up(self, ev: Ev, award: Award) -> None:
        for name in ("issuer_id", "badge_id"):
            value = ev.data.get(name)
            if value is not None and value != award.issued.data[name]:
                self._reject(f"{name} mismatch")
                return
        award.follow.append(ev)
        self._apply(ev)

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] += 1

    def _apply(self, ev: Ev) -> None:
        self._reserved.add((ev.org, ev.eid))
        self.applied += 1
        od = self._org(ev.org)
        if ev.type not in od.first_day or ev.day < od.first_day[ev.type]:
            od.first_day[ev.type] = ev.day

    # ---- selection

    def _awards(self, org: str, scope: Scope, flt: Filters) -> list[Award]:
        od = self._orgs.get(org)
        if od is None:
            return []
        return [
            a
            for a in od.awards.values()
            if scope.admits(a.issuer_id, a.badge_id) and flt.admits(a.issuer_id, a.badge_id)
        ]

    def _cohort(self, org: str, scope: Scope, flt: Filters, period: Period) -> list[Award]:
        return [
            a
            for a in self._awards(org, scope, flt)
            if in_period(a.issued.day, period) and flt.status_ok(a.status_at(None))
        ]

    def _activity(self, org: str, scope: Scope, flt: Filters, period: Period, typ: str) -> list[Ev]:
        out = []
        for a in self._awards(org, scope, flt):
            for e in a.of_type(typ):
                if in_period(e.day, period) and flt.status_ok(a.status_at(e.t)):
                    out.append(e)
        return out

    def _created(self, org: str, scope: Scope, flt: Filters, period: Period) -> list[Ev]:
        """The applied badge.created events of the scope in the period (status ignored)."""
        od = self._orgs.get(org)
        if od is None:
            return []
        out = []
        for ev in od.badges.values():
            iss, bid = ev.data["issuer_id"], ev.data["badge_id"]
            if scope.admits(iss, bid) and flt.admits(iss, bid) and in_period(ev.day, period):
                out.append(ev)
        return out

    def _badges_created(self, org: str, scope: Scope, flt: Filters, period: Period) -> int:
        return len(self._created(org, scope, flt, period))

    # ---- metrics

    def _metrics(self, org: str, scope: Scope, flt: Filters, period: Period) -> dict[str, Any]:
        cohort = self._cohort(org, scope, flt, period)
        counts = {
            "badges_awarded": len(cohort),
            "accepted_awards": sum(1 for a in cohort if a.accepted_ever()),
            "shared_awards": sum(1 for a in cohort if a.shared_ever()),
            "public_awards": sum(1 for a in cohort if a.public_now()),
            "shares": len(self._activity(org, scope, flt, period, AWARD_SHARED)),
            "views": len(self._activity(org, scope, flt, period, AWARD_VIEWED)),
        }
        out: dict[str, Any] = {"badges_created": self._badges_created(org, scope, flt, period),
                               "bot_views": len(self._activity(org, scope, flt, period,
                                                               BOT_VIEWS))}
        out.update(counts)
        out.update(scores(counts))
        return {name: out[name] for name in METRIC_NAMES}

    def _badge_counts(
        self, org: str, scope: Scope, flt: Filters, period: Period
    ) -> dict[str, Counter[str]]:
        """badge_id -> its six count metrics over the period, for the badges with at least
        one cohort award, share or view in it (awards summed over all their issuer_ids)."""
        out: dict[str, Counter[str]] = {}
        for a in self._awards(org, scope, flt):
            c: Counter[str] = Counter()
            if in_period(a.issued.day, period) and flt.status_ok(a.status_at(None)):
                c["badges_awarded"] += 1
                c["accepted_awards"] += int(a.accepted_ever())
                c["shared_awards"] += int(a.shared_ever())
                c["public_awards"] += int(a.public_now())
            for e in a.follow:
                if e.type not in (AWARD_SHARED, AWARD_VIEWED) or not in_period(e.day, period):
                    continue
                if e.type == AWARD_VIEWED and is_bot_view(e):
                    continue  # bot views are no column of the badge table
                if flt.status_ok(a.status_at(e.t)):
                    c["shares" if e.type == AWARD_SHARED else "views"] += 1
            if c:
                out.setdefault(a.badge_id, Counter()).update(c)
        return out

    def _time_to_accept(
        self, org: str, scope: Scope, flt: Filters, period: Period
    ) -> dict[str, Any]:
        return tta_histogram(self._cohort(org, scope, flt, period))

    def _charts(
        self, org: str, scope: Scope, flt: Filters, period: Period
    ) -> dict[str, Counter[str]]:
        return {
            "awarding": Counter(a.method for a in self._cohort(org, scope, flt, period)),
            "sharing": Counter(
                str(e.data["channel"])
                for e in self._activity(org, scope, flt, period, AWARD_SHARED)
            ),
            "viewing": Counter(
                str(e.data["source"]) for e in self._activity(org, scope, flt, period, AWARD_VIEWED)
            ),
        }

    # ---- public API

    @staticmethod
    def _args(
        issuer_id: str | None,
        badge_id: str | None,
        issuer_ids: Any,
        badge_ids: Any,
        statuses: Any,
        key_issuers: Any,
    ) -> tuple[Scope, Filters]:
        scope = Scope(
            issuer_id=issuer_id,
            badge_id=badge_id,
            key_issuers=None if key_issuers is None else tuple(key_issuers),
        )
        flt = Filters(tuple(issuer_ids), tuple(badge_ids), tuple(statuses))
        return scope, flt

    def first_days(self, org_id: str) -> dict[str, date]:
        od = self._orgs.get(org_id)
        return dict(od.first_day) if od else {}

    def metrics(
        self,
        org_id: str,
        *,
        issuer_id: str | None = None,
        badge_id: str | None = None,
        period: Period,
        issuer_ids: Any = (),
        badge_ids: Any = (),
        statuses: Any = (),
        key_issuers: Any = None,
    ) -> dict[str, Any]:
        """The 12 metrics for ``period`` (None = all time) with the filters."""
        scope, flt = self._args(issuer_id, badge_id, issuer_ids, badge_ids, statuses, key_issuers)
        return self._metrics(org_id, scope, flt, period)

    def summary(
        self,
        org_id: str,
        *,
        issuer_id: str | None = None,
        badge_id: str | None = None,
        period: tuple[date, date],
        issuer_ids: Any = (),
        badge_ids: Any = (),
        statuses: Any = (),
        key_issuers: Any = None,
    ) -> dict[str, Any]:
        scope, flt = self._args(issuer_id, badge_id, issuer_ids, badge_ids, statuses, key_issuers)
        prev = previous_period(period)
        cur_m = self._metrics(org_id, scope, flt, period)
        prev_m = self._metrics(org_id, scope, flt, prev)
        all_m = self._metrics(org_id, scope, NO_FILTERS, None)
        kpis = {}
        for name in TILE_NAMES:
            kpis[name] = {"value": all_m[name], **trend(cur_m[name], prev_m[name])}
        charts = self._charts(org_id, scope, flt, period)

        def first_key(chart: str) -> str | None:
            entries = ordered_entries(charts[chart])
            return entries[0][0] if entries else None

        highlights = {
            "most_used_awarding_method": first_key("awarding"),
            "most_used_sharing_method": first_key("sharing"),
            "most_common_viewing_source": first_key("viewing"),
        }
        first = self.first_days(org_id)
        incomplete = sorted(
            name
            for name, typ in COVERAGE_DEPENDS.items()
            if typ not in first or first[typ] > prev[0]
        )
        coverage = {
            "first_day": {typ: d.isoformat() for typ, d in sorted(first.items())},
            "incomplete": incomplete,
        }
        return {
            "metrics": cur_m,
            "kpis": kpis,
            "highlights": highlights,
            "time_to_accept": self._time_to_accept(org_id, scope, flt, period),
            "coverage": coverage,
        }

    def channels(
        self,
        org_id: str,
        *,
        issuer_id: str | None = None,
        badge_id: str | None = None,
        period: tuple[date, date],
        issuer_ids: Any = (),
        badge_ids: Any = (),
        statuses: Any = (),
        key_issuers: Any = None,
    ) -> dict[str, list[dict[str, Any]]]:
        scope, flt = self._args(issuer_id, badge_id, issuer_ids, badge_ids, statuses, key_issuers)
        cur = self._charts(org_id, scope, flt, period)
        prev = self._charts(org_id, scope, flt, previous_period(period))
        out: dict[str, list[dict[str, Any]]] = {}
        for chart in ("awarding", "sharing", "viewing"):
            total = sum(cur[chart].values())
            entries = []
            for key, count in ordered_entries(cur[chart]):
                prev_count = prev[chart].get(key, 0)
                entries.append(
                    {
                        "key": key,
                        "count": count,
                        "pct": 100 * count / total,
                        "previous_count": prev_count,
                        "change_pct": (
                            None if prev_count == 0 else 100 * (count - prev_count) / prev_count
                        ),
                    }
                )
            out[chart] = entries
        return out

    def badges(
        self,
        org_id: str,
        *,
        issuer_id: str | None = None,
        badge_id: str | None = None,
        period: tuple[date, date],
        issuer_ids: Any = (),
        badge_ids: Any = (),
        statuses: Any = (),
        key_issuers: Any = None,
        min_awards: int | None = None,
    ) -> list[dict[str, Any]]:
        """The whole badge ranking (metrics.md "Badge ranking and overall score"), in order."""
        scope, flt = self._args(issuer_id, badge_id, issuer_ids, badge_ids, statuses, key_issuers)
        od = self._orgs.get(org_id)
        if od is None:
            return []
        cur = self._badge_counts(org_id, scope, flt, period)
        prev = self._badge_counts(org_id, scope, flt, previous_period(period))
        # issuer of a badge never created: that of its first award (by (occurred_at,
        # event_id)) among the awards the scope and the issuer/badge filters admit
        first_award: dict[str, Award] = {}
        for a in self._awards(org_id, scope, flt):
            known = first_award.get(a.badge_id)
            if known is None or a.issued.order < known.issued.order:
                first_award[a.badge_id] = a
        rows = []
        for bid, c in cur.items():
            counts = {name: c.get(name, 0) for name in COUNT_NAMES}
            if min_awards is not None and counts["badges_awarded"] < min_awards:
                continue
            prev_counts = {name: prev.get(bid, Counter()).get(name, 0) for name in COUNT_NAMES}
            cur_s, prev_s = scores(counts), scores(prev_counts)
            created = od.badges.get(bid)
            n_created = 0
            if created is not None:
                iss = created.data["issuer_id"]
                if (
                    scope.admits(iss, bid)
                    and flt.admits(iss, bid)
                    and in_period(created.day, period)
                ):
                    n_created = 1
            row_issuer = (
                created.data["issuer_id"] if created is not None else first_award[bid].issuer_id
            )
            meta = badge_metadata(od.badge_meta.get(bid, []))
            rows.append(
                {
                    "badge_id": bid,
                    "name": meta["name"],
                    "issuer_id": row_issuer,
                    "skills": meta["skills"],
                    "visibility": meta["visibility"],
                    "badges_created": n_created,
                    **counts,
                    **cur_s,
                    "trend": {
                        "badges_awarded": trend(
                            counts["badges_awarded"], prev_counts["badges_awarded"]
                        ),
                        "learner_engagement_score": trend(
                            cur_s["learner_engagement_score"], prev_s["learner_engagement_score"]
                        ),
                    },
                }
            )
        # EIS_norm over the ranked set (after min_awards); a null EIS counts as 0
        eis_max = max((r["external_impact_score"] or 0 for r in rows), default=0)
        for r in rows:
            eis = r["external_impact_score"] or 0
            eis_norm = 0 if not eis_max else 100 * eis / eis_max
            r["overall_score"] = 0.65 * (r["learner_engagement_score"] or 0) + 0.35 * eis_norm
        rows.sort(key=lambda r: (-r["overall_score"], -r["badges_awarded"], r["badge_id"]))
        return [{"rank": i, **r} for i, r in enumerate(rows, start=1)]

    def timeseries(
        self,
        org_id: str,
        *,
        issuer_id: str | None = None,
        badge_id: str | None = None,
        period: tuple[date, date],
        issuer_ids: Any = (),
        badge_ids: Any = (),
        statuses: Any = (),
        key_issuers: Any = None,
        metric: str,
        interval: str,
    ) -> list[dict[str, Any]]:
        """One zero-filled point per interval meeting the period, starts clipped to it."""
        if metric not in TIMESERIES_METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        if interval not in INTERVALS:
            raise ValueError(f"unknown interval {interval!r}")
        scope, flt = self._args(issuer_id, badge_id, issuer_ids, badge_ids, statuses, key_issuers)
        per_day: Counter[date] = Counter()
        if metric == "badges_created":
            per_day.update(ev.day for ev in self._created(org_id, scope, flt, period))
        elif metric in ("shares", "views", "bot_views"):
            typ = {"shares": AWARD_SHARED, "views": AWARD_VIEWED, "bot_views": BOT_VIEWS}[metric]
            per_day.update(e.day for e in self._activity(org_id, scope, flt, period, typ))
        else:  # cohort: by issue day
            for a in self._cohort(org_id, scope, flt, period):
                hit = {
                    "badges_awarded": True,
                    "accepted_awards": a.accepted_ever(),
                    "shared_awards": a.shared_ever(),
                    "public_awards": a.public_now(),
                }[metric]
                if hit:
                    per_day[a.issued.day] += 1
        points: dict[date, int] = {}
        day = period[0]
        while day <= period[1]:
            start = max(interval_start(day, interval), period[0])
            points[start] = points.get(start, 0) + per_day.get(day, 0)
            day += timedelta(days=1)
        return [{"start": start.isoformat(), "value": v} for start, v in points.items()]

    def issuer_activity(
        self,
        org_id: str,
        *,
        issuer_id: str | None = None,
        period: tuple[date, date],
        issuer_ids: Any = (),
        badge_ids: Any = (),
        statuses: Any = (),
        key_issuers: Any = None,
    ) -> list[dict[str, Any]]:
        """One item per issuer of the scope, busiest (cohort awards in P) first."""
        scope, flt = self._args(issuer_id, None, issuer_ids, badge_ids, statuses, key_issuers)
        od = self._orgs.get(org_id)
        if od is None:
            return []
        known = set(od.issuers)
        known.update(ev.data["issuer_id"] for ev in od.badges.values())
        known.update(a.issuer_id for a in od.awards.values())
        issuers = [
            i
            for i in known
            if (scope.issuer_id is None or i == scope.issuer_id)
            and (scope.key_issuers is None or i in scope.key_issuers)
            and (not flt.issuer_ids or i in flt.issuer_ids)
        ]
        created = Counter(ev.data["issuer_id"] for ev in self._created(org_id, scope, flt, period))
        cur_cohort = self._cohort(org_id, scope, flt, period)
        cur = Counter(a.issuer_id for a in cur_cohort)
        prev = Counter(
            a.issuer_id for a in self._cohort(org_id, scope, flt, previous_period(period))
        )
        methods: dict[str, Counter[str]] = {}
        for a in cur_cohort:
            methods.setdefault(a.issuer_id, Counter())[a.method] += 1
        last: dict[str, int] = {}  # all time, no filters
        for a in od.awards.values():
            if a.issuer_id not in last or a.issued.t > last[a.issuer_id]:
                last[a.issuer_id] = a.issued.t
        items = []
        for i in sorted(issuers, key=lambda i: (-cur[i], i)):
            names = od.issuers.get(i, [])
            name = max(names, key=lambda e: e.order).data["name"] if names else None
            items.append(
                {
                    "issuer_id": i,
                    "name": name,
                    "badges_created": created[i],
                    "badges_awarded": trend(cur[i], prev[i]),
                    "methods": dict(ordered_entries(methods.get(i, Counter()))),
                    "last_awarded_at": rfc3339_ms(last[i]) if i in last else None,
                }
            )
        return items

    # ---- insights (insights.md), by scanning the same applied events

    def insight_channels(self, org_id: str, *, period: tuple[date, date],
                         **kw: Any) -> dict[str, Any]:
        """Views per share by channel: a view is the channel's when its source is the
        channel's token; channels with a share in P; the rest of P's views unattributed."""
        scope, flt = self._args(kw.get("issuer_id"), kw.get("badge_id"),
                                kw.get("issuer_ids", ()), kw.get("badge_ids", ()),
                                kw.get("statuses", ()), kw.get("key_issuers"))

        def counts(p: tuple[date, date]) -> tuple[Counter[str], Counter[str]]:
            shares = Counter(str(e.data["channel"])
                             for e in self._activity(org_id, scope, flt, p, AWARD_SHARED))
            views = Counter(str(e.data["source"])
                            for e in self._activity(org_id, scope, flt, p, AWARD_VIEWED))
            return shares, views

        shares, views = counts(period)
        p_shares, p_views = counts(previous_period(period))
        entries = []
        for ch, n in shares.items():
            vps = ratio(views[ch], n)
            p_vps = ratio(p_views[ch], p_shares[ch])
            entries.append({
                "channel": ch, "shares": n, "views": views[ch], "views_per_share": vps,
                "previous": {"shares": p_shares[ch], "views": p_views[ch],
                             "views_per_share": p_vps},
                "change_pct": trend(vps, p_vps)["change_pct"],
            })
        entries.sort(key=lambda e: (e["views_per_share"] is None,
                                    -(e["views_per_share"] or 0), e["channel"]))
        unattributed = sum(n for src, n in views.items() if src not in shares)
        return {"channels": entries, "unattributed_views": unattributed}

    def insight_methods(self, org_id: str, *, period: tuple[date, date],
                        **kw: Any) -> dict[str, Any]:
        scope, flt = self._args(kw.get("issuer_id"), kw.get("badge_id"),
                                kw.get("issuer_ids", ()), kw.get("badge_ids", ()),
                                kw.get("statuses", ()), kw.get("key_issuers"))
        cur: dict[str, list[Award]] = {}
        for a in self._cohort(org_id, scope, flt, period):
            cur.setdefault(a.method, []).append(a)
        prev: dict[str, list[Award]] = {}
        for a in self._cohort(org_id, scope, flt, previous_period(period)):
            prev.setdefault(a.method, []).append(a)
        out = []
        for method, awards in cur.items():
            n = len(awards)
            acc = sum(a.accepted_ever() for a in awards)
            shr = sum(a.shared_ever() for a in awards)
            pa = prev.get(method, [])
            out.append({
                "method": method, "badges_awarded": n, "accepted_awards": acc,
                "acceptance_rate": ratio(acc, n), "shared_awards": shr,
                "share_rate": ratio(shr, n), "time_to_accept": tta_histogram(awards),
                "previous": {"badges_awarded": len(pa),
                             "acceptance_rate": ratio(sum(a.accepted_ever() for a in pa),
                                                      len(pa)),
                             "share_rate": ratio(sum(a.shared_ever() for a in pa), len(pa))},
            })
        out.sort(key=lambda m: (-m["badges_awarded"], m["method"]))
        return {"methods": out}

    def insight_funnel(self, org_id: str, *, period: tuple[date, date],
                       **kw: Any) -> dict[str, Any]:
        scope, flt = self._args(kw.get("issuer_id"), kw.get("badge_id"),
                                kw.get("issuer_ids", ()), kw.get("badge_ids", ()),
                                kw.get("statuses", ()), kw.get("key_issuers"))

        def counts(p: tuple[date, date]) -> dict[str, int]:
            cohort = self._cohort(org_id, scope, flt, p)
            return {"issued": len(cohort),
                    "accepted": sum(a.accepted_ever() for a in cohort),
                    "shared": sum(a.shared_ever() for a in cohort),
                    "viewed": sum(a.viewed_ever() for a in cohort)}

        cur = counts(period)
        names = ["issued", "accepted", "shared", "viewed"]
        steps = []
        for i, name in enumerate(names):
            steps.append({"step": name, "count": cur[name],
                          "rate_from_previous": None if i == 0 else
                          ratio(cur[name], cur[names[i - 1]]),
                          "rate_from_issued": ratio(cur[name], cur["issued"])})
        return {**cur, "steps": steps, "previous": counts(previous_period(period))}

    def insight_benchmarks(self, org_id: str, *, period: tuple[date, date]) -> dict[str, Any]:
        """The org's percentile among the deployment's orgs with >= 50 cohort awards in P
        (>= 50 shares for the impact score); null unless it is one and there are >= 5."""
        everyone = {org: self._metrics(org, Scope(), NO_FILTERS, period) for org in self._orgs}
        out = []
        for metric in ("acceptance_rate", "share_rate", "public_visibility_rate",
                       "learner_engagement_score", "external_impact_score"):
            basis = "shares" if metric == "external_impact_score" else "badges_awarded"
            peers = [org for org, m in everyone.items() if m[basis] >= 50]
            mine = everyone.get(org_id) or self._metrics(org_id, Scope(), NO_FILTERS, period)
            pct = None
            if org_id in peers and len(peers) >= 5:
                others = [everyone[o][metric] for o in peers if o != org_id]
                below = sum(1 for v in others if v < mine[metric])
                equal = sum(1 for v in others if v == mine[metric])
                pct = 100 * (below + 0.5 * equal) / (len(peers) - 1)
            out.append({"metric": metric, "value": mine[metric], "percentile": pct,
                        "peers": len(peers)})
        return {"metrics": out}
