"""SQLite's fast path (``publisher.store.rawsql``) writes exactly what the SQLAlchemy path writes.

The same sequence of claims and results runs on two real SQLite files: one store as the daemon runs it
(group commit, the DB-API statements), one with group commit switched off, which sends every write through
SQLAlchemy (the path PostgreSQL takes). The attempt ids are made the same in both. Afterwards every row
of both files must be identical, byte for byte as stored, and read back through the store's API the same.
Then: a fenced write of a stale attempt changes nothing; a failing raw write in a group is rolled back alone;
a locked database is retried, and reported as ``StoreError`` when it stays locked.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from publisher.errors import StoreError
from publisher.models import DeliveryState, Post, PublishResult, SentPost
from publisher.store import Store, engine, rawsql
from publisher.store.rawsql import RawWork
from publisher.store.schema import deliveries, events
from tests.helpers import queued

S = DeliveryState
# Not UTC, with microseconds: the store must convert to UTC and keep every digit.
MSK = timezone(timedelta(hours=3))
T0 = datetime(2026, 12, 1, 15, 0, 0, 123456, tzinfo=MSK)
TARGETS = ("vk", "x", "telegram", "facebook")


def make_post(key: str) -> Post:
    return Post(
        source_name=f"{key}.md",
        source_key=key * 8,
        targets=TARGETS,
        approved_by="редактор",
        body=f"Текст поста {key}",
    )


def run_scenario(store: Store) -> list[bool]:
    """Every fenced write of a delivery's life, the stale ones included; the calls' answers, in order."""
    answers: list[bool] = []
    for key in ("a", "b"):
        store.add_post(make_post(key), T0)
    claims = store.claim_due(T0 + timedelta(seconds=1), worker="w1", lease_seconds=60, limit=8)
    assert len(claims) == 8
    by_key = {(c.delivery.post_id, c.delivery.target): c.delivery for c in claims}
    first, second = sorted({p for p, _ in by_key})
    t = T0 + timedelta(seconds=2, microseconds=1)
    for i, target in enumerate(TARGETS):
        d = by_key[(first, target)]
        attempt = d.attempt_id or ""
        sent = SentPost(f"Привет, {target} «ё»", "https://example.org/a?x=1", ("photo.jpg",), "HTML")
        answers.append(store.mark_sending(d.id, attempt, t, sent if i % 2 else sent.text))
        answers.append(store.mark_sending(d.id, "stale" + attempt[5:], t, "not this"))
        later = t + timedelta(microseconds=999_999 - i)
        if target == "vk":
            result = PublishResult("r-1", "https://vk.com/wall-1_1", later)
            detail = {"excerpt": "ответ «ok»", "ids": [1, 2], "nested": {"b": 2, "a": None}}
            answers.append(store.record_published(d.id, attempt, result, later, detail))
            answers.append(
                store.record_published(d.id, attempt, result, later, detail)
            )  # no longer publishing
        elif target == "x":
            answers.append(
                store.record_retry(
                    d.id,
                    attempt,
                    later,
                    not_before=later + timedelta(minutes=1),
                    error="503",
                    burn_attempt=True,
                )
            )
        elif target == "telegram":
            answers.append(store.record_failed(d.id, attempt, later, "400 Bad Request", {"code": 400}))
        else:
            answers.append(
                store.record_in_doubt(
                    d.id, attempt, later, "read timeout", reconcile_at=later + timedelta(hours=1)
                )
            )
            # an in-doubt delivery is settled by its late answer too
            result = PublishResult("fb-9", None, later)
            answers.append(store.record_published(d.id, attempt, result, later + timedelta(seconds=1), {}))
    for target in TARGETS:  # the second post: released with and without an error, one not burnt retry
        d = by_key[(second, target)]
        attempt = d.attempt_id or ""
        if target == "vk":
            answers.append(store.release(d.id, attempt, t, "shutdown"))
        elif target == "x":
            answers.append(store.release(d.id, attempt, t, "paused", error="auth failed"))
        elif target == "telegram":
            answers.append(
                store.record_retry(
                    d.id, attempt, t, not_before=t, error="429", burn_attempt=False, detail={"r": 1}
                )
            )
        else:
            answers.append(store.record_published(d.id, "0" * 32, PublishResult("no", None, t), t, {}))
    return answers


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the two tables the fast path writes, as SQLite stores them (no type conversion)."""
    with sqlite3.connect(path) as conn:
        return {
            table.name: conn.execute(f"SELECT * FROM {table.name} ORDER BY id").fetchall()
            for table in (deliveries, events)
        }


