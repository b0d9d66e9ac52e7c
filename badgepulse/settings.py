"""Moved to core/settings.py; this re-export goes once every import names core.settings."""

from core.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
