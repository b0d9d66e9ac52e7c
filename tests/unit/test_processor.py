"""The worker's pure middle (streams/processor.py) on hand-made records, with no I/O: what a
batch asks Redis for (lookups), what it needs next once given the answers (load), and the
Commit it folds into. Expected counters are worked out by hand from docs/semantics.md and
metrics.md, with Redis's answers played by hand-made Fetched values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from schemas.layout import Layout
from streams.processor import Commit, Fetched, PartitionBatch, Record, Rejection, dedup_member
from streams.state import AwardState, digest, digest_int, pair_digest

LAYOUT = Layout("u")
NOW_US = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1_000_000)
HOLD_INDEX = LAYOUT.held_index("events", 0)
DEDUP_TTL = 8 * 86400
AWARD = ("acme", "aw-77")
PAIR = ("acme", "acme-eng", "py-101")
# what the org's pair-digest hash says of PAIR (streams/sink.py reads it with the states)
PAIRS = {("acme", pair_digest(*PAIR)): PAIR[1:]}


def ev(event_id: str, typ: str, at: str, **fields: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": typ, "occurred_at": at,
                         "org_id": "acme", **fields})


ISSUED = ev("e-1001", "award.issued", "2026-04-13T09:30:00Z", issuer_id="acme-eng",
            badge_id="py-101", award_id="aw-77", method="lms", visibility="private")
ACCEPTED = ev("e-1002", "award.accepted", "2026-04-14T11:02:00Z", award_id="aw-77")
SHARED = ev("e-1003", "award.shared", "2026-04-14T11:05:00Z", award_id="aw-77",
            channel="linkedin")
VIEWED = ev("e-1004", "award.viewed", "2026-04-15T08:00:00Z", award_id="aw-77",
            source="linkedin")


def moved(raw: bytes, at: str, **fields: str) -> bytes:
    """The same event (its event_id) re-sent with another occurred_at and other values."""
    return orjson.dumps({**orjson.loads(raw), "occurred_at": at, **fields})


def us(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000)


def batch(values: Sequence[bytes], cache: dict[tuple[str, str], AwardState] | None = None,
          first_offset: int = 0) -> PartitionBatch:
    recs = [Record(first_offset + i, b"aw-77", v) for i, v in enumerate(values)]
    return PartitionBatch(LAYOUT, recs, NOW_US, {} if cache is None else cache, HOLD_INDEX,
                          DEDUP_TTL)


def run(b: PartitionBatch, fetched: Fetched | None = None) -> Commit:
    b.lookups()
    b.load(fetched or Fetched())
    return b.fold()


def deltas(commit: Commit) -> dict[str, dict[str, int]]:
    """The batch's nonzero counter deltas of PAIR, by day."""
    out: dict[str, dict[str, int]] = {}
    for (org, issuer, badge, day), cell in commit.fine.items():
        assert (org, issuer, badge) == PAIR
        nonzero = {f: n for f, n in cell.items() if n}
        if nonzero:
            out[day] = nonzero
    return out


def test_an_award_issued_accepted_shared_and_viewed_in_one_batch_counts_each_once():
    b = batch([ISSUED, ACCEPTED, SHARED, VIEWED])
    lk = b.lookups()
    assert lk.awards == [AWARD] and lk.held == [AWARD]  # its state, and anything held for it
    assert lk.dedup == {("acme", "2026-04-13"): ["e-1001"],
                        ("acme", "2026-04-14"): ["e-1002", "e-1003"],
                        ("acme", "2026-04-15"): ["e-1004"]}
    b.load(Fetched())
    commit = b.fold()
    assert deltas(commit) == {
        # The cohort, on the issue day, in the status it has now: accepted after 25.5 h,
        # which is time-to-accept bucket 3 (bounds 1, 6, 24, 72 h ...); private, so no `pu`;
        # shared and viewed by a person. Per awarding method (lms) too: accepted, its time
        # to accept, shared.
        "2026-04-13": {"aw.a": 1, "me.lms.a": 1, "ac.a": 1, "sh.a": 1,
                       "mt.lms.3.a": 1, "ms.lms.a": 1, "vw.a": 1},
        # Activity, on its own day, in the status at the time.
        "2026-04-14": {"sc.linkedin.a": 1},
        "2026-04-15": {"vs.linkedin.a": 1},
    }
    assert (commit.applied, commit.duplicates, commit.rejected, commit.held_delta) == (4, 0, 0, 0)
    assert dict(commit.per_org) == {("acme", "applied"): 4}
    assert commit.publish == {"acme"}
    # Every applied event marks its id's digest for its org and day ...
    assert sorted(commit.dedup_marks) == sorted(
        dedup_member(LAYOUT, "acme", day, eid) for day, eid in [
            ("2026-04-13", "e-1001"), ("2026-04-14", "e-1002"), ("2026-04-14", "e-1003"),
            ("2026-04-15", "e-1004")])
    # ... and the award's state remembers its own events too.
    state = AwardState.loads(commit.states[LAYOUT.award(*AWARD)], "acme", PAIRS)
    assert (state.issuer, state.badge, state.method, state.shared) == ("acme-eng", "py-101",
                                                                       "lms", True)
    # Shares and views are logged so a late status event can move them (semantics.md).
    assert state.log == [(us("2026-04-14T11:05:00+00:00"), "s", "linkedin"),
                         (us("2026-04-15T08:00:00+00:00"), "v", "linkedin")]
    assert state.seen == {digest("e-1003"), digest("e-1004")}
    assert state.st == [(us("2026-04-14T11:02:00+00:00"), "e-1002", "a")]


