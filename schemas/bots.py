"""Which views are bots or link-preview fetchers (insights.md, "Bot and link-preview views").

The verdict comes from a maintained crawler list, not a hand-written one: CrawlerDetect
(JayBizzle's list, ~1,500 patterns, ported to Python as `crawlerdetect`, pinned in
pyproject.toml). It knows the fetchers that unfurl a shared badge link (LinkedInBot,
Slackbot-LinkExpanding, facebookexternalhit, Twitterbot, Discordbot, SkypeUriPreview, ...)
and the search engines' crawlers (Googlebot, bingbot, ...). A view without a user agent is
a human view, as before the field existed.

One pass of the list costs ~30-100 µs; user agents repeat (a few browsers and a handful of
fetchers make most of them), so verdicts are memoised in a bounded cache and a repeat costs
a dictionary lookup.
"""

from __future__ import annotations

from crawlerdetect import CrawlerDetect

CACHE_MAX = 65536  # distinct user agents remembered; emptied when full


class BotClassifier:
    """A crawler-list verdict per user agent, memoised. Not thread-safe (CrawlerDetect keeps
    its last match on the instance): one per worker, used from its event loop."""

    def __init__(self) -> None:
        self._detect = CrawlerDetect()
        self._known: dict[str, bool] = {}

    def is_bot(self, user_agent: str | None) -> bool:
        if not user_agent:
            return False
        verdict = self._known.get(user_agent)
        if verdict is None:
            verdict = bool(self._detect.is_crawler(user_agent))
            if len(self._known) >= CACHE_MAX:
                self._known.clear()
            self._known[user_agent] = verdict
        return verdict
