"""Per-award state: contributions depend on the set of events, never on their order."""

from __future__ import annotations

import itertools

import pytest

from streams.state import (
    AwardState,
    cohort,
    cohort_delta,
    insert_status,
    pair_digest,
    rebucket,
    status_at,
)

H = 3_600_000_000  # one hour in microseconds


def pairs_of(*states: AwardState) -> dict[tuple[str, bytes], tuple[str, str]]:
    """What the org's pair-digest hash says of these states' pairs (for `loads`)."""
    return {(s.org, pair_digest(s.org, s.issuer, s.badge)): (s.issuer, s.badge) for s in states}


def back_of(s: AwardState) -> AwardState:
    """The state read back from what it packed, its pair given as the org's pair-digest
    hash would (streams/sink.py)."""
    return AwardState.loads(s.dumps(), s.org, pairs_of(s))


def award() -> AwardState:
    return AwardState("eng", "py", 0, "e0", "lms", "1970-01-01", (0, "e0", "private"))


def test_status_follows_the_latest_accept_or_decline_and_revoke_is_final():
    s = award()
    insert_status(s, 2 * H, "e2", "a")
    assert status_at(s.st, None) == "a" and status_at(s.st, H) == "p"
    insert_status(s, 3 * H, "e3", "d")
    assert status_at(s.st, None) == "d"
    insert_status(s, 4 * H, "e4", "r")
    insert_status(s, 5 * H, "e5", "a")
    assert status_at(s.st, None) == "r" and status_at(s.st, 3 * H) == "d"


def test_accepted_ever_survives_a_later_revoke_but_not_an_earlier_one():
    s = award()
    insert_status(s, 2 * H, "e2", "a")
    insert_status(s, 9 * H, "e9", "r")
    assert cohort(s)[:2] == ("r", True)
    t = award()
    insert_status(t, 2 * H, "e2", "r")
    insert_status(t, 9 * H, "e9", "a")
    assert cohort(t)[:2] == ("r", False)


def test_the_final_cohort_is_the_same_in_every_arrival_order():
    events = [(5 * H, "e5", "d"), (2 * H, "e2", "a"), (7 * H, "e7", "a")]
    results = set()
    for perm in itertools.permutations(events):
        s = award()
        for e in perm:
            insert_status(s, *e)
        results.add(cohort(s))
    # 2h to accept: bucket (1, 6] is #1; never viewed
    assert results == {("a", True, False, False, "lms", 1, False)}


def test_a_late_accept_moves_shares_that_happened_after_it():
    old: list[tuple[int, str, str]] = []
    new = [(2 * H, "e2", "a")]
    log = [(1 * H, "s", "linkedin"), (3 * H, "v", "direct")]
    moves = rebucket(old, new, 2 * H, log)
    assert moves == [("1970-01-01", "vs.direct.p", -1), ("1970-01-01", "vs.direct.a", 1)]


def test_cohort_delta_moves_an_award_between_statuses():
    s = award()
    before = cohort(s)
    insert_status(s, H, "e1", "a")
    assert cohort_delta(before, cohort(s)) == {
        "aw.p": -1, "me.lms.p": -1, "aw.a": 1, "me.lms.a": 1, "ac.a": 1,
        "mt.lms.0.a": 1}  # and per awarding method (its time to accept)


def test_state_round_trips_through_its_stored_form():
    s = award()
    insert_status(s, H, "e1", "a")
    s.shared = True
    assert back_of(s) == s


def test_packed_state_keeps_every_field_exactly():
    """Everything exactness needs survives packing: a view before the issue (negative
    offset), an unknown channel token, a visibility stamp of its own, two status events,
    the digests."""
    from streams.state import digest

    s = AwardState("eng", "py", 10 * H, "e0", "lms", "1970-01-01", (11 * H, "e9", "public"),
                   st=[(12 * H, "e1", "a"), (13 * H, "e2", "r")], shared=True,
                   log=[(9 * H, "v", "direct"), (12 * H, "s", "linkedin"),
                        (14 * H, "s", "myspace_2"), (15 * H, "v", "newsletter")],
                   seen={digest("e3"), digest("e4")}, viewed=True)
    back = back_of(s)
    assert back == s
    # and it is compact: well under what the JSON form (format 1) plus its separate log
    # string took for the same award
    import orjson
    json_form = orjson.dumps([s.issuer, s.badge, s.ts, s.eid, s.method, s.day, list(s.vis),
                              [list(x) for x in s.st], s.shared])
    log_form = "".join(f"{ts},{k},{c};" for ts, k, c in s.log).encode()
    assert len(s.dumps()) < 0.75 * (len(json_form) + len(log_form))


def test_a_state_of_another_format_is_refused_with_a_reason():
    import msgpack
    import pytest

    with pytest.raises(ValueError, match="format 1"):
        AwardState.loads(msgpack.packb([1, "eng", "py", 0, "e0", "lms", None, None, 0, [],
                                        False, [], b""]))