def test_an_award_the_worker_holds_is_not_looked_up_again():
    cache: dict[tuple[str, str], AwardState] = {}
    run(batch([ISSUED, ACCEPTED], cache))
    later = batch([VIEWED], cache, first_offset=2)
    assert later.lookups().awards == []
    assert deltas(run(later)) == {"2026-04-15": {"vs.linkedin.a": 1},
                                  "2026-04-13": {"vw.a": 1}}  # its first view


def test_a_repeated_event_id_is_a_duplicate_not_a_second_count():
    commit = run(batch([ISSUED, ACCEPTED, ACCEPTED]))
    assert (commit.applied, commit.duplicates) == (2, 1)
    assert dict(commit.per_org) == {("acme", "applied"): 2, ("acme", "duplicates"): 1}
    assert deltas(commit)["2026-04-13"]["ac.a"] == 1


def test_an_event_id_already_marked_in_redis_is_a_duplicate():
    seen = Fetched(seen={("acme", "2026-04-14", "e-1002")})
    commit = run(batch([ISSUED, ACCEPTED]), seen)
    assert (commit.applied, commit.duplicates) == (1, 1)
    assert deltas(commit) == {"2026-04-13": {"aw.p": 1, "me.lms.p": 1}}


def test_a_follow_up_before_its_issue_is_held_then_applied_when_the_issue_comes():
    first = run(batch([ACCEPTED]))
    assert deltas(first) == {}
    assert first.rpush == [(LAYOUT.held(*AWARD), ACCEPTED)]
    assert first.zadd == [(HOLD_INDEX, NOW_US / 1e6, "acme|aw-77")]
    assert (first.applied, first.held_delta) == (0, 1)

    # The issue arrives in a later batch; Redis answers that one event waits for it.
    later = batch([ISSUED], first_offset=1)
    assert later.lookups().held == [AWARD]
    commit = run(later, Fetched(held={AWARD: [ACCEPTED]}))
    assert deltas(commit) == {"2026-04-13": {"aw.a": 1, "me.lms.a": 1, "ac.a": 1,
                                             "mt.lms.3.a": 1}}
    assert commit.dels == [LAYOUT.held(*AWARD)]
    assert commit.zrem == [(HOLD_INDEX, "acme|aw-77")]
    assert (commit.applied, commit.held_delta) == (2, -1)


def test_a_follow_up_before_its_issue_in_the_same_batch_is_not_held():
    commit = run(batch([ACCEPTED, ISSUED]))
    assert commit.rpush == [] and commit.held_delta == 0
    assert deltas(commit) == {"2026-04-13": {"aw.a": 1, "me.lms.a": 1, "ac.a": 1,
                                             "mt.lms.3.a": 1}}


def test_a_malformed_record_is_a_rejection_naming_the_field():
    no_award = ev("e-2", "award.accepted", "2026-04-14T11:02:00Z")
    commit = run(batch([b"not json", no_award, ISSUED]))
    assert commit.dlq == [Rejection(b"aw-77", b"not json", "body: not valid JSON", 0),
                          Rejection(b"aw-77", no_award, "award_id: missing", 1)]
    assert (commit.rejected, commit.applied) == (2, 1)
    # The org is known for the second one only: /v1/status shows it under acme.
    assert commit.per_org[("acme", "rejected")] == 1


