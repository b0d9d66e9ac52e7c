"""Per-award state and its transitions: pure functions, no I/O.

An award's contribution to the counters is a function of the set of its events, never of
their arrival order (docs/semantics.md). Applying an event means: compute the contribution
before, fold the event into the state, compute it after, and hand the difference on.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgpack

from schemas.layout import (
    ACCEPTED,
    AWARDED,
    BOT_VIEWS,
    METHOD,
    METHOD_SHARED,
    METHOD_TIME_TO_ACCEPT,
    PUBLIC,
    SHARE_CHANNEL,
    SHARED,
    STATUS_CODES,
    VIEW_SOURCE,
    VIEWED,
    pair,
)
from schemas.metrics import tta_bucket_index

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Status event kinds as stored: accept, decline, revoke.
ACCEPT, DECLINE, REVOKE = "a", "d", "r"
KIND_OF_TYPE = {"award.accepted": ACCEPT, "award.declined": DECLINE, "award.revoked": REVOKE}

P, A, D, R = (STATUS_CODES[s] for s in ("pending", "accepted", "declined", "revoked"))


# The well-known share channels and view sources (events.md), packed as one small int in
# the activity log; any other token is kept as text.
SHARE_CHANNELS = ("linkedin", "linkedin_profile", "facebook", "x", "email", "url", "embed",
                  "download", "wallet", "other")
VIEW_SOURCES = ("linkedin", "direct", "embed", "email", "search", "social", "verification",
                "other")
# Log kinds: "s" a share, "v" a human view, "b" a bot or link-preview view. A view's kind is
# decided once, when it is folded (schemas/bots.py), and kept: re-counting the log later (a
# late status event moving it between status fields) never asks the crawler list again, so
# a newer list cannot move an old view from one count to another.
SHARE, VIEW, BOT_VIEW = "s", "v", "b"  # not key syntax: the award state's log kinds
_CODE = {**{(SHARE, c): i for i, c in enumerate(SHARE_CHANNELS)},
         **{(VIEW, c): 64 + i for i, c in enumerate(VIEW_SOURCES)},
         **{(BOT_VIEW, c): 128 + i for i, c in enumerate(VIEW_SOURCES)}}
_OF_CODE = {i: kc for kc, i in _CODE.items()}
_VIS = {"private": 0, "public": 1}
_VIS_OF = {v: k for k, v in _VIS.items()}
# The awarding methods of events.md, packed as one small int (any other token as text).
METHODS = ("manual", "bulk", "lms", "api", "integration", "automation", "other")
_METHOD = {m: i for i, m in enumerate(METHODS)}
# Status event kinds as one small int.
_KINDS = (ACCEPT, DECLINE, REVOKE)
_KIND = {k: i for i, k in enumerate(_KINDS)}
FORMAT = 4  # the first item of a packed state; 1 was the JSON list with a separate log key
OLD_FORMATS = (2, 3)  # read still (what earlier workers wrote), written again as FORMAT
DIGEST = 8  # bytes of an event id's digest in `seen`
# A share/view log entry in FORMAT 3: its code (_CODE) and its time as a signed 48-bit
# offset in µs from the issue (± 4.4 years), 7 bytes; an entry that does not fit (a token
# of no code, an offset beyond that) is the code _SIDE here and its (offset, code or text)
# is the next pair of the side list, so the log keeps its order.
_ENTRY = struct.Struct("<BHi")
_DIGESTS = struct.Struct(f"{DIGEST}s")
_PACKER = msgpack.Packer(use_bin_type=True)  # reused (the worker packs on one thread)
_SIDE = 255
_OFF_LIMIT = 1 << 47


@functools.lru_cache(maxsize=1 << 16)  # one event's id is digested up to four times
def digest(event_id: str) -> bytes:
    """The 8-byte digest of an event id that an award keeps to recognise a re-sent share,
    view or visibility change (a false match needs two of one award's event ids to collide
    in 64 bits: about 1 in 10^17 per award)."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST).digest()


# FORMAT 4 names an award's (issuer, badge) by the pair's 8-byte digest within its org (10
# bytes packed, against 35 for the two ids on bench_worker's mix). The org's pair-digest
# hash (Layout.pair_digests: hex digest -> "issuer|badge") says what a digest names: every
# commit that writes a FORMAT 4 state claims its digest in the same script (apply.lua
# refuses the whole commit, COLLISION, if the digest names another pair already, and sets it
# if absent), so a FORMAT 4 state in Redis always has its pair there, and a digest never
# names two pairs. The worker reads the pairs of the states a batch fetched with them
# (streams/sink.py). Two pairs of one org with one digest (about 1 in 10^10 for an org of
# 100,000 pairs by chance; a tenant can make one on purpose, in its own org only, since the
# org is digested too) are found by the claim: the second pair's states are then written
# with their ids (FORMAT 3) by this process (COLLIDED).
PAIR_DIGEST = 8
COLLIDED: set[tuple[str, bytes]] = set()  # (org, digest) that name two pairs: FORMAT 3


