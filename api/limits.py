"""What one key may take of an API process: a request rate, and (api/live_hub.py) open
streams. Kept in the process, not in Redis: the check costs no round trip, and a key is
limited per process (N API processes let a key send N times the rate).

Verified keys are also remembered here for at most `auth_cache_ttl` (<= 1 s), so a flood of
requests from one key costs Redis nothing once it is over its rate; a revocation notice
(auth.revoke_key) drops the key at once, and the TTL bounds it when a notice is lost.
"""

from __future__ import annotations

import math

from cachetools import TTLCache
from fastapi import HTTPException
from token_bucket import Limiter, MemoryStorage

from core.keys import ApiKey
from core.settings import Settings

AUTH_CACHE_SIZE = 10_000


class TooManyRequests(HTTPException):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(429, detail, headers={"Retry-After": str(retry_after)})


class KeyGuard:
    """The per-key token buckets and the short-lived cache of verified keys."""

    def __init__(self, settings: Settings) -> None:
        self.rate = settings.key_rate
        self.burst = settings.key_burst
        self._buckets = MemoryStorage()
        self._limiter = Limiter(settings.key_rate, settings.key_burst, self._buckets)
        self._keys: TTLCache[str, ApiKey] | None = (
            TTLCache(AUTH_CACHE_SIZE, settings.auth_cache_ttl)
            if settings.auth_cache_ttl > 0 else None)

    # --- verified keys -------------------------------------------------------------------
    def cached(self, digest: str) -> ApiKey | None:
        return self._keys.get(digest) if self._keys is not None else None

    def remember(self, digest: str, key: ApiKey) -> None:
        if self._keys is not None:
            self._keys[digest] = key

    def forget(self, key_id: str) -> None:
        """A key was revoked: the next request with it asks Redis (and gets 401)."""
        if self._keys is not None:
            for digest in [d for d, k in self._keys.items() if k.key_id == key_id]:
                self._keys.pop(digest, None)

    # --- rate ----------------------------------------------------------------------------
    def admit(self, key: ApiKey) -> None:
        """Take one token of the key's bucket, or raise 429 saying when one will be there."""
        if self._limiter.consume(key.key_id):
            return
        missing = 1 - self._buckets.get_token_count(key.key_id)
        retry_after = max(1, math.ceil(missing / self.rate))
        raise TooManyRequests(
            f"rate limit: this key may send {self.rate:g} requests/s (bursts of "
            f"{self.burst}) to this API process; retry after {retry_after} s", retry_after)