def test_a_late_acceptance_moves_a_view_already_counted_as_pending():
    view_ts = us("2026-04-15T08:00:00+00:00")
    stored = AwardState("acme-eng", "py-101", us("2026-04-13T09:30:00+00:00"), "e-1001", "lms",
                        "2026-04-13", (us("2026-04-13T09:30:00+00:00"), "e-1001", "private"),
                        log=[(view_ts, "v", "direct")], seen={digest("e-9")}, org="acme")
    b = batch([ACCEPTED])
    assert b.lookups().awards == [AWARD]
    # The status event changes what shares and views were counted as: the stored log says.
    b.load(Fetched(awards={AWARD: stored.dumps()}, pairs=PAIRS))
    commit = b.fold()
    assert deltas(commit) == {
        "2026-04-13": {"aw.p": -1, "aw.a": 1, "me.lms.p": -1, "me.lms.a": 1, "ac.a": 1,
                       "mt.lms.3.a": 1,
                       "vw.p": -1, "vw.a": 1},  # it was viewed: it moves as a viewed award
        "2026-04-15": {"vs.direct.p": -1, "vs.direct.a": 1},
    }


def test_a_re_sent_view_of_an_award_the_worker_holds_is_a_duplicate():
    cache: dict[tuple[str, str], AwardState] = {}
    run(batch([ISSUED, VIEWED], cache))
    again = run(batch([VIEWED, VIEWED], cache, first_offset=2))
    assert (again.applied, again.duplicates) == (0, 2)
    assert deltas(again) == {}


def test_a_re_sent_view_is_a_duplicate_after_the_state_went_through_redis():
    first = run(batch([ISSUED, VIEWED]))
    stored = first.states[LAYOUT.award(*AWARD)]
    again = run(batch([VIEWED, SHARED], first_offset=2),
                Fetched(awards={AWARD: stored}, pairs=PAIRS))
    assert (again.applied, again.duplicates) == (1, 1)
    assert deltas(again) == {"2026-04-13": {"sh.p": 1, "ms.lms.p": 1},
                             "2026-04-14": {"sc.linkedin.p": 1}}


def test_a_re_sent_held_event_is_a_duplicate_by_its_dedup_mark():
    first = run(batch([ACCEPTED, ACCEPTED]))
    assert (first.held_delta, first.duplicates) == (1, 1)
    assert first.dedup_marks == [dedup_member(LAYOUT, "acme", "2026-04-14", "e-1002")]
    # in a later batch Redis answers that the mark is there
    later = run(batch([ACCEPTED], first_offset=2),
                Fetched(seen={("acme", "2026-04-14", "e-1002")}))
    assert (later.held_delta, later.duplicates) == (0, 1)


def test_an_event_id_reused_on_another_award_is_a_duplicate():
    """events.md: a repeat of an event_id seen for the org in the last 7 days has no effect,
    whatever it carries (review finding: the award's own memory alone missed this)."""
    other = ev("e-1001", "award.issued", "2026-04-13T09:30:00Z", issuer_id="acme-eng",
               badge_id="py-101", award_id="aw-78", method="lms")
    commit = run(batch([ISSUED, other]))
    assert (commit.applied, commit.duplicates) == (1, 1)
    # and in a later batch, by the mark Redis holds
    later = run(batch([other], first_offset=2),
                Fetched(seen={("acme", "2026-04-13", "e-1001")}))
    assert (later.applied, later.duplicates) == (0, 1)


def test_an_event_held_twice_counts_once_when_its_award_arrives():
    # the share was held, its mark expired, it was re-sent and held again
    commit = run(batch([ISSUED]), Fetched(held={AWARD: [SHARED, SHARED]}))
    assert deltas(commit)["2026-04-14"] == {"sc.linkedin.p": 1}
    assert (commit.applied, commit.duplicates, commit.held_delta) == (2, 1, -2)


