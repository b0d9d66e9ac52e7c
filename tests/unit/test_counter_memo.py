"""The counter readers' memo (api/readers/counters.py CounterMemo) changes no answer: fold
with it equals fold without it on random hashes, including names that only look like the
badges-created field, and its period buckets are period_buckets'; both stay bounded."""

from __future__ import annotations

import random
from datetime import date, timedelta

from api.readers import counters
from api.readers.counters import CounterMemo, fold
from schemas.layout import period_buckets

NAMES = [b"bc", b"bc.x.a", b"aw.a", b"aw.p", b"ac.r", b"sh.a", b"pu.d", b"sc.linkedin.a",
         b"vs.direct.a", b"tt.3.a", b"bv.a", b"vw.a", b"ms.lms.a", b"mt.lms.3.a", b"me.api.p",
         b"mt.bulk.0.r", b"zz.q.a", b".a", b"aw", b"bc."]


def test_fold_with_the_memo_equals_fold_without_it():
    rng = random.Random(3)
    memo = CounterMemo()
    for _ in range(300):
        hashes = [{rng.choice(NAMES): str(rng.randrange(-2, 9)).encode()
                   for _ in range(rng.randrange(8))} for _ in range(rng.randrange(4))]
        statuses = frozenset(rng.sample("padr", rng.randrange(1, 5)))
        assert fold(hashes, statuses, memo) == fold(hashes, statuses)
    assert fold([{b"bc": b"4", b"bc.x.a": b"1"}], frozenset("a"), memo).badges_created == 4


def test_the_memo_s_periods_are_period_buckets_and_both_parts_are_bounded(monkeypatch):
    rng = random.Random(4)
    memo = CounterMemo()
    monkeypatch.setattr(counters, "MAX_PERIODS", 50)
    monkeypatch.setattr(counters, "MAX_FIELDS", 5)
    for _ in range(200):
        start = date(2020, 1, 1) + timedelta(days=rng.randrange(2000))
        end = start + timedelta(days=rng.randrange(800))
        assert memo.buckets(start, end) == period_buckets(start, end)
        assert len(memo.periods) <= 50
    for name in NAMES:
        memo.parse(name)
        assert len(memo.fields) <= 5
