"""Per-award state and its transitions: pure functions, no I/O.

An award's contribution to the counters is a function of the set of its events, never of
their arrival order (docs/semantics.md). Applying an event means: compute the contribution
before, fold the event into the state, compute it after, and hand the difference on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.layout import STATUS_CODES
from schemas.metrics import tta_bucket_index

US_PER_HOUR = 3_600_000_000

# Status event kinds as stored: accept, decline, revoke.
ACCEPT, DECLINE, REVOKE = "a", "d", "r"
KIND_OF_TYPE = {"award.accepted": ACCEPT, "award.declined": DECLINE, "award.revoked": REVOKE}

P, A, D, R = (STATUS_CODES[s] for s in ("pending", "accepted", "declined", "revoked"))


@dataclass(slots=True)
class AwardState:
    issuer: str
    badge: str
    ts: int  # award.issued occurred_at, epoch microseconds
    eid: str
    method: str
    day: str  # UTC issue day
    vis: tuple[int, str, str]  # latest (ts, event_id, visibility)
    st: list[tuple[int, str, str]] = field(default_factory=list)  # sorted status events
    shared: bool = False

    def dumps(self) -> bytes:
        return orjson.dumps(
            [self.issuer, self.badge, self.ts, self.eid, self.method, self.day,
             list(self.vis), [list(s) for s in self.st], self.shared]
        )

    @classmethod
    def loads(cls, raw: bytes | str) -> AwardState:
        i, b, ts, eid, m, day, vis, st, sh = orjson.loads(raw)
        return cls(i, b, ts, eid, m, day, (vis[0], vis[1], vis[2]),
                   [(s[0], s[1], s[2]) for s in st], sh)


def status_at(st: list[tuple[int, str, str]], t: int | None) -> str:
    """Status code at time t (None = now) from sorted status events (semantics.md)."""
    code = P
    for ts, _eid, kind in st:
        if t is not None and ts > t:
            break
        if kind == REVOKE:
            return R
        code = A if kind == ACCEPT else D
    return code


def first_accept(st: list[tuple[int, str, str]]) -> int | None:
    """The earliest accept not preceded by a revoke, or None."""
    for ts, _eid, kind in st:
        if kind == REVOKE:
            return None
        if kind == ACCEPT:
            return ts
    return None


Cohort = tuple[str, bool, bool, bool, str, int]


def cohort(s: AwardState) -> Cohort:
    """(status, accepted ever, shared ever, public now, method, time-to-accept bucket)."""
    fa = first_accept(s.st)
    tta = -1 if fa is None else tta_bucket_index((fa - s.ts) / US_PER_HOUR)
    return (status_at(s.st, None), fa is not None, s.shared, s.vis[2] == "public", s.method, tta)


def cohort_fields(c: Cohort) -> list[str]:
    s, acc, shared, public, method, tta = c
    out = [f"aw.{s}", f"me.{method}.{s}"]
    if acc:
        out.append(f"ac.{s}")
        out.append(f"tt.{tta}.{s}")
    if shared:
        out.append(f"sh.{s}")
    if public:
        out.append(f"pu.{s}")
    return out


def cohort_delta(before: Cohort | None, after: Cohort) -> dict[str, int]:
    """Counter changes on the issue day when an award's cohort tuple changes."""
    if before == after:
        return {}
    delta: dict[str, int] = {}
    if before is not None:
        for f in cohort_fields(before):
            delta[f] = delta.get(f, 0) - 1
    for f in cohort_fields(after):
        delta[f] = delta.get(f, 0) + 1
    return {k: v for k, v in delta.items() if v}


def insert_status(s: AwardState, ts: int, eid: str, kind: str) -> None:
    item = (ts, eid, kind)
    st = s.st
    if not st or st[-1] < item:
        st.append(item)
    else:
        st.append(item)
        st.sort()


def activity_field(kind: str, chan: str, status: str) -> str:
    return f"{'sc' if kind == 's' else 'vs'}.{chan}.{status}"


def log_entry(ts: int, kind: str, chan: str) -> str:
    return f"{ts},{kind},{chan};"


def parse_log(raw: str) -> list[tuple[int, str, str]]:
    out = []
    for item in raw.split(";"):
        if item:
            ts, kind, chan = item.split(",")
            out.append((int(ts), kind, chan))
    return out


def utc_day(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1_000_000, UTC).date().isoformat()


def rebucket(
    old_st: list[tuple[int, str, str]],
    new_st: list[tuple[int, str, str]],
    since: int,
    log: list[tuple[int, str, str]],
) -> list[tuple[str, str, int]]:
    """(day, field, delta) moves for shares/views at or after `since` whose status changed."""
    moves: list[tuple[str, str, int]] = []
    for ts, kind, chan in log:
        if ts < since:
            continue
        before, after = status_at(old_st, ts), status_at(new_st, ts)
        if before != after:
            day = utc_day(ts)
            moves.append((day, activity_field(kind, chan, before), -1))
            moves.append((day, activity_field(kind, chan, after), 1))
    return moves


def badge_meta_merge(
    meta: dict[str, Any], ts: int, eid: str, values: dict[str, Any]
) -> bool:
    """Fold field values stamped (ts, eid) into badge metadata; latest stamp wins per field."""
    changed = False
    for name, value in values.items():
        cur = meta.get(name)
        if cur is None or (cur[0], cur[1]) < (ts, eid):
            meta[name] = [ts, eid, value]
            changed = True
    return changed
