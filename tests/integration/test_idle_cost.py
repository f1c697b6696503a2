"""An idle daemon's periodic work does not grow with the queue or with the history (issue 12).

No timing: one idle round of every periodic job (drain with nothing due, housekeeping with the calendar rebuilt
after a change, the metrics round, the reminders) runs on a real SQLite file holding a queue and a history ten
times larger in one run than in the other, and what the database did is counted through SQLAlchemy's cursor
events: the statements, and SQLite's virtual-machine steps (its progress handler), which grow with every row a
statement scans. A job that reads every queued post (the calendar did) or every snapshot ever taken (the
metrics round did) makes the larger run cost ~10 times more; bounded work costs the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from publisher.dispatch import health
from publisher.dispatch.daemon import Daemon
from publisher.plan import service
from publisher.settings import Settings
from publisher.store import Store
from publisher.store.schema import deliveries, events, posts, snapshots
from tests.conftest import FakeClock

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NETWORKS = ("vk", "x", "facebook", "telegram")
#: Rows a SQLite step counter tick stands for (``set_progress_handler``'s granularity).
STEPS = 100


@dataclass
class Counts:
    statements: list[str] = field(default_factory=list)
    ticks: int = 0
    by_statement: dict[str, int] = field(default_factory=dict)


def fill(store: Store, queued: int, published: int) -> None:
    """``queued`` posts over the next 30 days; ``published`` ones, one every 30 minutes back from now, each
    with its ``published`` event and a metrics snapshot (the recent month looks the same at both sizes)."""
    post_rows, delivery_rows, event_rows, snapshot_rows = [], [], [], []
    for i in range(1, queued + published + 1):
        if i <= queued:
            due, state = NOW + timedelta(days=30) * i / queued, "queued"
        else:
            due, state = NOW - timedelta(minutes=30) * (i - queued), "published"
        target = NETWORKS[i % 4]
        post_rows.append(
            {"id": i, "source_key": f"{i:064x}", "source_name": f"p{i}.md", "approved_by": "редактор",
             "body": f"Пост {i}", "created_at": NOW}
        )  # fmt: skip
        delivery_rows.append(
            {"id": i, "post_id": i, "target": target, "state": state, "due_at": due,
             "next_at": due if state == "queued" else None, "created_at": NOW, "updated_at": NOW,
             "remote_id": f"{target}-{i}" if state == "published" else None}
        )  # fmt: skip
        if state == "published":
            event_rows.append(
                {"time": due, "post_id": i, "delivery_id": i, "target": target, "status": "published"}
            )
            snapshot_rows.append(
                {"delivery_id": i, "taken_at": due + timedelta(hours=1), "views": 1, "available": True}
            )
    with store.engine.begin() as conn:
        for table, rows in ((posts, post_rows), (deliveries, delivery_rows)):
            conn.execute(table.insert(), rows)
        conn.execute(events.insert(), event_rows)
        conn.execute(snapshots.insert(), snapshot_rows)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(name)
    # Small bounds, so that both sizes reach them (the real bounds are the same code with larger numbers).
    monkeypatch.setattr(service, "CALENDAR_MAX_AHEAD", 200)
    monkeypatch.setattr(service, "CALENDAR_MAX_PAST", 100)
    monkeypatch.setattr(health, "COUNT_AT_MOST", 1_000)
    yield


class Counter:
    """Counts the statements a store's engine runs and SQLite's steps while they run."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.counts = Counts()

    def _step(self) -> int:
        self.counts.ticks += 1
        last = self.counts.statements[-1]
        self.counts.by_statement[last] = self.counts.by_statement.get(last, 0) + 1
        return 0

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.counts.statements.append(" ".join(statement.split()))
        conn.connection.dbapi_connection.set_progress_handler(self._step, STEPS)

    def __enter__(self) -> Counts:
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self.counts

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)


def rounds(tmp_path: Path, queued: int, published: int) -> tuple[Counts, Counts]:
    """(an idle round of every periodic job, the calendar rebuilt after one change) with this much data."""
    data = tmp_path / f"q{queued}"
    data.mkdir()
    settings = Settings(data_dir=data, dry_run=True)
    setup = Store(settings.resolved_database_url)
    fill(setup, queued, published)
    setup.close()
    daemon = Daemon(settings, clock=FakeClock(NOW))

    def every_job() -> None:
        daemon.drain()
        daemon.housekeeping()
        daemon.collect_metrics()
        daemon.remind()

    try:
        daemon.refresh_calendar()  # what start-up does
        every_job()  # the first round after start-up
        with Counter(daemon.store) as idle:
            every_job()
        daemon.store.log_event(NOW, "rejected", error="a file", detail={"file": "x.md"})
        with Counter(daemon.store) as change:
            daemon.housekeeping()
        calendar = (data / "plan.ics").read_bytes()
        # Bounded, and saying so: the calendar ends where its bound was reached, with an event that tells.
        assert b"UID:post-" in calendar and b"UID:more-after@publisher" in calendar
        return idle, change
    finally:
        daemon.store.close()


def grown(small: Counts, large: Counts) -> str:
    """What grew, statement by statement (for the failure message)."""
    ticks = sorted(large.by_statement.items(), key=lambda kv: -kv[1])
    return "\n".join(f"{small.by_statement.get(s, 0)} -> {n} steps: {s[:300]}" for s, n in ticks[:5])


def test_idle_rounds_cost_the_same_with_ten_times_the_queue_and_the_history(tmp_path: Path) -> None:
    small_idle, small_change = rounds(tmp_path, 1_500, 1_500)
    large_idle, large_change = rounds(tmp_path, 15_000, 15_000)
    for small, large in ((small_idle, large_idle), (small_change, large_change)):
        assert large.statements == small.statements
        # Bounded work reads the same rows at both sizes (an index search a level deeper at most); a scan of
        # the queue or the history reads ten times as many.
        assert large.ticks <= small.ticks * 1.5, grown(small, large)
