"""The commit protocol: how one Commit travels to streams/apply.lua, which sits beside this.

A commit goes to Redis as one argument, a MessagePack array (`decode` reads it back): the
Header's slots in HEADER_SLOTS order, then one section per Op in use, ``op code, row count,
rows...``. Counts, and the badge-table rows' indexes and deltas, which the script only
computes with, are integers; everything it hands to a Redis command is a string (a Lua
number passed to redis.call is formatted by Redis with snprintf, dearer than the string).
Binary values (the packed award states) follow as further arguments, which the array names
by position. The script decodes exactly that (cmsgpack: ~2.5 % fewer Redis instructions
than cjson on bench_worker's commits, and no number turned into text here). Everything
both sides must agree on (op codes, results, header positions, offset modes, the
badge-table vector length) is defined here once and rendered into the script when it is
loaded (`apply_lua`), so the encoder and the decoder cannot drift.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from typing import Any

import msgspec

from schemas.layout import (
    ACCEPTED,
    ALL_BUCKET,
    AWARDED,
    BADGE_LEVEL,
    BOT_VIEWS,
    CONTROL_TAG,
    CREATED,
    DEDUP_BUCKETS,
    DEDUP_ONE,
    DEDUP_ONE_SET,
    DEDUP_SPLIT,
    FIELD_CODES,
    FIELD_SEP,
    ISSUER_LEVEL,
    LAYOUT_MIXED,
    LAYOUT_PACKED,
    ORG_ENTITY,
    ORG_LEVEL,
    POS_EPOCH,
    POS_NEXT,
    POS_VALUE_SEP,
    POS_WRITES,
    PUBLIC,
    REJECTED_PREFIX,
    SHARE_CHANNEL,
    SHARED,
    TABLE_VECTOR,
    VERSIONS_GEN,
    VERSIONS_LAYOUT,
    VIEW_SOURCE,
    Layout,
    buckets_of_day,
    counter_key,
    counter_parts,
    dedup_buckets,
    hash_tag,
    method_table_field,
    pair,
    table_index,
    table_version_field,
)
from streams.processor import Commit


class Op(StrEnum):
    """One kind of write; the value is its one-character code on the wire (the payload of a
    large batch holds a few hundred thousand strings, so the codes stay short)."""

    PACKED = "C"  # key, field, count, (count's field, delta)...: added into the field's
    # MessagePack map of counts (an entity's counters in a bucket: schemas/layout.py), a
    # count that comes to 0 removed and the field with it when none is left
    LAYOUT = "Y"  # key, legacy key: unless the key (an org's versions hash) has
    # VERSIONS_LAYOUT, set it: LAYOUT_MIXED if the legacy key (its all-time org counters of
    # before the packed counters) exists, else LAYOUT_PACKED
    COUNTERS = "K"  # key, field count, (field, delta)...: HINCRBY, rolled up per batch here
    TABLE = "T"  # key, field, nonzero count, (index, delta)...: added into a packed vector
    DEDUP = "M"  # per org-day: its one set, seconds to keep, the one set's room, count, the
    # digests' buckets (one hex digit each), digests...: SADD where the layout says
    # (schemas/layout.py DEDUP_ONE_SET), EXPIRE
    UNDEDUP = "W"  # key, digest: SREM (the mark of a held event rejected on release)
    HINCRBY = "I"  # key, field, delta
    HSETNX = "N"  # key, field, value
    LIFETIME = "L"  # key, field, token: unless it holds this Redis process's run_id (INFO
    # server), HSET to that run_id and the token (a fresh uuid per commit)
    STATE = "S"  # key, field, position of the value among the script's ARGVs: HSET (binary)
    HSET = "H"  # key, field, value
    EXPIRE = "E"  # key, seconds
    RPUSH = "R"  # key, value
    DEL = "D"  # key
    ZADD = "Z"  # key, score, member
    ZREM = "X"  # key, member
    SADD = "U"  # key, member
    HMIN = "<"  # key, field, value: set if absent or smaller (string order: ISO days)
    HMAX = ">"  # key, field, value: set if absent or larger (numeric order)
    PUBLISH = "P"  # channel, message
    CLAIM = "Q"  # key, field, value: first in the payload; the whole commit is refused
    # (COLLISION) if a field holds another value, else HSETNX (FORMAT 4's pair digests)


class ApplyResult(StrEnum):
    """What apply.lua answers. Anything but OK means nothing was written."""

    OK = "ok"  # every write applied, and the partition's next offset stored
    STALE = "stale"  # the stored offset is past this batch's first: applied before
    FENCED = "fenced"  # another owner claimed the partition since (a newer epoch)
    WIPED = "wiped"  # the epoch, or an offset we expected, is gone: Redis lost the aggregates
    RETIRED = "retired"  # the generation is neither serving nor building any more
    COLLISION = "collision"  # a CLAIM's field holds another value (two pairs, one digest)


# Offset modes, in Header.first (and Header.next for UNCHECKED).
UNCHECKED = -1  # no offset check and none stored (held-event sweeps)
FORCED = -2  # store `next` whatever the stored offset was (the broker came back empty)
REWIND = -3  # forget the partition's offset: replay it from the log's start (an org lost)

PARTITION, ORG = "p", "o"  # Header.mode  # not key syntax: this protocol's own codes

# The header's wire order; apply.lua reads each slot by the name it has here.
HEADER_SLOTS = ("partition", "epoch", "first", "next", "expected", "offsets", "epochs",
                "generations", "generation", "fingerprints", "fingerprint", "blobs", "mode",
                "incarnation", "incarnations", "rewound")


@dataclass(frozen=True, slots=True)
class Header:
    """Who applies the commit and where the partition stands (see apply.lua's checks)."""

    partition: str  # schemas.layout.tp_field(topic, partition)
    epoch: int  # the fencing epoch this worker claimed
    first: int  # offset of the batch's first record, or UNCHECKED / FORCED
    next: int  # the offset to store once applied; UNCHECKED stores none
    expected: int | None = None  # the offset we believe stored; None: none yet
    fingerprint: str = ""  # Record.fingerprint of the record before `next`; '' for none
    # ORG: one org's writes, checked against its position (`expected` = its write count
    # read by the worker, None for none); PARTITION: the control slot's checks above.
    mode: str = PARTITION
    org: str = ""  # the org of an ORG commit
    incarnation: int = 0  # the partition's log incarnation the worker claimed (ORG)

    def slots(self, layout: Layout) -> list[str]:
        org = self.mode == ORG
        values = {
            "partition": self.partition, "epoch": str(self.epoch), "first": str(self.first),
            "next": str(self.next), "expected": "" if self.expected is None else str(self.expected),
            "offsets": layout.positions(self.org) if org else layout.offsets(),
            "epochs": layout.epochs(),
            "generations": layout.generations(), "generation": str(layout.gen),
            "fingerprints": layout.fingerprints(), "fingerprint": self.fingerprint,
            "blobs": "0",  # the number of binary ARGVs after the JSON (encode sets it)
            "mode": self.mode, "incarnation": str(self.incarnation),
            "incarnations": layout.incarnations(), "rewound": layout.rewound(),
        }
        return [values[name] for name in HEADER_SLOTS]

    def keys(self, layout: Layout) -> list[str]:
        """The keys the header's checks read or write (declared to Redis Cluster)."""
        if self.mode == ORG:
            return [layout.positions(self.org)]
        return [layout.offsets(), layout.epochs(), layout.generations(), layout.fingerprints(),
                layout.incarnations(), layout.rewound()]


def encode(commit: Commit, layout: Layout, header: Header,
           dedup_room: int = DEDUP_ONE_SET) -> list[bytes]:
    """The ARGVs of apply.lua: the MessagePack array, then the binary values it names.
    Leaves `commit` as it was. `dedup_room`: the most members an org-day's one dedup set
    may hold (the Redis's `set-max-intset-entries`, at most DEDUP_ONE_SET; Sink reads it).

    One argument instead of tens of thousands: redis-py encodes each argument in Python,
    which cost more than the whole fold (profile in bench/README.md). The award states stay
    arguments of their own (bytes pass through untouched).
    """
    blobs: list[bytes] = []
    out: list[str | int] = [*header.slots(layout)]
    if commit.pair_claims:  # first: apply.lua checks them all before any write
        out.extend((Op.CLAIM, len(commit.pair_claims)))
        for (org, f), v in commit.pair_claims.items():
            out.extend((layout.pair_digests(org), f, v))
    incr: defaultdict[tuple[str, str], int] = defaultdict(int, commit.incr)
    sadd = set(commit.sadd)
    # an org's script cannot write the registry (the control slot): split() registers it
    _add_stats(commit, layout, incr, sadd if header.mode == PARTITION else set())
    cells, table, counted = _roll_up(commit, layout)

    nkeys = npacked = 0
    flat: list[str | int] = []
    pflat: list[str | int] = []
    code = FIELD_CODES.get
    for key, tgt in cells.items():
        if not tgt:
            continue
        if 0 in tgt.values():  # deltas that cancelled out within the batch: not written
            tgt = {f: n for f, n in tgt.items() if n}
            if not tgt:
                continue
        parts = counter_parts(key)
        if parts is not None:  # an entity's counters: its field of the bucket's packed hash
            npacked += 1
            prow: list[str | int] = [parts[0], parts[1], len(tgt), *tgt, *tgt]
            prow[3::2] = [code(f, f) for f in tgt]
            prow[4::2] = tgt.values()  # integers: the script adds them
            pflat.extend(prow)
            continue
        nkeys += 1
        row: list[str | int] = [key, len(tgt), *tgt, *tgt]  # key, field count, (field, delta)...
        row[2::2] = [code(f, f) for f in tgt]  # stored as its code (schemas/layout.py)
        row[3::2] = map(str, tgt.values())
        flat.extend(row)
    if npacked:
        out.extend((Op.PACKED, npacked))
        out.extend(pflat)
        # each org whose counters this commit writes: its layout, if not set yet (a few a
        # commit: the orgs of its cells)
        orgs = dict.fromkeys(cell[0] for cell in commit.fine)
        out.extend((Op.LAYOUT, len(orgs)))
        for org in orgs:
            out.extend((layout.table_versions(org), layout.legacy_org_all(org)))
    if nkeys:
        out.extend((Op.COUNTERS, nkeys))
        out.extend(flat)

    tflat: list[str | int] = []
    ntable = 0
    for (org, bucket, pf), tv in table.items():
        nz = [x for idx, n in tv.items() if n for x in (idx, n)]
        if nz:
            ntable += 1
            tflat.extend((layout.table(org, bucket), pf, len(nz) // 2))
            tflat.extend(nz)
    if ntable:
        out.extend((Op.TABLE, ntable))
        out.extend(tflat)
    # `_gen` of each org whose versions this commit bumps (Op.LIFETIME): set anew when it
    # is absent or was set by another Redis process (run_id). Readers cache by (version,
    # `_gen`). A Redis that came back empty (flushed, or a node restarted empty), or that
    # restarted from an older snapshot or append-only file, or a replica promoted behind
    # its master (its versions went back, and the replay bumps them again through the same
    # numbers with other contents): its first commit for an org gives the org a new
    # `_gen`, and nothing cached before is taken for what a version holds now.
    lifetime: dict[str, None] = dict.fromkeys(
        layout.table_versions(org) for org in commit.publish | {o for o, _n in commit.per_org})
    if table or counted:
        # Readers cache a bucket's table, methods and counter hashes by the bucket's one
        # version (api/readers/buckets.py), bumped in this same script for each (org,
        # bucket) with any write to them: a table or methods write (_roll_up files a methods
        # write under the bucket's table entry; every counter write but bot views comes with
        # one), or a counter write alone (`counted`). The `all` bucket has no version (no
        # table; it changes with every commit: read whole).
        for org, bucket in {(org, bucket) for org, bucket, _pf in table} | counted:
            incr[(layout.table_versions(org), table_version_field(bucket))] += 1
            lifetime[layout.table_versions(org)] = None

    dedup: dict[str, tuple[list[str], list[str]]] = {}
    for key, bucket, f in commit.dedup_marks:
        at = dedup.get(key)
        if at is None:
            at = dedup[key] = ([], [])
        at[0].append(bucket)
        at[1].append(f)
    if dedup:
        out.extend((Op.DEDUP, len(dedup)))
        ttl, room = str(commit.dedup_ttl), str(dedup_room)
        for key, (buckets, ids) in dedup.items():
            out.extend((key, ttl, room, len(ids), "".join(buckets)))
            out.extend(ids)

    def section(op: Op, rows: Iterable[tuple[Any, ...]], arity: int) -> None:
        flat = [v if isinstance(v, str) else _text(v) for row in rows for v in row]
        if flat:
            out.append(op)
            out.append(len(flat) // arity)
            out.extend(flat)

    section(Op.UNDEDUP, commit.dedup_unmarks, 2)
    section(Op.HINCRBY, ((k, f, n) for (k, f), n in incr.items() if n), 3)
    section(Op.HSETNX, ((k, f, v) for (k, f), v in commit.hsetnx.items()), 3)
    token = uuid.uuid4().hex
    section(Op.LIFETIME, ((k, VERSIONS_GEN, token) for k in lifetime), 3)
    blobs.extend(commit.states.values())
    section(Op.STATE, ((k, f, str(i)) for i, (k, f) in enumerate(commit.states, 2)), 3)
    section(Op.HSET, ((k, f, v) for (k, f), v in commit.hsets.items()), 3)
    section(Op.EXPIRE, commit.expire.items(), 2)
    section(Op.RPUSH, commit.rpush, 2)
    section(Op.DEL, ((k,) for k in commit.dels), 1)
    section(Op.ZADD, commit.zadd, 3)
    section(Op.ZREM, commit.zrem, 2)
    section(Op.SADD, sadd, 2)
    section(Op.HMIN, ((k, f, v) for (k, f), v in commit.hmin.items()), 3)
    section(Op.HMAX, ((k, f, v) for (k, f), v in commit.hmax.items()), 3)
    section(Op.PUBLISH, ((layout.changes_channel(), org) for org in sorted(commit.publish)), 2)
    out[HEADER_SLOTS.index("blobs")] = len(blobs)
    return [msgspec.msgpack.encode(out), *blobs]


def decode(arg: bytes) -> list[Any]:
    """The array `encode` sent as apply.lua's first argument (strings and integers)."""
    return list(msgspec.msgpack.decode(arg))


def _add_stats(commit: Commit, layout: Layout, incr: defaultdict[tuple[str, str], int],
               sadd: set[tuple[str, str]]) -> None:
    """The batch's outcome counts as increments: per org, and those of no known org in
    `stats`; every org counted joins the registry, so pipeline-wide totals are the sum of
    the registry's orgs and `stats` (a sum a commit split org by org keeps exact)."""
    stats = layout.stats()
    no_org = commit.rejected  # rejections are the only outcomes an event of no org can have
    for (org, name), n in commit.per_org.items():
        if n:
            incr[(layout.org_stats(org), name)] += n
            sadd.add((layout.orgs(), org))
            if name == "rejected":
                no_org -= n
    if no_org:
        incr[(stats, "rejected")] += no_org
    for (of_org, code), n in commit.reasons.items():
        if of_org is None:
            incr[(stats, f"{REJECTED_PREFIX}{code}")] += n
        else:
            incr[(layout.org_stats(of_org), f"{REJECTED_PREFIX}{code}")] += n
    # The org's data version: bumped once by every commit that changes anything of the org,
    # so readers can cache answers per (org, version) (schemas/layout.py org_stats).
    for org in commit.publish | {org for org, _name in commit.per_org}:
        incr[(layout.org_stats(org), "version")] += 1


TableCells = dict[tuple[str, str, str], defaultdict[int, int]]  # (org, bucket, pair) -> vector


def _roll_up(commit: Commit, layout: Layout) -> tuple[dict[str, dict[str, int]],
                                                     TableCells, set[tuple[str, str]]]:
    """Each (pair, day) cell into its 3 levels x 4 buckets, its badge-table vectors and
    method counts, so Redis gets one write per distinct (key, field) of the batch, not
    twelve per event; and the (org, bucket)s whose counter hashes get a write with no
    table or methods write beside it (their version is bumped all the same).

    The cells are summed per (pair, bucket) first (a day's bucket is the cell itself), the
    issuer level from those and the org level from the issuers' (`_fan_out`): a cell's
    field is added 4 times, not 12, and once more per level for each distinct bucket."""
    table: TableCells = {}
    counted: set[tuple[str, str]] = set()
    days: set[tuple[str, str]] = set()
    buckets_of: dict[str, tuple[str, str, str, str]] = {}
    # (org, issuer, badge) -> bucket -> field -> delta: the badge level's sums; its months
    # (bucket -> (its year's bucket, sums)) are summed into years and all time at the end
    badge_sums: dict[tuple[str, str, str], dict[str, dict[str, int]]] = {}
    months_of: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, int]]]] = {}
    methods_of: dict[str, dict[str, int]] = {}  # table-methods key -> field -> delta
    # (org, pair) -> month bucket -> (its year's bucket, the month's table vector)
    tmonths_of: dict[tuple[str, str], dict[str, tuple[str, defaultdict[int, int]]]] = {}
    # field -> its badge-table index, _METHOD_FIELD, or _NO_TABLE (a batch has ~100 fields)
    index_of: dict[str, int] = {}
    all_time: dict[str, bool] = {}  # field -> kept in the all-time bucket (ALL_TIME_KINDS)
    for (org, issuer, badge, day), cell in commit.fine.items():
        buckets = buckets_of.get(day)
        if buckets is None:
            buckets = buckets_of[day] = buckets_of_day(day)
        items = {f: n for f, n in cell.items() if n}
        sums = badge_sums.get((org, issuer, badge))
        if sums is None:
            sums = badge_sums[(org, issuer, badge)] = {}
            months = months_of[(org, issuer, badge)] = {}
        else:
            months = months_of[(org, issuer, badge)]
        d_bucket, m_bucket, y_bucket, _all = buckets
        sums[d_bucket] = items  # one cell per (pair, day): its day's sums as they are
        month = months.get(m_bucket)
        if month is None:
            months[m_bucket] = (y_bucket, dict(items))
        else:
            _add_fields(month[1], items.items())
        if not items:
            continue
        vec: dict[int, int] = {}
        methods: list[tuple[str, int]] = []
        for f, n in items.items():
            idx = index_of.get(f)
            if idx is None:
                idx = index_of[f] = _field_index(f)
            if idx >= 0:
                vec[idx] = vec.get(idx, 0) + n
            elif idx == _METHOD_FIELD and (method := method_table_field(issuer, f)) is not None:
                methods.append((method, n))
        if not (vec or methods):
            if (org, day) not in days:
                days.add((org, day))  # counters only (bot views): no table entry bumps the day
                counted.update((org, b) for b in buckets if b != ALL_BUCKET)
            continue
        # tables are read by period only, never all time; a methods write comes with a table
        # entry (maybe empty) too: its bucket's version is bumped with the entry's. The
        # day's vector is the cell's; months are summed here, years from them at the end.
        pair_field = pair(issuer, badge)
        table[(org, d_bucket, pair_field)] = defaultdict(int, vec)
        tmonths = tmonths_of.get((org, pair_field))
        if tmonths is None:
            tmonths = tmonths_of[(org, pair_field)] = {}
        tmonth = tmonths.get(m_bucket)
        if tmonth is None:
            tmonths[m_bucket] = (y_bucket, defaultdict(int, vec))
        else:
            tv = tmonth[1]
            for idx, n in vec.items():
                tv[idx] += n
        if methods:
            for bucket in (d_bucket, m_bucket, y_bucket):
                key = layout.table_methods(org, bucket)
                mt = methods_of.get(key)
                if mt is None:
                    mt = methods_of[key] = {}
                _add_fields(mt, methods)
    for (org, pair_field), tmonths in tmonths_of.items():
        for m_bucket, (y_bucket, tv) in tmonths.items():
            table[(org, m_bucket, pair_field)] = tv
            ty = table.get((org, y_bucket, pair_field))
            if ty is None:
                table[(org, y_bucket, pair_field)] = defaultdict(int, tv)
            else:
                for idx, n in tv.items():
                    ty[idx] += n
    for ref, months in months_of.items():
        sums = badge_sums[ref]
        years: dict[str, dict[str, int]] = {}
        for m_bucket, (y_bucket, tgt) in months.items():
            sums[m_bucket] = tgt
            _sum_into(years, y_bucket, tgt)
        for y_bucket, year in years.items():
            sums[y_bucket] = year
            kept = {}
            for f, n in year.items():
                keep = all_time.get(f)
                if keep is None:
                    keep = all_time[f] = f.partition(FIELD_SEP)[0] in ALL_TIME_KINDS
                if keep:
                    kept[f] = n
            if kept:
                _sum_into(sums, ALL_BUCKET, kept)
    return _fan_out(badge_sums, methods_of, layout), table, counted


