"""Moved to core/generations.py; this re-export goes once every import names core.generations."""

from core.generations import (
    DEFAULT_GENERATION,
    GENERATION_TTL,
    RETIRE_GRACE,
    GenerationCache,
    Generations,
    abandon_rebuild,
    drop_retired,
    parse_generations,
    read_generations,
    serving_layout,
    start_rebuild,
    try_switch,
)

__all__ = ["DEFAULT_GENERATION", "GENERATION_TTL", "RETIRE_GRACE", "GenerationCache",
           "Generations", "abandon_rebuild", "drop_retired", "parse_generations",
           "read_generations", "serving_layout", "start_rebuild", "try_switch"]
