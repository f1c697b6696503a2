"""The four loopback network fakes, run in a child process so their CPU is not charged to the pipeline.

The benchmark measures the publishing side; if the fakes shared its process they would share its GIL and
its CPU clock. The child starts ``tests.fakes`` servers (VK, X, Facebook, Telegram) and obeys a few
commands over a pipe: report URLs and credentials, set an answer delay or a rate limit, hand over the
arrival log, forget what was received.

What the benchmark adds to the fakes, without touching ``tests/fakes``:

* an arrival log: ``(network, unix time, marker, accepted)`` per publishing request, the time taken when
  the request line and headers have been read — the moment the request "reaches the network";
* ``delay``: every answer waits this long (a slow network), like ``Fault("latency")`` without a count;
* ``rate``: a sliding one-second window on Telegram's ``sendMessage``; beyond ``rate`` requests it answers
  429 with ``parameters.retry_after`` as the Bot API does (https://core.telegram.org/bots/api#responseparameters).

Nagle's algorithm is switched off on the fakes' sockets in this process only: ``http.server`` writes the
headers and the body of an answer separately, and with Nagle on, the body of some answers waited ~40 ms
for the client's delayed ACK — a property of the fake, not of any real network, that made VK look 15x
slower than the others.
"""

from __future__ import annotations

import collections
import importlib
import math
import multiprocessing
import re
import secrets
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from multiprocessing.connection import Connection
from typing import Any

#: a marker in every benchmark text, so that an arrival can be matched to its delivery
MARKER = re.compile(r"\[bench:([\w.-]+)\]")
PUBLISH_PATHS = re.compile(r"(/method/wall\.post|/2/tweets|/feed|/sendMessage)$")


@dataclass(frozen=True)
class Arrival:
    network: str
    time: float
    marker: str
    accepted: bool


def _fakes(name: str) -> Any:
    return importlib.import_module(f"tests.fakes.{name}")


def _serve(conn: Connection) -> None:
    """Child process main: start the fakes, then answer commands until ``stop``."""
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    # Imported by name: the fakes live in tests/ (run from the repository root), outside what mypy checks.
    base, telegram = _fakes("base"), _fakes("telegram")
    Reply, error_body = base.Reply, telegram.error_body
    FakeVk, FakeX = _fakes("vk").FakeVk, _fakes("x").FakeX
    FakeFacebook, FakeTelegram = _fakes("facebook").FakeFacebook, telegram.FakeTelegram

    arrivals: list[Arrival] = []
    lock = threading.Lock()
    control: dict[str, Any] = {"delay": 0.0, "rate": None}
    window: collections.deque[float] = collections.deque()

    def limited(request: Any) -> Any:
        """The sliding-window limit on sendMessage, or None when the request may pass."""
        rate = control["rate"]
        if not rate or not request.path.endswith("/sendMessage"):
            return None
        now = time.monotonic()
        with lock:
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) < int(rate):
                window.append(now)
                return None
            wait = max(1, math.ceil(1.0 - (now - window[0])))
        return Reply(429, error_body(429, f"Too Many Requests: retry after {wait}", retry_after=wait))

    def instrument(cls: Any, network: str) -> Any:
        class Instrumented(cls):  # type: ignore[misc]
            def _parse(self, handler: BaseHTTPRequestHandler) -> Any:
                arrived = time.time()
                request = super()._parse(handler)
                if request.method == "POST" and PUBLISH_PATHS.search(request.path):
                    text = request.param("message") or request.param("text") or ""
                    found = MARKER.search(text)
                    handler.bench_arrival = (arrived, found.group(1) if found else "")  # type: ignore[attr-defined]
                return request

            def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
                if control["delay"]:
                    time.sleep(control["delay"])
                super()._dispatch(handler)

            def _call_route(self, request: Any) -> Any:
                refused = limited(request) if network == "telegram" else None
                return refused or super()._call_route(request)

            def _send(self, handler: BaseHTTPRequestHandler, reply: Any) -> None:
                super()._send(handler, reply)
                stamp = getattr(handler, "bench_arrival", None)
                if stamp is not None:
                    with lock:
                        arrivals.append(Arrival(network, stamp[0], stamp[1], reply.status < 400))

        Instrumented.__name__ = cls.__name__
        return Instrumented

    vk = instrument(FakeVk, "vk")("vk1.a.bench-" + secrets.token_urlsafe(32))
    x_creds = {
        "consumer_key": secrets.token_urlsafe(18),
        "consumer_secret": secrets.token_urlsafe(36),
        "access_token": "1580000000000000001-" + secrets.token_urlsafe(24),
        "access_token_secret": secrets.token_urlsafe(36),
    }
    x = instrument(FakeX, "x")(
        consumer_key=x_creds["consumer_key"],
        consumer_secret=x_creds["consumer_secret"],
        access_token=x_creds["access_token"],
        access_token_secret=x_creds["access_token_secret"],
    )
    fb = instrument(FakeFacebook, "facebook")()
    tg = instrument(FakeTelegram, "telegram")("123456789:AA" + secrets.token_urlsafe(25))
    fakes: dict[str, Any] = {"vk": vk, "x": x, "facebook": fb, "telegram": tg}
    for server in fakes.values():
        server.start()

    info = {name: server.service_settings() for name, server in fakes.items()}
    # The fakes take any pace: lift the Telegram default (20/min), or every scenario measures pacing.
    info["telegram"]["max_per_minute"] = 1e9
    while True:
        command, argument = conn.recv()
        if command == "info":
            conn.send(info)
        elif command == "configure":
            control.update(argument)
            window.clear()
            conn.send(None)
        elif command == "arrivals":
            with lock:
                taken = list(arrivals)
                arrivals.clear()
            conn.send(taken)
        elif command == "stop":
            for server in fakes.values():
                server.stop()
            conn.send(None)
            return


class Farm:
    """Handle on the child process. Use as a context manager."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="bench-fakes", daemon=True)
        self.info: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Farm:
        self._process.start()
        self.info = self._ask("info")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._ask("stop")
        finally:
            self._process.join(5)
            if self._process.is_alive():
                self._process.terminate()

    @property
    def pid(self) -> int:
        return self._process.pid or 0

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def configure(self, *, delay: float = 0.0, rate: int | None = None) -> None:
        self._ask("configure", {"delay": delay, "rate": rate})

    def arrivals(self) -> list[Arrival]:
        """Publishing requests received since the last call (and forget them)."""
        found: list[Arrival] = self._ask("arrivals")
        return found

    def env(self) -> dict[str, str]:
        """``PUBLISHER_*`` variables that point a daemon's four networks at the fakes."""
        env: dict[str, str] = {}
        for network, values in self.info.items():
            for key, value in values.items():
                env[f"PUBLISHER_{network.upper()}__{key.upper()}"] = str(value)
        return env
