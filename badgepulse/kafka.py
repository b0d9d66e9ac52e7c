"""Moved to core/kafka.py; this re-export goes once every import names core.kafka."""

from core.kafka import ensure_topics, make_producer

__all__ = ["ensure_topics", "make_producer"]
