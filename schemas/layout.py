"""The Redis key layout: the only place a key or a counter field is spelled.

Counters live in hashes, one per (org, level, entity, time bucket):

    {p}:c:{org}:{level}:{entity}:{bucket}

* level ``o`` (entity ``-``), ``i`` (entity = issuer_id) or ``b`` (entity = ``issuer|badge``);
* bucket ``dYYYYMMDD``, ``mYYYYMM``, ``yYYYY`` or ``all``. Every increment lands in the day,
  its month, its year and ``all``, so any period of whole days is covered by at most
  ~30 + 11 + years + 11 + 30 buckets, never one key per day.

Fields inside a counter hash (``s`` is a status code, see STATUS_CODES):

* cohort, by issue day and *current* status: ``aw.s`` awards, ``ac.s`` accepted ever,
  ``sh.s`` shared ever, ``pu.s`` public now, ``me.<method>.s``, ``tt.<bucket index>.s``;
* activity, by event day and status *at the time*: ``sc.<channel>.s``, ``vs.<source>.s``;
* ``bc``: badges created.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta

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
DEDUP_BUCKETS = 16  # sets holding one org-day's event-id digests (Layout.dedup)


@dataclass(frozen=True, slots=True)
class Layout:
    """Key builder bound to one prefix (tests give each run its own) and one generation.

    Control keys (API keys, coverage settings, the generation pointer, the change channel)
    live under ``{prefix}``; every aggregate, award state and stream offset lives under
    ``{prefix}:g{gen}``. A rebuild fills generation N+1 beside the serving N and switches
    readers over in one step (streams/generations.py), so they never see a half-built state.
    """

    prefix: str = "bp"
    gen: int = 1
    data: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", f"{self.prefix}:g{self.gen}")

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
        return f"{self.prefix}:gen"

    def history_gaps(self) -> str:
        """Hash ``topic:partition`` -> JSON: the broker came back without the events the
        aggregates were built from (memory-only broker restarted). A rebuild would lose them."""
        return f"{self.prefix}:gaps"

    # --- counters --------------------------------------------------------------------
    def table(self, org: str, bucket: str) -> str:
        """One hash per (org, bucket): field ``issuer|badge``, value the badge's table
        vector (TABLE_VECTOR int32s). The badge table, rankings and issuer activity read
        ~93 of these for any period, one field per badge, whatever the history."""
        return f"{self.data}:t:{org}:{bucket}"

    def table_versions(self, org: str) -> str:
        """Hash bucket -> a counter bumped by every write to that table hash, and ``_gen``,
        set once per Redis lifetime, so readers can cache table buckets that did not change."""
        return f"{self.data}:tv:{org}"

    def table_methods(self, org: str, bucket: str) -> str:
        """Awarding-method counts per issuer: field ``issuer|method.status``."""
        return f"{self.data}:tm:{org}:{bucket}"

    def counter_base(self, org: str, level: str, entity: str) -> str:
        """Key without the bucket; the bucket is appended after a ':'."""
        return f"{self.data}:c:{org}:{level}:{entity}"

    # --- per-award state -----------------------------------------------------------
    def award(self, org: str, award_id: str) -> tuple[str, str]:
        """(hash, field) of the award's packed state, its share/view log and
        de-duplication included (streams/state.py AwardState). An org's awards share
        AWARD_BUCKETS hashes: a field costs far less than a key of its own, and a hash of a
        hundred small values is stored compactly (listpack) where Redis allows values of
        that size (`hash-max-listpack-value 1024`, set by `up` and docker-compose)."""
        bucket = zlib.crc32(award_id.encode()) % AWARD_BUCKETS
        # `as`, not `a`: the string keys of format 1 (`a:{org}:{award}`) never collide
        return f"{self.data}:as:{org}:{bucket:03x}", award_id

    def held(self, org: str, award_id: str) -> str:
        return f"{self.data}:h:{org}:{award_id}"

    def held_index(self, topic: str, partition: int) -> str:
        return f"{self.data}:hi:{topic}:{partition}"

    def dedup(self, org: str, day: str, bucket: int) -> str:
        """Set of the 64-bit digests (as integers) of the event ids of one org and event
        day in one of DEDUP_BUCKETS buckets; expires DEDUP_DAYS + 1 after its last write.
        Integers keep a small set an intset (8 bytes a member) where Redis allows
        (`set-max-intset-entries 4096`, set by `up` and docker-compose)."""
        return f"{self.data}:dd:{org}:{day}:{bucket:x}"

    # --- registry ------------------------------------------------------------------
    def orgs(self) -> str:
        return f"{self.data}:orgs"

    def issuers(self, org: str) -> str:
        return f"{self.data}:issuers:{org}"

    def badges(self, org: str) -> str:
        return f"{self.data}:badges:{org}"

    def pairs(self, org: str) -> str:
        return f"{self.data}:pairs:{org}"

    def last_awarded(self, org: str) -> str:
        return f"{self.data}:lastaw:{org}"

    def first_day(self, org: str) -> str:
        return f"{self.data}:first:{org}"

    def coverage_config(self, org: str) -> str:
        return f"{self.prefix}:covcfg:{org}"

    # --- stream bookkeeping --------------------------------------------------------
    def offsets(self) -> str:
        return f"{self.data}:off"

    def fingerprints(self) -> str:
        """Hash ``topic:partition`` -> fingerprint of the last record applied (see
        streams.processor.Record.fingerprint)."""
        return f"{self.data}:fp"

    def epochs(self) -> str:
        return f"{self.data}:ep"

    def stats(self) -> str:
        return f"{self.data}:stats"

    def org_stats(self, org: str) -> str:
        """The stats of one org (applied, rejected, held, as_of_us): what /v1/status shows;
        and ``version``, bumped by every commit that changes anything of the org, so
        readers can cache answers per (org, version)."""
        return f"{self.data}:stats:{org}"

    def changes_channel(self) -> str:
        return f"{self.prefix}:changes"

    def key_revocations_channel(self) -> str:
        """Pub/sub: the key_id of each key revoked, so API processes drop it at once."""
        return f"{self.prefix}:revoked"

    # --- API keys ------------------------------------------------------------------
    def api_keys(self) -> str:
        """Hash key_id -> key record (JSON, holds the key's hash, never the key)."""
        return f"{self.prefix}:keys"

    def api_key_hashes(self) -> str:
        """Hash sha256(secret) -> key_id, for lookup on each request."""
        return f"{self.prefix}:keyhash"

    # --- alerts (control keys, one org's in one slot: api/alerting/store.py) -----------
    def alert_orgs(self) -> str:
        """Set of the orgs that have (or had) alerts: the ones the loops look at."""
        return f"{self.prefix}:alorgs"

    def alerts(self, org: str) -> str:
        """Hash alert_id -> the alert's definition (JSON, no secret)."""
        return f"{self.prefix}:al:def:{org}"

    def alert_secrets(self, org: str) -> str:
        """Hash alert_id -> its signing secret, as issued (HMAC needs it back)."""
        return f"{self.prefix}:al:sec:{org}"

    def alert_states(self, org: str) -> str:
        """Hash alert_id -> ``{"state", "since"}`` (absent: ``ok``)."""
        return f"{self.prefix}:al:st:{org}"

    def alert_deliveries(self, org: str) -> str:
        """Hash delivery_id -> the delivery's record (JSON, its body included)."""
        return f"{self.prefix}:al:dl:{org}"

    def alert_log(self, org: str, alert_id: str) -> str:
        """List of one alert's last delivery ids, newest first."""
        return f"{self.prefix}:al:log:{org}:{alert_id}"

    def alert_due(self, org: str) -> str:
        """Sorted set delivery_id -> when it is due (ms; a leased one: its lease's end)."""
        return f"{self.prefix}:al:due:{org}"

    def alert_tick(self, org: str) -> str:
        """String held by the process evaluating the org's alerts this interval."""
        return f"{self.prefix}:al:tick:{org}"


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
RETIRED_PREFIX = "retired:"


def counter_key(base: str, bucket: str) -> str:
    """The counter hash of one bucket (day_b, month_b, year_b, ALL_BUCKET) of a base."""
    return f"{base}{BUCKET_SEP}{bucket}"


def status_field(kind: str, status: str) -> str:
    """``aw.a``: one kind's count for one status code."""
    return f"{kind}{FIELD_SEP}{status}"


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