def test_a_bot_view_is_kept_as_one_and_does_not_make_the_award_viewed():
    s = award()
    s.log = [(H, "b", "linkedin"), (2 * H, "b", "newsletter")]
    back = back_of(s)
    assert back.log == s.log and back.viewed is False
    assert rebucket([], [(0, "e1", "a")], 0, back.log) == [
        ("1970-01-01", "bv.p", -1), ("1970-01-01", "bv.a", 1),
        ("1970-01-01", "bv.p", -1), ("1970-01-01", "bv.a", 1)]


def test_a_format_2_state_written_by_an_earlier_worker_still_loads():
    """FORMAT 2 (main before FORMAT 3): [2, issuer, badge, ts, eid, method, vis offset or
    None, vis event id or None, vis code, st flat as (offset, kind, event id), shared, log
    flat as (offset, code or kind+token), seen]. Packed here by hand; read as the award it
    describes, and written back as FORMAT 4."""
    import msgpack

    from streams.state import FORMAT, digest

    d1, d2 = digest("e3"), digest("e4")
    raw = msgpack.packb(
        [2, "eng", "py", 10 * H, "e0", "integration", H, "e9", 1,
         [2 * H, "a", "e1", 3 * H, "r", "e2"], True,
         [-H, 64, 2 * H, 0, 4 * H, "smyspace_2", 5 * H, 128 + 1], d1 + d2],
        use_bin_type=True)
    s = AwardState.loads(raw)
    assert s == AwardState(
        "eng", "py", 10 * H, "e0", "integration", "1970-01-01", (11 * H, "e9", "public"),
        st=[(12 * H, "e1", "a"), (13 * H, "e2", "r")], shared=True,
        log=[(9 * H, "v", "linkedin"), (12 * H, "s", "linkedin"),
             (14 * H, "s", "myspace_2"), (15 * H, "b", "direct")],
        seen={d1, d2}, viewed=True)
    again = s.dumps()
    assert msgpack.unpackb(again)[0] == FORMAT == 4
    assert AwardState.loads(again, s.org, pairs_of(s)) == s


def test_format_3_keeps_log_order_and_entries_that_do_not_fit_seven_bytes():
    """A log entry is 7 bytes (code, 48-bit offset) unless its token has no code or its
    offset is beyond ± 2^47 µs (4.4 years): those go to the side list, in their place."""
    far = 1 << 47  # µs: the first offset that does not fit
    s = AwardState("eng", "py", 10 * H, "e0", "bulk", "1970-01-01", (10 * H, "e0", "private"),
                   log=[(10 * H + far, "v", "direct"), (10 * H - 3, "s", "url"),
                        (10 * H + far - 1, "b", "other"), (10 * H - far, "v", "email"),
                        (10 * H - far - 1, "s", "a_new_one"), (10 * H, "v", "odd_source")],
                   viewed=True)
    back = back_of(s)
    assert back == s and back.log == s.log


def test_format_3_round_trips_random_states():
    """Many random states (any method token, status events at one instant, visibility of
    its own or the issue's, logs mixing known and unknown tokens) come back equal."""
    import random

    from streams.state import SHARE_CHANNELS, VIEW_SOURCES, digest

    rng = random.Random(7)
    for n in range(500):
        ts = rng.randrange(0, 1 << 53)
        eid = f"e{n}"
        vis = ((ts, eid, rng.choice(["private", "public"])) if rng.random() < 0.7 else
               (ts + rng.randrange(-H, 90 * 24 * H), f"v{n}", rng.choice(["private", "public"])))
        s = AwardState(rng.choice(["eng", "", "ünï"]), rng.choice(["py", "x" * 64]), ts, eid,
                       rng.choice(["lms", "api", "manual", "bulk", "zapier_2", "other"]),
                       "", vis)
        s.day = back_of(s).day
        for i in range(rng.randrange(4)):
            insert_status(s, ts + rng.choice([0, H, 5 * H]), f"s{n}-{i}",
                          rng.choice(["a", "d", "r"]))
        for i in range(rng.randrange(8)):
            kind = rng.choice(["s", "v", "b"])
            chans = SHARE_CHANNELS if kind == "s" else VIEW_SOURCES
            chan = rng.choice([*chans, "tok_" + str(i)])
            s.log.append((ts + rng.randrange(-400 * 24 * H, 4000 * 24 * H), kind, chan))
            s.seen.add(digest(f"l{n}-{i}"))
            s.shared |= kind == "s"
            s.viewed |= kind == "v"
        assert back_of(s) == s