def mark_collided(org: str, d: bytes) -> None:
    """Digest `d` of `org` names another pair already: write this one's states with ids."""
    COLLIDED.add((org, d))


class UnknownPair(LookupError):
    """A FORMAT 4 state whose pair was not given to `AwardState.loads`."""


@functools.lru_cache(maxsize=1 << 16)
def pair_digest(org: str, issuer: str, badge: str) -> bytes:
    """The digest FORMAT 4 stores for (issuer, badge) of `org`."""
    return hashlib.blake2b(f"{org}\n{pair(issuer, badge)}".encode(), digest_size=PAIR_DIGEST,
                           person=b"bp-pair").digest()


def state_pair(raw: bytes) -> bytes | None:
    """The pair digest of a packed FORMAT 4 state, read without unpacking it (the array's
    header byte, the format 4, then the digest as bin 8), or None for an older format."""
    if len(raw) > 3 + PAIR_DIGEST and raw[1] == 4 and raw[2] == 0xC4 and raw[3] == PAIR_DIGEST:
        return raw[4:4 + PAIR_DIGEST]
    return None


def digest_int(event_id: str) -> int:
    """The digest as a signed 64-bit integer: what the dedup sets hold (Layout.dedup)."""
    return int.from_bytes(digest(event_id), "little", signed=True)


@dataclass(slots=True)
class AwardState:
    """All an award needs for exact counting, stored packed in one value (FORMAT 4): its
    issue, visibility stamp, status events, share/view log and the digests of the applied
    shares, views and visibility changes (its de-duplication, kept as long as the award).

    Packed (msgpack): [4, pair, ts, eid, method, vis, st, shared, log, seen(, side)] where
    pair is the (issuer, badge) pair's digest (pair_digest; FORMAT 3 had the two ids there);
    method is its index in METHODS or the token; vis the visibility's code (0 private,
    1 public) when the issue set it, else [offset, event id, code]; st the status events
    flat as (offset, kind code, event id); log the share/view entries as 7-byte records
    (_ENTRY); seen the digests concatenated; side, only when some log entry needs it,
    (offset, code or kind+token) pairs. Offsets are µs after the issue; event ids are
    kept whole, since ties at one instant are broken by them (docs/semantics.md).
    `viewed` is not stored: a human view is in the log."""

    issuer: str
    badge: str
    ts: int  # award.issued occurred_at, epoch microseconds
    eid: str
    method: str
    day: str  # UTC issue day
    vis: tuple[int, str, str]  # latest (ts, event_id, visibility)
    st: list[tuple[int, str, str]] = field(default_factory=list)  # sorted status events
    shared: bool = False
    log: list[tuple[int, str, str]] = field(default_factory=list)  # (ts, kind, chan) s/v/b
    seen: set[bytes] = field(default_factory=set)  # digests of applied s/v/visibility ids
    viewed: bool = False  # a human view in the log (derived from it, not stored apart)
    org: str = field(default="", compare=False)  # whose award: FORMAT 4's pair is the org's

    def dumps(self) -> bytes:
        ts = self.ts
        vts, veid, vis = self.vis
        vcode = _VIS.get(vis, vis)
        vfield: Any = vcode if vts == ts and veid == self.eid else [vts - ts, veid, vcode]
        st: list[Any] = []
        for sts, seid, kind in self.st:
            st.extend((sts - ts, _KIND[kind], seid))
        pack, code_of = _ENTRY.pack, _CODE
        entries: list[bytes] = []
        side: list[Any] = []
        try:  # every entry has a code and an offset within 48 bits: the usual case
            for lts, kind, chan in self.log:
                off = lts - ts
                entries.append(pack(code_of[(kind, chan)], off & 0xFFFF, off >> 16))
            blob = b"".join(entries)
        except (KeyError, struct.error):
            blob, side = _log_with_side(self.log, ts)
        method = _METHOD.get(self.method, self.method)
        d = pair_digest(self.org, self.issuer, self.badge)
        head: list[Any] = ([FORMAT, d] if (self.org, d) not in COLLIDED
                           else [3, self.issuer, self.badge])  # one digest, two pairs
        out = [*head, ts, self.eid, method, vfield, st, self.shared, blob,
               b"".join(sorted(self.seen))]
        if side:
            out.append(side)
        packed: bytes = _PACKER.pack(out)
        return packed

    @classmethod
    def loads(cls, raw: bytes, org: str = "",
              pairs: Mapping[tuple[str, bytes], tuple[str, str]] | None = None) -> AwardState:
        """The state packed in `raw`, an award of `org`; `pairs`: (org, digest) -> (issuer,
        badge) of its pair, for FORMAT 4 (what the org's pair-digest hash holds)."""
        items = msgpack.unpackb(raw, raw=False, use_list=True)
        if items[0] == FORMAT:
            the_pair = None if pairs is None else pairs.get((org, items[1]))
            if the_pair is None:
                raise UnknownPair(f"{org}: pair {items[1].hex()} not given")
            issuer, badge = the_pair
            rest = 2
        elif items[0] == 3:  # the ids themselves where FORMAT 4 has the pair digest
            issuer, badge = items[1], items[2]
            rest = 3
        elif items[0] in OLD_FORMATS:
            return _loads_format2(cls, items, org)
        else:
            raise ValueError(f"award state format {items[0]}, this worker reads {FORMAT} "
                             f"and {', '.join(map(str, OLD_FORMATS))}")
        ts, eid, method, vfield, stf, shared, blob, seen = items[rest:rest + 8]
        if isinstance(vfield, list):
            voff, veid, vcode = vfield
            vstamp = (ts + voff, veid, _VIS_OF[vcode] if isinstance(vcode, int) else vcode)
        else:
            vstamp = (ts, eid, _VIS_OF[vfield] if isinstance(vfield, int) else vfield)
        st = [(ts + stf[i], stf[i + 2], _KINDS[stf[i + 1]]) for i in range(0, len(stf), 3)]
        if len(items) > rest + 8:
            log = _log_of_side(blob, items[rest + 8], ts)
            viewed = any(kind == VIEW for _t, kind, _c in log)
        else:
            log = []
            for code, lo, hi in _ENTRY.iter_unpack(blob):
                kind, chan = _OF_CODE[code]
                log.append((ts + lo + (hi << 16), kind, chan))
            viewed = not _VIEW_CODES.isdisjoint(blob[::_ENTRY.size])  # the records' codes
        return cls(issuer, badge, ts, eid,
                   METHODS[method] if isinstance(method, int) else method, utc_day(ts),
                   vstamp, st, shared, log, {d for (d,) in _DIGESTS.iter_unpack(seen)}, viewed,
                   org)


