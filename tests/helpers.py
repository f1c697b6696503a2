"""Scaffolding shared by the suites: waiting for a condition, loopback ports where nothing listens, our log in a
buffer."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

from publisher.ops.logsetup import configure_logging


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; whether it became true.

    For what another thread or process does (a daemon, a fake server). The timeout is a generous upper
    bound for a loaded machine, never a measurement: assert on the state reached, not on the time taken.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


#: the read timeout of adapters in tests: a fake's ``time_out`` holds the connection until the client
#: gives up, so each timeout case costs this much; short enough for that, long enough that a loaded
#: 2-core machine does not turn an ordinary answer into a timeout (0.5 s did)
READ_TIMEOUT = 1.5


def free_port() -> int:
    """A loopback port that was free a moment ago: for a test server to bind, or to be refused on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_url() -> str:
    """An address where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def captured_log(level: str = "DEBUG") -> Iterator[StringIO]:
    """Our real logging setup writing into a buffer (at DEBUG urllib3 logs request paths too).

    The root logger's handler and level are restored afterwards, so other tests log as before.
    """
    root = logging.getLogger()
    saved = root.level
    stream = StringIO()
    handler = configure_logging(level, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def queued(store: Any, count: int) -> None:
    """Until a SQLite store's group commit has a write in progress and ``count`` more waiting behind it."""
    group = store._group
    assert group is not None
    while True:
        with group._mutex:
            if group._busy and len(group._queue) >= count:
                return
        time.sleep(0.001)


def service_env(monkeypatch: Any, home: Path, settings: Mapping[str, str]) -> None:
    """The CLI's environment for an in-process run: no PUBLISHER_ variable of the caller's, data in
    ``home/var``, ``settings`` (e.g. a fake's ``service_env()``) set, and ``home`` the working folder."""
    for key in list(os.environ):
        if key.startswith("PUBLISHER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(home / "var"))
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(home)
