"""Per-award state: contributions depend on the set of events, never on their order."""

from __future__ import annotations

import itertools

from streams.state import AwardState, cohort, cohort_delta, insert_status, rebucket, status_at

H = 3_600_000_000  # one hour in microseconds


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
    assert AwardState.loads(s.dumps()) == s


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
    back = AwardState.loads(s.dumps())
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
    back = AwardState.loads(s.dumps())
    assert back.log == s.log and back.viewed is False
    assert rebucket([], [(0, "e1", "a")], 0, back.log) == [
        ("1970-01-01", "bv.p", -1), ("1970-01-01", "bv.a", 1),
        ("1970-01-01", "bv.p", -1), ("1970-01-01", "bv.a", 1)]
