"""Upgrading to the hash-tagged key names (docs/cluster.md): the keys no rebuild can recompute
(API keys, coverage settings, history gaps, the generation pointer) move to their new names,
so a key made before the upgrade still authenticates; done once."""

from __future__ import annotations

from core.keys import create_key, lookup
from core.upgrade import carry_over_names
from schemas.layout import Layout


async def test_the_untagged_control_keys_move_to_their_tagged_names_once(settings, redis):
    base = Layout(settings.redis_prefix)
    p = settings.redis_prefix
    # what a deployment of the earlier version holds, spelled as it spelled them
    _key, token = await create_key(redis, base, "acme", "org_admin")
    await redis.rename(base.api_keys(), f"{p}:keys")
    await redis.rename(base.api_key_hashes(), f"{p}:keyhash")
    await redis.hset(f"{p}:covcfg:acme", "award.viewed", "2026-01-01")
    await redis.hset(f"{p}:gen", mapping={"serving": "3", "last": "3"})
    assert await lookup(redis, base, token) is None  # not found under the new names

    moved = await carry_over_names(redis, base)
    assert sorted(moved) == sorted([f"{p}:keys", f"{p}:keyhash", f"{p}:covcfg:acme",
                                    f"{p}:gen"])
    found = await lookup(redis, base, token)
    assert found is not None and found.org_id == "acme"
    assert await redis.hgetall(base.coverage_config("acme")) == {
        b"award.viewed": b"2026-01-01"}
    assert await redis.hget(base.generations(), "serving") == b"3"
    assert await redis.exists(f"{p}:keys", f"{p}:keyhash", f"{p}:covcfg:acme", f"{p}:gen") == 0
    assert await carry_over_names(redis, base) == []