def test_a_rejected_event_reserves_nothing():
    created = ev("b-1", "badge.created", "2026-04-13T09:30:00Z", issuer_id="acme-eng",
                 badge_id="py-101", name="Python")
    again = ev("b-2", "badge.created", "2026-04-13T10:30:00Z", issuer_id="acme-eng",
               badge_id="py-101", name="Python")
    reused = ev("b-2", "badge.updated", "2026-04-13T11:30:00Z", badge_id="py-101",
                name="Python 101")
    commit = run(batch([created, again, reused]))
    assert (commit.applied, commit.rejected, commit.duplicates) == (2, 1, 0)


def test_a_badge_or_issuer_event_repeated_with_another_day_has_no_effect():
    """events.md: a repeat of an event_id has no effect. Its dedup mark is kept under its
    own day, so a repeat whose occurred_at moved a day is recognised by the metadata: not
    rejected as a second creation, and not overwriting the name. Checked in one batch and
    across batches (the metadata as Redis returns it)."""
    created = ev("b-1", "badge.created", "2026-04-13T09:30:00Z", issuer_id="acme-eng",
                 badge_id="py-101", name="Python")
    renamed = ev("b-2", "badge.updated", "2026-04-13T11:30:00Z", badge_id="py-101",
                 name="Python 101")
    issuer = ev("i-1", "issuer.created", "2026-04-13T08:00:00Z", issuer_id="acme-eng",
                name="Engineering")
    # the same ids a day later, with other values
    created2 = moved(created, "2026-04-14T09:30:00Z", name="Snake")
    renamed2 = moved(renamed, "2026-04-14T11:30:00Z", name="Snake 101")
    issuer2 = moved(issuer, "2026-04-14T08:00:00Z", name="Marketing")
    one = run(batch([issuer, created, renamed, issuer2, created2, renamed2]))
    assert (one.applied, one.rejected, one.duplicates) == (3, 0, 3)
    assert deltas(one) == {"2026-04-13": {"bc": 1}}  # one badge created
    badge_meta = orjson.loads(one.hsets[(LAYOUT.badges("acme"), "py-101")])
    issuer_meta = orjson.loads(one.hsets[(LAYOUT.issuers("acme"), "acme-eng")])
    assert badge_meta["name"][2] == "Python 101"
    assert issuer_meta["name"][2] == "Engineering"

    # a later batch, the metadata read back from Redis
    first = run(batch([issuer, created, renamed]))
    stored = Fetched(badges={("acme", "py-101"): first.hsets[(LAYOUT.badges("acme"), "py-101")]},
                     issuers={("acme", "acme-eng"):
                              first.hsets[(LAYOUT.issuers("acme"), "acme-eng")]})
    later = run(batch([issuer2, created2, renamed2]), stored)
    assert (later.applied, later.rejected, later.duplicates) == (0, 0, 3)
    assert deltas(later) == {} and later.hsets == {}

    # metadata kept before digests were: the creation's id still recognises its repeat
    old = {"created": [us("2026-04-13T09:30:00+00:00"), "b-1"], "issuer_id": "acme-eng",
           "name": [us("2026-04-13T09:30:00+00:00"), "b-1", "Python"]}
    legacy = run(batch([created2]), Fetched(badges={("acme", "py-101"): orjson.dumps(old)}))
    assert (legacy.applied, legacy.rejected, legacy.duplicates) == (0, 0, 1)
    # ... also after a new event was applied to it (its digests start then), and a repeat
    # of its update is known by the field's stamp
    old["name"] = [us("2026-04-13T11:30:00+00:00"), "b-2", "Python 101"]
    update3 = ev("b-3", "badge.updated", "2026-04-15T10:00:00Z", badge_id="py-101",
                 visibility="private")
    step = run(batch([update3]), Fetched(badges={("acme", "py-101"): orjson.dumps(old)}))
    assert (step.applied, step.rejected, step.duplicates) == (1, 0, 0)
    after = Fetched(badges={("acme", "py-101"): step.hsets[(LAYOUT.badges("acme"), "py-101")]})
    again = run(batch([created2, renamed2]), after)
    assert (again.applied, again.rejected, again.duplicates) == (0, 0, 2)


