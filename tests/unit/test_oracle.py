"""Hand-worked checks of the brute-force oracle itself (tests/oracle.py)."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

import pytest

from tests.oracle import Oracle, previous_period
from tests.streamgen import generate

NOW = datetime(2026, 4, 13, tzinfo=UTC)
NOW_US = int(NOW.timestamp()) * 1_000_000
P = (date(2026, 4, 1), date(2026, 4, 10))  # P' = 2026-03-22 .. 2026-03-31
ALL_STATUSES = ["pending", "accepted", "declined", "revoked"]

_ids = count(1)


def ev(typ: str, at: str, org: str = "acme", eid: str | None = None, **fields: Any) -> bytes:
    payload = {
        "event_id": eid or f"e-{next(_ids):05d}",
        "type": typ,
        "occurred_at": at,
        "org_id": org,
        **fields,
    }
    return json.dumps(payload).encode()


def issued(
    aid: str, at: str, method: str = "lms", issuer: str = "i1", badge: str = "b1", **kw: Any
) -> bytes:
    return ev(
        "award.issued", at, issuer_id=issuer, badge_id=badge, award_id=aid, method=method, **kw
    )


def follow(typ: str, aid: str, at: str, **kw: Any) -> bytes:
    return ev(typ, at, award_id=aid, **kw)


def test_previous_period() -> None:
    assert previous_period(P) == (date(2026, 3, 22), date(2026, 3, 31))
    assert previous_period((date(2026, 3, 1), date(2026, 3, 1))) == (
        date(2026, 2, 28),
        date(2026, 2, 28),
    )


# ----------------------------------------------------------------------------- three awards


def three_award_stream() -> list[bytes]:
    return [
        ev("issuer.created", "2026-03-01T00:00:00Z", issuer_id="i1", name="Eng"),
        ev("badge.created", "2026-03-01T00:00:00Z", issuer_id="i1", badge_id="b1", name="Py"),
        ev("badge.created", "2026-04-02T00:00:00Z", issuer_id="i1", badge_id="b2", name="SQL"),
        # a_old: long before both periods; its share makes award.shared's first day 03-02
        issued("a_old", "2026-03-01T00:00:00Z", method="manual"),
        follow("award.shared", "a_old", "2026-03-02T00:00:00Z", channel="x"),
        # a0: in P'
        issued("a0", "2026-03-25T00:00:00Z", method="api"),
        follow("award.accepted", "a0", "2026-03-25T00:30:00Z"),
        follow("award.shared", "a0", "2026-03-26T00:00:00Z", channel="linkedin"),
        follow("award.viewed", "a0", "2026-03-27T00:00:00Z", source="linkedin"),
        follow("award.viewed", "a0", "2026-03-27T01:00:00Z", source="linkedin"),
        # a1, a2, a3: in P
        issued("a1", "2026-04-01T00:00:00Z", visibility="public"),
        follow("award.accepted", "a1", "2026-04-01T03:00:00Z"),  # 3 h
        follow("award.shared", "a1", "2026-04-02T00:00:00Z", channel="linkedin"),
        follow("award.viewed", "a1", "2026-04-03T00:00:00Z", source="linkedin"),
        follow("award.viewed", "a1", "2026-04-04T00:00:00Z", source="direct"),
        issued("a2", "2026-04-02T00:00:00Z", method="manual", badge="b2"),
        follow("award.accepted", "a2", "2026-04-03T00:00:00Z"),  # 24 h
        follow("award.shared", "a2", "2026-04-05T00:00:00Z", channel="email"),
        follow("award.viewed", "a2", "2026-04-06T00:00:00Z", source="linkedin"),
        issued("a3", "2026-04-05T00:00:00Z"),
        follow("award.viewed", "a3", "2026-04-06T00:00:00Z", source="direct"),
    ]


def test_three_awards_metrics_and_tiles() -> None:
    o = Oracle(three_award_stream(), NOW_US)
    assert (o.applied, o.rejected, o.held) == (21, 0, 0)
    s = o.summary("acme", period=P)
    # P: cohort a1, a2, a3; accepted a1, a2; shared a1, a2; public a1;
    # shares: a1, a2 -> 2; views: a1 x2, a2, a3 -> 4; badges created in P: b2
    assert s["metrics"] == {
        "badges_created": 1,
        "badges_awarded": 3,
        "accepted_awards": 2,
        "shared_awards": 2,
        "public_awards": 1,
        "acceptance_rate": pytest.approx(2 / 3),
        "share_rate": pytest.approx(2 / 3),
        "public_visibility_rate": pytest.approx(1 / 3),
        "shares": 2,
        "views": 4,
        "learner_engagement_score": pytest.approx((2 / 3 * 0.6 + 2 / 3 * 0.4) * 100),
        "external_impact_score": pytest.approx(2.0),
        "bot_views": 0,  # no view carries a crawler's user agent
    }
    k = s["kpis"]
    # all time: 5 awards, accepted a0 a1 a2 (3), shared a_old a0 a1 a2 (4), public a1 (1),
    # shares 4, views 6, badges 2.  P': a0 only -> rates 1, 1, 0; views 2, shares 1.
    assert k["badges_awarded"] == {
        "value": 5,
        "current": 3,
        "previous": 1,
        "change": 2,
        "change_pct": pytest.approx(200.0),
        "direction": "up",
    }
    assert k["badges_created"] == {
        "value": 2,
        "current": 1,
        "previous": 0,
        "change": 1,
        "change_pct": None,  # previous is 0
        "direction": "up",
    }
    assert k["acceptance_rate"]["value"] == pytest.approx(3 / 5)
    assert k["acceptance_rate"]["previous"] == pytest.approx(1.0)
    assert k["acceptance_rate"]["change_pct"] == pytest.approx(100 * (2 / 3 - 1))
    assert k["acceptance_rate"]["direction"] == "down"
    assert k["share_rate"]["value"] == pytest.approx(4 / 5)
    assert k["public_visibility_rate"]["value"] == pytest.approx(1 / 5)
    assert k["public_visibility_rate"]["previous"] == 0
    assert k["public_visibility_rate"]["change_pct"] is None
    assert k["public_visibility_rate"]["direction"] == "up"
    # LES all time = (0.6 * 0.6 + 0.8 * 0.4) * 100 = 68; P' = 100
    assert k["learner_engagement_score"]["value"] == pytest.approx(68.0)
    assert k["learner_engagement_score"]["previous"] == pytest.approx(100.0)
    # EIS all time 6 / 4; P 4 / 2; P' 2 / 1 -> flat
    assert k["external_impact_score"] == {
        "value": pytest.approx(1.5),
        "current": pytest.approx(2.0),
        "previous": pytest.approx(2.0),
        "change": pytest.approx(0.0),
        "change_pct": pytest.approx(0.0),
        "direction": "flat",
    }
    # awarding lms 2 > manual 1; sharing linkedin 1 = email 1 -> email (key asc);
    # viewing linkedin 2 = direct 2 -> direct
    assert s["highlights"] == {
        "most_used_awarding_method": "lms",
        "most_used_sharing_method": "email",
        "most_common_viewing_source": "direct",
    }
    # 3 h -> le 6, 24 h -> le 24; n = 2, target 1 reached in le 6: 1 + 5 * (1 - 0) / 1 = 6
    assert s["time_to_accept"] == {
        "buckets": [
            {"le": 1, "count": 0},
            {"le": 6, "count": 1},
            {"le": 24, "count": 1},
            {"le": 72, "count": 0},
            {"le": 168, "count": 0},
            {"le": 720, "count": 0},
            {"le": 2160, "count": 0},
            {"le": None, "count": 0},
        ],
        "median_hours": pytest.approx(6.0),
    }
    # P'.from = 03-22: accepted (03-25) and viewed (03-27) start later; shared (03-02) does not
    assert s["coverage"] == {
        "first_day": {
            "award.accepted": "2026-03-25",
            "award.issued": "2026-03-01",
            "award.shared": "2026-03-02",
            "award.viewed": "2026-03-27",
            "badge.created": "2026-03-01",
            "issuer.created": "2026-03-01",
        },
        "incomplete": [
            "acceptance_rate",
            "accepted_awards",
            "bot_views",
            "external_impact_score",
            "learner_engagement_score",
            "time_to_accept",
            "views",
        ],
    }


def test_three_awards_channels_and_filters() -> None:
    o = Oracle(three_award_stream(), NOW_US)
    ch = o.channels("acme", period=P)
    assert ch["awarding"] == [  # api (only in P') is left out
        {"key": "lms", "count": 2, "pct": pytest.approx(200 / 3), "previous_count": 0,
         "change_pct": None},
        {"key": "manual", "count": 1, "pct": pytest.approx(100 / 3), "previous_count": 0,
         "change_pct": None},
    ]  # fmt: skip
    assert ch["sharing"] == [
        {"key": "email", "count": 1, "pct": 50.0, "previous_count": 0, "change_pct": None},
        {"key": "linkedin", "count": 1, "pct": 50.0, "previous_count": 1, "change_pct": 0.0},
    ]
    assert ch["viewing"] == [
        {"key": "direct", "count": 2, "pct": 50.0, "previous_count": 0, "change_pct": None},
        {"key": "linkedin", "count": 2, "pct": 50.0, "previous_count": 2, "change_pct": 0.0},
    ]
    # badge scope b2: only a2 (and the badge b2 itself)
    m = o.summary("acme", badge_id="b2", period=P)["metrics"]
    assert (m["badges_created"], m["badges_awarded"], m["shares"], m["views"]) == (1, 1, 1, 1)
    # status filter: pending -> a3 only; its view happened while pending
    m = o.summary("acme", period=P, statuses=["pending"])["metrics"]
    assert (m["badges_awarded"], m["accepted_awards"], m["shares"], m["views"]) == (1, 0, 0, 1)
    assert m["badges_created"] == 1  # not an award metric: status ignored
    # tiles ignore filters
    s = o.summary("acme", period=P, statuses=["pending"], badge_ids=["b1"])
    assert s["kpis"]["badges_awarded"]["value"] == 5
    assert s["kpis"]["badges_awarded"]["current"] == 1


# ----------------------------------------------------------------------------- status rules


def test_revoked_after_accept_and_decline_after_accept() -> None:
    raw = [
        # a: accepted at +10 h, revoked, later accept and decline change nothing
        issued("a", "2026-04-01T00:00:00Z"),
        follow("award.accepted", "a", "2026-04-01T10:00:00Z"),
        follow("award.revoked", "a", "2026-04-02T00:00:00Z", reason="fraud"),
        follow("award.accepted", "a", "2026-04-03T00:00:00Z"),
        follow("award.declined", "a", "2026-04-04T00:00:00Z"),
        # b: revoked before its only accept -> never accepted
        issued("b", "2026-04-01T00:00:00Z"),
        follow("award.revoked", "b", "2026-04-01T05:00:00Z"),
        follow("award.accepted", "b", "2026-04-01T06:00:00Z"),
        # c: accepted at +0.5 h then declined -> declined now, accepted ever
        issued("c", "2026-04-01T00:00:00Z"),
        follow("award.accepted", "c", "2026-04-01T00:30:00Z"),
        follow("award.declined", "c", "2026-04-02T00:00:00Z"),
    ]
    o = Oracle(raw, NOW_US)
    s = o.summary("acme", period=P)
    assert s["metrics"]["badges_awarded"] == 3
    assert s["metrics"]["accepted_awards"] == 2  # a and c
    # hours: a 10 -> le 24, c 0.5 -> le 1; target 1 reached in le 1: 0 + 1 * 1 / 1 = 1
    counts = [b["count"] for b in s["time_to_accept"]["buckets"]]
    assert counts == [1, 0, 1, 0, 0, 0, 0, 0]
    assert s["time_to_accept"]["median_hours"] == pytest.approx(1.0)

    def awarded(statuses: list[str]) -> tuple[int, int]:
        m = o.summary("acme", period=P, statuses=statuses)["metrics"]
        return m["badges_awarded"], m["accepted_awards"]

    assert awarded(["revoked"]) == (2, 1)  # a (accepted ever) and b
    assert awarded(["declined"]) == (1, 1)  # c
    assert awarded(["accepted"]) == (0, 0)
    assert awarded(["pending"]) == (0, 0)


def test_share_status_moves_when_an_earlier_accept_arrives_late() -> None:
    raw = [
        issued("a", "2026-04-01T00:00:00Z"),
        follow("award.shared", "a", "2026-04-01T12:00:00Z", channel="linkedin"),
        follow("award.viewed", "a", "2026-04-01T13:00:00Z", source="linkedin"),
        issued("b", "2026-04-02T00:00:00Z"),
        follow("award.shared", "b", "2026-04-02T01:00:00Z", channel="email"),
        follow("award.accepted", "b", "2026-04-03T00:00:00Z"),
        # published last, but happened before a's share: a was accepted when shared
        follow("award.accepted", "a", "2026-04-01T06:00:00Z"),
    ]
    o = Oracle(raw, NOW_US)

    def activity(statuses: list[str]) -> tuple[int, int]:
        m = o.summary("acme", period=P, statuses=statuses)["metrics"]
        return m["shares"], m["views"]

    assert activity(["accepted"]) == (1, 1)  # a's share and view
    assert activity(["pending"]) == (1, 0)  # b's share, before b's accept
    assert activity([]) == (2, 1)
    sharing = o.channels("acme", period=P, statuses=["pending"])["sharing"]
    assert [(e["key"], e["count"]) for e in sharing] == [("email", 1)]
    # arrival order does not matter
    assert Oracle(list(reversed(raw)), NOW_US).summary("acme", period=P) == o.summary(
        "acme", period=P
    )


def test_status_at_equal_instant_counts_and_visibility_tie_by_event_id() -> None:
    raw = [
        ev("award.issued", "2026-04-01T00:00:00Z", eid="z-1", issuer_id="i1", badge_id="b1",
           award_id="a", method="lms", visibility="private"),
        # same instant as the issue: the larger event_id is the later one -> public
        ev("award.visibility_changed", "2026-04-01T00:00:00Z", eid="z-2", award_id="a",
           visibility="public"),
        ev("award.accepted", "2026-04-01T02:00:00Z", award_id="a"),
        ev("award.shared", "2026-04-01T02:00:00Z", award_id="a", channel="x"),  # accepted (<=)
        ev("award.issued", "2026-04-01T00:00:00Z", eid="y-2", issuer_id="i1", badge_id="b1",
           award_id="b", method="lms", visibility="public"),
        # same instant, smaller event_id: earlier than the issue -> stays public
        ev("award.visibility_changed", "2026-04-01T00:00:00Z", eid="y-1", award_id="b",
           visibility="private"),
    ]  # fmt: skip
    o = Oracle(raw, NOW_US)
    m = o.summary("acme", period=P)["metrics"]
    assert m["public_awards"] == 2
    assert o.summary("acme", period=P, statuses=["accepted"])["metrics"]["shares"] == 1


# ----------------------------------------------------------------------------- time to accept


def test_median_interpolation_hand_example() -> None:
    hours = {"h0": -10 / 3600, "h1": 0.5, "h2": 2, "h3": 3, "h4": 30, "h5": 3000}
    issue = datetime(2025, 12, 1, tzinfo=UTC)
    raw = []
    for aid, h in hours.items():
        raw.append(issued(aid, "2025-12-01T00:00:00Z"))
        t = datetime.fromtimestamp(issue.timestamp() + round(h * 3600), UTC)
        raw.append(follow("award.accepted", aid, t.isoformat().replace("+00:00", "Z")))
    s = Oracle(raw, NOW_US).summary("acme", period=(date(2025, 12, 1), date(2025, 12, 1)))
    # skew (-10 s) counts as 0 -> le 1; 0.5 -> le 1; 2, 3 -> le 6; 30 -> le 72; 3000 -> +inf
    counts = [b["count"] for b in s["time_to_accept"]["buckets"]]
    assert counts == [2, 2, 0, 1, 0, 0, 0, 1]
    # n = 6, target 3; cumulative 2 after le 1, 4 after le 6 -> 1 + (6 - 1) * (3 - 2) / 2
    assert s["time_to_accept"]["median_hours"] == pytest.approx(3.5)


def test_median_in_inf_bucket_and_exact_bounds() -> None:
    raw = [
        issued("a", "2026-04-01T00:00:00Z"),
        follow("award.accepted", "a", "2026-04-01T01:00:00Z"),  # exactly 1 h -> le 1
        issued("b", "2026-04-01T00:00:00Z"),
        follow("award.accepted", "b", "2026-04-01T06:00:00Z"),  # exactly 6 h -> le 6
    ]
    s = Oracle(raw, NOW_US).summary("acme", period=P)
    assert [b["count"] for b in s["time_to_accept"]["buckets"]][:3] == [1, 1, 0]
    # n = 2, target 1, reached in le 1: 0 + 1 * (1 - 0) / 1
    assert s["time_to_accept"]["median_hours"] == pytest.approx(1.0)

    raw = [
        issued("a", "2026-01-01T00:00:00Z"),
        follow("award.accepted", "a", "2026-04-10T00:00:00Z"),  # 2376 h -> +inf
    ]
    s = Oracle(raw, NOW_US).summary("acme", period=(date(2026, 1, 1), date(2026, 1, 1)))
    # target 0.5 in the +inf bucket: 2160 + (4320 - 2160) * 0.5 / 1
    assert s["time_to_accept"]["median_hours"] == pytest.approx(3240.0)
    assert s["time_to_accept"]["buckets"][-1] == {"le": None, "count": 1}


# ----------------------------------------------------------------------------- nulls


def test_empty_org_nulls() -> None:
    o = Oracle([issued("a", "2026-04-01T00:00:00Z", org="other")], NOW_US)
    s = o.summary("nobody", period=P)
    m = s["metrics"]
    for name in ("acceptance_rate", "share_rate", "public_visibility_rate",
                 "learner_engagement_score", "external_impact_score"):  # fmt: skip
        assert m[name] is None
        assert s["kpis"].get(name, {"value": None})["value"] is None
    for name in ("badges_created", "badges_awarded", "accepted_awards", "shares", "views"):
        assert m[name] == 0
    assert s["kpis"]["acceptance_rate"] == {
        "value": None,
        "current": None,
        "previous": None,
        "change": None,
        "change_pct": None,
        "direction": "flat",
    }
    assert s["kpis"]["badges_awarded"] == {
        "value": 0,
        "current": 0,
        "previous": 0,
        "change": 0,
        "change_pct": None,
        "direction": "flat",
    }
    assert s["highlights"] == {
        "most_used_awarding_method": None,
        "most_used_sharing_method": None,
        "most_common_viewing_source": None,
    }
    assert s["time_to_accept"]["median_hours"] is None
    assert all(b["count"] == 0 for b in s["time_to_accept"]["buckets"])
    assert s["coverage"]["first_day"] == {}
    assert len(s["coverage"]["incomplete"]) == 10  # bot views depend on views too
    assert o.channels("nobody", period=P) == {"awarding": [], "sharing": [], "viewing": []}


def test_eis_null_when_views_but_no_shares() -> None:
    raw = [issued("a", "2026-04-01T00:00:00Z"),
           follow("award.viewed", "a", "2026-04-02T00:00:00Z", source="direct")]  # fmt: skip
    m = Oracle(raw, NOW_US).summary("acme", period=P)["metrics"]
    assert m["views"] == 1 and m["shares"] == 0
    assert m["external_impact_score"] is None


# ----------------------------------------------------------------------------- ingest rules


def test_validation_dedup_and_semantic_rejections() -> None:
    raw = [
        b"{not json",  # rejected
        ev("award.viewed", "2026-04-02T00:00:00Z", eid="dup-1", award_id="a", source="Bad!"),
        issued("a", "2026-04-01T00:00:00Z"),
        # dup-1 was rejected, so it is free for this valid event
        ev("award.viewed", "2026-04-02T00:00:00Z", eid="dup-1", award_id="a", source="direct"),
        ev("award.viewed", "2026-04-02T00:00:00Z", eid="dup-1", award_id="a", source="direct"),
        ev("award.viewed", "2026-04-02T00:00:00Z", eid="dup-1", org="beta", award_id="a",
           source="direct"),  # other org: its own id space; held (no award a in beta)
        issued("a", "2026-04-03T00:00:00Z", method="api"),  # award_already_issued
        ev("badge.created", "2026-04-01T00:00:00Z", issuer_id="i1", badge_id="b1", name="x"),
        ev("badge.created", "2026-04-02T00:00:00Z", issuer_id="i1", badge_id="b1", name="y"),
        follow("award.shared", "a", "2026-04-02T00:00:00Z", channel="x", badge_id="b9"),
        follow("award.shared", "a", "2026-04-02T00:00:00Z", channel="x", issuer_id="i1"),
        # held, then rejected on release (badge mismatch)
        follow("award.viewed", "c", "2026-04-02T00:00:00Z", source="direct", badge_id="b9"),
        # held, then applied
        follow("award.accepted", "c", "2026-04-02T00:00:00Z"),
        issued("c", "2026-04-01T00:00:00Z"),
        follow("award.accepted", "zzz", "2026-04-02T00:00:00Z"),  # orphan: held
        ev("award.viewed", "2026-04-16T00:00:01Z", award_id="a", source="direct"),  # > 24 h
        ev("award.viewed", "2026-04-13T23:00:00Z", award_id="a", source="direct"),  # 23 h: ok
        # 23:30 at -05:00 is 04:30 UTC on the 2nd; unknown fields are ignored
        ev("award.viewed", "2026-04-01T23:30:00-05:00", award_id="a", source="direct", extra=1),
        ev("award.viewed", "2026-04-02T00:00:00", award_id="a", source="direct"),  # no offset
        ev("award.viewed", "2026-04-02T00:00:00Z", org="bad org", award_id="a", source="direct"),
        ev("award.exploded", "2026-04-02T00:00:00Z", award_id="a"),
        ev("award.viewed", "2026-04-02T00:00:00Z", award_id="a", source="direct",
           schema_version="1"),
        ev("badge.created", "2026-04-02T00:00:00Z", issuer_id="i1", badge_id="b2", name="z",
           skills="python"),
    ]  # fmt: skip
    o = Oracle(raw, NOW_US)
    # rejected: bad json, bad source, 2nd issued, 2nd badge, badge mismatch, held mismatch,
    # future, no offset, bad org, unknown type, schema_version type, skills type = 12
    assert o.rejected == 12
    # held: dup-1 in beta, zzz
    assert o.held == 2
    # applied: a, dup-1, b1, shared(i1), c, accepted c, 23 h view, -05:00 view = 8
    assert o.applied == 8
    s = o.summary("acme", period=P)
    assert s["metrics"]["views"] == 2  # dup-1 and the -05:00 one; the 23 h one is on 04-13
    assert s["metrics"]["shares"] == 1
    assert s["metrics"]["badges_created"] == 1
    assert s["metrics"]["accepted_awards"] == 1  # c
    assert s["coverage"]["first_day"]["award.viewed"] == "2026-04-02"
    ch = o.channels("acme", period=P)
    assert ch["awarding"] == [
        {"key": "lms", "count": 2, "pct": 100.0, "previous_count": 0, "change_pct": None}
    ]

    expired = Oracle(raw, NOW_US, hold_expired=True)
    assert (expired.rejected, expired.held, expired.applied) == (14, 0, 8)


def test_issuer_scope_key_issuers_and_filters() -> None:
    raw = [
        ev("badge.created", "2026-04-01T00:00:00Z", issuer_id="i1", badge_id="b1", name="x"),
        ev("badge.created", "2026-04-01T00:00:00Z", issuer_id="i2", badge_id="b2", name="y"),
        issued("a1", "2026-04-01T00:00:00Z", issuer="i1", badge="b1"),
        issued("a2", "2026-04-02T00:00:00Z", issuer="i2", badge="b2", method="api"),
        issued("a3", "2026-03-01T00:00:00Z", issuer="i2", badge="b2", method="api"),
        follow("award.shared", "a2", "2026-04-03T00:00:00Z", channel="x"),
    ]
    o = Oracle(raw, NOW_US)
    m = o.summary("acme", issuer_id="i2", period=P)["metrics"]
    assert (m["badges_created"], m["badges_awarded"], m["shares"]) == (1, 1, 1)
    s = o.summary("acme", period=P, key_issuers=["i1"])
    assert (s["metrics"]["badges_awarded"], s["metrics"]["shares"]) == (1, 0)
    assert s["kpis"]["badges_awarded"]["value"] == 1  # key restriction applies to tiles too
    assert s["highlights"]["most_used_awarding_method"] == "lms"
    s = o.summary("acme", period=P, issuer_ids=["i2"], badge_ids=["b1", "b2"])
    assert s["metrics"]["badges_awarded"] == 1
    assert s["kpis"]["badges_awarded"]["value"] == 3  # tile value ignores filters
    # scope and filter intersect
    assert (
        o.summary("acme", issuer_id="i1", period=P, issuer_ids=["i2"])["metrics"]["badges_awarded"]
        == 0
    )


# ----------------------------------------------------------------------------- generator


def test_streamgen_deterministic_and_consistent() -> None:
    orgs = ["acme", "globex"]
    a = generate(5, 3000, orgs, now=NOW)
    assert a == generate(5, 3000, orgs, now=NOW)
    assert len(a) == 3000
    assert a != generate(6, 3000, orgs, now=NOW)
    o = Oracle([v for _, v in a], NOW_US)
    assert o.applied > 2500 and o.rejected > 0 and o.held > 0
    period = (date(2026, 3, 1), date(2026, 4, 13))
    for org in orgs:
        whole = o.summary(org, period=period)["metrics"]
        parts = [o.summary(org, period=period, statuses=[st])["metrics"] for st in ALL_STATUSES]
        for name in ("badges_awarded", "accepted_awards", "shared_awards", "shares", "views"):
            assert sum(p[name] for p in parts) == whole[name]
        ch = o.channels(org, period=period)
        assert sum(e["count"] for e in ch["viewing"]) == whole["views"]
    # shuffling a stream without duplicates or second award.issued events changes nothing
    stream = [v for _, v in generate(9, 1500, ["acme"], now=NOW, dup_rate=0, invalid_rate=0)]
    clean, issued_ids = [], set()
    for v in stream:
        d = json.loads(v)
        if d["type"] == "award.issued":
            if d["award_id"] in issued_ids:
                continue
            issued_ids.add(d["award_id"])
        clean.append(v)
    assert len(clean) < len(stream)  # there was a second award.issued
    shuffled = clean[:]
    random.Random(1).shuffle(shuffled)
    o1, o2 = Oracle(clean, NOW_US), Oracle(shuffled, NOW_US)
    assert (o1.applied, o1.rejected, o1.held) == (o2.applied, o2.rejected, o2.held)
    assert o1.summary("acme", period=period) == o2.summary("acme", period=period)
    assert o1.channels("acme", period=period) == o2.channels("acme", period=period)


# ----------------------------------------------------------------------------- badge ranking


def ranking_stream() -> list[bytes]:
    return [
        ev("badge.created", "2026-04-01T00:00:00Z", issuer_id="i1", badge_id="bA", name="Alpha",
           skills=["python"]),
        ev("badge.updated", "2026-04-05T00:00:00Z", badge_id="bA", name="Alpha II"),
        # occurred before the creation (arrives after it): the creation's default public wins
        ev("badge.updated", "2026-03-30T00:00:00Z", badge_id="bA", visibility="private"),
        ev("badge.updated", "2026-04-06T00:00:00Z", badge_id="bA", skills=["python", "sql"]),
        ev("badge.created", "2026-03-01T00:00:00Z", issuer_id="i2", badge_id="bB", name="Beta",
           visibility="private"),
        # bA: two awards, both accepted, never shared
        issued("a1", "2026-04-02T00:00:00Z", issuer="i1", badge="bA"),
        follow("award.accepted", "a1", "2026-04-02T01:00:00Z"),
        issued("a2", "2026-04-03T00:00:00Z", issuer="i1", badge="bA"),
        follow("award.accepted", "a2", "2026-04-03T01:00:00Z"),
        # bB, bC: one accepted award each (bC never created)
        issued("b1", "2026-04-04T00:00:00Z", issuer="i2", badge="bB"),
        follow("award.accepted", "b1", "2026-04-04T01:00:00Z"),
        issued("c1", "2026-04-04T00:00:00Z", issuer="i3", badge="bC", method="api"),
        follow("award.accepted", "c1", "2026-04-04T01:00:00Z"),
        # bD: pending, shared once, viewed twice; bE: pending, shared once, viewed once
        issued("d1", "2026-04-05T00:00:00Z", issuer="i1", badge="bD"),
        follow("award.shared", "d1", "2026-04-05T01:00:00Z", channel="linkedin"),
        follow("award.viewed", "d1", "2026-04-06T00:00:00Z", source="linkedin"),
        follow("award.viewed", "d1", "2026-04-06T01:00:00Z", source="direct"),
        issued("e1", "2026-04-05T00:00:00Z", issuer="i1", badge="bE"),
        follow("award.shared", "e1", "2026-04-05T01:00:00Z", channel="x"),
        follow("award.viewed", "e1", "2026-04-06T00:00:00Z", source="direct"),
        # bF: its award is in P' (accepted there); only a view in P
        issued("f1", "2026-03-25T00:00:00Z", issuer="i1", badge="bF"),
        follow("award.accepted", "f1", "2026-03-26T00:00:00Z"),
        follow("award.viewed", "f1", "2026-04-07T00:00:00Z", source="direct"),
    ]  # fmt: skip


def test_badges_ranking_ties_and_eis_normalisation() -> None:
    o = Oracle(ranking_stream(), NOW_US)
    rows = o.badges("acme", period=P)
    # LES: bA, bB, bC (1.0 * 0.6 + 0 * 0.4) * 100 = 60; bD, bE (0 * 0.6 + 1 * 0.4) * 100 = 40;
    #      bF no cohort award -> null -> 0.
    # EIS: bD 2 / 1 = 2, bE 1 / 1 = 1, the others null (no shares) -> 0; max = 2.
    # overall: bD 0.65 * 40 + 0.35 * 100 = 61; bE 26 + 0.35 * 50 = 43.5;
    #          bA, bB, bC 0.65 * 60 = 39 (tie: bA has 2 awards, then bB < bC); bF 0.
    assert [r["badge_id"] for r in rows] == ["bD", "bE", "bA", "bB", "bC", "bF"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["overall_score"] for r in rows] == [
        pytest.approx(61.0), pytest.approx(43.5), pytest.approx(39.0), pytest.approx(39.0),
        pytest.approx(39.0), 0,
    ]  # fmt: skip
    by_id = {r["badge_id"]: r for r in rows}
    assert by_id["bA"] == {
        "rank": 3,
        "badge_id": "bA",
        "name": "Alpha II",  # 04-05 update is later than the creation
        "issuer_id": "i1",
        "skills": ["python", "sql"],  # 04-06 update
        "visibility": "public",  # creation default; the 03-30 update is older
        "badges_created": 1,  # created 04-01, in P
        "badges_awarded": 2,
        "accepted_awards": 2,
        "shared_awards": 0,
        "public_awards": 0,
        "shares": 0,
        "views": 0,
        "acceptance_rate": 1.0,
        "share_rate": 0.0,
        "public_visibility_rate": 0.0,
        "learner_engagement_score": pytest.approx(60.0),
        "external_impact_score": None,
        "overall_score": pytest.approx(39.0),
        "trend": {
            # nothing in P'
            "badges_awarded": {"current": 2, "previous": 0, "change": 2, "change_pct": None,
                               "direction": "up"},
            "learner_engagement_score": {"current": pytest.approx(60.0), "previous": None,
                                         "change": None, "change_pct": None,
                                         "direction": "flat"},
        },
    }  # fmt: skip
    # bB created before P by i2, private; bC never created: issuer of its award, no metadata
    assert {k: by_id["bB"][k] for k in ("name", "issuer_id", "visibility", "badges_created")} == {
        "name": "Beta", "issuer_id": "i2", "visibility": "private", "badges_created": 0,
    }  # fmt: skip
    assert {k: by_id["bC"][k] for k in ("name", "issuer_id", "skills", "visibility")} == {
        "name": None, "issuer_id": "i3", "skills": [], "visibility": None,
    }  # fmt: skip
    d = by_id["bD"]
    assert (d["shares"], d["views"], d["shared_awards"], d["external_impact_score"]) == (1, 2, 1, 2)
    assert d["learner_engagement_score"] == pytest.approx(40.0)
    # bF: 0 awards now, 1 in P' (accepted: LES 60 there)
    f = by_id["bF"]
    assert (f["badges_awarded"], f["views"], f["learner_engagement_score"]) == (0, 1, None)
    assert f["acceptance_rate"] is None and f["external_impact_score"] is None
    assert f["trend"] == {
        "badges_awarded": {"current": 0, "previous": 1, "change": -1, "change_pct": -100.0,
                           "direction": "down"},
        "learner_engagement_score": {"current": None, "previous": pytest.approx(60.0),
                                     "change": None, "change_pct": None, "direction": "flat"},
    }  # fmt: skip


def test_badges_min_awards_and_filters() -> None:
    o = Oracle(ranking_stream(), NOW_US)
    # min_awards=1 drops bF only; max EIS is still bD's 2 -> same scores
    rows = o.badges("acme", period=P, min_awards=1)
    assert [r["badge_id"] for r in rows] == ["bD", "bE", "bA", "bB", "bC"]
    assert rows[1]["overall_score"] == pytest.approx(43.5)
    # min_awards=2: only bA; its EIS is null, so the max EIS is 0 and every EIS_norm 0:
    # overall = 0.65 * 60 + 0 = 39
    rows = o.badges("acme", period=P, min_awards=2)
    assert [(r["rank"], r["badge_id"]) for r in rows] == [(1, "bA")]
    assert rows[0]["overall_score"] == pytest.approx(39.0)
    # min_awards=0 keeps badges with only activity
    assert len(o.badges("acme", period=P, min_awards=0)) == 6
    # status pending: d1, e1 are pending now, and were when shared/viewed; f1's view was
    # while accepted.  bD 0.4 * 100 * 0.65 + 35 = 61, bE 26 + 17.5 = 43.5
    rows = o.badges("acme", period=P, statuses=["pending"])
    assert [(r["badge_id"], r["overall_score"]) for r in rows] == [
        ("bD", pytest.approx(61.0)), ("bE", pytest.approx(43.5)),
    ]  # fmt: skip
    # an issuer's key sees its issuers' badges only
    assert [r["badge_id"] for r in o.badges("acme", period=P, key_issuers=["i2"])] == ["bB"]
    assert [r["badge_id"] for r in o.badges("acme", badge_id="bE", period=P)] == ["bE"]
    # bE alone: its EIS 1 is the max -> EIS_norm 100: 26 + 35 = 61
    assert o.badges("acme", badge_id="bE", period=P)[0]["overall_score"] == pytest.approx(61.0)
    assert o.badges("nobody", period=P) == []


def test_badges_row_sums_issuers_and_first_award_issuer() -> None:
    raw = [
        # bX is never created; awarded by i2 first, then by i1
        issued("x1", "2026-04-02T00:00:00Z", issuer="i2", badge="bX"),
        issued("x2", "2026-04-03T00:00:00Z", issuer="i1", badge="bX"),
        follow("award.accepted", "x2", "2026-04-03T01:00:00Z"),
        issued("x0", "2026-03-01T00:00:00Z", issuer="i1", badge="bX"),  # long before P
        ev("badge.updated", "2026-04-01T00:00:00Z", badge_id="bX", name="Orphan"),
    ]
    o = Oracle(raw, NOW_US)
    rows = o.badges("acme", period=P)
    assert len(rows) == 1
    r = rows[0]
    # one row for both issuers; first award (x0, 03-01) is i1's.  LES = 0.5 * 0.6 * 100 = 30
    assert (r["badge_id"], r["issuer_id"], r["badges_awarded"], r["accepted_awards"]) == (
        "bX", "i1", 2, 1,
    )  # fmt: skip
    assert r["learner_engagement_score"] == pytest.approx(30.0)
    assert (r["name"], r["skills"], r["visibility"], r["badges_created"]) == (
        "Orphan", [], None, 0,
    )  # fmt: skip
    # 0.65 * 30, no shares -> EIS null -> 0
    assert r["overall_score"] == pytest.approx(19.5)
    # filtered to i2: only x1 counts, and the first award admitted is x1
    r = o.badges("acme", period=P, issuer_ids=["i2"])[0]
    assert (r["issuer_id"], r["badges_awarded"], r["accepted_awards"]) == ("i2", 1, 0)


# ----------------------------------------------------------------------------- timeseries


def test_timeseries_week_crossing_month_clipped_both_ends() -> None:
    raw = [
        issued("a0", "2026-03-25T12:00:00Z"),  # before P
        issued("a1", "2026-03-26T00:00:00Z"),
        issued("a2", "2026-03-31T23:59:59Z"),
        issued("a3", "2026-04-02T00:00:00Z"),
        issued("a4", "2026-04-01T22:00:00-05:00"),  # 04-02 03:00 UTC
        issued("a5", "2026-04-08T10:00:00Z"),
        issued("a6", "2026-04-09T00:00:00Z"),  # after P
        follow("award.accepted", "a3", "2026-04-12T00:00:00Z"),  # after P: counts on 04-02
    ]
    o = Oracle(raw, NOW_US)
    period = (date(2026, 3, 26), date(2026, 4, 8))  # Thursday .. Wednesday
    # weeks: Mon 03-23 (clipped to Thu 03-26) .. 03-29: a1;  Mon 03-30 .. Sun 04-05, across
    # the month end: a2, a3, a4;  Mon 04-06 .. 04-12 (clipped to 04-08): a5
    assert o.timeseries("acme", period=period, metric="badges_awarded", interval="week") == [
        {"start": "2026-03-26", "value": 1},
        {"start": "2026-03-30", "value": 3},
        {"start": "2026-04-06", "value": 1},
    ]
    # cohort metric by issue day, zero-filled
    days = o.timeseries("acme", period=(date(2026, 4, 1), date(2026, 4, 3)),
                        metric="accepted_awards", interval="day")  # fmt: skip
    assert days == [
        {"start": "2026-04-01", "value": 0},
        {"start": "2026-04-02", "value": 1},
        {"start": "2026-04-03", "value": 0},
    ]
    # status filter: the pending ones only (a3 is accepted)
    weeks = o.timeseries("acme", period=period, metric="badges_awarded", interval="week",
                         statuses=["pending"])  # fmt: skip
    assert [p["value"] for p in weeks] == [1, 2, 1]
    # a period inside one week: a single point, clipped at both ends
    assert o.timeseries("acme", period=(date(2026, 4, 1), date(2026, 4, 2)),
                        metric="badges_awarded", interval="week") == [
        {"start": "2026-04-01", "value": 2},
    ]  # fmt: skip
    with pytest.raises(ValueError):
        o.timeseries("acme", period=period, metric="acceptance_rate", interval="week")
    with pytest.raises(ValueError):
        o.timeseries("acme", period=period, metric="views", interval="year")


def test_timeseries_month_crossing_year_activity_by_event_day() -> None:
    raw = [
        ev("badge.created", "2025-12-20T00:00:00Z", issuer_id="i1", badge_id="b1", name="x"),
        ev("badge.created", "2026-02-11T00:00:00Z", issuer_id="i1", badge_id="b2", name="y"),
        issued("a", "2025-11-01T00:00:00Z"),  # issued before P
        follow("award.shared", "a", "2025-12-14T23:59:59Z", channel="x"),  # before P
        follow("award.shared", "a", "2025-12-15T00:00:00Z", channel="x"),
        follow("award.shared", "a", "2025-12-31T23:59:59Z", channel="x"),
        follow("award.shared", "a", "2026-01-01T00:30:00+02:00", channel="x"),  # 12-31 22:30 UTC
        follow("award.shared", "a", "2026-01-01T00:00:00Z", channel="x"),
        follow("award.shared", "a", "2026-02-10T23:00:00Z", channel="x"),
        follow("award.shared", "a", "2026-02-11T00:00:00Z", channel="x"),  # after P
    ]
    o = Oracle(raw, NOW_US)
    period = (date(2025, 12, 15), date(2026, 2, 10))
    # December (clipped to 12-15): 12-15, 12-31, 12-31 22:30 -> 3; January: 01-01 -> 1;
    # February (clipped to 02-10 at the end): 02-10 -> 1
    assert o.timeseries("acme", period=period, metric="shares", interval="month") == [
        {"start": "2025-12-15", "value": 3},
        {"start": "2026-01-01", "value": 1},
        {"start": "2026-02-01", "value": 1},
    ]
    # the award was issued before P, so its cohort metrics are 0 everywhere
    assert [p["value"] for p in o.timeseries("acme", period=period, metric="shared_awards",
                                             interval="month")] == [0, 0, 0]  # fmt: skip
    # badges_created by creation day: b1 in December, b2 after P
    assert [p["value"] for p in o.timeseries("acme", period=period, metric="badges_created",
                                             interval="month")] == [1, 0, 0]  # fmt: skip
    assert [p["value"] for p in o.timeseries("acme", period=period, metric="badges_created",
                                             interval="month", statuses=["revoked"])] == [
        1, 0, 0,
    ]  # status ignored  # fmt: skip
    # one point per day, all 58 of them
    assert len(o.timeseries("acme", period=period, metric="views", interval="day")) == 58


# ----------------------------------------------------------------------------- issuer activity


def issuer_stream() -> list[bytes]:
    return [
        ev("issuer.created", "2026-03-10T00:00:00Z", issuer_id="i1", name="Engineering"),
        # older, published later: loses
        ev("issuer.created", "2026-03-01T00:00:00Z", issuer_id="i1", name="Eng"),
        # i3: no badges, no awards
        ev("issuer.created", "2026-03-01T00:00:00Z", issuer_id="i3", name="Ops"),
        ev("badge.created", "2026-03-25T00:00:00Z", issuer_id="i1", badge_id="b1", name="Py"),
        ev("badge.created", "2026-04-02T00:00:00Z", issuer_id="i2", badge_id="b2", name="SQL"),
        ev("badge.created", "2026-04-03T00:00:00Z", issuer_id="i1", badge_id="b3", name="Go"),
        issued("x1", "2026-04-01T00:00:00Z", issuer="i1", badge="b1"),
        follow("award.accepted", "x1", "2026-04-01T01:00:00Z"),
        issued("x2", "2026-04-02T00:00:00Z", issuer="i1", badge="b1"),
        issued("x3", "2026-04-03T00:00:00Z", issuer="i1", badge="b3", method="api"),
        issued("x4", "2026-03-28T00:00:00Z", issuer="i1", badge="b1", method="manual"),
        # after P: the latest award of i1, 09:30:00.123456 UTC
        issued("x5", "2026-04-12T11:30:00.123456+02:00", issuer="i1", badge="b1"),
        issued("y1", "2026-04-05T08:00:00Z", issuer="i0", badge="b0", method="manual"),
        issued("z1", "2026-04-04T00:00:00Z", issuer="i2", badge="b2", method="bulk"),
        follow("award.accepted", "z1", "2026-04-04T01:00:00Z"),
        issued("z2", "2026-03-23T00:00:00Z", issuer="i2", badge="b2", method="bulk"),
        issued("z3", "2026-03-23T00:00:00Z", issuer="i2", badge="b2", method="bulk"),
    ]


def test_issuer_activity() -> None:
    o = Oracle(issuer_stream(), NOW_US)
    items = o.issuer_activity("acme", period=P)
    # i1: 3 in P (x1, x2, x3), 1 in P' (x4); i0: 1 vs 0; i2: 1 vs 2 (z2, z3); i3: 0 vs 0.
    # i0 and i2 tie at 1 -> issuer_id ascending
    assert items == [
        {"issuer_id": "i1", "name": "Engineering", "badges_created": 1,  # b3 (b1 is in P')
         "badges_awarded": {"current": 3, "previous": 1, "change": 2, "change_pct": 200.0,
                            "direction": "up"},
         "methods": {"lms": 2, "api": 1},
         "last_awarded_at": "2026-04-12T09:30:00.123Z"},
        {"issuer_id": "i0", "name": None, "badges_created": 0,
         "badges_awarded": {"current": 1, "previous": 0, "change": 1, "change_pct": None,
                            "direction": "up"},
         "methods": {"manual": 1},
         "last_awarded_at": "2026-04-05T08:00:00.000Z"},
        {"issuer_id": "i2", "name": None, "badges_created": 1,
         "badges_awarded": {"current": 1, "previous": 2, "change": -1, "change_pct": -50.0,
                            "direction": "down"},
         "methods": {"bulk": 1},
         "last_awarded_at": "2026-04-04T00:00:00.000Z"},
        {"issuer_id": "i3", "name": "Ops", "badges_created": 0,
         "badges_awarded": {"current": 0, "previous": 0, "change": 0, "change_pct": None,
                            "direction": "flat"},
         "methods": {},
         "last_awarded_at": None},
    ]  # fmt: skip


def test_issuer_activity_filters_and_scope() -> None:
    o = Oracle(issuer_stream(), NOW_US)

    def summary(items: list[dict[str, Any]]) -> list[tuple[str, int, int, dict[str, int]]]:
        return [(i["issuer_id"], i["badges_created"], i["badges_awarded"]["current"],
                 i["methods"]) for i in items]  # fmt: skip

    # accepted now: x1 (i1) and z1 (i2); tie at 1 -> i1, i2; then i0, i3 at 0.
    # badges_created ignores status; last_awarded_at ignores every filter
    items = o.issuer_activity("acme", period=P, statuses=["accepted"])
    assert summary(items) == [
        ("i1", 1, 1, {"lms": 1}), ("i2", 1, 1, {"bulk": 1}), ("i0", 0, 0, {}), ("i3", 0, 0, {}),
    ]  # fmt: skip
    assert items[0]["badges_awarded"]["previous"] == 0  # x4 is pending
    assert items[0]["last_awarded_at"] == "2026-04-12T09:30:00.123Z"
    # badge filter b2: counts only b2, every issuer still listed
    assert summary(o.issuer_activity("acme", period=P, badge_ids=["b2"])) == [
        ("i2", 1, 1, {"bulk": 1}), ("i0", 0, 0, {}), ("i1", 0, 0, {}), ("i3", 0, 0, {}),
    ]  # fmt: skip
    assert [i["issuer_id"] for i in o.issuer_activity("acme", issuer_id="i2", period=P)] == ["i2"]
    assert [
        i["issuer_id"] for i in o.issuer_activity("acme", period=P, key_issuers=["i3", "i2"])
    ] == ["i2", "i3"]
    assert [
        i["issuer_id"]
        for i in o.issuer_activity("acme", period=P, issuer_ids=["i1", "i3"], key_issuers=["i1"])
    ] == ["i1"]
    assert o.issuer_activity("acme", issuer_id="i9", period=P) == []
    assert o.issuer_activity("nobody", period=P) == []


def test_new_methods_fast_and_order_independent() -> None:
    """The generated stream: badges / timeseries / issuer activity agree with summary, and
    do not depend on arrival order."""
    stream, issued_ids = [], set()
    for _, v in generate(11, 2000, ["acme"], now=NOW, dup_rate=0, invalid_rate=0):
        d = json.loads(v)
        if d["type"] == "award.issued":  # a second award.issued would make order matter
            if d["award_id"] in issued_ids:
                continue
            issued_ids.add(d["award_id"])
        stream.append(v)
    o = Oracle(stream, NOW_US)
    period = (date(2026, 3, 1), date(2026, 4, 13))
    m = o.summary("acme", period=period)["metrics"]
    rows = o.badges("acme", period=period)
    for name in ("badges_awarded", "accepted_awards", "shared_awards", "public_awards",
                 "shares", "views"):  # fmt: skip
        assert sum(r[name] for r in rows) == m[name]
        for interval in ("day", "week", "month"):
            series = o.timeseries("acme", period=period, metric=name, interval=interval)
            assert sum(p["value"] for p in series) == m[name]
    assert (
        sum(
            p["value"]
            for p in o.timeseries("acme", period=period, metric="badges_created", interval="week")
        )
        == m["badges_created"]
    )
    keys = [(-r["overall_score"], -r["badges_awarded"], r["badge_id"]) for r in rows]
    assert keys == sorted(keys)
    items = o.issuer_activity("acme", period=period)
    assert sum(i["badges_awarded"]["current"] for i in items) == m["badges_awarded"]
    assert sum(i["badges_created"] for i in items) == m["badges_created"]
    assert sum(sum(i["methods"].values()) for i in items) == m["badges_awarded"]
    backwards = Oracle(list(reversed(stream)), NOW_US)
    assert backwards.badges("acme", period=period) == rows
    assert backwards.issuer_activity("acme", period=period) == items
