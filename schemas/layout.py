"""The Redis key layout: the only place a key or a counter field is spelled.

Counters live in one hash per (org, time bucket), one field per (level, entity), whose value
is the entity's counts in that bucket as a MessagePack map (field -> count, no zeros):

    {p}:{org}:cp:{bucket}   field  <level><entity>

* level ``o`` (entity ``-``), ``i`` (entity = issuer_id) or ``b`` (entity = ``issuer|badge``);
* bucket ``dYYYYMMDD``, ``mYYYYMM``, ``yYYYY`` or ``all``. Every increment lands in the day,
  its month, its year and ``all``, so any period of whole days is covered by at most
  ~30 + 11 + years + 11 + 30 buckets, never one key per day.

Workers before 2026-11-30 wrote one hash per (org, level, entity, bucket),
``{p}:{org}:c:{level}:{entity}:{bucket}``, a field per count: readers add those up with the
packed map (`counter_parts` names both), so an upgrade needs no migration. One key per
bucket instead of one per entity and bucket: a key costs ≈ 100 bytes of its own, and a
small org's day touched 3 to 5 of them for a few fields each (bench/README.md).

Fields inside a counter map (``s`` is a status code, see STATUS_CODES):

* cohort, by issue day and *current* status: ``aw.s`` awards, ``ac.s`` accepted ever,
  ``sh.s`` shared ever, ``pu.s`` public now, ``me.<method>.s``, ``tt.<bucket index>.s``;
  per awarding method ``ms.<method>.s`` shared and ``mt.<method>.<bucket index>.s`` time
  to accept (summed over the buckets: the method's accepted awards; over the methods: the
  time-to-accept histogram, which workers before the insights wrote as ``tt``); ``vw.s``
  viewed by a person, ever (insights.md: methods, funnel);
* activity, by event day and status *at the time*: ``sc.<channel>.s``, ``vs.<source>.s``
  (people's views), ``bv.s`` (bot and link-preview views);
* ``bc``: badges created.

What a hash stores for a field of the well-known vocabularies is its short code (``Aa`` for
``aw.a``: FIELD_CODES, at the end of this module); readers see names (`stored_names`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from schemas.labels import AWARDING_METHODS, SHARING_CHANNELS, VIEWING_SOURCES
from schemas.metrics import TTA_BOUNDS

STATUS_CODES = {"pending": "p", "accepted": "a", "declined": "d", "revoked": "r"}

ORG_ENTITY = "-"
PAIR_SEP = "|"  # identifiers never contain "|" (events.md: [A-Za-z0-9._:-])


def pair(issuer_id: str, badge_id: str) -> str:
    return f"{issuer_id}{PAIR_SEP}{badge_id}"


def split_pair(p: str) -> tuple[str, str]:
    issuer_id, _, badge_id = p.partition(PAIR_SEP)
    return issuer_id, badge_id


def buckets_of_day(day: str) -> tuple[str, str, str, str]:
    """The four buckets an event of this UTC day increments."""
    return (f"d{day[0:4]}{day[5:7]}{day[8:10]}", f"m{day[0:4]}{day[5:7]}", f"y{day[0:4]}", "all")


def day_b(d: date) -> str:
    return f"d{d.year:04d}{d.month:02d}{d.day:02d}"


def month_b(year: int, month: int) -> str:
    return f"m{year:04d}{month:02d}"


def year_b(year: int) -> str:
    return f"y{year:04d}"


ALL_BUCKET = "all"
REJECTED_PREFIX = "rejected."  # stats field per drop reason: rejected.<schemas.reasons code>
AWARD_BUCKETS = 1024  # hashes holding one org's award states (Layout.award)
DEDUP_BUCKETS = 16  # sets of one org-day's event-id digests past its one set (Layout.dedup)
# An org-day's marks go into its one set (Layout.dedup_set) while it holds at most this many
# members, sentinels included, and no more than Redis keeps as an intset
# (`set-max-intset-entries`: 512 by default, 4096 set by `up` and docker-compose; the worker
# reads it). One set instead of DEDUP_BUCKETS: a key costs ≈ 120 bytes, 15 B/mark at 8
# marks a bucket (bench/README.md).
DEDUP_ONE_SET = 2048
# Members that say which layout an org-day has (integers, so the set stays an intset; an
# event id whose digest is one of them is marked as another, streams/processor.py): ONE in
# the one set with its first marks; SPLIT once the next marks do not fit (at once, for a
# day whose first marks do not): the marks in it stay, later ones go to the DEDUP_BUCKETS
# sets. A one set that is absent, with buckets present, is one
# written before (a worker before the one set): read and written as SPLIT.
DEDUP_ONE, DEDUP_SPLIT = "0", "1"
CONTROL_TAG = "{~}"  # the hash tag of every key that is not one org's (Layout.control_key)


def dedup_buckets(one_set: str) -> list[str]:
    """The DEDUP_BUCKETS sets of the org-day whose one set is `one_set` (Layout.dedup)."""
    return [f"{one_set}:{b:x}" for b in range(DEDUP_BUCKETS)]


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: what the first ``{...}`` holds (CLUSTER
    KEYSLOT's rule), else the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


@dataclass(frozen=True, slots=True)
class Layout:
    """Key builder bound to one prefix (tests give each run its own) and one generation.

    Control keys (API keys, coverage settings, the generation pointer, the change channel)
    live under ``{prefix}``; every aggregate, award state and stream offset lives under
    ``{prefix}:g{gen}``. A rebuild fills generation N+1 beside the serving N and switches
    readers over in one step (streams/generations.py), so they never see a half-built state.

    Hash slots (docs/cluster.md): every key of one org carries the org as its hash tag
    (``bp:g1:{acme}:c:...``, built by `org_key`), so an org's keys share one slot of a Redis
    Cluster; every other key carries CONTROL_TAG (``bp:g1:{~}:off``, `control_key`). Org
    ids cannot hold braces (events.md), and ``~`` is no org id. Standalone Redis uses the
    same names.
    """

    prefix: str = "bp"
    gen: int = 1
    data: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", f"{self.prefix}:g{self.gen}")

    def org_key(self, org: str, *parts: str) -> str:
        """A key of this generation in the org's hash slot: ``{data}:{{org}}:part:part``."""
        return ":".join((self.data, f"{{{org}}}", *parts))

    def control_key(self, *parts: str) -> str:
        """A key of this generation in the control slot (CONTROL_TAG)."""
        return ":".join((self.data, CONTROL_TAG, *parts))

    def untagged(self) -> dict[str, str]:
        """The control keys' names before hash tags (2026-11-29) -> their names now, for the
        keys no rebuild recomputes (core/upgrade.py carries them over)."""
        return {f"{self.prefix}:keys": self.api_keys(),
                f"{self.prefix}:keyhash": self.api_key_hashes(),
                f"{self.prefix}:gaps": self.history_gaps(),
                f"{self.prefix}:gen": self.generations()}

    def untagged_coverage(self, key: str | None = None) -> str:
        """SCAN pattern of the orgs' coverage settings before hash tags; with a key it
        matched, that key's name now ('' for a key of another kind)."""
        prefix = f"{self.prefix}:covcfg:"
        if key is None:
            return f"{prefix}*"
        org = key[len(prefix):] if key.startswith(prefix) else ""
        return self.coverage_config(org) if org and "{" not in org else ""

    def at(self, gen: int) -> Layout:
        """The same prefix at another generation."""
        return self if gen == self.gen else Layout(self.prefix, gen)

    def generation_pattern(self) -> str:
        """SCAN pattern matching every key of this generation (to drop a retired one)."""
        return f"{self.data}:*"

    # --- control keys (not per generation) ------------------------------------------
    def generations(self) -> str:
        """Hash: ``serving`` (absent = 1), ``building`` (during a rebuild), ``last``
        (highest generation ever started), ``retired:{n}`` (unix time it stopped serving)."""
        return f"{self.prefix}:{CONTROL_TAG}:gen"


    def drop_lock(self) -> str:
        """String: who is dropping retired generations now (a short lock, in the generations'
        slot)."""
        return self.generations() + BUCKET_SEP + "droplock"
    def history_gaps(self) -> str:
        """Hash ``topic:partition`` -> JSON: the broker came back without the events the
        aggregates were built from (memory-only broker restarted). A rebuild would lose them."""
        return f"{self.prefix}:{CONTROL_TAG}:gaps"

    # --- counters --------------------------------------------------------------------
    def table(self, org: str, bucket: str) -> str:
        """One hash per (org, bucket): field ``issuer|badge``, value the badge's table
        vector (TABLE_VECTOR int32s, stored without its trailing zeros: apply.lua). The
        badge table, rankings and issuer activity read
        ~93 of these for any period, one field per badge, whatever the history."""
        return self.org_key(org, "t", bucket)

    def table_versions(self, org: str) -> str:
        """The org's bucket versions (api/readers/buckets.py): `table_version_field(bucket)`
        -> a counter bumped by every write to that bucket's table, methods or counter
        hashes (every level and entity; ``all`` has none), and ``_gen``, set once per Redis
        lifetime, so readers can cache buckets that did not change."""
        return self.org_key(org, "tv")

    def table_methods(self, org: str, bucket: str) -> str:
        """Awarding-method counts per issuer: field ``issuer|method.status``."""
        return self.org_key(org, "tm", bucket)

    def counter_base(self, org: str, level: str, entity: str) -> str:
        """One entity's counters without the bucket (`counter_key` adds it): the packed
        hash's key stem, its field and the stem of the hash workers wrote before the packed
        layout, joined by PACKED_SEP (`counter_parts` splits a counter key)."""
        return PACKED_SEP.join((self.org_key(org, "cp"), f"{level}{entity}",
                                self.legacy_counter_base(org, level, entity)))

    def legacy_counter_base(self, org: str, level: str, entity: str) -> str:
        """The hash of one entity's counters per bucket that workers before the packed
        layout wrote (read still, never written): ``<this>:<bucket>``."""
        return self.org_key(org, "c", level, entity)

    def legacy_org_all(self, org: str) -> str:
        """The org's all-time org-level hash of before the packed layout: every commit of
        counters by a worker of then wrote it, so it says whether the org has such hashes
        (VERSIONS_LAYOUT: set by apply.lua's LAYOUT op, checked by the readers)."""
        return counter_key(self.legacy_counter_base(org, ORG_LEVEL, ORG_ENTITY), ALL_BUCKET)

    # --- per-award state -----------------------------------------------------------
    def award(self, org: str, award_id: str) -> tuple[str, str]:
        """(hash, field) of the award's packed state, its share/view log and
        de-duplication included (streams/state.py AwardState). An org's awards share
        AWARD_BUCKETS hashes: a field costs far less than a key of its own, and a hash of a
        hundred small values is stored compactly (listpack) where Redis allows values of
        that size (`hash-max-listpack-value 1024`, set by `up` and docker-compose)."""
        bucket = zlib.crc32(award_id.encode()) % AWARD_BUCKETS
        # `as`, not `a`: the string keys of format 1 (`a:{org}:{award}`) never collide
        return self.org_key(org, "as", f"{bucket:03x}"), award_id

    def held(self, org: str, award_id: str) -> str:
        return self.org_key(org, "h", award_id)

    def held_index(self, topic: str, partition: int) -> str:
        return self.control_key("hi", topic, str(partition))

    def dedup_set(self, org: str, day: str) -> str:
        """The set of the 64-bit digests (as integers) of the event ids of one org and event
        day while it holds at most DEDUP_ONE_SET (then DEDUP_SPLIT, and the later marks in
        the `dedup` buckets); expires DEDUP_DAYS + 1 after its last write. Integers keep a
        set an intset (8 bytes a member) where Redis allows (`set-max-intset-entries`)."""
        return self.org_key(org, "dd", day)

    def dedup(self, org: str, day: str, bucket: int) -> str:
        """One of the DEDUP_BUCKETS sets of an org-day past its one set: the one set's key,
        ':' and the bucket in hex (apply.lua and the lookup build these names too)."""
        return f"{self.dedup_set(org, day)}:{bucket:x}"

    # --- registry ------------------------------------------------------------------
    def orgs(self) -> str:
        return self.control_key("orgs")

    def issuers(self, org: str) -> str:
        return self.org_key(org, "issuers")

    def badges(self, org: str) -> str:
        return self.org_key(org, "badges")

    def pairs(self, org: str) -> str:
        return self.org_key(org, "pairs")

    def pair_digests(self, org: str) -> str:
        """Hash: hex digest -> ``issuer|badge``, the pairs award states of FORMAT 4 name
        (streams/state.py pair_digest); set by the script that writes such a state, never
        changed."""
        return self.org_key(org, "pd")

    def last_awarded(self, org: str) -> str:
        return self.org_key(org, "lastaw")

    def first_day(self, org: str) -> str:
        return self.org_key(org, "first")

    def coverage_config(self, org: str) -> str:
        return f"{self.prefix}:{{{org}}}:covcfg"

    # --- stream bookkeeping --------------------------------------------------------
    def offsets(self) -> str:
        return self.control_key("off")

    def fingerprints(self) -> str:
        """Hash ``topic:partition`` -> fingerprint of the last record applied (see
        streams.processor.Record.fingerprint)."""
        return self.control_key("fp")

    def epochs(self) -> str:
        return self.control_key("ep")

    def incarnations(self) -> str:
        """Hash ``topic:partition`` -> how many times the partition's log was replaced
        (the broker came back empty): an org's position of an older incarnation is void."""
        return self.control_key("inc")

    def rewound(self) -> str:
        """Hash ``topic:partition`` -> the offset a partition stood at when it was last
        replayed from the log's start for an org that lost its keys: the outcomes of no
        org below it are counted already (streams/apply.lua, REWIND)."""
        return self.control_key("rew")

    def positions(self, org: str) -> str:
        """The org's position on each partition (committing org by org, docs/cluster.md):
        ``e:{tp}`` epoch of the last writer, ``n:{tp}`` its writes so far (compared and
        set by each one), ``o:{tp}`` ``incarnation:next offset`` of the org's records."""
        return self.org_key(org, "pos")

    def partition_orgs(self, topic: str, partition: int) -> str:
        """Set of the orgs holding a position on the partition: one found without it lost
        its slot's keys (a node restarted empty), and the partition is replayed."""
        return self.control_key("porgs", topic, str(partition))

    def stats(self) -> str:
        """The outcomes of events of no known org (rejections); pipeline-wide totals are
        these plus every registered org's (`orgs`, `org_stats`), and ``as_of_us``."""
        return self.control_key("stats")

    def org_stats(self, org: str) -> str:
        """The stats of one org (applied, rejected, held, as_of_us): what /v1/status shows;
        and ``version``, bumped by every commit that changes anything of the org, so
        readers can cache answers per (org, version)."""
        return self.org_key(org, "stats")

    def changes_channel(self) -> str:
        return f"{self.prefix}:{CONTROL_TAG}:changes"

    def key_revocations_channel(self) -> str:
        """Pub/sub: the key_id of each key revoked, so API processes drop it at once."""
        return f"{self.prefix}:{CONTROL_TAG}:revoked"

    # --- API keys ------------------------------------------------------------------
    def api_keys(self) -> str:
        """Hash key_id -> key record (JSON, holds the key's hash, never the key)."""
        return f"{self.prefix}:{CONTROL_TAG}:keys"

    def api_key_hashes(self) -> str:
        """Hash sha256(secret) -> key_id, for lookup on each request."""
        return f"{self.prefix}:{CONTROL_TAG}:keyhash"

    # --- alerts (control keys, in the org's slot: api/alerting/store.py) ---------------
    def alert_orgs(self) -> str:
        """Set of the orgs that have (or had) alerts: the ones the loops look at."""
        return f"{self.prefix}:{CONTROL_TAG}:alorgs"

    def alerts(self, org: str) -> str:
        """Hash alert_id -> the alert's definition (JSON, no secret)."""
        return f"{self.prefix}:{{{org}}}:al:def"

    def alert_secrets(self, org: str) -> str:
        """Hash alert_id -> its signing secret, as issued (HMAC needs it back)."""
        return f"{self.prefix}:{{{org}}}:al:sec"

    def alert_states(self, org: str) -> str:
        """Hash alert_id -> ``{"state", "since"}`` (absent: ``ok``)."""
        return f"{self.prefix}:{{{org}}}:al:st"

    def alert_deliveries(self, org: str) -> str:
        """Hash delivery_id -> the delivery's record (JSON, its body included)."""
        return f"{self.prefix}:{{{org}}}:al:dl"

    def alert_log(self, org: str, alert_id: str) -> str:
        """List of one alert's last delivery ids, newest first."""
        return f"{self.prefix}:{{{org}}}:al:log:{alert_id}"

    def alert_due(self, org: str) -> str:
        """Sorted set delivery_id -> when it is due (ms; a leased one: its lease's end)."""
        return f"{self.prefix}:{{{org}}}:al:due"

    def alert_tick(self, org: str) -> str:
        """String held by the process evaluating the org's alerts this interval."""
        return f"{self.prefix}:{{{org}}}:al:tick"


