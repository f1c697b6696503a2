"""The sd_notify client against real Unix datagram sockets, as systemd would listen."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest

from publisher.ops.sdnotify import Notifier


def _receive(sock: socket.socket) -> str:
    sock.settimeout(2.0)
    return sock.recv(4096).decode("utf-8")


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    if len(path) > 100:  # sun_path is limited to 108 bytes
        pytest.skip("temporary path too long for a Unix socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield sock, path
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    name = f"publisher-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    yield sock, "@" + name
    sock.close()


def test_messages_arrive_on_a_path_socket(path_socket: tuple[socket.socket, str]) -> None:
    sock, path = path_socket
    with Notifier({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready(status="очередь: 3 в ожидании")
        assert _receive(sock) == "READY=1\nSTATUS=очередь: 3 в ожидании"
        assert notifier.watchdog()
        assert _receive(sock) == "WATCHDOG=1"
        assert notifier.status("draining\n2 in flight")
        assert _receive(sock) == "STATUS=draining 2 in flight"  # a newline would start a new field
        assert notifier.reloading()
        assert _receive(sock) == "RELOADING=1"
        assert notifier.stopping()
        assert _receive(sock) == "STOPPING=1"


def test_messages_arrive_on_an_abstract_socket(abstract_socket: tuple[socket.socket, str]) -> None:
    sock, address = abstract_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.ready()
    assert _receive(sock) == "READY=1"
    assert notifier.stopping(status="stopping: 1 delivery in flight")
    assert _receive(sock) == "STOPPING=1\nSTATUS=stopping: 1 delivery in flight"
    notifier.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval() is None


def test_unsupported_address_is_ignored() -> None:
    assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert not Notifier({"NOTIFY_SOCKET": "@"}).enabled


def test_watchdog_interval_from_the_environment() -> None:
    me = os.getpid()
    armed = Notifier({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(me)})
    assert armed.watchdog_interval() == 60.0
    assert armed.watchdog_ping_interval() == 30.0
    # Without WATCHDOG_PID the watchdog is for whoever reads it.
    assert Notifier({"WATCHDOG_USEC": "2500000"}).watchdog_interval() == 2.5
    # Inherited from the parent the watchdog was armed for: not ours.
    assert Notifier({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(me + 1)}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "60000000"}, pid=4242).watchdog_interval() == 60.0
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "x"}).watchdog_interval() is None


def test_send_failure_is_logged_once_and_never_raised(tmp_path: Path, log_text: StringIO) -> None:
    stream = log_text
    missing = str(tmp_path / "gone")  # nobody listens here: sendto fails with ENOENT
    notifier = Notifier({"NOTIFY_SOCKET": missing})
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    warnings = [line for line in stream.getvalue().splitlines() if "WARNING" in line]
    assert len(warnings) == 1, stream.getvalue()
    assert "could not notify systemd" in warnings[0]


def test_notifications_resume_after_the_socket_comes_back(tmp_path: Path, log_text: StringIO) -> None:
    stream = log_text
    path = str(tmp_path / "later")
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.watchdog() is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        assert notifier.watchdog() is True
        assert _receive(sock) == "WATCHDOG=1"
    assert "work again" in stream.getvalue()
