"""Running the real daemon as a subprocess, with a notify socket standing in for systemd."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class NotifySocket:
    """A Unix datagram socket playing systemd's side of sd_notify; collects every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode("utf-8", "replace"))

    def seen(self, field: str) -> list[str]:
        return [m for m in list(self.messages) if field in m.split("\n")]

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a daemon whose data lives in ``tmp_path`` (and nothing from the caller's PUBLISHER_*)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PUBLISHER_") and k not in ("NOTIFY_SOCKET", "CREDENTIALS_DIRECTORY")
    }
    env.update(
        {
            "PUBLISHER_DATA_DIR": str(tmp_path / "var"),
            "PUBLISHER_DIRECTORY_FILE": str(ROOT / "directory.example.yaml"),
            "PUBLISHER_INGEST_INTERVAL": "0.2",
            "PUBLISHER_INBOX_SETTLE_SECONDS": "0.3",
            "PUBLISHER_LOG_LEVEL": "DEBUG",
            "PUBLISHER_LANGUAGE": "en",  # the assertions read English; editors' tests pass "ru"
            "PYTHONUNBUFFERED": "1",
            # Tests publish many posts to one fake channel in seconds; production keeps the 20/min default.
            "PUBLISHER_TELEGRAM__MAX_PER_MINUTE": "60000",
            # Likewise the editors' chat (20 a minute in production): a test reads 3-5 messages there, which
            # at the production pace is 3 s of waiting between each two.
            "PUBLISHER_EDITORS__MAX_PER_MINUTE": "60000",
            # No daily reminder in the team chat that alert tests read (reminders: test_reminders.py).
            "PUBLISHER_REMIND_AT": "off",
        }
    )
    env.update(extra)
    return env


class DaemonProcess:
    """``python -m publisher ARGS`` in ``cwd`` with ``env``; output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", *args],
            env=env,
            cwd=str(cwd or ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait(10)


def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        env=env,
        cwd=str(cwd or ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
