"""protocol.encode's counter roll-up against the algorithm it replaced (copied below as it
was at 3dc9434: every (pair, day) cell added into its 3 levels x 4 buckets one by one): on
random commits the two payloads hold the same writes, but for the all-time bucket's fields
of kinds no all-time reader folds (protocol.ALL_TIME_KINDS: no longer written). apply.lua
applies COUNTERS and TABLE rows with HINCRBY / vector adds, which commute, so rows are
compared as multisets; every other section as it is."""

from __future__ import annotations

import copy
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
import pytest

from api.readers.counters import fold
from schemas.layout import (
    ALL_BUCKET,
    BADGE_LEVEL,
    DEDUP_ONE_SET,
    ISSUER_LEVEL,
    ORG_ENTITY,
    ORG_LEVEL,
    STATUS_CODES,
    TABLE_STATUS,
    VERSIONS_GEN,
    Layout,
    buckets_of_day,
    counter_key,
    counter_parts,
    field_name,
    method_table_field,
    pair,
    split_field,
    table_index,
    table_version_field,
)
from streams.processor import Commit
from streams.protocol import (
    ALL_TIME_KINDS,
    HEADER_SLOTS,
    ORG,
    PARTITION,
    Header,
    Op,
    _add_stats,
    _text,
    decode,
    encode,
)

LAYOUT = Layout("u")
TableCells = dict[tuple[str, str, str], defaultdict[int, int]]


# --- the reference: protocol.encode and _roll_up as they were -------------------------------

