"""What every part of the Store shares: the engine, one read and one write transaction, and the event append.

Each concern's mixin (claims, results, settlement, upkeep, reading) subclasses ``StoreBase`` so that it can use
``_read`` / ``_write`` and be type-checked on its own; ``publisher.store.Store`` puts them together.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import ClauseElement, Connection, Engine, Row, Select, Table, create_engine, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from publisher.errors import ConfigurationError, StoreError
from publisher.store import schema
from publisher.store.groupcommit import GroupCommit
from publisher.store.rawsql import RawStatement, RawWork, dbapi_connection, sqlalchemy_errors
from publisher.store.records import dumps
from publisher.store.schema import deliveries, events, incidents
from publisher.store.sqlite import sqlite_engine

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

T = TypeVar("T")


class StoreBase:
    """One class for both dialects; see ``publisher.store`` for the guarantees."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 10) -> None:
        """Raises ConfigurationError (naming ``PUBLISHER_DATABASE_URL``) for a URL that cannot be a queue
        database: an unknown scheme or driver, or a file that is not an SQLite database."""
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._group: GroupCommit | None = None
        self._kept: Connection | None = None  # the group-commit leaders' connection (one leader at a time)
        self._kept_raw: sqlite3.Connection | None = None  # its DB-API connection
        self._raw_statements: dict[Hashable, RawStatement] = {}  # SQLite's fast path (``rawsql``)
        try:
            if self.dialect == "sqlite":
                self.engine: Engine = sqlite_engine(url, pool_size)
                self._group = GroupCommit(lambda works: self._transaction(works, kept=True))
            else:
                self.engine = create_engine(
                    url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
                )
        except (ArgumentError, ImportError) as exc:
            raise ConfigurationError(
                f"PUBLISHER_DATABASE_URL is not usable ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}): "
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            ) from None
        if migrate:
            try:
                self.migrate()
            except DatabaseError as exc:
                self.engine.dispose()
                if isinstance(exc, OperationalError):
                    raise StoreError(f"the queue database failed: {str(exc.orig).splitlines()[0]}") from None
                raise ConfigurationError(
                    f"PUBLISHER_DATABASE_URL does not point at a queue database ({str(exc.orig).splitlines()[0]}): "
                    "fix the path, or move the file away and let the service create a new database"
                ) from None

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None
            self._kept_raw = None
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction that is committed when this returns.

        On SQLite, writes of several threads at once share a transaction and its commit (``GroupCommit``);
        on PostgreSQL each runs alone (the server groups commits itself, and rows stay locked briefly).
        """
        if self._group is not None:
            return self._group.run(work)
        result: T = self._transaction([work])[0]
        return result

    def _write_later(self, work: Callable[[Connection], T]) -> Callable[[], T]:
        """Queue ``work`` to be committed with the next write of any thread; the returned callable gives its
        result once committed (leading a commit if none is under way). Only SQLite groups commits: elsewhere
        it is committed here, before this returns."""
        group = self._group
        if group is None:
            result: T = self._transaction([work])[0]
            return lambda: result
        ticket = group.submit(work)
        return lambda: group.settle(ticket)

    def _transaction(self, works: Sequence[Callable[[Connection], Any]], *, kept: bool = False) -> list[Any]:
        """Run ``works`` in order in one transaction, retrying a few times if the database stays locked.

        ``kept``: on the connection kept for group commits (only one leader runs at a time), which saves a
        pool check-out, check-in and reset per transaction: a tenth of a delivery's CPU at high rates.
        """
        delay = 0.05
        for attempt in range(8):
            try:
                if kept and all(type(work) is RawWork for work in works):
                    return self._raw_transaction(works)
                with self._connection(kept) as conn, conn.begin():
                    return [work(conn) for work in works]
            except OperationalError as exc:
                locked = "locked" in str(exc).lower() or "could not serialize" in str(exc).lower()
                if not locked or attempt == 7:
                    raise StoreError(f"the queue database failed: {exc.orig}") from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _raw_transaction(self, works: Sequence[Callable[[Connection], Any]]) -> list[Any]:
        """SQLite: a group made only of ``RawWork`` runs on the kept connection's DB-API connection, with
        ``BEGIN IMMEDIATE`` and ``COMMIT`` issued there (``Connection.begin``, its event and its commit cost
        a twentieth of a delivery's CPU). Errors come out as SQLAlchemy's would (``OperationalError`` ...)."""
        kept = self._kept
        if kept is None or kept.invalidated or kept.closed or self._kept_raw is None:
            with self._connection(True) as conn:
                self._kept_raw = dbapi_connection(conn)
        raw = self._kept_raw
        cursor = raw.cursor()
        try:
            with sqlalchemy_errors():
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    results = [cast("RawWork[Any]", work).run(cursor) for work in works]
                    cursor.execute("COMMIT")
                except BaseException:
                    if raw.in_transaction:
                        cursor.execute("ROLLBACK")
                    raise
        finally:
            cursor.close()
        return results

    def _compiled(
        self, key: Hashable, make: Callable[[], ClauseElement], names: Collection[str]
    ) -> RawStatement:
        """``make()`` compiled for SQLite's fast path, once per ``key`` (see ``rawsql.RawStatement``)."""
        found = self._raw_statements.get(key)
        if found is None:
            found = self._raw_statements[key] = RawStatement(make(), self.engine.dialect, names)
        return found

    @contextmanager
    def _connection(self, kept: bool) -> Iterator[Connection]:
        if not kept:
            with self.engine.connect() as conn:
                yield conn
            return
        if self._kept is None or self._kept.invalidated or self._kept.closed:
            self._kept = self.engine.connect()
            self._kept_raw = None
        yield self._kept

    def _locking(self, query: Select[Any], *, skip_locked: bool) -> Select[Any]:
        """Lock the rows a read-then-write transaction will change (PostgreSQL; SQLite's BEGIN IMMEDIATE
        already serialises writers). ``skip_locked``: another daemon is handling those rows, leave them."""
        if self.dialect == "postgresql":
            return query.with_for_update(skip_locked=skip_locked)
        return query

    def _insert(self, table: Table) -> SqliteInsert | PostgresInsert:
        """An INSERT in this database's dialect (both have ``on_conflict_do_nothing``). The PostgreSQL
        dialect is imported only on PostgreSQL: a SQLite deployment starts without it (~0.05 s)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgres_insert

            return postgres_insert(table)
        return sqlite_insert(table)

    def migrate(self) -> list[int]:
        return self._write(schema.migrate)

    def schema_version(self) -> int:
        with self._read() as conn:
            return schema.current_version(conn)

    def log_event(self, now: datetime, status: str, **fields: Any) -> None:
        """Append an event that is not a delivery state change (e.g. a rejected post file)."""
        self._write(lambda conn: append_event(conn, now, status, **fields))


def event_row(
    now: datetime,
    status: str,
    *,
    post_id: int | None = None,
    delivery_id: int | None = None,
    target: str | None = None,
    remote_id: str | None = None,
    url: str | None = None,
    error: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of one publish-log row (``claim_due`` inserts many of them in one statement)."""
    return {
        "time": now,
        "post_id": post_id,
        "delivery_id": delivery_id,
        "target": target,
        "status": status,
        "remote_id": remote_id,
        "url": url,
        "error": error,
        "detail": dumps(dict(detail or {})),
    }


#: Built once: constructing a statement per call (coercing every value) cost more than running it.
_INSERT_EVENT = events.insert()


def append_event(conn: Connection, now: datetime, status: str, **fields: Any) -> None:
    """One row of the publish log, in the caller's transaction; ``fields`` as for ``event_row``."""
    conn.execute(_INSERT_EVENT, event_row(now, status, **fields))


def change_delivery(
    conn: Connection,
    row: Row[Any],
    now: datetime,
    values: Mapping[str, Any],
    status: str,
    *,
    error: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> bool:
    """Apply ``values`` to the delivery read as ``row`` and log ``status`` for it, in the caller's transaction.

    Fenced: the change applies only while the delivery is still in the state and attempt it was read in
    (the decision was taken on that row), so a stale decision changes nothing and returns False. The event
    carries the remote id and URL when the change sets them (a delivery settled as published).
    """
    changed = conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id == row.id,
            deliveries.c.state == row.state,
            deliveries.c.attempt_id.is_(None)
            if row.attempt_id is None
            else deliveries.c.attempt_id == row.attempt_id,
        )
        .values(**values, updated_at=now)
    ).rowcount
    if changed != 1:
        return False
    log_delivery(
        conn,
        now,
        status,
        row,
        remote_id=values.get("remote_id"),
        url=values.get("remote_url"),
        error=error,
        detail=detail,
    )
    return True


#: The columns of ``event_row``, the bind names of the fast path's event insert.
EVENT_COLUMNS = ("time", "post_id", "delivery_id", "target", "status", "remote_id", "url", "error", "detail")


def log_delivery(conn: Connection, now: datetime, status: str, row: Row[Any], **fields: Any) -> None:
    """The publish-log row of a change to the delivery ``row`` (id, post_id, target); ``fields`` as for
    ``event_row``."""
    append_event(conn, now, status, post_id=row.post_id, delivery_id=row.id, target=row.target, **fields)


#: The incident kinds keyed per delivery (``kind:delivery_id``); a paused target is keyed per target.
DELIVERY_INCIDENTS = ("failed", "in_doubt")


def close_delivery_incidents(conn: Connection, delivery_id: int, now: datetime) -> None:
    """Close a delivery's open incidents in the caller's transaction: a new failure alerts again."""
    keys = [f"{kind}:{delivery_id}" for kind in DELIVERY_INCIDENTS]
    conn.execute(
        update(incidents)
        .where(incidents.c.key.in_(keys), incidents.c.closed_at.is_(None))
        .values(closed_at=now)
    )