# The counter field kinds the all-time bucket keeps: what its one reader folds (the
# summary's KPI tiles, api/readers/summary.py: api.readers.counters.Counts.as_dict over
# every status). The rest (awarding methods, their shares and times to accept, viewed
# cohorts) is read by period only, never all time, so it is not written there: an org's
# all-time hash holds ~1/3 of the fields (54 of 156 on bench_worker's mix) and a batch
# writes ~45 % fewer fields into all time (tests/unit/test_protocol_rollup.py holds this
# set to the fold).
ALL_TIME_KINDS = frozenset((CREATED, AWARDED, ACCEPTED, SHARED, PUBLIC, SHARE_CHANNEL,
                            VIEW_SOURCE, BOT_VIEWS))


def _add_fields(have: dict[str, int], items: Iterable[tuple[str, int]]) -> None:
    """Add each (field, delta) into `have`."""
    get = have.get
    for f, n in items:
        have[f] = get(f, 0) + n


def _sum_into(into: dict[str, dict[str, int]], key: str, tgt: dict[str, int]) -> None:
    """Add tgt's fields into into[key], which starts as a copy of tgt (tgt is not changed)."""
    have = into.get(key)
    if have is None:
        into[key] = dict(tgt)
    else:
        _add_fields(have, tgt.items())


