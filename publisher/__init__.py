"""publisher: a scheduled multi-network publishing service."""

__version__ = "0.1.0"
