"""Where a delivery's time goes: cProfile over every thread of the pipeline, summed by where the code lives.

cProfile sees only the thread that enabled it, and the dispatcher publishes on lane threads; so each lane
(and the draining thread) runs under its own profiler and the statistics are merged. The profilers count each
thread's CPU time (``time.thread_time``), not wall time: waiting (for a commit's fsync, a lock, the network)
costs nothing here, so the shares say where the processor goes, which is what bounds deliveries per second
once commits are grouped. Own time ("tottime")
is grouped by the package a function belongs to, which says what to cut: SQLAlchemy's Python, the SQLite
calls (where fsync is spent), HTTP parsing, the composer... Built-ins and the standard library's general
modules (``isinstance``, ``typing``, ``re``, ``urllib.parse``...) belong to no such package: their time is
charged to the groups of their callers, in proportion to the time each caller spent in them, so that
"requests checking its Protocols with isinstance" counts as HTTP client rather than as "other Python".
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


#: code whose time is charged to its callers' groups: built-ins (file "~") and general standard modules
SHARED = ("~", "typing.py", "/abc.py", "<frozen abc>", "_collections_abc", "/re/", "urllib/parse.py",
          "contextlib.py", "functools.py", "enum.py", "datetime.py", "copy.py", "<string>", "weakref")  # fmt: skip

Key = tuple[str, int, str]


def group_of(file: str, name: str) -> str:
    where = f"{file}:{name}"
    for label, needles in GROUPS:
        if any(n in where for n in needles):
            return label
    return "other Python"


def _shared(key: Key) -> bool:
    file, _line, name = key
    where = f"{file}:{name}"
    if any(n in where for label, needles in GROUPS[:1] for n in needles):
        return False  # the SQLite calls are built-ins, and a group of their own
    return file == "~" or any(s in file for s in SHARED[1:])


def _shares(raw: dict[Key, tuple[Any, ...]], key: Key, memo: dict[Key, dict[str, float]]) -> dict[str, float]:
    """Which groups ``key``'s own time is charged to, as fractions: its own group, or for shared code its
    callers' groups, weighted by the time each caller spent in it."""
    if key in memo:
        return memo[key]
    if not _shared(key):
        memo[key] = {group_of(key[0], key[2]): 1.0}
        return memo[key]
    memo[key] = {"other Python": 1.0}  # a recursion back to this key ends here
    callers: dict[Key, tuple[Any, ...]] = raw[key][4] if key in raw else {}
    weights = {caller: float(entry[2]) for caller, entry in callers.items() if caller != key}
    whole = sum(weights.values())
    if whole > 0:
        found: dict[str, float] = defaultdict(float)
        for caller, weight in weights.items():
            for label, share in _shares(raw, caller, memo).items():
                found[label] += share * weight / whole
        memo[key] = dict(found)
    return memo[key]


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
    raw: dict[Key, tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Key, dict[str, float]] = {}
    for key, (_cc, _nc, tottime, _ct, _callers) in raw.items():
        for label, share in _shares(raw, key, memo).items():
            totals[label] += tottime * share
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