_METHOD_FIELD, _NO_TABLE = -1, -2  # _field_index's answers for fields of no table index


def _field_index(f: str) -> int:
    """A counter field's badge-table index, else _METHOD_FIELD for a field method_table_field
    names, else _NO_TABLE."""
    idx = table_index(f)
    if idx is not None:
        return idx
    return _METHOD_FIELD if method_table_field("", f) is not None else _NO_TABLE


def _fan_out(badge_sums: dict[tuple[str, str, str], dict[str, dict[str, int]]],
             methods_of: dict[str, dict[str, int]], layout: Layout) -> dict[str, dict[str, int]]:
    """The counter hashes' writes: the badge level's sums as they are, the issuer level
    their sum per (issuer, bucket), the org level the issuers' per (org, bucket); then the
    table-methods hashes'. A dict placed in the result is not changed after."""
    cells: dict[str, dict[str, int]] = {}

    def place(key: str, tgt: dict[str, int]) -> None:
        have = cells.get(key)
        if have is None:
            cells[key] = tgt
        else:  # two entities naming one key (not expected): the sum, in a new dict
            merged = dict(have)
            _add_fields(merged, tgt.items())
            cells[key] = merged

    issuer_sums: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for (org, issuer, badge), sums in badge_sums.items():
        base = layout.counter_base(org, BADGE_LEVEL, pair(issuer, badge))
        into = issuer_sums.get((org, issuer))
        if into is None:
            into = issuer_sums[(org, issuer)] = {}
        for bucket, tgt in sums.items():
            place(counter_key(base, bucket), tgt)
            _sum_into(into, bucket, tgt)
    org_sums: dict[str, dict[str, dict[str, int]]] = {}
    for (org, issuer), sums in issuer_sums.items():
        base = layout.counter_base(org, ISSUER_LEVEL, issuer)
        into = org_sums.get(org)
        if into is None:
            into = org_sums[org] = {}
        for bucket, tgt in sums.items():
            place(counter_key(base, bucket), tgt)
            _sum_into(into, bucket, tgt)
    for org, sums in org_sums.items():
        base = layout.counter_base(org, ORG_LEVEL, ORG_ENTITY)
        for bucket, tgt in sums.items():
            place(counter_key(base, bucket), tgt)
    for key, tgt in methods_of.items():
        place(key, tgt)
    return cells


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, float):
        return repr(v)
    return str(v)