def test_a_badges_event_digests_are_kept_for_the_dedup_window_only():
    """A badge updated all day long keeps the digests of the last DEDUP_TTL seconds, not
    every update it ever had; a repeat inside the window is still a duplicate."""
    window_s = DEDUP_TTL
    meta = {"created": [0, "b-0"], "issuer_id": "acme-eng",
            "seen": [[NOW_US // 1_000_000 - window_s - 5, 1], [NOW_US // 1_000_000 - 60, 2]]}
    upd = ev("b-9", "badge.updated", "2026-04-30T10:00:00Z", badge_id="py-101", name="New")
    first = run(batch([upd]), Fetched(badges={("acme", "py-101"): orjson.dumps(meta)}))
    kept = orjson.loads(first.hsets[(LAYOUT.badges("acme"), "py-101")])["seen"]
    assert [e[1] for e in kept] == [2, digest_int("b-9")]  # the entry past the window gone
    repeat = ev("b-9", "badge.updated", "2026-04-29T10:00:00Z", badge_id="py-101",
                name="Other")
    second = run(batch([repeat]),
                 Fetched(badges={("acme", "py-101"):
                                 first.hsets[(LAYOUT.badges("acme"), "py-101")]}))
    assert (second.applied, second.duplicates) == (0, 1)


def test_digests_kept_as_plain_ints_by_the_release_before_are_still_recognised():
    """663aed6 kept `seen` as plain int digests: a repeat of an update whose field stamp
    was overwritten since is still a duplicate, and the ints are kept a window from now."""
    meta = {"created": [0, "b-1"], "issuer_id": "acme-eng",
            "name": [us("2026-04-13T12:00:00+00:00"), "b-3", "Python 3"],
            "seen": [digest_int("b-1"), digest_int("b-2"), digest_int("b-3")]}
    repeat = ev("b-2", "badge.updated", "2026-04-16T10:00:00Z", badge_id="py-101",
                name="Python 2")
    fetched = Fetched(badges={("acme", "py-101"): orjson.dumps(meta)})
    commit = run(batch([repeat]), fetched)
    assert (commit.applied, commit.duplicates) == (0, 1)
    other = ev("b-4", "badge.updated", "2026-04-16T10:00:00Z", badge_id="py-101",
               visibility="private")
    applied = run(batch([other]), Fetched(badges={("acme", "py-101"): orjson.dumps(meta)}))
    kept = orjson.loads(applied.hsets[(LAYOUT.badges("acme"), "py-101")])["seen"]
    assert [e[1] for e in kept] == [digest_int(i) for i in ("b-1", "b-2", "b-3", "b-4")]


def test_a_held_event_rejected_on_release_takes_its_mark_back():
    wrong = ev("e-2000", "award.shared", "2026-04-14T11:05:00Z", award_id="aw-77",
               badge_id="js-200", channel="linkedin")
    first = run(batch([wrong]))
    mark = dedup_member(LAYOUT, "acme", "2026-04-14", "e-2000")
    assert first.dedup_marks == [mark]
    released = run(batch([ISSUED], first_offset=1), Fetched(held={AWARD: [wrong]}))
    # taken from both sets it can be in: the org-day's one set and, past it, its bucket
    one, bucket, member = mark
    assert released.rejected == 1 and released.dedup_unmarks == [
        (one, member), (LAYOUT.dedup("acme", "2026-04-14", int(bucket, 16)), member)]


def test_an_id_taken_back_and_reserved_again_in_one_batch_ends_reserved():
    """apply.lua adds a batch's marks before it removes any: an id whose held event was
    rejected on release and which a corrected event then re-used within the same batch
    must go out as a mark only, or Redis would end without it."""
    wrong = ev("e-2000", "award.shared", "2026-04-14T11:05:00Z", award_id="aw-77",
               badge_id="js-200", channel="linkedin")
    fixed = ev("e-2000", "award.shared", "2026-04-14T11:05:00Z", award_id="aw-77",
               channel="linkedin")
    mark = dedup_member(LAYOUT, "acme", "2026-04-14", "e-2000")
    both = run(batch([wrong, ISSUED, fixed]))
    assert (both.rejected, both.applied) == (1, 2)
    assert mark in both.dedup_marks and both.dedup_unmarks == []
    # rejected and not re-used: no mark of this batch, and any earlier one removed
    alone = run(batch([wrong, ISSUED]))
    one, bucket, member = mark
    assert mark not in alone.dedup_marks
    assert alone.dedup_unmarks == [
        (one, member), (LAYOUT.dedup("acme", "2026-04-14", int(bucket, 16)), member)]


LINKEDIN_BOT = "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")


def test_a_link_preview_view_counts_as_a_bot_view_only():
    bot = ev("e-2001", "award.viewed", "2026-04-15T08:00:00Z", award_id="aw-77",
             source="linkedin", user_agent=LINKEDIN_BOT)
    human = ev("e-2002", "award.viewed", "2026-04-15T09:00:00Z", award_id="aw-77",
               source="linkedin", user_agent=BROWSER)
    cache: dict[tuple[str, str], AwardState] = {}
    run(batch([ISSUED], cache))
    # the crawler's view: one bot view, no view, no viewing source, the award not `viewed`
    assert deltas(run(batch([bot], cache, 1))) == {"2026-04-15": {"bv.p": 1}}
    # a person's view afterwards: a view of its source, and the award is viewed now
    assert deltas(run(batch([human], cache, 2))) == {"2026-04-15": {"vs.linkedin.p": 1},
                                                       "2026-04-13": {"vw.p": 1}}
    state = cache[AWARD]
    assert [k for _t, k, _c in state.log] == ["b", "v"]
    # the verdicts are kept in the stored state: a worker that reads it back agrees
    again = AwardState.loads(state.dumps(), state.org, PAIRS)
    assert again.log == state.log and again.viewed


def test_a_late_acceptance_moves_a_bot_view_between_status_fields_as_a_bot_view():
    bot = ev("e-2001", "award.viewed", "2026-04-15T08:00:00Z", award_id="aw-77",
             source="linkedin", user_agent=LINKEDIN_BOT)
    cache: dict[tuple[str, str], AwardState] = {}
    run(batch([ISSUED, bot], cache))
    # accepted (2026-04-14) before the bot's view (2026-04-15), but arriving after it
    got = deltas(run(batch([ACCEPTED], cache, 2)))
    assert got["2026-04-15"] == {"bv.p": -1, "bv.a": 1}
    assert "vw.a" not in got["2026-04-13"] and "vw.p" not in got["2026-04-13"]


def test_a_view_held_before_its_award_makes_the_award_viewed_once_applied():
    commit = run(batch([VIEWED, ISSUED]))
    got = deltas(commit)
    assert got["2026-04-13"]["vw.p"] == 1 and got["2026-04-15"] == {"vs.linkedin.p": 1}


def test_every_format_4_state_written_claims_its_pair_digest():
    """FORMAT 4 names the pair by digest; the commit claims digest -> pair in the org's
    pair-digest hash (apply.lua checks it before any write), for a new award and for a
    state an earlier worker wrote as FORMAT 3 (the ids themselves) alike, once per pair."""
    import msgpack

    d = pair_digest("acme", "acme-eng", "py-101").hex()
    issued = run(batch([ISSUED, ACCEPTED]))
    assert issued.pair_claims == {("acme", d): "acme-eng|py-101"}
    raw = msgpack.packb([3, "acme-eng", "py-101", us("2026-04-13T09:30:00+00:00"), "e-1001", 2,
                         0, [], False, b"", b""], use_bin_type=True)
    commit = run(batch([ACCEPTED]), Fetched(awards={AWARD: raw}))
    assert commit.pair_claims == {("acme", d): "acme-eng|py-101"}
    state = AwardState.loads(commit.states[LAYOUT.award(*AWARD)], "acme", PAIRS)
    assert (state.issuer, state.badge, state.st[0][2]) == ("acme-eng", "py-101", "a")


def test_two_pairs_of_one_batch_with_one_digest_are_both_written_with_their_ids(monkeypatch):
    """Two new awards of one batch whose pairs share a digest (every digest made one here):
    neither state may name the digest, since one claim cannot hold two pairs; both are
    written with their ids (FORMAT 3) and nothing is claimed."""
    import msgpack

    from streams import state

    monkeypatch.setattr(state, "pair_digest", lambda org, issuer, badge: b"\x07" * 8)
    monkeypatch.setattr(state, "COLLIDED", set())
    other = ev("e-2001", "award.issued", "2026-04-13T10:00:00Z", issuer_id="acme-ops",
               badge_id="go-1", award_id="aw-78", method="api")
    commit = run(batch([ISSUED, other]))
    assert commit.pair_claims == {}
    assert {tuple(msgpack.unpackb(raw)[:3]) for raw in commit.states.values()} == {
        (3, "acme-eng", "py-101"), (3, "acme-ops", "go-1")}