def old_encode(commit: Commit, layout: Layout, header: Header) -> list[bytes]:
    """The ARGVs of apply.lua: the JSON, then the binary values it names. Leaves `commit`
    as it was.

    One JSON argument instead of tens of thousands: redis-py encodes each argument in
    Python, which cost more than the whole fold (profile in bench/README.md). Binary values
    cannot travel inside JSON, so each is one more argument (bytes pass through untouched).
    """
    blobs: list[bytes] = []
    out = header.slots(layout)
    incr: defaultdict[tuple[str, str], int] = defaultdict(int, commit.incr)
    hsetnx = dict(commit.hsetnx)
    sadd = set(commit.sadd)
    # an org's script cannot write the registry (the control slot): split() registers it
    _add_stats(commit, layout, incr, sadd if header.mode == PARTITION else set())
    lifetime: dict[str, None] = dict.fromkeys(
        layout.table_versions(org) for org in commit.publish | {o for o, _n in commit.per_org})
    cells, table, counted = old_roll_up(commit, layout)

    nkeys = 0
    flat: list[str] = []
    for key, tgt in cells.items():
        fields = [x for f, n in tgt.items() if n for x in (f, str(n))]
        if fields:
            nkeys += 1
            flat.append(key)
            flat.append(str(len(fields) // 2))
            flat.extend(fields)
    if nkeys:
        out.extend((Op.COUNTERS, str(nkeys)))
        out.extend(flat)

    tflat: list[str] = []
    ntable = 0
    for (org, bucket, pf), tv in table.items():
        nz = [x for idx, n in tv.items() if n for x in (str(idx), str(n))]
        if nz:
            ntable += 1
            tflat.extend((layout.table(org, bucket), pf, str(len(nz) // 2)))
            tflat.extend(nz)
    if ntable:
        out.extend((Op.TABLE, str(ntable)))
        out.extend(tflat)
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

    # (the dedup section as sent since the org-day's one set, not what the old one sent)
    dedup: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, bucket, f in commit.dedup_marks:
        dedup[key].append((bucket, f))
    if dedup:
        out.extend((Op.DEDUP, str(len(dedup))))
        for key, marks in dedup.items():
            out.extend((key, str(commit.dedup_ttl), str(DEDUP_ONE_SET), str(len(marks)),
                        "".join(b for b, _f in marks)))
            out.extend(f for _b, f in marks)

    def section(op: Op, rows: Iterable[tuple[Any, ...]], arity: int) -> None:
        flat = [v if isinstance(v, str) else _text(v) for row in rows for v in row]
        if flat:
            out.append(op)
            out.append(str(len(flat) // arity))
            out.extend(flat)

    section(Op.UNDEDUP, commit.dedup_unmarks, 2)
    section(Op.HINCRBY, ((k, f, n) for (k, f), n in incr.items() if n), 3)
    section(Op.HSETNX, ((k, f, v) for (k, f), v in hsetnx.items()), 3)
    section(Op.LIFETIME, ((k, VERSIONS_GEN, "<token>") for k in lifetime), 3)
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
    out[HEADER_SLOTS.index("blobs")] = str(len(blobs))
    return [orjson.dumps(out), *blobs]




def old_roll_up(commit: Commit, layout: Layout) -> tuple[dict[str, defaultdict[str, int]],
                                                     TableCells, set[tuple[str, str]]]:
    """Each (pair, day) cell into its 3 levels x 4 buckets, its badge-table vectors and
    method counts, so Redis gets one write per distinct (key, field) of the batch, not
    twelve per event; and the (org, bucket)s whose counter hashes get a write with no
    table or methods write beside it (their version is bumped all the same)."""
    cells: dict[str, defaultdict[str, int]] = {}
    table: TableCells = {}
    counted: set[tuple[str, str]] = set()
    days: set[tuple[str, str]] = set()
    bases_of: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    for (org, issuer, badge, day), cell in commit.fine.items():
        bases = bases_of.get((org, issuer, badge))
        if bases is None:
            bases = bases_of[(org, issuer, badge)] = (
                layout.counter_base(org, ORG_LEVEL, ORG_ENTITY),
                layout.counter_base(org, ISSUER_LEVEL, issuer),
                layout.counter_base(org, BADGE_LEVEL, pair(issuer, badge)))
        items = [(f, n) for f, n in cell.items() if n]
        vec: dict[int, int] = {}
        methods: list[tuple[str, int]] = []
        for f, n in items:
            idx = table_index(f)
            if idx is not None:
                vec[idx] = vec.get(idx, 0) + n
            elif (method := method_table_field(issuer, f)) is not None:
                methods.append((method, n))
        if items and not (vec or methods) and (org, day) not in days:
            days.add((org, day))  # counters only (bot views): no table entry bumps the day
            counted.update((org, b) for b in buckets_of_day(day) if b != ALL_BUCKET)
        pair_field = pair(issuer, badge)
        for bucket in buckets_of_day(day):
            for base in bases:
                key = counter_key(base, bucket)
                tgt = cells.get(key)
                if tgt is None:
                    tgt = cells[key] = defaultdict(int)
                for f, n in items:
                    tgt[f] += n
            if bucket == ALL_BUCKET:
                continue  # tables are read by period only, never all time
            if vec or methods:  # a methods write too: its bucket's version is bumped
                tv = table.get((org, bucket, pair_field))
                if tv is None:
                    tv = table[(org, bucket, pair_field)] = defaultdict(int)
                for idx, n in vec.items():
                    tv[idx] += n
            if methods:
                key = layout.table_methods(org, bucket)
                tgt = cells.get(key)
                if tgt is None:
                    tgt = cells[key] = defaultdict(int)
                for f, n in methods:
                    tgt[f] += n
    return cells, table, counted




# --- the comparison -------------------------------------------------------------------------

def writes(sent: list[Any]) -> tuple[list[str], Counter[tuple[str, ...]]]:
    """(header slots, multiset of the sections' rows) of one encoded commit, every value as
    text (the old encoding sent counts as text, the new one as integers); the one random
    value (the token of `_gen`, a fresh uuid per commit) is masked."""
    payload = [v if isinstance(v, str) else str(v) for v in sent]
    out: Counter[tuple[str, ...]] = Counter()
    arity = {Op.UNDEDUP: 2, Op.HINCRBY: 3, Op.HSETNX: 3, Op.LIFETIME: 3, Op.STATE: 3, Op.HSET: 3,
             Op.EXPIRE: 2, Op.RPUSH: 2, Op.DEL: 1, Op.ZADD: 3, Op.ZREM: 2, Op.SADD: 2,
             Op.HMIN: 3, Op.HMAX: 3, Op.PUBLISH: 2, Op.LAYOUT: 2}
    i, n = len(HEADER_SLOTS), len(payload)
    seen_ops = []
    while i < n:
        op, cnt = payload[i], int(payload[i + 1])
        assert cnt > 0
        seen_ops.append(op)
        i += 2
        for _ in range(cnt):
            if op in (Op.COUNTERS, Op.PACKED):
                # the old payload's counter keys (counter_key) name the packed hash and its
                # field as a PACKED row does (their legacy hash is never written): compared
                # as (hash, field)
                head = 3 if op == Op.PACKED else 2
                key, nf = payload[i], int(payload[i + head - 1])
                parts = counter_parts(key)
                if op == Op.PACKED:
                    key = (payload[i], payload[i + 1])
                elif parts is not None:
                    key = parts[:2]
                assert nf > 0
                fields = [payload[i + head + 2 * j] for j in range(nf)]
                assert len(set(fields)) == nf  # one write per (key, field)
                for j in range(nf):
                    f, d = payload[i + head + 2 * j], payload[i + head + 1 + 2 * j]
                    assert int(d) != 0
                    out[("K", key, field_name(f.encode()).decode(), d)] += 1  # a code: its name
                i += head + 2 * nf
            elif op == Op.TABLE:
                key, pf, nz = payload[i], payload[i + 1], int(payload[i + 2])
                for j in range(nz):
                    out[("T", key, pf, payload[i + 3 + 2 * j], payload[i + 4 + 2 * j])] += 1
                i += 3 + 2 * nz
            elif op == Op.DEDUP:
                key, c = payload[i], int(payload[i + 3])
                out[("M", *payload[i:i + 3], payload[i + 4], *payload[i + 5:i + 5 + c])] += 1
                i += 5 + c
            else:
                a = arity[Op(op)]
                row = tuple(payload[i:i + a])
                if op == Op.LIFETIME:
                    row = (*row[:2], "<token>")  # a fresh uuid per commit
                out[(op, *row)] += 1
                i += a
    assert len(seen_ops) == len(set(seen_ops))
    return payload[:len(HEADER_SLOTS)], out


def entity_bucket(base: str, bucket: str) -> tuple[str, ...]:
    """How `writes` names an entity's counters in a bucket: (packed hash, field)."""
    parts = counter_parts(counter_key(base, bucket))
    assert parts is not None
    return parts[:2]


ORGS = ("acme", "beta")
ISSUERS = ("eng", "ops", "hr")
BADGES = ("py", "go", "rs", "js")
DAYS = ("2026-04-14", "2026-04-15", "2026-04-30", "2026-05-01", "2025-12-31", "2026-01-01")
FIELDS = (
    [f"{k}.{s}" for k in ("aw", "ac", "sh", "pu", "vs") for s in TABLE_STATUS]
    + [f"sc.{c}.{s}" for c in ("linkedin", "x") for s in TABLE_STATUS] + ["bc", "bv"]
    + [f"me.{m}.{s}" for m in ("lms", "api", "manual") for s in TABLE_STATUS]
    + [f"ms.lms.{s}" for s in TABLE_STATUS] + ["mt.lms.3.a", "mt.api.0.a", "vw.a", "vw.p"]
)


def random_commit(rng: random.Random) -> Commit:
    c = Commit()
    for _ in range(rng.choice((0, 1, 3, 20, 200))):
        org, issuer, badge = rng.choice(ORGS), rng.choice(ISSUERS), rng.choice(BADGES)
        # deltas of both signs, so some sums cancel to 0 (not written) and some cells are
        # all zero (no write, no table entry)
        c.count(org, issuer, badge, rng.choice(DAYS), rng.choice(FIELDS),
                rng.choice((1, 1, 1, -1, 2)))
    if rng.random() < 0.3:
        c.count("acme", "eng", "py", "2026-04-14", "aw.a", 0)
    for _ in range(rng.randrange(4)):
        c.stat(rng.choice((*ORGS, None)), rng.choice(("applied", "duplicates", "held")))
        c.incr[(LAYOUT.org_stats(rng.choice(ORGS)), "x")] += rng.choice((1, 0))
    c.publish.update(rng.sample(ORGS, rng.randrange(3)))
    c.dedup_marks.extend((f"dk{rng.randrange(3)}", f"{rng.randrange(16):x}",
                          str(rng.randrange(99))) for _ in range(rng.randrange(4)))
    c.dedup_ttl = 691200
    c.hsetnx[("h", "f")] = "v"
    c.states[("s", "f")] = b"\x00\x01"
    c.sadd.add(("set", "m"))
    c.zadd.append(("z", 1.5, "m"))
    c.hmin[("hm", "f")] = "2026-04-14"
    c.hmax[("hx", "f")] = 3
    return c


@pytest.mark.parametrize("seed", range(300))
def test_the_roll_up_writes_what_the_old_one_wrote(seed: int) -> None:
    rng = random.Random(seed)
    commit = random_commit(rng)
    mode = rng.choice((PARTITION, ORG))
    header = Header("events:0", 1, 0, 3, None, "fp", mode=mode, org="acme")
    before = copy.deepcopy(commit)
    new = encode(commit, LAYOUT, header)
    assert commit == before
    old = old_encode(commit, LAYOUT, header)
    assert new[1:] == old[1:]
    new_header, new_writes = writes(decode(new[0]))
    old_header, old_writes = writes(orjson.loads(old[0]))
    assert new_header == old_header
    dropped = Counter({w: n for w, n in old_writes.items() if w[0] == "K"
                       and w[1][0].endswith(f":{ALL_BUCKET}")
                       and split_field(w[2])[0] not in ALL_TIME_KINDS})
    # new: each org of a commit with counter writes has its counter layout set once (the
    # versions hash, and the all-time org hash of before the packed counters)
    layouts = Counter({w: n for w, n in new_writes.items() if w[0] == Op.LAYOUT})
    packs = any(w[0] == "K" and isinstance(w[1], tuple) for w in new_writes)
    assert layouts == (Counter({(Op.LAYOUT, LAYOUT.table_versions(o),
                                 f"{LAYOUT.data}:{{{o}}}:c:o:-:all"): 1
                                for o in {cell[0] for cell in commit.fine}})
                       if packs else Counter())
    assert new_writes - layouts == old_writes - dropped


def test_all_time_keeps_exactly_the_field_kinds_its_reader_folds() -> None:
    """The summary's KPI tiles read all time as fold(...).as_dict() over every status: a
    field of a kind outside ALL_TIME_KINDS moves none of those numbers, one inside does."""
    every_status = frozenset(STATUS_CODES.values())
    # every kind the worker writes (bot views carry a status; tt is the older histogram)
    for f in [*(x for x in FIELDS if x != "bv"), "bv.a", "tt.3.a"]:
        moved = any(fold([{f.encode(): 5}], every_status).as_dict().values())
        assert moved == (split_field(f)[0] in ALL_TIME_KINDS), f


def test_all_time_is_written_only_with_the_kinds_it_keeps() -> None:
    """Worked by hand: an accepted award by LMS with a share and a human view, in one cell."""
    c = Commit()
    for f in ("aw.a", "ac.a", "me.lms.a", "ms.lms.a", "mt.lms.3.a", "sc.linkedin.a", "vs.direct.a",
              "vw.a", "bv.a"):
        c.count("acme", "eng", "py", "2026-04-14", f)
    _h, got = writes(decode(encode(c, LAYOUT, Header("events:0", 1, 0, 3))[0]))
    base = LAYOUT.counter_base("acme", ORG_LEVEL, ORG_ENTITY)
    by_key: dict[str, set[str]] = defaultdict(set)
    for (op, k, f, *_r), _n in got.items():
        if op == "K":
            by_key[k].add(f)
    assert by_key[entity_bucket(base, "all")] == {"aw.a", "ac.a", "sc.linkedin.a", "vs.direct.a",
                                                "bv.a"}
    every = {"aw.a", "ac.a", "me.lms.a", "ms.lms.a", "mt.lms.3.a", "sc.linkedin.a",
             "vs.direct.a", "vw.a", "bv.a"}
    for b in ("d20260414", "m202604", "y2026"):
        assert by_key[entity_bucket(base, b)] == every


def test_a_cell_is_rolled_up_into_twelve_hashes_by_hand() -> None:
    """Worked by hand: two days of one pair in one month, one more badge of the issuer."""
    c = Commit()
    c.count("acme", "eng", "py", "2026-04-14", "aw.a", 2)
    c.count("acme", "eng", "py", "2026-04-15", "aw.a", 1)
    c.count("acme", "eng", "go", "2026-04-15", "aw.a", 5)
    c.count("acme", "eng", "go", "2026-04-15", "bv", 1)
    c.count("acme", "eng", "go", "2026-04-15", "bv", -1)  # cancels: never written
    _h, got = writes(decode(encode(c, LAYOUT, Header("events:0", 1, 0, 3))[0]))
    counters = {(w[1], w[2]): int(w[3]) for w in got if w[0] == "K"}

    def key(level: str, entity: str, bucket: str) -> tuple[str, ...]:
        return entity_bucket(LAYOUT.counter_base("acme", level, entity), bucket)

    expected = {
        (key(BADGE_LEVEL, "eng|py", "d20260414"), "aw.a"): 2,
        (key(BADGE_LEVEL, "eng|py", "d20260415"), "aw.a"): 1,
        (key(BADGE_LEVEL, "eng|go", "d20260415"), "aw.a"): 5,
        (key(ISSUER_LEVEL, "eng", "d20260414"), "aw.a"): 2,
        (key(ISSUER_LEVEL, "eng", "d20260415"), "aw.a"): 6,
        (key(ORG_LEVEL, ORG_ENTITY, "d20260414"), "aw.a"): 2,
        (key(ORG_LEVEL, ORG_ENTITY, "d20260415"), "aw.a"): 6,
    }
    for b in ("m202604", "y2026", "all"):
        expected[(key(BADGE_LEVEL, "eng|py", b), "aw.a")] = 3
        expected[(key(BADGE_LEVEL, "eng|go", b), "aw.a")] = 5
        expected[(key(ISSUER_LEVEL, "eng", b), "aw.a")] = 8
        expected[(key(ORG_LEVEL, ORG_ENTITY, b), "aw.a")] = 8
    assert counters == expected