CONSTANTS_MARKER = "--@constants"


@functools.cache
def apply_lua() -> str:
    """apply.lua with this module's constants rendered in at CONSTANTS_MARKER."""
    template = files("streams").joinpath("apply.lua").read_text()
    if template.count(CONSTANTS_MARKER) != 1:
        raise RuntimeError(f"apply.lua must hold {CONSTANTS_MARKER} exactly once")
    lines = [
        "-- rendered from streams/protocol.py",
        f"local VLEN = {TABLE_VECTOR}",
        f"local UNCHECKED, FORCED, REWIND = {UNCHECKED}, {FORCED}, {REWIND}",
        _lua_table("SLOT", {name: str(i) for i, name in enumerate(HEADER_SLOTS, 1)}),
        f"local OPS_START = {len(HEADER_SLOTS) + 1}",
        _lua_table("OP", {op.name: _lua_str(op.value) for op in Op}),
        _lua_table("RESULT", {r.name: _lua_str(r.value) for r in ApplyResult}),
        dedup_lua(),
        _lua_table("LAYOUT", {"field": _lua_str(VERSIONS_LAYOUT),
                              "packed": _lua_str(LAYOUT_PACKED),
                              "mixed": _lua_str(LAYOUT_MIXED)}),
        _lua_table("POS", {"epoch": _lua_str(POS_EPOCH), "writes": _lua_str(POS_WRITES),
                           "next": _lua_str(POS_NEXT), "sep": _lua_str(POS_VALUE_SEP)}),
    ]
    return template.replace(CONSTANTS_MARKER, "\n".join(lines))


