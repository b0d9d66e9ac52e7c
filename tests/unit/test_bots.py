"""Bot and link-preview views (insights.md): the maintained crawler list knows the fetchers
that unfurl a shared badge and the search engines' crawlers, and not people's browsers."""

from __future__ import annotations

import pytest

from schemas import bots as bots_module
from schemas.bots import BotClassifier

FETCHERS = [
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slackbot 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]
PEOPLE = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    # LinkedIn's own app opening the badge is a person, not LinkedIn's preview fetcher
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [LinkedInApp]/9.29.8",
]


@pytest.mark.parametrize("ua", FETCHERS)
def test_link_preview_fetchers_and_crawlers_are_bots(ua: str) -> None:
    assert BotClassifier().is_bot(ua)


@pytest.mark.parametrize("ua", PEOPLE)
def test_browsers_and_apps_are_people(ua: str) -> None:
    assert not BotClassifier().is_bot(ua)


def test_a_view_without_a_user_agent_is_a_person() -> None:
    bots = BotClassifier()
    assert not bots.is_bot(None) and not bots.is_bot("")


def test_verdicts_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # the bound's logic at a small bound (65,536 crawler-list checks took ~50 s in CI)
    monkeypatch.setattr(bots_module, "CACHE_MAX", 100)
    bots = BotClassifier()
    for i in range(100 + 10):
        bots.is_bot(f"agent/{i}")
    assert len(bots._known) <= 100
    assert bots.is_bot(FETCHERS[0]) and bots.is_bot(FETCHERS[0])  # a remembered verdict
