"""How people read the well-known `method`, `channel` and `source` tokens of events.md.

The vocabularies are open (any `[a-z0-9_]{1,32}` token is valid): a token listed here is
shown with its label (`lms` -> "LMS", `linkedin_profile` -> "LinkedIn profile"), any other
token as it was sent. The dashboard (api/dashboard/app.js, `TOKEN_LABELS`) shows the same
labels; the chart exports use this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# events.md, "Well-known values": awarding methods, sharing channels, viewing sources.
AWARDING_METHODS = ("manual", "bulk", "lms", "api", "integration", "automation", "other")
SHARING_CHANNELS = ("linkedin", "linkedin_profile", "facebook", "x", "email", "url", "embed",
                    "download", "wallet", "other")
VIEWING_SOURCES = ("linkedin", "direct", "embed", "email", "search", "social", "verification",
                   "other")

# One label per token: a token means the same in every vocabulary it appears in.
TOKEN_LABELS: Mapping[str, str] = MappingProxyType({
    "manual": "Manual", "bulk": "Bulk", "lms": "LMS", "api": "API",
    "integration": "Integration", "automation": "Automation", "other": "Other",
    "linkedin": "LinkedIn", "linkedin_profile": "LinkedIn profile", "facebook": "Facebook",
    "x": "X", "email": "Email", "url": "URL", "embed": "Embed", "download": "Download",
    "wallet": "Wallet", "direct": "Direct", "search": "Search", "social": "Social",
    "verification": "Verification",
})


def token_label(token: str) -> str:
    """The label of a well-known token; any other token as it is."""
    return TOKEN_LABELS.get(token, token)