def dedup_lua() -> str:
    """The dedup layout's constants and helpers in Lua (schemas/layout.py DEDUP_ONE_SET),
    for apply.lua and the worker's lookup (streams/sink.py), which must read it alike."""
    return "\n".join((
        _lua_table("DEDUP", {"ONE": _lua_str(DEDUP_ONE), "SPLIT": _lua_str(DEDUP_SPLIT)}),
        f"local DEDUP_HEX = {{{', '.join(_lua_str(f'{b:x}') for b in range(DEDUP_BUCKETS))}}}",
        "-- the org-day's buckets (Layout.dedup): the one set's key, ':' and the hex digit",
        "local function dedup_buckets(one)",
        "  local keys = {}",
        "  for b, h in ipairs(DEDUP_HEX) do keys[b] = one .. ':' .. h end",
        "  return keys",
        "end",
        "-- is[1], is[2]: the one set holds DEDUP.ONE, DEDUP.SPLIT (SMISMEMBER's first two). "
        "Past its",
        "-- room, or absent with buckets present (written before the one set): split",
        "local function dedup_split(one, is)",
        "  if is[2] == 1 then return true end",
        "  if is[1] == 1 then return false end",
        "  return redis.call('EXISTS', unpack(dedup_buckets(one))) > 0",
        "end",
        "-- the positions 1..n whose hex digit in `bs` names each bucket (those `keep` keeps,",
        "-- if given): {{bucket's key, {positions}}...} in DEDUP_HEX order",
        "local function dedup_by_bucket(one, bs, n, keep)",
        "  local by = {}",
        "  for j = 1, n do",
        "    if not keep or keep(j) then",
        "      local b = string.sub(bs, j, j)",
        "      local t = by[b]",
        "      if not t then t = {}; by[b] = t end",
        "      t[#t + 1] = j",
        "    end",
        "  end",
        "  local out = {}",
        "  for _, h in ipairs(DEDUP_HEX) do",
        "    if by[h] then out[#out + 1] = {one .. ':' .. h, by[h]} end",
        "  end",
        "  return out",
        "end",
    ))


