"""Failure counts of inbox files: how often storing or moving one version of a file failed.

The inbox gives up on a file after ``max_failures`` (it goes to ``rejected/`` with a note telling the editor to
ask the operator), so no file stays in the inbox for ever. The daemon keeps the counts in the store
(``StoredFailures``), so they survive a restart and a cron-driven ``run --once`` gives up too; tests and
one-off runs count in memory (``MemoryFailures``). A file's version is its name and what ``lstat`` says about
it and its media (``failure_key``): an edited file starts again from zero.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from publisher.ops.safetext import printable

if TYPE_CHECKING:
    from publisher.store import Store

Signature = tuple[tuple[str, int, int, int, int, int], ...]


class FailureBook(Protocol):
    """Counts failures per file version (``key``), so that giving up survives a restart when it is stored."""

    def count(self, key: str) -> int: ...
    def add(self, key: str, name: str, message: str) -> int: ...


class MemoryFailures:
    """A ``FailureBook`` for one process (tests, ``preview``); the daemon keeps its counts in the store."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def add(self, key: str, name: str, message: str) -> int:
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]


class StoredFailures:
    """The inbox's failure counts as ``ingest_failed`` events in the publish log: they survive restarts (so a
    cron-driven ``run --once`` gives up too) and the operator sees each failed attempt in ``publisher log``.
    Counts are cached per process: the store is asked once per file version, not on every scan.
    """

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._counts: dict[str, int] = {}

    def count(self, key: str) -> int:
        if key not in self._counts:
            found = self.store.events(status="ingest_failed")
            self._counts[key] = sum(1 for e in found if e.detail.get("key") == key)
        return self._counts[key]

    def add(self, key: str, name: str, message: str) -> int:
        count = self.count(key) + 1
        self.store.log_event(self.clock(), "ingest_failed", error=message, detail={"file": name, "key": key})
        self._counts[key] = count
        return count


def failure_key(name: str, signature: Signature) -> str:
    """One version of one file: its printable name and a hash of what ``lstat`` says about it and its group."""
    digest = hashlib.sha256(repr(signature).encode("utf-8", "backslashreplace")).hexdigest()[:16]
    return f"{printable(name)}|{digest}"
