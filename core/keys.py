"""API keys: made on the command line, stored only as a SHA-256 hash, one org and one role."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import orjson
from redis.asyncio import Redis

from schemas.layout import Layout

Role = Literal["org_admin", "issuer", "publisher"]
ROLES: tuple[Role, ...] = ("org_admin", "issuer", "publisher")
KEY_PREFIX = "bpk"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    org_id: str
    role: Role
    issuers: tuple[str, ...] = ()
    name: str = ""
    created_at: float = 0.0
    revoked: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def can_see_issuer(self, issuer_id: str) -> bool:
        return self.role == "org_admin" or issuer_id in self.issuers


def hash_secret(token: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted hash is not brute-forceable; a slow
    # KDF would only add latency to every request.
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(
    redis: Redis, layout: Layout, org_id: str, role: Role,
    issuers: tuple[str, ...] = (), name: str = "",
) -> tuple[ApiKey, str]:
    """Make a key; returns its record and the token, which is never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "issuer" and not issuers:
        raise ValueError("an issuer key needs at least one --issuer")
    if role != "issuer" and issuers:
        raise ValueError("--issuer is only for issuer keys")
    key_id = secrets.token_hex(6)
    token = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id, org_id, role, tuple(issuers), name, time.time())
    pipe = redis.pipeline(transaction=True)
    pipe.hset(layout.api_keys(), key_id, orjson.dumps(asdict(key)))
    pipe.hset(layout.api_key_hashes(), hash_secret(token), key_id)
    await pipe.execute()
    return key, token


def _load(raw: bytes | str) -> ApiKey:
    d = orjson.loads(raw)
    d["issuers"] = tuple(d.get("issuers", ()))
    return ApiKey(**d)


async def list_keys(redis: Redis, layout: Layout) -> list[ApiKey]:
    raw = await redis.hgetall(layout.api_keys())
    return sorted((_load(v) for v in raw.values()), key=lambda k: (k.org_id, k.created_at))


async def revoke_key(redis: Redis, layout: Layout, key_id: str) -> bool:
    """Mark the key revoked and tell every API process at once (they also re-check the keys
    of open live streams twice a second, so a notice lost in a reconnect is not a hole)."""
    raw = await redis.hget(layout.api_keys(), key_id)
    if raw is None:
        return False
    d = orjson.loads(raw)
    d["revoked"] = True
    pipe = redis.pipeline(transaction=True)
    pipe.hset(layout.api_keys(), key_id, orjson.dumps(d))
    pipe.publish(layout.key_revocations_channel(), key_id)
    await pipe.execute()
    return True


def is_live_record(raw: bytes | str | None) -> bool:
    """Whether a stored key record (or its absence) is a key that may still be used."""
    return raw is not None and not orjson.loads(raw).get("revoked", False)


async def lookup(redis: Redis, layout: Layout, token: str) -> ApiKey | None:
    """The live key for a bearer token, or None (unknown or revoked)."""
    return await lookup_digest(redis, layout, hash_secret(token))


async def lookup_digest(redis: Redis, layout: Layout, digest: str) -> ApiKey | None:
    """The live key whose secret hashes to `digest` (see hash_secret), or None."""
    key_id = await redis.hget(layout.api_key_hashes(), digest)
    if key_id is None:
        return None
    raw = await redis.hget(layout.api_keys(), key_id)
    if raw is None:
        return None
    key = _load(raw)
    return None if key.revoked else key
