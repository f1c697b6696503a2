"""Where a delivery's time goes: cProfile over every thread of the pipeline, summed by where the code lives.

cProfile sees only the thread that enabled it, and the dispatcher publishes on lane threads; so each lane
(and the draining thread) runs under its own profiler and the statistics are merged. The profilers count each
thread's CPU time (``time.thread_time``), not wall time: waiting (for a commit's fsync, a lock, the network)
costs nothing here, so the shares say where the processor goes, which is what bounds deliveries per second
once commits are grouped. Own time ("tottime")
is grouped by the package a function belongs to, which says what to cut: SQLAlchemy's Python, the SQLite
calls (where fsync is spent), HTTP parsing, the composer...
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from publisher.dispatch.dispatcher import Dispatcher

#: (label, substrings of a code path or a built-in's name), first match wins.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLite calls (execute, commit: fsync)", ("sqlite3.", "_sqlite3", "'execute' of 'sqlite3", "'commit' of 'sqlite3")),
    ("SQLAlchemy (compile, cache keys, pool, rows)", ("sqlalchemy",)),
    ("HTTP client (requests, urllib3, http.client)", ("requests", "urllib3", "http/client", "email/", "oauthlib", "tweepy", "vk_api")),
    ("socket I/O", ("socket", "'recv_into'", "'sendall'", "selectors", "ssl")),
    ("composer and directory", ("publisher/compose",)),
    ("store (publisher.store)", ("publisher/store",)),
    ("dispatcher and adapters", ("publisher/dispatch", "publisher/adapters")),
    ("JSON", ("json",)),
    ("threads and locks", ("threading", "'acquire'", "concurrent/futures", "queue.py")),
    ("logging", ("logging",)),
)  # fmt: skip


def group_of(file: str, name: str) -> str:
    where = f"{file}:{name}"
    for label, needles in GROUPS:
        if any(n in where for n in needles):
            return label
    return "other Python"


@contextmanager
def profiled_lanes() -> Iterator[list[cProfile.Profile]]:
    """Profile the calling thread and every lane the dispatcher runs while inside; yields the profilers."""
    profiles: list[cProfile.Profile] = []
    guard = threading.Lock()
    original: Callable[..., Any] = Dispatcher._lane

    def lane(self: Dispatcher, *args: Any, **kwargs: Any) -> Any:
        profile = cProfile.Profile(time.thread_time)
        with guard:
            profiles.append(profile)
        profile.enable()
        try:
            return original(self, *args, **kwargs)
        finally:
            profile.disable()

    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    Dispatcher._lane = lane  # type: ignore[method-assign]
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        Dispatcher._lane = original  # type: ignore[method-assign]


def top_costs(profiles: list[cProfile.Profile], count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` largest groups by own time, as shares of all profiled time (0..1)."""
    stats = pstats.Stats(profiles[0])
    for extra in profiles[1:]:
        stats.add(extra)
    totals: dict[str, float] = defaultdict(float)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (file, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        totals[group_of(file, name)] += tottime
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:count]
    return [(label, seconds / whole) for label, seconds in ranked]


def top_functions(profiles: list[cProfile.Profile], count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` functions with the most own time, as shares of all profiled time."""
    stats = pstats.Stats(profiles[0])
    for extra in profiles[1:]:
        stats.add(extra)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    whole = sum(v[2] for v in raw.values()) or 1.0
    ranked = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:count]
    return [(f"{name} ({file.rsplit('/', 2)[-1]}:{line})", v[2] / whole) for (file, line, name), v in ranked]
