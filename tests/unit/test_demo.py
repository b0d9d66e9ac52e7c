"""The demo program (`up --demo`, `simulate`) as a user of the dashboard sees it: days that
look alike, a present that is not a spike, badges launched over time, names that fit their
issuer, and events the service accepts. Expected figures come from the events themselves
(counted here), never from the generator's own constants."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from statistics import mean

import orjson
import pytest

from badgepulse.demo import Program, events
from schemas.events import decode_event

# A Wednesday afternoon (UTC): a working day, with earlier weeks to compare it with.
NOW = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)
UP_DEMO_RATE = 60.0  # awards a day, what `up --demo` runs at (about)

# Written from the catalog a person would expect of each issuer, by theme.
THEMES = {
    "School of Data": ("sql", "python", "data", "statistic", "machine learning", "analy"),
    "Cloud Academy": ("cloud", "kubernetes", "serverless", "devops", "container"),
    "Safety Institute": ("safety", "first aid", "fire", "forklift", "hazard"),
    "Leadership Center": ("lead", "coach", "project", "manage", "mentor"),
    "Design Studio": ("design", "ux", "accessib", "research", "prototyp"),
}


def decoded(records: list[tuple[bytes, bytes]]) -> list[dict[str, object]]:
    return [orjson.loads(v) for _k, v in records]


def at(e: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(e["occurred_at"]))


def awards_per_day(evs: list[dict[str, object]]) -> Counter[date]:
    return Counter(at(e).date() for e in evs if e["type"] == "award.issued")


@pytest.fixture(scope="module")
def program_and_history() -> tuple[Program, list[dict[str, object]]]:
    p = Program("demo", seed=8, now=NOW, awards_per_day=UP_DEMO_RATE)
    return p, decoded(p.history())


def test_every_event_is_one_the_service_accepts(program_and_history):
    p, _ = program_and_history
    fresh = Program("demo", seed=8, now=NOW, awards_per_day=UP_DEMO_RATE)
    records = fresh.history() + fresh.due(NOW + timedelta(hours=2))
    now_us = int((NOW + timedelta(hours=2)).timestamp() * 1e6)
    for _key, value in records:
        decode_event(value, now_us)  # raises on anything the worker would dead-letter
    ids = [orjson.loads(v)["event_id"] for _k, v in records]
    assert len(ids) == len(set(ids))


def test_the_last_days_look_like_the_days_before(program_and_history):
    _, evs = program_and_history
    per_day = awards_per_day(evs)
    today, yesterday = NOW.date(), NOW.date() - timedelta(days=1)
    weekdays = [d for d in per_day if d < yesterday and d.weekday() < 5
                and d > today - timedelta(days=60)]
    usual = mean(per_day[d] for d in weekdays)
    assert 0.6 * usual <= per_day[yesterday] <= 1.4 * usual, (per_day[yesterday], usual)
    # today is only 15 hours old: below a whole day, never a spike
    assert per_day[today] < 1.2 * usual
    # and nothing piles up at the present (follow-ups due later are not stamped now)
    last_minute = [e for e in evs if at(e) > NOW - timedelta(minutes=1)]
    assert len(last_minute) <= 5
    assert max(at(e) for e in evs) <= NOW


def test_a_live_run_adds_only_to_today_at_the_usual_rate_for_the_hour():
    p = Program("demo", seed=8, now=NOW, awards_per_day=UP_DEMO_RATE)
    history = decoded(p.history())
    before = awards_per_day(history)
    live: list[dict[str, object]] = []
    clock = NOW
    while clock < NOW + timedelta(hours=6):  # 15:00 to 21:00, a tick a minute
        clock += timedelta(minutes=1)
        live += decoded(p.due(clock))
    assert live, "nothing happened in six hours"
    assert all(NOW < at(e) <= NOW + timedelta(hours=6) for e in live)
    after = awards_per_day(history + live)
    assert {d: n for d, n in after.items() if d != NOW.date()} == \
        {d: n for d, n in before.items() if d != NOW.date()}
    # the same hours (15:00-21:00) of the working days of the last 8 weeks, counted in
    # the history
    days = [NOW.date() - timedelta(days=k) for k in range(1, 57)]
    days = [d for d in days if d.weekday() < 5]
    same_hours = Counter(at(e).date() for e in history if e["type"] == "award.issued"
                         and 15 <= at(e).hour < 21)
    usual = mean(same_hours[d] for d in days)
    new_awards = sum(1 for e in live if e["type"] == "award.issued")
    assert 0.5 * usual <= new_awards <= 1.6 * usual, (new_awards, usual)
    # follow-ups of earlier awards come due too (people accept and share hours later)
    earlier_awards = {e["award_id"] for e in history if e["type"] == "award.issued"}
    assert any(e["type"] != "award.issued" and e["award_id"] in earlier_awards for e in live)


def test_badges_launch_over_the_period_so_badges_created_has_a_trend(program_and_history):
    _, evs = program_and_history
    created = {str(e["badge_id"]): at(e) for e in evs if e["type"] == "badge.created"}
    assert len(created) >= 12
    assert len({t.date() for t in created.values()}) >= 8
    last_30 = sum(1 for t in created.values() if t > NOW - timedelta(days=30))
    prior_30 = sum(1 for t in created.values()
                   if NOW - timedelta(days=60) < t <= NOW - timedelta(days=30))
    assert last_30 >= 1 and prior_30 >= 1  # both 30-day periods have launches to compare
    # no award of a badge before the badge exists
    first_award = {}
    for e in evs:
        if e["type"] == "award.issued":
            first_award.setdefault(str(e["badge_id"]), at(e))
    assert all(first_award[b] >= created[b] for b in first_award)


def test_names_belong_to_their_issuer(program_and_history):
    _, evs = program_and_history
    issuers = {e["issuer_id"]: str(e["name"]) for e in evs if e["type"] == "issuer.created"}
    assert set(issuers.values()) == set(THEMES)
    badges = [e for e in evs if e["type"] == "badge.created"]
    for b in badges:
        owner = issuers[b["issuer_id"]]
        name = str(b["name"])
        assert any(word in name.lower() for word in THEMES[owner]), (owner, name)
        assert not re.search(r"\d", name), name  # no "Safety 4"
    assert len({b["name"] for b in badges}) == len(badges)
    # every award is of a badge its issuer owns
    owner_of = {b["badge_id"]: b["issuer_id"] for b in badges}
    assert all(owner_of[e["badge_id"]] == e["issuer_id"] for e in evs
               if e["type"] == "award.issued")


@pytest.mark.parametrize("n", [30, 300, 5_000, 50_000])
def test_simulate_publishes_as_many_events_as_asked_in_time_order(n: int):
    evs = decoded(list(events("acme", n, seed=3, now=NOW)))
    assert len(evs) == n
    times = [at(e) for e in evs]
    assert times == sorted(times) and times[-1] <= NOW
    if n >= 5_000:
        # the catalog first, awards spread over the 90 days (every week has some)
        weeks = Counter((NOW - at(e)).days // 7 for e in evs if e["type"] == "award.issued")
        assert set(weeks) >= set(range(12))


@pytest.mark.parametrize("n", [300, 2_000])
def test_as_many_events_as_asked_whatever_the_time_of_day(n: int):
    # the awards a window holds follow the hours it ends at: `simulate --events 300 --seed 3`
    # published 293 at 23:48 UTC
    for minutes in range(0, 24 * 60, 36):
        now = datetime(2026, 11, 29, tzinfo=UTC) + timedelta(minutes=minutes)
        assert len(list(events("acme", n, seed=3, now=now))) == n, f"at {now:%H:%M}"