# The badge-table vector: for each kind, one int32 per status code (p, a, d, r), then
# badges created. Stored packed (little-endian int32) and updated by apply.lua.
TABLE_KINDS = ("aw", "ac", "sh", "pu", "sc", "vs")
TABLE_STATUS = ("p", "a", "d", "r")
TABLE_BC = len(TABLE_KINDS) * len(TABLE_STATUS)
TABLE_VECTOR = TABLE_BC + 1


def table_index(field: str) -> int | None:
    """Position of a counter field in the badge-table vector, or None if it has none.

    ``aw.a`` -> 1; ``sc.linkedin.a`` -> 17 (shares, any channel); ``bc`` -> 24.
    """
    if field == "bc":
        return TABLE_BC
    kind = field[:2]
    if kind not in _KIND_POS:
        return None
    return _KIND_POS[kind] * len(TABLE_STATUS) + _STATUS_POS[field.rpartition(".")[2]]


_KIND_POS = {k: i for i, k in enumerate(TABLE_KINDS)}
_STATUS_POS = {s: i for i, s in enumerate(TABLE_STATUS)}


def tp_field(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


# An org's position hash (Layout.positions), per partition field <tp> (tp_field): ``e:<tp>``
# the epoch of its last writer, ``n:<tp>`` that writer's commits so far, ``o:<tp>``
# ``<incarnation>:<next offset>`` of the org's records. apply.lua writes them and gets these
# rendered in (streams/protocol.py, apply_lua).
POS_EPOCH, POS_WRITES, POS_NEXT = "e:", "n:", "o:"
POS_VALUE_SEP = ":"


def position_fields(tp: str) -> tuple[str, str, str]:
    """The epoch, writes and next-offset fields of partition field `tp`."""
    return POS_EPOCH + tp, POS_WRITES + tp, POS_NEXT + tp


def split_position(value: str) -> tuple[int | None, int | None]:
    """``o:<tp>``'s value as (incarnation, next offset); (None, None) when absent."""
    inc, _, nxt = value.partition(POS_VALUE_SEP)
    return (int(inc) if inc else None, int(nxt) if nxt else None)


def period_buckets(start: date, end: date) -> list[str]:
    """The fewest day/month/year buckets that exactly cover [start, end] (inclusive).

    At most ~30 + 11 + years + 11 + 30 buckets for any span: the read cost of a period
    grows with the log of its length, not with its days.
    """
    out: list[str] = []
    d = start
    while d <= end:
        if d.month == 1 and d.day == 1 and date(d.year, 12, 31) <= end:
            out.append(year_b(d.year))
            d = date(d.year + 1, 1, 1)
            continue
        if d.day == 1:
            nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            if nxt - _ONE_DAY <= end:
                out.append(month_b(d.year, d.month))
                d = nxt
                continue
        out.append(day_b(d))
        d = d + _ONE_DAY
    return out


_ONE_DAY = timedelta(days=1)


# --- Field names inside the hashes, spelled here only --------------------------------------
# A counter hash is one bucket of a counter base: ``<Layout.counter_base>:<bucket>``. Its
# fields are ``<kind>.<status>`` (``aw.a``), ``<kind>.<token>.<status>`` (``sc.linkedin.a``)
# and ``bc`` (badges created: no status). A table-methods hash (Layout.table_methods) has
# ``<issuer>|<method>.<status>``. The generations hash has ``retired:<n>`` beside
# ``serving``, ``building`` and ``last``.
BUCKET_SEP = ":"
FIELD_SEP = "."
ORG_LEVEL, ISSUER_LEVEL, BADGE_LEVEL = "o", "i", "b"  # Layout.counter_base's levels
AWARDED, ACCEPTED, SHARED, PUBLIC = "aw", "ac", "sh", "pu"
CREATED = "bc"
METHOD, TIME_TO_ACCEPT = "me", "tt"  # me.<method>.<s>, tt.<bucket>.<s>
SHARE_CHANNEL, VIEW_SOURCE = "sc", "vs"  # sc.<channel>.<s>, vs.<source>.<s>
# insights.md: per awarding method shared / time to accept (summed over its buckets: the
# method's accepted awards), cohort awards viewed by a person, bot views (activity, no source)
METHOD_SHARED, METHOD_TIME_TO_ACCEPT = "ms", "mt"
VIEWED, BOT_VIEWS = "vw", "bv"
RETIRED_PREFIX = "retired:"


def table_version_field(bucket: str) -> str:
    """Layout.table_versions' field of a bucket's table, methods and counter hashes (a day,
    month or year bucket): the bucket."""
    return bucket


def version_field(bucket: str) -> str | None:
    """The field a reader checks for a bucket: `table_version_field`, or None for
    ALL_BUCKET (never versioned: it changes with every commit, so it is read whole)."""
    return None if bucket == ALL_BUCKET else table_version_field(bucket)


VERSIONS_GEN = "_gen"  # Layout.table_versions: set once per Redis lifetime (a uuid)
# Layout.table_versions: the org's counter layout, set by its first commit of packed counters
# (streams/apply.lua's LAYOUT op): LAYOUT_PACKED if the org had no legacy counter hash then
# (so it never has one: readers skip them), else LAYOUT_MIXED; absent, readers read both
VERSIONS_LAYOUT = "_layout"
LAYOUT_PACKED, LAYOUT_MIXED = "packed", "mixed"


PACKED_SEP = "\x1f"  # in a counter key: packed hash, field, legacy hash (never in a key)


def counter_key(base: str, bucket: str) -> str:
    """One bucket (day_b, month_b, year_b, ALL_BUCKET) of an entity's counters
    (Layout.counter_base): ``<packed hash>:<bucket>``, its field, ``<legacy hash>:<bucket>``
    joined by PACKED_SEP; of a base without PACKED_SEP (a legacy base), that hash's key."""
    head, sep, rest = base.partition(PACKED_SEP)
    if not sep:
        return f"{base}{BUCKET_SEP}{bucket}"
    fld, _, legacy = rest.partition(PACKED_SEP)
    return f"{head}{BUCKET_SEP}{bucket}{sep}{fld}{sep}{legacy}{BUCKET_SEP}{bucket}"


def counter_parts(key: str) -> tuple[str, str, str] | None:
    """(packed hash, its field, legacy hash) of a `counter_key`, or None for a plain
    hash key (a legacy base's, a table-methods hash)."""
    parts = key.split(PACKED_SEP)
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def status_field(kind: str, status: str) -> str:
    """``aw.a``: one kind's count for one status code."""
    return f"{kind}{FIELD_SEP}{status}"


def token_field(kind: str, token: str, status: str) -> str:
    """``sc.linkedin.a``, ``mt.lms.3.a``: one kind's count for a token (and bucket)."""
    return f"{kind}{FIELD_SEP}{token}{FIELD_SEP}{status}"


def split_field(name: str) -> tuple[str, str, str]:
    """(kind, head, status) of a counter field: ``sc.linkedin.a`` -> (sc, linkedin, a),
    ``aw.a`` -> (aw, '', a), ``mt.lms.3.a`` -> (mt, lms.3, a)."""
    kind, _, rest = name.partition(FIELD_SEP)
    head, _, status = rest.rpartition(FIELD_SEP)
    return kind, head, status


def split_method_field(name: str) -> tuple[str, str, str]:
    """(issuer, method, status) of a table-methods field ``<issuer>|<method>.<status>``."""
    issuer, _, rest = name.partition(PAIR_SEP)
    method, _, status = rest.rpartition(FIELD_SEP)
    return issuer, method, status


def retired_field(gen: int) -> str:
    """The generations-hash field holding when generation `gen` was retired."""
    return f"{RETIRED_PREFIX}{gen}"


def retired_generation(name: str) -> int | None:
    """The generation a generations-hash field names as retired, or None."""
    return int(name.removeprefix(RETIRED_PREFIX)) if name.startswith(RETIRED_PREFIX) else None


def held_member(org: str, award_id: str) -> str:
    """A member of a partition's held index (Layout.held_index): whose events wait."""
    return f"{org}{PAIR_SEP}{award_id}"


def split_held_member(member: str) -> tuple[str, str]:
    """(org, award_id) of a held-index member."""
    org, _, award_id = member.partition(PAIR_SEP)
    return org, award_id


def method_table_field(issuer: str, counter_field: str) -> str | None:
    """The table-methods field ``<issuer>|<method>.<status>`` of a counter field
    ``me.<method>.<status>``, or None for a field of any other kind."""
    kind, _, rest = counter_field.partition(FIELD_SEP)
    return f"{issuer}{PAIR_SEP}{rest}" if kind == METHOD else None


# --- Field codes: how a counter hash stores a field of the well-known vocabularies ----------
# A counter hash stores each field whose token (if any) is well known (events.md, listed in
# schemas/labels.py) under a short code instead of its name: the kind's letter (uppercase: no
# field name starts with one), the token's position in its vocabulary (0-9a-z), for `mt` the
# time-to-accept bucket (a digit), then the status code. ``aw.a`` -> ``Aa``,
# ``sc.linkedin.a`` -> ``X0a``, ``mt.lms.2.a`` -> ``T22a``, ``bc`` -> ``K``. A field with a
# token outside the vocabularies keeps its name (``sc.myspace.a``). The codes are stored: the
# vocabularies are append only and no letter below is ever reused. Hashes written before the
# codes hold the names; readers take both (`field_name`) and add a field's two spellings up.
# Measured: 9.7 -> 2.6 characters a field on bench_worker's mix (bench/README.md).
FIELD_CODE_KINDS = {AWARDED: "A", ACCEPTED: "C", SHARED: "S", PUBLIC: "P", VIEWED: "W",
                    BOT_VIEWS: "B"}  # <kind>.<status>
FIELD_CODE_TOKEN_KINDS = {METHOD: ("M", AWARDING_METHODS), METHOD_SHARED: ("N", AWARDING_METHODS),
                          SHARE_CHANNEL: ("X", SHARING_CHANNELS),
                          VIEW_SOURCE: ("Y", VIEWING_SOURCES)}  # <kind>.<token>.<status>
FIELD_CODE_MT = "T"  # mt.<method>.<bucket>.<status>
FIELD_CODE_CREATED = "K"
_POSITIONS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _field_codes() -> dict[str, str]:
    statuses = STATUS_CODES.values()
    codes = {CREATED: FIELD_CODE_CREATED}
    for kind, letter in FIELD_CODE_KINDS.items():
        for s in statuses:
            codes[status_field(kind, s)] = f"{letter}{s}"
    for kind, (letter, vocab) in FIELD_CODE_TOKEN_KINDS.items():
        for pos, token in enumerate(vocab):
            for s in statuses:
                codes[token_field(kind, token, s)] = f"{letter}{_POSITIONS[pos]}{s}"
    for pos, method in enumerate(AWARDING_METHODS):
        for bucket in range(len(TTA_BOUNDS)):
            for s in statuses:
                codes[token_field(METHOD_TIME_TO_ACCEPT, f"{method}{FIELD_SEP}{bucket}", s)] = (
                    f"{FIELD_CODE_MT}{_POSITIONS[pos]}{bucket}{s}")
    return codes


FIELD_CODES: dict[str, str] = _field_codes()  # field name -> its stored code
FIELD_NAMES: dict[bytes, bytes] = {c.encode(): f.encode() for f, c in FIELD_CODES.items()}


def field_code(name: str) -> str:
    """What a counter hash stores for the field `name`: its code, or the name itself."""
    return FIELD_CODES.get(name, name)


def field_name(stored: bytes) -> bytes:
    """The field name of what a counter hash stores (a code or a name)."""
    return FIELD_NAMES.get(stored, stored)


def stored_names(stored: Mapping[bytes, Any]) -> dict[bytes, Any]:
    """A counter hash as read (HGETALL) with each field under its name. A field stored both
    as its code and as its name (a hash written before and after the codes) comes once,
    its two values added."""
    names = FIELD_NAMES
    out: dict[bytes, Any] = {}
    for f, v in stored.items():
        name = names.get(f, f)
        had = out.get(name)
        out[name] = v if had is None else int(had) + int(v)
    return out
