"""A small threaded HTTP server on 127.0.0.1 that network fakes build on.

A fake subclasses ``FakeServer`` and registers routes; each route is a function taking a ``Request``
and returning a ``Reply``. The server records every request it received (``requests``) and can be told
to misbehave on the next matching requests with ``inject(Fault(...))``:

* ``latency``            wait ``seconds``, then answer normally
* ``status``             answer ``status`` with ``body`` (and ``headers``), without applying the request
* ``timeout_after_apply`` apply the request (the post exists), then hold the connection silent until
                          the client gives up and hangs up (at most ``seconds``), then close it
* ``drop_before_apply``  close the connection without applying and without answering
* ``drop_after_apply``   apply, then close the connection without answering
* ``malformed_after_apply`` apply, then answer 200 with a body that is not JSON
* ``raw``                apply, then answer ``status``/``body`` as given (e.g. 200 without an id)

``applied`` is the list of requests a route actually applied (created a post): tests use it to count
how many times a network received a delivery.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)  # name -> (filename, data, type)
    json: Any = None

    def param(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the query, the form or a JSON object body, in that order."""
        if name in self.query:
            return self.query[name]
        if name in self.form:
            return self.form[name]
        if isinstance(self.json, dict) and name in self.json:
            value = self.json[name]
            return value if isinstance(value, str) else json.dumps(value)
        return default


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)
    #: whether the route changed state (created a post); recorded in FakeServer.applied
    applied: bool = False


@dataclass
class Fault:
    kind: str
    path: str = ""  # regular expression searched in the request path; "" matches every path
    times: int = 1
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: further condition on the request (e.g. "the call that publishes"); None matches every request
    when: Callable[[Request], bool] | None = None
    #: for ``status``: build the answer from the request (VK echoes the request's parameters)
    answer: Callable[[Request], Reply] | None = None


Route = Callable[[Request], Reply]


class _QuietServer(ThreadingHTTPServer):
    """A client that vanishes mid-request (a killed daemon, a timeout test) is normal here, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeServer:
    """Base of the network fakes: routing, recording, fault injection. Use as a context manager."""

    #: how often serve_forever looks for shutdown; stop() waits up to this long (subclasses may lower it)
    poll_interval: float = 0.05

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.requests: list[Request] = []
        self.applied: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- setup -----------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self.routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, each answer waited ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(self.poll_interval,),
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling ------------------------------------------------------------------------

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (
                    fault.times > 0
                    and (not fault.path or re.search(fault.path, request.path))
                    and (fault.when is None or fault.when(request))
                ):
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _parse(self, handler: BaseHTTPRequestHandler) -> Request:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Request(handler.command, split.path, query, headers, body)
        ctype = headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            request.form = {k: v[-1] for k, v in parsed.items()}
        elif ctype.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                data = part.get_payload(decode=True) or b""
                if filename is not None:
                    request.files[str(name)] = (filename, data, part.get_content_type())
                else:
                    request.form[str(name)] = data.decode("utf-8", "replace")
        elif ctype.startswith("application/json") and body:
            try:
                request.json = json.loads(body)
            except ValueError:
                request.json = None
        return request

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        request = self._parse(handler)
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
            fault = None
        if fault and fault.kind == "drop_before_apply":
            self._drop(handler)
            return
        if fault and fault.kind == "status":
            answer = fault.answer(request) if fault.answer else None
            self._send(handler, answer or Reply(fault.status, fault.body, dict(fault.headers)))
            return
        reply = self._call_route(request)
        if reply.applied:
            with self.lock:
                self.applied.append(request)
        if fault is None:
            self._send(handler, reply)
        elif fault.kind == "timeout_after_apply":
            self._hold(handler, fault.seconds)
            self._drop(handler)
        elif fault.kind == "drop_after_apply":
            self._drop(handler)
        elif fault.kind == "malformed_after_apply":
            self._send(handler, Reply(200, b'{"ok": tru', {"Content-Type": "application/json"}))
        elif fault.kind == "raw":
            self._send(handler, Reply(fault.status, fault.body, dict(fault.headers)))
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _call_route(self, request: Request) -> Reply:
        for method, pattern, route in self.routes:
            if method == request.method and pattern.match(request.path):
                return route(request)
        return self.not_found(request)

    def not_found(self, request: Request) -> Reply:
        return Reply(404, {"error": f"no route for {request.method} {request.path}"})

    @staticmethod
    def _hold(handler: BaseHTTPRequestHandler, seconds: float) -> None:
        """Say nothing until the client closes its end (its read timeout) or ``seconds`` pass.

        Waiting for the client rather than a fixed time lets tests use a generous read timeout everywhere
        and still see a timeout as soon as the client's own clock says so.
        """
        deadline = time.monotonic() + seconds
        connection = handler.connection
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([connection], [], [], left)
            if not readable:
                continue
            try:
                if not connection.recv(1, socket.MSG_PEEK):
                    return  # the client hung up
            except OSError:
                return
            time.sleep(0.01)  # the client sent more (a pipelined request): keep holding

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.body
        headers = dict(reply.headers)
        if isinstance(body, dict | list):
            data = json.dumps(body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        try:
            handler.send_response(reply.status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass
