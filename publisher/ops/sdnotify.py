"""Tell systemd how the daemon is doing, without depending on libsystemd or a Python binding.

The protocol is one datagram per message, ``KEY=VALUE`` lines, sent over an ``AF_UNIX``/``SOCK_DGRAM``
socket whose address is in ``$NOTIFY_SOCKET``: a file system path, or an abstract-namespace name
written with a leading ``@`` (the ``@`` stands for the NUL byte that starts an abstract address).
See https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html and
https://systemd.io/NOTIFY/ (the "no libsystemd" reference implementation).

Outside systemd (``NOTIFY_SOCKET`` unset, e.g. in a terminal or in tests) every method is a no-op.
Sending never raises: a broken notify socket must not stop publishing. The first failure is logged
as a warning, further ones at DEBUG until a send succeeds again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """An ``sd_notify`` client for the daemon's main loop.

    ``environ`` defaults to ``os.environ``; tests pass their own mapping. ``pid`` is the process the
    watchdog settings are meant for (``os.getpid()`` by default), compared with ``$WATCHDOG_PID``.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, pid: int | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _parse_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(env, os.getpid() if pid is None else pid)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._failing = False

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens (``NOTIFY_SOCKET`` is usable)."""
        return self._address is not None

    # --- the messages the daemon sends ---------------------------------------------------------

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: the store is open and the first ingest ran; ``systemctl start`` returns."""
        fields = ["READY=1"]
        if status is not None:
            fields.append("STATUS=" + _one_line(status))
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """``STATUS=``: the one-line summary ``systemctl status publisher`` shows."""
        return self.notify("STATUS=" + _one_line(text))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: send from the main loop itself, so that a hung loop is noticed."""
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        """``RELOADING=1``: a SIGHUP reload started; send ``ready()`` when it is done."""
        return self.notify("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutdown began (in-flight deliveries are finishing)."""
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append("STATUS=" + _one_line(status))
        return self.notify(*fields)

    # --- watchdog settings -----------------------------------------------------------------------

    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds (``WatchdogSec=``), or None when no watchdog is armed for us.

        systemd kills the service when no ``WATCHDOG=1`` arrives within this time; ping at least
        every half of it (``watchdog_ping_interval``), as sd_watchdog_enabled(3) recommends.
        """
        return None if self._watchdog_usec is None else self._watchdog_usec / 1_000_000

    def watchdog_ping_interval(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half the timeout, or None without a watchdog."""
        timeout = self.watchdog_interval()
        return None if timeout is None else timeout / 2

    # --- transport -------------------------------------------------------------------------------

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` as one datagram. Returns True if it was sent; never raises."""
        if self._address is None or not fields:
            return False
        payload = "\n".join(fields).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.sendto(payload, self._address)
            except OSError as exc:
                level = logging.DEBUG if self._failing else logging.WARNING
                self._failing = True
                log.log(
                    level,
                    "could not notify systemd (%s): %s",
                    type(exc).__name__,
                    exc.strerror or exc,
                    extra={"event": "sd_notify_failed"},
                )
                self._close_locked()
                return False
            if self._failing:
                log.info("systemd notifications work again", extra={"event": "sd_notify_recovered"})
                self._failing = False
            return True

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Notifier {'enabled' if self.enabled else 'disabled'}>"


def _parse_address(value: str) -> str | None:
    """``NOTIFY_SOCKET`` as an address for ``sendto``, or None when notifications are off."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # the Linux abstract namespace
    if value:
        # e.g. "vsock:2:1234" (systemd >= 254 inside VMs): not something a host service receives.
        log.warning("NOTIFY_SOCKET=%r is not a Unix socket address; not notifying systemd", value)
    return None


def _watchdog_usec(env: Mapping[str, str], pid: int) -> int | None:
    """``WATCHDOG_USEC`` when it is meant for ``pid`` (``WATCHDOG_PID`` unset or equal), else None."""
    raw_pid = env.get("WATCHDOG_PID", "")
    if raw_pid:
        try:
            if int(raw_pid) != pid:
                return None  # inherited from a parent the watchdog was set up for
        except ValueError:
            return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


def _one_line(text: str) -> str:
    """Newlines would start a new ``KEY=`` assignment in the datagram."""
    return " ".join(text.split())