_SIDE_ENTRY = _ENTRY.pack(_SIDE, 0, 0)
_VIEW_CODES = frozenset(code for (kind, _c), code in _CODE.items() if kind == VIEW)


def _log_with_side(log: list[tuple[int, str, str]], ts: int) -> tuple[bytes, list[Any]]:
    """The log's records, and the side list of those that do not fit one."""
    entries: list[bytes] = []
    side: list[Any] = []
    for lts, kind, chan in log:
        off = lts - ts
        code = _CODE.get((kind, chan))
        if code is not None and -_OFF_LIMIT <= off < _OFF_LIMIT:
            entries.append(_ENTRY.pack(code, off & 0xFFFF, off >> 16))
        else:
            entries.append(_SIDE_ENTRY)
            side.append(off)
            side.append(kind + chan if code is None else code)
    return b"".join(entries), side


def _log_of_side(blob: bytes, side: list[Any], ts: int) -> list[tuple[int, str, str]]:
    """The log from its records and side list (_log_with_side)."""
    log = []
    j = 0
    for code, lo, hi in _ENTRY.iter_unpack(blob):
        if code == _SIDE:
            off, code = side[j], side[j + 1]
            j += 2
            kind, chan = _OF_CODE[code] if isinstance(code, int) else (code[0], code[1:])
        else:
            off = lo + (hi << 16)
            kind, chan = _OF_CODE[code]
        log.append((ts + off, kind, chan))
    return log


def _loads_format2(cls: type[AwardState], items: list[Any], org: str) -> AwardState:
    """A state as FORMAT 2 packed it (main before 2026-11-29 13:xx): [2, issuer, badge, ts,
    eid, method, vis offset or None, vis event id or None, vis code, st flat as (offset,
    kind, event id), shared, log flat as (offset, code or kind+token), seen]."""
    (_fmt, issuer, badge, ts, eid, method, vts, veid, vis, stf, shared, logf,
     seen) = items
    visibility: str = _VIS_OF[vis] if isinstance(vis, int) else vis
    vstamp = (ts, eid, visibility) if vts is None else (ts + vts, veid, visibility)
    st = [(ts + stf[i], stf[i + 2], stf[i + 1]) for i in range(0, len(stf), 3)]
    log = []
    viewed = False
    for i in range(0, len(logf), 2):
        code = logf[i + 1]
        kind, chan = _OF_CODE[code] if isinstance(code, int) else (code[0], code[1:])
        log.append((ts + logf[i], kind, chan))
        if kind == VIEW:
            viewed = True
    return cls(issuer, badge, ts, eid, method, utc_day(ts), vstamp, st, shared, log,
               {seen[i:i + DIGEST] for i in range(0, len(seen), DIGEST)}, viewed, org)


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