def _lua_table(name: str, items: dict[str, str]) -> str:
    return f"local {name} = {{" + ", ".join(f"{k} = {v}" for k, v in items.items()) + "}"


def _lua_str(s: str) -> str:
    if not s.isprintable() or "'" in s or "\\" in s:
        raise ValueError(f"not a plain Lua string literal: {s!r}")
    return f"'{s}'"


# --- committing org by org (Redis Cluster, docs/cluster.md) ---------------------------------

@dataclass
class Split:
    """One Commit's writes by hash slot: each org's (every key tagged with the org) and the
    control slot's, the latter in what must go before the orgs' scripts (`pre`: registry
    and held-index entries, idempotent) and after them (`control`, with the offset)."""

    orgs: dict[str, Commit]
    pre_sadd: set[tuple[str, str]]
    pre_zadd: list[tuple[str, float, str]]
    control: Commit


def split(commit: Commit, layout: Layout) -> Split:
    """Route every write of `commit` to the slot of its key's hash tag (CONTROL_TAG or the
    org). Leaves `commit` as it was."""
    control = Commit()
    orgs: dict[str, Commit] = {}

    def of(key: str) -> Commit:
        tag = hash_tag(key)
        if tag == CONTROL_TAG[1:-1]:
            return control
        c = orgs.get(tag)
        if c is None:
            c = orgs[tag] = Commit()
        return c

    def org(name: str) -> Commit:
        c = orgs.get(name)
        if c is None:
            c = orgs[name] = Commit()
        return c

    for k, cell in commit.fine.items():
        org(k[0]).fine[k] = cell
    for (key, f), n in commit.incr.items():
        of(key).incr[(key, f)] += n
    for (key, f), blob in commit.states.items():
        of(key).states[(key, f)] = blob
    for (key, f), v in commit.hsets.items():
        of(key).hsets[(key, f)] = v
    for mark in commit.dedup_marks:
        c = of(mark[0])
        c.dedup_marks.append(mark)
        c.dedup_ttl = commit.dedup_ttl
    for key, d in commit.dedup_unmarks:
        of(key).dedup_unmarks.append((key, d))
    for (key, f), s in commit.hsetnx.items():
        of(key).hsetnx[(key, f)] = s
    for key, secs in commit.expire.items():
        of(key).expire[key] = secs
    for key, raw in commit.rpush:
        of(key).rpush.append((key, raw))
    for key in commit.dels:
        of(key).dels.append(key)
    for key, member in commit.zrem:
        of(key).zrem.append((key, member))
    for (key, f), s in commit.hmin.items():
        of(key).hmin[(key, f)] = s
    for (key, f), i in commit.hmax.items():
        of(key).hmax[(key, f)] = i
    for (name, f), v in commit.pair_claims.items():
        org(name).pair_claims[(name, f)] = v
    for name in commit.publish:
        org(name).publish.add(name)
    for (name, stat), n in commit.per_org.items():
        c = org(name)
        c.per_org[(name, stat)] += n
        if stat == "rejected":
            c.rejected += n
    control.rejected = commit.rejected - sum(c.rejected for c in orgs.values())
    for (maybe, code), n in commit.reasons.items():
        (control if maybe is None else org(maybe)).reasons[(maybe, code)] += n
    pre_sadd: set[tuple[str, str]] = set()
    for key, member in commit.sadd:
        if of(key) is control:
            pre_sadd.add((key, member))
        else:
            of(key).sadd.add((key, member))
    pre_zadd: list[tuple[str, float, str]] = []
    for key, score, member in commit.zadd:
        if of(key) is control:
            pre_zadd.append((key, score, member))
        else:
            of(key).zadd.append((key, score, member))
    pre_sadd.update((layout.orgs(), name) for name in orgs)
    return Split(orgs, pre_sadd, pre_zadd, control)


