"""Recording what an attempt achieved, and settling claims and deliveries that time ran out on.

Results are recorded only by the attempt that holds the claim: every update is fenced on ``attempt_id``, so the
late answer of an attempt whose claim was reaped cannot overwrite a newer state. ``mark_sending`` commits the
rendered text just before the network call, which is what tells a reaped claim "in doubt" from "never sent".
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Unpack

from sqlalchemy import ClauseElement, ColumnElement, Connection, Update, and_, bindparam, select, update

from publisher.models import Delivery, DeliveryState, PublishResult, SentPost
from publisher.store.engine import EVENT_COLUMNS, StoreBase, change_delivery, event_row, log_delivery
from publisher.store.interface import Detail, InDoubtOptions, RetryOptions
from publisher.store.rawsql import RawWork
from publisher.store.records import CLAIMABLE, load_delivery, source_key
from publisher.store.schema import deliveries, events, posts

log = logging.getLogger("publisher.store")
S = DeliveryState


@dataclass(frozen=True)
class _FencedChange:
    """One fenced transition: ``values`` written only while ``delivery_id`` is held by ``attempt_id`` in one
    of the ``allowed`` states, with its publish-log row (``status``, ``event_fields``)."""

    delivery_id: int
    attempt_id: str
    now: datetime
    values: dict[str, Any]
    status: str
    allowed: Collection[str] = (S.PUBLISHING.value,)
    event_fields: Mapping[str, Any] = field(default_factory=dict)

    def bound(self) -> dict[str, Any]:
        """The fence's and the values' parameters, named as ``_fenced_update`` binds them."""
        return {
            "f_id": self.delivery_id,
            "f_attempt": self.attempt_id,
            **{f"v_{k}": v for k, v in self.values.items()},
        }


class ResultsMixin(StoreBase):
    def _fenced(self, change: _FencedChange) -> bool:
        return self._write(self._fenced_work(change))

    def _fenced_work(self, change: _FencedChange) -> Callable[[Connection], bool]:
        """The write of ``_fenced``: the fenced update and its publish-log row, committed by the caller."""
        change = replace(change, values={**change.values, "updated_at": change.now})
        computed = any(isinstance(v, ClauseElement) for v in change.values.values())  # e.g. ``attempts - 1``
        if self._group is not None and not computed:
            return self._fenced_raw(change)
        delivery_id, allowed = change.delivery_id, tuple(change.allowed)
        if computed:
            statement: Any = (
                update(deliveries)
                .where(_held_by(delivery_id, change.attempt_id, allowed))
                .values(**change.values)
                .returning(deliveries.c.id, deliveries.c.post_id, deliveries.c.target)
            )
            params: dict[str, Any] = {}
        else:  # the common case: a statement built once per set of columns, values bound
            statement = _fenced_update(tuple(sorted(change.values)), allowed)
            params = change.bound()

        def work(conn: Connection) -> bool:
            # Fenced on the attempt: a late answer of an attempt whose claim was reaped cannot overwrite.
            row = conn.execute(statement, params).one_or_none()
            if row is None:
                _stale(delivery_id)
                return False
            log_delivery(conn, change.now, change.status, row, **change.event_fields)
            return True

        return work

    def _fenced_raw(self, change: _FencedChange) -> RawWork[bool]:
        """``_fenced`` on SQLite's fast path (``rawsql``): the same statements, compiled once, on the DB-API
        cursor; the parameters are converted before the write joins its group."""
        delivery_id = change.delivery_id
        columns, states = tuple(sorted(change.values)), tuple(change.allowed)
        names = ("f_id", "f_attempt", *(f"v_{c}" for c in columns))
        fence = self._compiled(("fenced", columns, states), lambda: _fenced_update(columns, states), names)
        params = fence.params(change.bound())
        insert = self._compiled("event", events.insert, EVENT_COLUMNS)
        event = event_row(change.now, change.status, delivery_id=delivery_id, **change.event_fields)

        def run(cursor: sqlite3.Cursor) -> bool:
            # Fenced on the attempt: a late answer of an attempt whose claim was reaped cannot overwrite.
            rows = cursor.execute(fence.sql, params).fetchall()
            if not rows:
                _stale(delivery_id)
                return False
            event["post_id"], event["target"] = rows[0][1], rows[0][2]
            cursor.execute(insert.sql, insert.params(event))
            return True

        return RawWork(run)

    def mark_sending(self, delivery_id: int, attempt_id: str, now: datetime, sent: SentPost | str) -> bool:
        """Commit, just before the network call, exactly what this attempt is about to send (``SentPost``,
        or its text alone): reconciliation recognises the post by it."""
        what = SentPost(sent) if isinstance(sent, str) else sent
        columns = ("rendered_text", "sent", "sending_at", "updated_at")
        params = {
            "f_id": delivery_id,
            "f_attempt": attempt_id,
            "v_sending_at": now,
            "v_rendered_text": what.text,
            "v_sent": json.dumps(what.as_dict(), ensure_ascii=False),
            "v_updated_at": now,
        }
        if self._group is not None:  # SQLite's fast path (``rawsql``); no RETURNING: the row count says it
            fence = self._compiled(
                "mark_sending",
                lambda: _fenced_update(columns, (S.PUBLISHING.value,), returning=False),
                tuple(params),
            )
            values = fence.params(params)
            return self._write(RawWork(lambda cursor: cursor.execute(fence.sql, values).rowcount == 1))
        statement = _fenced_update(columns, (S.PUBLISHING.value,))

        def work(conn: Connection) -> bool:
            return conn.execute(statement, params).first() is not None

        return self._write(work)

    def record_published(
        self, delivery_id: int, attempt_id: str, result: PublishResult, now: datetime, detail: Detail
    ) -> bool:
        return self._write(self._published(delivery_id, attempt_id, result, now, detail))

    def record_published_later(
        self, delivery_id: int, attempt_id: str, result: PublishResult, now: datetime, detail: Detail
    ) -> Callable[[], bool]:
        return self._write_later(self._published(delivery_id, attempt_id, result, now, detail))

    def _published(
        self, delivery_id: int, attempt_id: str, result: PublishResult, now: datetime, detail: Detail
    ) -> Callable[[Connection], bool]:
        # An in-doubt delivery whose late answer arrives is settled by it too.
        values = {
            "state": S.PUBLISHED.value,
            "remote_id": result.remote_id,
            "remote_url": result.url,
            "lease_until": None,
            "next_at": None,
            "last_error": None,
        }
        return self._fenced_work(
            _FencedChange(
                delivery_id,
                attempt_id,
                now,
                values,
                "published",
                allowed=(S.PUBLISHING.value, S.IN_DOUBT.value),
                event_fields={"remote_id": result.remote_id, "url": result.url, "detail": detail},
            )
        )

    def record_retry(
        self, delivery_id: int, attempt_id: str, now: datetime, **options: Unpack[RetryOptions]
    ) -> bool:
        not_before, error, burn_attempt = options["not_before"], options["error"], options["burn_attempt"]
        status, detail = options.get("status", "retry_wait"), options.get("detail")
        values: dict[str, Any] = {
            "state": S.RETRY_WAIT.value if burn_attempt else S.QUEUED.value,
            "next_at": not_before,
            "lease_until": None,
            "last_error": error,
        }
        if not burn_attempt:
            values["attempts"] = deliveries.c.attempts - 1
        event = {"error": error, "detail": {**(detail or {}), "not_before": not_before.isoformat()}}
        return self._fenced(_FencedChange(delivery_id, attempt_id, now, values, status, event_fields=event))

    def record_failed(
        self, delivery_id: int, attempt_id: str, now: datetime, error: str, detail: Detail | None = None
    ) -> bool:
        return self._stop(delivery_id, attempt_id, now, S.FAILED, None, error, detail)

    def record_in_doubt(
        self, delivery_id: int, attempt_id: str, now: datetime, error: str, **options: Unpack[InDoubtOptions]
    ) -> bool:
        reconcile_at, detail = options["reconcile_at"], options.get("detail")
        return self._stop(delivery_id, attempt_id, now, S.IN_DOUBT, reconcile_at, error, detail)

    def _stop(
        self,
        delivery_id: int,
        attempt_id: str,
        now: datetime,
        state: DeliveryState,
        next_at: datetime | None,
        error: str,
        detail: Mapping[str, Any] | None,
    ) -> bool:
        """End an attempt in ``state`` (failed or in doubt); the event's status is the state's name."""
        values = {"state": state.value, "lease_until": None, "next_at": next_at, "last_error": error}
        event = {"error": error, "detail": detail or {}}
        return self._fenced(
            _FencedChange(delivery_id, attempt_id, now, values, state.value, event_fields=event)
        )

    def release(
        self, delivery_id: int, attempt_id: str, now: datetime, reason: str, *, error: str | None = None
    ) -> bool:
        """Give back a claim that never reached the network (shutdown, held target): no attempt is burnt.

        ``error`` (e.g. why the target was paused) is kept on the delivery for ``publisher queue``.
        """
        values: dict[str, Any] = {
            "state": S.QUEUED.value,
            "lease_until": None,
            "attempt_id": None,
            "attempts": deliveries.c.attempts - 1,
        }
        if error is not None:
            values["last_error"] = error
        event = {"detail": {"reason": reason}}
        return self._fenced(
            _FencedChange(delivery_id, attempt_id, now, values, "released", event_fields=event)
        )

    def renew_leases(self, attempt_ids: Collection[str], now: datetime, lease_seconds: float) -> set[str]:
        """Extend the leases of claims this process still holds (a network call is in flight).

        Fenced on state and attempt: a claim already reaped (or settled) is not revived. Returns the attempt
        ids whose lease was extended; a missing one means the claim is lost and its result will be ignored.
        """
        if not attempt_ids:
            return set()

        def work(conn: Connection) -> set[str]:
            rows = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.attempt_id.in_(sorted(attempt_ids)), deliveries.c.state == S.PUBLISHING.value
                )
                .values(lease_until=now + timedelta(seconds=lease_seconds))
                .returning(deliveries.c.attempt_id)
            ).all()
            return {str(r.attempt_id) for r in rows}

        return self._write(work)

    def reap_expired_leases(self, now: datetime, *, reconcile_at: datetime | None = None) -> list[Delivery]:
        """Settle claims whose holder died: in doubt if sending had begun, else back to the queue.

        The expired rows are locked (``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``) and each change
        is fenced on the attempt it was read under, so two reapers never settle one claim twice and a claim
        whose result was recorded meanwhile is left alone.
        """

        def work(conn: Connection) -> list[Delivery]:
            query = select(deliveries).where(
                deliveries.c.state == S.PUBLISHING.value, deliveries.c.lease_until < now
            )
            rows = conn.execute(self._locking(query, skip_locked=True)).all()
            reaped = []
            for row in rows:
                if row.sending_at is None:
                    values = {"state": S.QUEUED.value, "attempts": row.attempts - 1, "next_at": now}
                    status, error = "released", None
                    detail = {
                        "reason": "lease expired before anything was sent",
                        "attempt_id": row.attempt_id,
                    }
                else:
                    values = {"state": S.IN_DOUBT.value, "next_at": reconcile_at}
                    status = "in_doubt"
                    error = "the publishing process stopped during the network call; the post may have been published"
                    detail = {"reason": "lease expired during the network call", "attempt_id": row.attempt_id}
                values.update(lease_until=None, last_error=error or row.last_error)
                if change_delivery(conn, row, now, values, status, error=error, detail=detail):
                    reaped.append(load_delivery(conn, row.id, source_key(conn, row.post_id)))
            return reaped

        return self._write(work)

    def expire_overdue(self, now: datetime) -> list[Delivery]:
        """Fail waiting deliveries whose post expired: an event announcement loses its value.

        Locks the rows it fails (a delivery another daemon is claiming right now is left to that daemon).
        """

        def work(conn: Connection) -> list[Delivery]:
            query = (
                select(deliveries, posts.c.source_key)
                .join(posts, posts.c.id == deliveries.c.post_id)
                .where(deliveries.c.state.in_(CLAIMABLE), deliveries.c.expires_at < now)
            )
            if self.dialect == "postgresql":
                query = query.with_for_update(of=deliveries, skip_locked=True)
            expired = []
            for row in conn.execute(query).all():
                error = f"not published before the post expired at {row.expires_at.isoformat()}"
                if row.last_error:
                    error += f"; last error: {row.last_error}"
                values = {"state": S.FAILED.value, "next_at": None, "last_error": error}
                if change_delivery(conn, row, now, values, "failed", error=error):
                    expired.append(load_delivery(conn, row.id, row.source_key))
            return expired

        return self._write(work)


def _held_by(delivery_id: int, attempt_id: str, states: Collection[str]) -> ColumnElement[bool]:
    """The fence: the delivery is still in one of ``states`` under this attempt's claim."""
    return and_(
        deliveries.c.id == delivery_id,
        deliveries.c.attempt_id == attempt_id,
        deliveries.c.state.in_(list(states)),
    )


def _stale(delivery_id: int) -> None:
    log.warning(
        "result of a stale attempt ignored", extra={"event": "stale_attempt", "delivery": delivery_id}
    )


@functools.lru_cache(maxsize=64)
def _fenced_update(columns: tuple[str, ...], states: tuple[str, ...], *, returning: bool = True) -> Update:
    """``UPDATE deliveries SET <columns> WHERE <the fence> RETURNING id, post_id, target``, built once per shape.

    Bind parameters: ``f_id``, ``f_attempt`` and ``v_<column>``. Reusing the statement object spares
    SQLAlchemy building and coercing it and computing its cache key on every result (issue 12's profile).
    """
    statement = update(deliveries).where(
        deliveries.c.id == bindparam("f_id"),
        deliveries.c.attempt_id == bindparam("f_attempt"),
        deliveries.c.state.in_(states),
    )
    statement = statement.values({c: bindparam(f"v_{c}", type_=deliveries.c[c].type) for c in columns})
    if returning:
        return statement.returning(deliveries.c.id, deliveries.c.post_id, deliveries.c.target)
    return statement
