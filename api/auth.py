"""Moved to core/keys.py (the key store the CLI shares); this re-export goes once every
import names core.keys."""

from core.keys import (
    KEY_PREFIX,
    ROLES,
    ApiKey,
    Role,
    create_key,
    hash_secret,
    is_live_record,
    list_keys,
    lookup,
    lookup_digest,
    revoke_key,
)

__all__ = ["KEY_PREFIX", "ROLES", "ApiKey", "Role", "create_key", "hash_secret",
           "is_live_record", "list_keys", "lookup", "lookup_digest", "revoke_key"]