# Fixed-arity sections: how many strings a row holds, the first being a key (PUBLISH's is a
# channel, not a key).
_ARITY = {Op.CLAIM: 3, Op.UNDEDUP: 2, Op.HINCRBY: 3, Op.HSETNX: 3, Op.LIFETIME: 3, Op.STATE: 3,
          Op.HSET: 3, Op.EXPIRE: 2, Op.RPUSH: 2, Op.DEL: 1, Op.ZADD: 3, Op.ZREM: 2, Op.SADD: 2,
          Op.HMIN: 3, Op.HMAX: 3, Op.PUBLISH: 2, Op.LAYOUT: 2}


def written_keys(payload: list[Any]) -> list[str]:
    """Every key an encoded commit's sections write (`decode`d, read as apply.lua reads
    them), in first-written order: the KEYS a Redis Cluster routes the script by."""
    keys: dict[str, None] = {}
    i, n = len(HEADER_SLOTS), len(payload)
    while i < n:
        op, cnt = payload[i], int(payload[i + 1])
        i += 2
        if op == Op.COUNTERS:
            for _ in range(cnt):
                keys[payload[i]] = None
                i += 2 + 2 * int(payload[i + 1])
        elif op == Op.PACKED:
            for _ in range(cnt):
                keys[payload[i]] = None
                i += 3 + 2 * int(payload[i + 2])
        elif op == Op.LAYOUT:  # the versions hash, and the legacy hash EXISTS reads
            for _ in range(cnt):
                keys.update(dict.fromkeys(payload[i:i + 2]))
                i += 2
        elif op == Op.TABLE:
            for _ in range(cnt):
                keys[payload[i]] = None
                i += 3 + 2 * int(payload[i + 2])
        elif op == Op.DEDUP:  # the one set, and every bucket a split may write
            for _ in range(cnt):
                keys[payload[i]] = None
                keys.update(dict.fromkeys(dedup_buckets(payload[i])))
                i += 5 + int(payload[i + 3])
        else:
            arity = _ARITY[Op(op)]
            if op != Op.PUBLISH:
                for j in range(cnt):
                    keys[payload[i + j * arity]] = None
            i += cnt * arity
    return list(keys)
