"""The command line: editors' commands (``main``), operators' commands (``operators``), output (``format``)."""

from publisher.cli.main import main

__all__ = ["main"]
