"""Alerts (insights.md): evaluation, the delivery queue, signing and the URL rules.

rules.py is pure (conditions, the retry schedule, the signature); urls.py decides whether a
webhook URL may be called; store.py is the Redis side (atomic Lua steps); runner.py is the
background task every API process runs."""
