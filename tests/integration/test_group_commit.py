"""Group commit on SQLite: writes asked for at once share one commit, each still durable when it returns.

Real SQLite file; the writes are ``Store._write`` calls as every store method makes them. A gate inside the
first write holds its transaction open so that the others queue behind it deterministically (no timing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, func, select

from publisher.store import Store
from publisher.store.engine import append_event
from publisher.store.schema import events
from tests.helpers import queued

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def logged(status: str) -> object:
    def work(conn: Connection) -> str:
        append_event(conn, NOW, status)
        return status

    return work


def statuses(path: Path) -> list[str]:
    """What another process would read: a fresh store on the same file."""
    other = Store(f"sqlite:///{path}", migrate=False)
    with other.engine.connect() as conn:
        found = [r[0] for r in conn.execute(select(events.c.status).order_by(events.c.id))]
    other.close()
    return found


def held_open(gate: threading.Event) -> Callable[[Connection], str]:
    """A write that logs "first" once ``gate`` is set: its group stays open until then, so that the writes
    asked for meanwhile queue behind it deterministically."""

    def first(conn: Connection) -> str:
        gate.wait(30)
        append_event(conn, NOW, "first")
        return "first"

    return first


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'q.db'}")


def test_writes_waiting_together_share_one_commit_and_each_is_durable(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    gate = threading.Event()

    first = held_open(gate)

    results: dict[str, object] = {}
    leader = threading.Thread(target=lambda: results.update(first=store._write(first)))
    leader.start()
    queued(store, 0)  # the first write is in progress
    others = [
        threading.Thread(target=lambda s=s: results.update({s: store._write(logged(s))}))
        for s in ("a", "b", "c")
    ]
    for t in others:
        t.start()
    queued(store, 3)
    gate.set()
    for t in [leader, *others]:
        t.join()
    assert results == {"first": "first", "a": "a", "b": "b", "c": "c"}
    # The three that waited were committed together: two commits for four writes, all of them on disk.
    assert len(commits) == 2
    assert sorted(statuses(tmp_path / "q.db")) == ["a", "b", "c", "first"]
    store.close()


def test_a_failing_write_fails_alone(sqlite_store: Store, tmp_path: Path) -> None:
    store = sqlite_store
    gate = threading.Event()

    def first(conn: Connection) -> None:
        gate.wait(30)

    def broken(conn: Connection) -> None:
        append_event(conn, NOW, "half-done")
        raise ValueError("this write fails")

    outcomes: dict[str, object] = {}

    def run(name: str, work: object) -> None:
        try:
            outcomes[name] = store._write(work)  # type: ignore[arg-type]
        except ValueError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=("first", first))]
    threads[0].start()
    queued(store, 0)
    for name, work in (("a", logged("a")), ("broken", broken), ("c", logged("c"))):
        threads.append(threading.Thread(target=run, args=(name, work)))
        threads[-1].start()
    queued(store, 3)
    gate.set()
    for t in threads:
        t.join()
    assert outcomes["a"] == "a" and outcomes["c"] == "c" and isinstance(outcomes["broken"], ValueError)
    # The failing write's own change was rolled back; the others of its group were committed.
    assert sorted(statuses(tmp_path / "q.db")) == ["a", "c"]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 2
    store.close()


def test_a_write_inside_a_write_is_refused_instead_of_waiting_forever(sqlite_store: Store) -> None:
    store = sqlite_store

    def nested(conn: Connection) -> None:
        store._write(logged("inner"))

    with pytest.raises(RuntimeError, match="wait for itself"):
        store._write(nested)
    store.close()


def test_many_threads_writing_at_once_each_get_their_own_result_and_every_write_is_kept(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """Eight threads, 50 writes each, hand the lead on to one another: every call returns its own result
    only once it is committed, none is lost or run twice, and none waits for ever."""
    store = sqlite_store
    results: dict[int, list[str]] = {}

    def writer(n: int) -> None:
        results[n] = [store._write(logged(f"w{n}.{i}")) for i in range(50)]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert results == {n: [f"w{n}.{i}" for i in range(50)] for n in range(8)}
    written = statuses(tmp_path / "q.db")
    assert sorted(written) == sorted(f"w{n}.{i}" for n in range(8) for i in range(50))
    for n in range(8):  # each thread's writes committed in the order it made them
        mine = [s for s in written if s.startswith(f"w{n}.")]
        assert mine == [f"w{n}.{i}" for i in range(50)]


def test_a_submitted_write_is_committed_with_the_next_write_and_not_before(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """``submit`` queues a write without committing it; the next write of any caller commits both, in
    order, with one commit; ``settle`` then returns at once with the submitted write's result."""
    store = sqlite_store
    group = store._group
    assert group is not None
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    ticket = group.submit(logged("result"))
    assert statuses(tmp_path / "q.db") == []  # queued, not yet on disk
    assert store._write(logged("sending")) == "sending"
    assert statuses(tmp_path / "q.db") == ["result", "sending"]
    assert group.settle(ticket) == "result"
    assert len(commits) == 1
    store.close()


def test_settling_a_write_nobody_committed_commits_it(sqlite_store: Store, tmp_path: Path) -> None:
    store = sqlite_store
    group = store._group
    assert group is not None
    ticket = group.submit(logged("alone"))
    assert group.settle(ticket) == "alone"
    assert statuses(tmp_path / "q.db") == ["alone"]
    assert group.settle(ticket) == "alone"  # settling twice changes nothing
    assert statuses(tmp_path / "q.db") == ["alone"]
    store.close()


def test_a_submitted_write_queued_during_a_commit_is_not_handed_the_lead(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """A leader finishing its group hands the lead only to a caller that waits: a submitted write whose
    caller went on is left queued (nobody is stuck waiting for it to lead), and is committed by the next
    write or by its ``settle``."""
    store = sqlite_store
    group = store._group
    assert group is not None
    gate = threading.Event()

    first = held_open(gate)

    leader = threading.Thread(target=store._write, args=(first,))
    leader.start()
    queued(store, 0)
    ticket = group.submit(logged("submitted"))
    gate.set()
    leader.join(30)
    assert not leader.is_alive()
    assert statuses(tmp_path / "q.db") == ["first"]
    # A waiting caller arriving now leads at once (the group is not busy) and takes the queued write along.
    assert store._write(logged("next")) == "next"
    assert statuses(tmp_path / "q.db") == ["first", "submitted", "next"]
    assert group.settle(ticket) == "submitted"
    store.close()


def test_settle_waits_for_a_commit_under_way_then_returns_the_result(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    group = store._group
    assert group is not None
    gate = threading.Event()

    first = held_open(gate)

    ticket = group.submit(logged("submitted"))
    leader = threading.Thread(target=store._write, args=(first,))
    leader.start()  # leads: takes "submitted" and "first" into one group, held open by the gate
    queued(store, 0)
    settled: list[str] = []
    waiter = threading.Thread(target=lambda: settled.append(group.settle(ticket)))
    waiter.start()
    assert settled == []
    gate.set()
    for t in (leader, waiter):
        t.join(30)
    assert settled == ["submitted"]
    assert statuses(tmp_path / "q.db") == ["submitted", "first"]
    store.close()