def test_the_fast_path_writes_exactly_what_sqlalchemy_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = {}
    for name in ("fast", "slow"):
        counter = iter(range(10**6))
        monkeypatch.setattr(uuid, "uuid4", lambda c=counter: uuid.UUID(int=next(c)))
        store = Store(f"sqlite:///{tmp_path / name}.db")
        if name == "slow":
            store._group = None  # every write through SQLAlchemy, one transaction each
        calls: list[str] = []
        monkeypatch.setattr(RawWork, "__init__", _counting(RawWork.__init__, calls))
        stores[name] = (store, run_scenario(store), len(calls))
        monkeypatch.undo()
    fast, fast_answers, raw_writes = stores["fast"]
    slow, slow_answers, slow_raw = stores["slow"]
    # the fast store took the fast path: 8 mark_sending, 7 fenced writes (not those that count attempts back)
    assert raw_writes == 15 and slow_raw == 0
    assert fast_answers == slow_answers
    assert fast_answers.count(False) == 6  # the stale ones

    assert dump(tmp_path / "fast.db") == dump(tmp_path / "slow.db")
    assert fast.deliveries() == slow.deliveries()
    assert fast.events() == slow.events()

    published = [d for d in fast.deliveries() if d.state is S.PUBLISHED]
    assert {d.remote_id for d in published} == {"r-1", "fb-9"}
    vk = next(d for d in published if d.remote_id == "r-1")
    assert vk.sending_at == datetime(2026, 12, 1, 12, 0, 2, 123457, tzinfo=UTC)
    assert vk.sending_at is not None and vk.sending_at.tzinfo is UTC
    assert vk.updated_at == datetime(2026, 12, 1, 12, 0, 3, 123456, tzinfo=UTC)
    assert vk.sent == SentPost("Привет, vk «ё»")
    (event,) = fast.events(delivery_id=vk.id, status="published")
    assert event.detail == {"excerpt": "ответ «ok»", "ids": [1, 2], "nested": {"a": None, "b": 2}}
    assert (event.remote_id, event.url, event.time) == ("r-1", "https://vk.com/wall-1_1", vk.updated_at)
    for store in (fast, slow):
        store.close()


def _counting(init: object, calls: list[str]) -> object:
    def counted(self: RawWork[object], run: object) -> None:
        calls.append("raw")
        init(self, run)  # type: ignore[operator]

    return counted


def test_a_stale_attempt_changes_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    store.add_post(make_post("a"), T0)
    (claim, *_) = store.claim_due(T0, worker="w", lease_seconds=60, limit=1)
    d = claim.delivery
    before, log = dump(tmp_path / "q.db"), store.events()
    now = T0 + timedelta(seconds=5)
    result = PublishResult("r", "https://x", now)
    assert not store.mark_sending(d.id, "other", now, "text")
    assert not store.record_published(d.id, "other", result, now, {"a": 1})
    assert not store.record_failed(d.id, "other", now, "no")
    assert dump(tmp_path / "q.db") == before and store.events() == log
    # settled: the same attempt is stale for both writes now
    assert store.record_failed(d.id, d.attempt_id or "", now, "no")
    settled = dump(tmp_path / "q.db")
    assert not store.mark_sending(d.id, d.attempt_id or "", now, "text")
    assert not store.record_published(d.id, d.attempt_id or "", result, now, {})
    assert dump(tmp_path / "q.db") == settled
    store.close()


def test_the_datetime_conversion_is_sqlalchemys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    store_dialect = store.engine.dialect
    ours = rawsql.sqlite_datetime(store_dialect)
    theirs = deliveries.c.updated_at.type.dialect_impl(store_dialect).bind_processor(store_dialect)
    assert theirs is not None
    for value in (
        T0,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still written with six digits
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        None,
    ):
        assert ours(value) == theirs(value)
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))
    store.close()


