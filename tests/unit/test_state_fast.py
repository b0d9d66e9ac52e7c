"""streams/state.py's cached digest and cohort functions against what they replaced (copied
below as they were at 3dc9434, built from status_at and first_accept, which stay): on random
awards and event ids the answers are identical."""

from __future__ import annotations

import hashlib
import random

import pytest

from schemas.metrics import tta_bucket_index
from streams.state import (
    AwardState,
    Cohort,
    cohort,
    cohort_delta,
    cohort_fields,
    digest,
    digest_int,
    first_accept,
    status_at,
)

H = 3_600_000_000  # one hour in microseconds


# --- the reference ----------------------------------------------------------------------------

def old_digest_int(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little",
                          signed=True)


def old_cohort(s: AwardState) -> Cohort:
    fa = first_accept(s.st)
    tta = -1 if fa is None else tta_bucket_index((fa - s.ts) / H)
    return (status_at(s.st, None), fa is not None, s.shared, s.vis[2] == "public", s.method,
            tta, s.viewed)


def old_cohort_fields(c: Cohort) -> list[str]:
    s, acc, shared, public, method, tta, viewed = c
    out = [f"aw.{s}", f"me.{method}.{s}"]
    if acc:
        out.append(f"ac.{s}")
        out.append(f"mt.{method}.{tta}.{s}")
    if shared:
        out.append(f"sh.{s}")
        out.append(f"ms.{method}.{s}")
    if public:
        out.append(f"pu.{s}")
    if viewed:
        out.append(f"vw.{s}")
    return out


def old_cohort_delta(before: Cohort | None, after: Cohort) -> dict[str, int]:
    if before == after:
        return {}
    if before is None:
        return dict.fromkeys(old_cohort_fields(after), 1)
    old, new = set(old_cohort_fields(before)), set(old_cohort_fields(after))
    delta = dict.fromkeys(old - new, -1)
    delta.update(dict.fromkeys(new - old, 1))
    return delta


# --- the comparison -------------------------------------------------------------------------

def random_award(rng: random.Random) -> AwardState:
    st = sorted((rng.randrange(0, 400) * H // 3, f"e{i}", rng.choice("aadr"))
                for i in range(rng.choice((0, 1, 2, 3, 6))))
    return AwardState("eng", "py", 0, "e0", rng.choice(("lms", "api", "manual", "tok9")),
                      "1970-01-01", (0, "e0", rng.choice(("private", "public"))), st,
                      shared=rng.random() < 0.5, viewed=rng.random() < 0.5)


@pytest.mark.parametrize("seed", range(20))
def test_cohorts_and_their_deltas_are_the_old_ones(seed: int) -> None:
    rng = random.Random(seed)
    awards = [random_award(rng) for _ in range(200)]
    cohorts = [cohort(s) for s in awards]
    assert cohorts == [old_cohort(s) for s in awards]
    for c in cohorts:
        assert cohort_fields(c) == old_cohort_fields(c)
    for _ in range(400):
        before, after = rng.choice((None, *cohorts)), rng.choice(cohorts)
        got = cohort_delta(before, after)
        assert got == old_cohort_delta(before, after)
        got["aw.p"] = 99  # the caller's copy: the next answer is unchanged
        assert cohort_delta(before, after) == old_cohort_delta(before, after)


def test_a_revoke_before_any_accept_means_never_accepted_and_after_one_it_keeps_it() -> None:
    s = AwardState("eng", "py", 0, "e0", "lms", "1970-01-01", (0, "e0", "private"),
                   [(H, "e1", "a"), (2 * H, "e2", "d"), (3 * H, "e3", "a"), (4 * H, "e4", "r")])
    # first accept at 1 h: bucket (0, 1] is #0 (test_state.py); the revoke is final
    assert cohort(s)[:2] == ("r", True) and cohort(s)[5] == 0
    s.st = [(H, "e1", "d"), (2 * H, "e2", "r"), (3 * H, "e3", "a")]
    assert cohort(s)[:2] == ("r", False) and cohort(s)[5] == -1
    s.st = [(H, "e1", "d"), (5 * H, "e2", "a")]
    assert cohort(s)[:2] == ("a", True) and cohort(s)[5] == 1


def test_digests_are_the_old_ones() -> None:
    rng = random.Random(7)
    ids = [f"ev-{rng.getrandbits(64):x}" for _ in range(2000)] + ["", "é", "x" * 200]
    for eid in ids + ids:  # the second pass answers from digest's cache
        assert digest_int(eid) == old_digest_int(eid)
        assert digest(eid) == old_digest_int(eid).to_bytes(8, "little", signed=True)