def test_each_format_is_smaller_than_the_last_for_a_typical_award():
    """A typical award of the demo mix: issued, accepted, two views and a share. FORMAT 2
    packed it in 113 bytes, counted from its layout: array 1, format 1, "eng" 4, "py" 3,
    ts 9, event id 11, "lms" 4, two nils 2, visibility 1, st [1 + offset 5 + "a" 2 + id 11],
    shared 1, log [1 + 3 x (offset 9 + code 1)], seen 2 + 24. FORMAT 3 took 99: method 1
    (not 4), visibility 1 (not 3), kind 1 (not 2), log 2 + 3 x 7 (not 31). FORMAT 4 has the
    pair's digest (bin 8: 10 bytes) instead of the two ids: 102 with ids as short as these
    (7 bytes in FORMAT 3), 102 still with the demo's ids "cloud-academy" and
    "cloud-practitioner" (33 bytes: FORMAT 3 took 125)."""
    from streams.state import digest

    for issuer, badge in (("eng", "py"), ("cloud-academy", "cloud-practitioner")):
        s = AwardState(issuer, badge, 1_780_000_000_000_000, "org0-0-123", "lms", "2026-05-28",
                       (1_780_000_000_000_000, "org0-0-123", "private"),
                       st=[(1_780_000_000_000_000 + H, "org0-0-456", "a")], shared=True,
                       log=[(1_780_000_000_000_000 + 30 * H, "v", "direct"),
                            (1_780_000_000_000_000 + 40 * H, "s", "linkedin"),
                            (1_780_000_000_000_000 + 50 * H, "v", "linkedin")],
                       seen={digest("a"), digest("b"), digest("c")}, viewed=True)
        assert len(s.dumps()) == 102


def test_a_format_3_state_written_by_an_earlier_worker_loads_and_is_written_back_as_4():
    """FORMAT 3 (main before FORMAT 4): the issuer and badge ids where FORMAT 4 has the
    pair's digest, the rest as FORMAT 4. Packed here by hand (a log record is code, then
    the offset's low 16 and high 32 bits)."""
    import struct

    import msgpack

    from streams.state import FORMAT, digest, pair_digest, state_pair

    log = struct.pack("<BHi", 0, H & 0xFFFF, H >> 16)  # linkedin share 1 h after the issue
    raw = msgpack.packb([3, "eng", "py", 10 * H, "e0", 2, 1, [2 * H, 0, "e1"], True, log,
                         digest("e2")], use_bin_type=True)
    assert state_pair(raw) is None
    s = AwardState.loads(raw, "acme")
    assert s == AwardState("eng", "py", 10 * H, "e0", "lms", "1970-01-01",
                           (10 * H, "e0", "public"), st=[(12 * H, "e1", "a")], shared=True,
                           log=[(11 * H, "s", "linkedin")], seen={digest("e2")})
    again = s.dumps()
    items = msgpack.unpackb(again)
    assert items[0] == FORMAT == 4 and items[1] == pair_digest("acme", "eng", "py")
    assert state_pair(again) == pair_digest("acme", "eng", "py")
    assert back_of(s) == s


def test_a_format_4_state_is_read_only_with_its_org_s_pair():
    """The pair comes from the org's pair-digest hash (streams/sink.py reads it with the
    state); a state loaded without it is an error, never an award of another pair. The org
    is digested with the pair: the same ids in two orgs are two digests, and one org's
    pairs name nothing in another (a tenant cannot choose ids another tenant's states
    would be read as)."""
    from streams import state

    s = award()
    s.org = "acme"
    raw = s.dumps()
    d = state.state_pair(raw)
    assert d == state.pair_digest("acme", "eng", "py")
    assert d != state.pair_digest("globex", "eng", "py")
    with pytest.raises(state.UnknownPair):
        AwardState.loads(raw, "acme")
    with pytest.raises(state.UnknownPair):
        AwardState.loads(raw, "globex", {("acme", d): ("eng", "py")})
    assert AwardState.loads(raw, "acme", {("acme", d): ("eng", "py")}) == award()


def test_a_pair_whose_digest_names_another_is_written_with_its_ids(monkeypatch):
    """Once the claim found a digest naming another pair of the org (COLLIDED), this
    process writes that pair's states with the ids (FORMAT 3), read back as they were."""
    import msgpack

    from streams import state

    monkeypatch.setattr(state, "COLLIDED", {("acme", state.pair_digest("acme", "eng", "py"))})
    s = award()
    s.org = "acme"
    raw = s.dumps()
    assert msgpack.unpackb(raw)[:3] == [3, "eng", "py"] and state.state_pair(raw) is None
    assert AwardState.loads(raw, "acme") == award()


def test_the_utc_day_of_a_time_to_the_microsecond():
    from streams.state import utc_day

    day = 86_400_000_000
    assert utc_day(0) == "1970-01-01" and utc_day(day - 1) == "1970-01-01"
    assert utc_day(day) == "1970-01-02" and utc_day(-1) == "1969-12-31"
    # 2026-04-13T23:59:59.999999Z and the next microsecond
    t = (20_556 * 86_400 + 86_399) * 1_000_000 + 999_999
    assert utc_day(t) == "2026-04-13" and utc_day(t + 1) == "2026-04-14"
    # far enough that a float of seconds no longer holds the microsecond
    t = (2_900_000 * 86_400 + 86_399) * 1_000_000 + 999_999
    assert utc_day(t) == "9909-12-07" and utc_day(t + 1) == "9909-12-08"