def test_a_failing_raw_write_in_a_group_is_rolled_back_alone(tmp_path: Path) -> None:
    """In a group with a SQLAlchemy write (its transaction) and alone (the raw one), it fails as
    SQLAlchemy's errors do: a ``StoreError``; the others commit."""
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    store.add_post(make_post("a"), T0)
    claims = store.claim_due(T0, worker="w", lease_seconds=60, limit=4)
    group = store._group
    assert group is not None
    gate = threading.Event()

    def first(cursor: sqlite3.Cursor) -> str:
        gate.wait(30)
        return "first"

    def broken(cursor: sqlite3.Cursor) -> None:
        cursor.execute("UPDATE nowhere SET x = 1")

    results: dict[str, object] = {}

    def call(name: str, fn: object) -> None:
        try:
            results[name] = fn()  # type: ignore[operator]
        except Exception as exc:
            results[name] = exc

    leader = threading.Thread(target=call, args=("first", lambda: store._write(RawWork(first))))
    leader.start()
    queued(store, 0)
    threads = [
        threading.Thread(
            target=call,
            args=(
                f"sending{i}",
                lambda c=c: store.mark_sending(c.delivery.id, c.delivery.attempt_id or "", T0, "t"),
            ),
        )
        for i, c in enumerate(claims[1:])
    ] + [
        threading.Thread(target=call, args=("broken", lambda: store._write(RawWork(broken)))),
        # a write through SQLAlchemy makes the group's transaction SQLAlchemy's: the raw ones join it
        threading.Thread(target=call, args=("logged", lambda: store.log_event(T0, "note"))),
    ]
    for t in threads:
        t.start()
    queued(store, len(threads))
    gate.set()
    for t in [leader, *threads]:
        t.join(30)
    assert results.pop("first") == "first"
    failure = results.pop("broken")
    assert isinstance(failure, StoreError)
    assert str(failure) == "the queue database failed: no such table: nowhere"
    assert results == {"logged": None, **{f"sending{i}": True for i in range(3)}}
    assert [e.status for e in store.events(status="note")] == ["note"]
    with store.engine.connect() as conn, pytest.raises(OperationalError) as raised:
        RawWork(broken)(conn)  # in a SQLAlchemy transaction: SQLAlchemy's error, so locks are retried
    assert str(raised.value.orig) == "no such table: nowhere"
    assert sorted(d.rendered_text or "" for d in store.deliveries() if d.sending_at) == ["t"] * 3
    store.close()


def test_a_locked_database_is_retried_and_reported_when_it_stays_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q.db"
    store = Store(f"sqlite:///{path}")
    store.add_post(make_post("a"), T0)
    a, b = store.claim_due(T0, worker="w", lease_seconds=60, limit=2)
    store.mark_sending(a.delivery.id, a.delivery.attempt_id or "", T0, "warm")  # opens the kept connection
    assert store._kept_raw is not None
    store._kept_raw.execute("PRAGMA busy_timeout=0")  # a busy lock fails at once instead of in 30 s
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    sleeps: list[float] = []

    def sleep_then_unlock(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            other.execute("COMMIT")

    monkeypatch.setattr(engine.time, "sleep", sleep_then_unlock)
    assert store.mark_sending(b.delivery.id, b.delivery.attempt_id or "", T0, "after the lock")
    assert sleeps == [0.05, 0.1]
    assert store.get_delivery(b.delivery.id).rendered_text == "after the lock"  # type: ignore[union-attr]

    other.execute("BEGIN IMMEDIATE")
    sleeps.clear()
    monkeypatch.setattr(engine.time, "sleep", sleeps.append)
    result = PublishResult("r", None, T0)
    with pytest.raises(StoreError) as raised:
        store.record_published(b.delivery.id, b.delivery.attempt_id or "", result, T0, {})
    assert str(raised.value) == "the queue database failed: database is locked"
    assert len(sleeps) == 7
    other.execute("ROLLBACK")
    assert store.get_delivery(b.delivery.id).state is S.PUBLISHING  # type: ignore[union-attr]
    other.close()
    store.close()
