"""Setting up the real pipeline for the benchmark: settings, posts, bulk-filled queues, a daemon process."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.compose.composer import preload, render
from publisher.compose.directory import load_directory
from publisher.dispatch.dispatcher import Dispatcher
from publisher.models import Post
from publisher.settings import Settings
from publisher.store import Store

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
#: The networks the benchmark's text posts go to, each with a fake in the farm. Instagram publishes only
#: posts with a picture (the composer refuses a text alone), so it is not measured here.
NETWORKS = ("vk", "x", "facebook", "telegram")


def bench_settings(info: dict[str, dict[str, Any]], data_dir: Path, **overrides: Any) -> Settings:
    """Settings whose four networks point at the fakes, with credentials-shaped fake tokens."""
    sections: dict[str, Any] = {name: dict(values) for name, values in info.items()}
    return Settings(data_dir=data_dir, dry_run=False, **sections, **overrides)


def make_post(tag: str, i: int, targets: Sequence[str], due: datetime | None = None) -> Post:
    """A realistic short post with a hashtag; ``[bench:TAG.I]`` lets a fake match it to a delivery."""
    key = hashlib.sha256(f"{tag}/{i}".encode()).hexdigest()
    body = (
        f"Студенты посетили выставку редких книг в научной библиотеке, пост {i}. "
        f"Приходите в читальный зал №2 [bench:{tag}.{i}]"
    )
    return Post(
        source_name=f"{tag}-{i}.md",
        source_key=key,
        targets=tuple(targets),
        approved_by="бенчмарк",
        body=body,
        publish_at=due,
        hashtags=("БНТУ", "библиотека"),
    )


def dispatcher(store: Store, settings: Settings) -> Dispatcher:
    directory = load_directory(None)
    preload()  # as the daemon does at start
    return Dispatcher(store, settings, lambda post, target: render(post, target, directory))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def sqlite_path(store: Store) -> str:
    return store.url.split("///", 1)[1]


def sqlite_time(when: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite (``UTCDateTime`` drops the zone)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bulk_queue(
    store: Store, count: int, first_due: datetime, spread: timedelta, tag: str, state: str = "queued"
) -> None:
    """Insert ``count`` deliveries (one post each, networks in turn) in one transaction, ``queued`` or
    ``published`` (history: no next time).

    Only for setup speed at 10^5..10^6 rows: the rows are the ones ``Store.add_post`` would write (the
    ``enqueued`` events are left out; no query measured here reads them).
    """
    now = sqlite_time(datetime.now(UTC))
    conn = sqlite3.connect(sqlite_path(store))
    try:
        start = conn.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()[0] + 1
        step = spread / max(count, 1)
        batch = 50_000
        for offset in range(0, count, batch):
            ids = range(start + offset, start + min(offset + batch, count))
            posts = [
                (i, hashlib.sha256(f"{tag}/{i}".encode()).hexdigest(), f"{tag}-{i}.md", "бенчмарк",
                 f"Пост {i} [bench:{tag}.{i}]", "[]", "[]", "[]", "{}", now)
                for i in ids
            ]  # fmt: skip
            conn.executemany(
                "INSERT INTO posts (id, source_key, source_name, approved_by, body, hashtags, mentions,"
                " media, overrides, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                posts,
            )
            rows = []
            for i in ids:
                due = sqlite_time(first_due + step * (i - start))
                next_at = due if state == "queued" else None
                rows.append((i, NETWORKS[i % 4], state, 0, due, next_at, 0, now, now))
            conn.executemany(
                "INSERT INTO deliveries (post_id, target, state, attempts, due_at, next_at,"
                " reconcile_checks, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )
        conn.commit()
        # Write the bulk rows into the database file now, so no later measurement pays for it.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


class DaemonProcess:
    """``python -m publisher run`` in its own process, its networks pointed at the fakes by environment."""

    def __init__(self, data_dir: Path, env: dict[str, str], log_level: str = "INFO") -> None:
        self.data_dir = data_dir
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        clean.update(env)
        clean.update(
            PUBLISHER_DATA_DIR=str(data_dir),
            PUBLISHER_LOG_LEVEL=log_level,
        )
        self.env = clean
        self.log_path = data_dir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DaemonProcess:
        log = self.log_path.open("ab")
        # cwd is the data directory so that a developer's ./settings.env is not picked up.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "run"],
            cwd=self.data_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_started(self, store: Store, timeout: float = 30.0) -> None:
        """Until the daemon has written its first heartbeat (it is scheduling)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited: see {self.log_path}")
            if any(h.pid == self.proc.pid for h in store.heartbeats()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the daemon did not start in {timeout} s: see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the daemon so far."""
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)

    def memory_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the daemon, in kB, from /proc/PID/status."""
        assert self.proc is not None
        found = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
