"""Housekeeping stays flat with history: none of its queries walks the published part of the queue.

The daemon runs housekeeping every 15 s for months; a query that scans every delivery (the heartbeat's state
counts used to) costs more with every post ever published. Every statement one housekeeping round sends to
the database is captured and SQLite's query plan checked: deliveries and events are reached through an
index search, never a full scan. (Measured idle cost per history size: ``make bench``.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from publisher.dispatch.daemon import Daemon
from publisher.models import Post
from publisher.settings import Settings
from publisher.store.schema import deliveries

HISTORY = 2000


def test_one_housekeeping_round_searches_indexes_and_scans_no_history(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", dry_run=True)
    daemon = Daemon(settings)
    store = daemon.store
    now = datetime.now(UTC)
    post_id, _ = store.add_post(
        Post(source_name="a.md", source_key="a" * 64, targets=("vk",), approved_by="ed", body="x"), now
    )
    old = now - timedelta(days=90)
    with store.engine.begin() as conn:  # months of history: published deliveries of one old post
        conn.execute(
            insert(deliveries),
            [
                {
                    "post_id": post_id,
                    "target": f"vk:h{i}",
                    "state": "published",
                    "attempts": 1,
                    "due_at": old,
                    "created_at": old,
                    "updated_at": old,
                }
                for i in range(HISTORY)
            ],
        )
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        daemon.housekeeping()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert any("deliveries" in s for s, _ in statements), "housekeeping read nothing: the capture is broken"
    scans = []
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            for row in plan:
                detail = str(row[-1])
                if detail.startswith("SCAN") and ("deliveries" in detail or "events" in detail):
                    scans.append(f"{detail}  <-  {' '.join(statement.split())[:160]}")
    daemon.dispatcher.stop(5)
    store.close()
    assert not scans, "housekeeping scans the whole table:\n" + "\n".join(scans)