Cohort = tuple[str, bool, bool, bool, str, int, bool]


def cohort(s: AwardState) -> Cohort:
    """(status, accepted ever, shared ever, public now, method, time-to-accept bucket,
    viewed ever by a human)."""
    # status_at(st, None) and first_accept(st) in one pass over the status events
    code, fa = P, None
    for ts, _eid, kind in s.st:
        if kind == REVOKE:
            code = R
            break
        if kind == ACCEPT:
            code = A
            if fa is None:
                fa = ts
        else:
            code = D
    tta = -1 if fa is None else tta_bucket_index((fa - s.ts) / US_PER_HOUR)
    return (code, fa is not None, s.shared, s.vis[2] == "public", s.method, tta, s.viewed)


def cohort_fields(c: Cohort) -> list[str]:
    """The issue day's counter fields an award adds 1 to (schemas/layout.py names them);
    the per-method ones (`ms`, `mt`) answer insights/methods, `vw` the funnel. An accepted
    award is in one time-to-accept bucket of its method (`mt`): summed over the methods
    that is the time-to-accept histogram, and over the buckets the method's accepted
    awards, so neither needs a field of its own."""
    return list(_cohort_fields(c))


@functools.lru_cache(maxsize=1 << 12)  # a few hundred cohorts in practice
def _cohort_fields(c: Cohort) -> tuple[str, ...]:
    """cohort_fields, built once per distinct cohort."""
    s, acc, shared, public, method, tta, viewed = c
    out = [f"{AWARDED}.{s}", f"{METHOD}.{method}.{s}"]
    if acc:
        out.append(f"{ACCEPTED}.{s}")
        out.append(f"{METHOD_TIME_TO_ACCEPT}.{method}.{tta}.{s}")
    if shared:
        out.append(f"{SHARED}.{s}")
        out.append(f"{METHOD_SHARED}.{method}.{s}")
    if public:
        out.append(f"{PUBLIC}.{s}")
    if viewed:
        out.append(f"{VIEWED}.{s}")
    return tuple(out)


def cohort_delta(before: Cohort | None, after: Cohort) -> dict[str, int]:
    """Counter changes on the issue day when an award's cohort tuple changes."""
    if before == after:
        return {}
    return dict(_cohort_delta(before, after))  # a copy: the cached one stays as it is


@functools.lru_cache(maxsize=1 << 14)  # (before, after) pairs: a few thousand in practice
def _cohort_delta(before: Cohort | None, after: Cohort) -> dict[str, int]:
    """cohort_delta of two different cohorts, built once per distinct pair."""
    if before is None:
        return dict.fromkeys(_cohort_fields(after), 1)
    # a cohort names each field at most once: the change is two set differences (in C)
    old, new = set(_cohort_fields(before)), set(_cohort_fields(after))
    delta = dict.fromkeys(old - new, -1)
    delta.update(dict.fromkeys(new - old, 1))
    return delta


def insert_status(s: AwardState, ts: int, eid: str, kind: str) -> None:
    item = (ts, eid, kind)
    st = s.st
    if not st or st[-1] < item:
        st.append(item)
    else:
        st.append(item)
        st.sort()


def activity_field(kind: str, chan: str, status: str) -> str:
    """Shares by channel, human views by source; bot views have one count (no source:
    they are in no viewing-source chart)."""
    if kind == SHARE:
        return f"{SHARE_CHANNEL}.{chan}.{status}"
    if kind == VIEW:
        return f"{VIEW_SOURCE}.{chan}.{status}"
    return f"{BOT_VIEWS}.{status}"


def utc_day(ts_us: int) -> str:
    """The UTC day of a time, by integer division as schemas/events.py names an event's day
    (no float on the way: exact to the microsecond at any date)."""
    return _day_name(ts_us // US_PER_DAY)


@functools.lru_cache(maxsize=1 << 12)
def _day_name(days: int) -> str:
    return date.fromordinal(days + _EPOCH_ORDINAL).isoformat()


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
