"""The queue store: posts, deliveries, holds and the append-only publish log, in SQLite or PostgreSQL.

Every state change is one committed transaction that also appends an event row; the publish log *is* the
events table. A delivery moves ``queued -> publishing -> published`` (or ``retry_wait`` / ``failed`` /
``in_doubt`` / ``cancelled``). Claiming commits ``publishing`` with an attempt id and a lease before any
network call; ``mark_sending`` commits the rendered text just before the call; results are recorded only by the
attempt that holds the claim (a fencing check on ``attempt_id``).

SQLite: WAL, ``synchronous=FULL``, a busy timeout and ``BEGIN IMMEDIATE`` for every write transaction, plus a
bounded retry when the database stays locked. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` to claim, so several
daemons can share one queue.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from publisher.errors import StoreError
from publisher.models import Delivery, DeliveryState, Event, MediaItem, Post, PublishResult, RemoteRef
from publisher.queue import schema
from publisher.queue.schema import deliveries, events, heartbeats, holds, incidents, posts

log = logging.getLogger("publisher.store")
T = TypeVar("T")
S = DeliveryState
CLAIMABLE = (S.QUEUED.value, S.RETRY_WAIT.value)


@dataclass(frozen=True)
class Claim:
    """A delivery this process now holds, with its post."""

    delivery: Delivery
    post: Post


@dataclass(frozen=True)
class Hold:
    target: str
    reason: str
    since: datetime
    until: datetime | None

    @property
    def is_pause(self) -> bool:
        return self.until is None


@dataclass(frozen=True)
class Heartbeat:
    daemon_id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None
    status: str


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class Store:
    """One class for both dialects; see the module docstring for the guarantees."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 10) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect == "sqlite":
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        if migrate:
            self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    # --- transactions ----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying a few times if the database stays locked."""
        delay = 0.05
        for attempt in range(8):
            try:
                with self.engine.connect() as conn, conn.begin():
                    return work(conn)
            except OperationalError as exc:
                locked = "locked" in str(exc).lower() or "could not serialize" in str(exc).lower()
                if not locked or attempt == 7:
                    raise StoreError(f"the queue database failed: {exc.orig}") from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def migrate(self) -> list[int]:
        return self._write(schema.migrate)

    def schema_version(self) -> int:
        with self._read() as conn:
            return schema.current_version(conn)

    # --- events ----------------------------------------------------------------------------------

    @staticmethod
    def _event(
        conn: Connection,
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
    ) -> None:
        conn.execute(
            events.insert().values(
                time=now,
                post_id=post_id,
                delivery_id=delivery_id,
                target=target,
                status=status,
                remote_id=remote_id,
                url=url,
                error=error,
                detail=_dumps(dict(detail or {})),
            )
        )

    def log_event(self, now: datetime, status: str, **fields: Any) -> None:
        """Append an event that is not a delivery state change (e.g. a rejected post file)."""
        self._write(lambda conn: self._event(conn, now, status, **fields))

    # --- intake ----------------------------------------------------------------------------------

    def add_post(self, post: Post, now: datetime) -> tuple[int, bool]:
        """Store a post and one delivery per target; idempotent on ``post.source_key``.

        Returns ``(post_id, created)``; a second add of the same key returns the first post's id.
        """

        def work(conn: Connection) -> tuple[int, bool]:
            existing = conn.execute(select(posts.c.id).where(posts.c.source_key == post.source_key)).scalar()
            if existing is not None:
                return int(existing), False
            post_id = _new_id(
                conn,
                posts.insert().values(
                    source_key=post.source_key,
                    source_name=post.source_name,
                    approved_by=post.approved_by,
                    body=post.body,
                    rubric=post.rubric,
                    hashtags=_dumps(list(post.hashtags)),
                    mentions=_dumps(list(post.mentions)),
                    media=_dumps([_media_dict(m) for m in post.media]),
                    overrides=_dumps(dict(post.overrides)),
                    link=post.link,
                    publish_at=post.publish_at,
                    expires_at=post.expires_at,
                    created_at=now,
                ),
            )
            due = post.publish_at or now
            for target in dict.fromkeys(post.targets):
                delivery_id = _new_id(
                    conn,
                    deliveries.insert().values(
                        post_id=post_id,
                        target=target,
                        state=S.QUEUED.value,
                        attempts=0,
                        due_at=due,
                        next_at=due,
                        expires_at=post.expires_at,
                        created_at=now,
                        updated_at=now,
                    ),
                )
                self._event(
                    conn,
                    now,
                    "enqueued",
                    post_id=post_id,
                    delivery_id=delivery_id,
                    target=target,
                    detail={
                        "source": post.source_name,
                        "approved_by": post.approved_by,
                        "due_at": due.isoformat(),
                    },
                )
            return int(post_id), True

        try:
            return self._write(work)
        except IntegrityError:
            # Another process stored the same file between our check and insert.
            with self._read() as conn:
                found = conn.execute(select(posts.c.id).where(posts.c.source_key == post.source_key)).scalar()
            if found is None:
                raise
            return int(found), False

    # --- claiming --------------------------------------------------------------------------------

    def _held_targets(self, conn: Connection, now: datetime) -> list[str]:
        rows = conn.execute(select(holds.c.target).where(or_(holds.c.until.is_(None), holds.c.until > now)))
        return [r[0] for r in rows]

    def claim_due(
        self,
        now: datetime,
        *,
        worker: str,
        lease_seconds: float,
        limit: int = 64,
        exclude_targets: Collection[str] = (),
    ) -> list[Claim]:
        """Claim due deliveries (oldest first) of targets that are not held or excluded."""

        def work(conn: Connection) -> list[Claim]:
            skip = set(self._held_targets(conn, now)) | set(exclude_targets)
            query = (
                select(deliveries)
                .where(deliveries.c.state.in_(CLAIMABLE), deliveries.c.next_at <= now)
                .order_by(deliveries.c.next_at, deliveries.c.id)
                .limit(limit)
            )
            if skip:
                query = query.where(deliveries.c.target.not_in(sorted(skip)))
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if not rows:
                return []
            lease_until = now + timedelta(seconds=lease_seconds)
            changes = [
                {
                    "b_id": row.id,
                    "b_attempts": row.attempts + 1,
                    "b_attempt_id": uuid.uuid4().hex,
                }
                for row in rows
            ]
            # One executemany for the claims, one for their events, one read of their posts.
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == bindparam("b_id"))
                .values(
                    state=S.PUBLISHING.value,
                    attempts=bindparam("b_attempts"),
                    attempt_id=bindparam("b_attempt_id"),
                    attempt_started_at=now,
                    lease_until=lease_until,
                    sending_at=None,
                    rendered_text=None,
                    claimed_by=worker,
                    updated_at=now,
                ),
                changes,
            )
            conn.execute(
                events.insert(),
                [
                    {
                        "time": now,
                        "post_id": row.post_id,
                        "delivery_id": row.id,
                        "target": row.target,
                        "status": "publishing",
                        "detail": _dumps(
                            {
                                "attempt": change["b_attempts"],
                                "attempt_id": change["b_attempt_id"],
                                "worker": worker,
                            }
                        ),
                    }
                    for row, change in zip(rows, changes, strict=True)
                ],
            )
            post_ids = sorted({row.post_id for row in rows})
            found = {r.id: _post(r) for r in conn.execute(select(posts).where(posts.c.id.in_(post_ids)))}
            claims = []
            for row, change in zip(rows, changes, strict=True):
                post = found[row.post_id]
                delivery = _delivery(row, post.source_key)
                claims.append(
                    Claim(
                        replace(
                            delivery,
                            state=S.PUBLISHING,
                            attempts=change["b_attempts"],
                            attempt_id=change["b_attempt_id"],
                            attempt_started_at=now,
                            lease_until=lease_until,
                            sending_at=None,
                            rendered_text=None,
                            updated_at=now,
                        ),
                        post,
                    )
                )
            return claims

        return self._write(work)

    def next_due_at(self, now: datetime) -> datetime | None:
        """When the next claimable delivery falls due (ignoring held targets), or None."""
        with self._read() as conn:
            held = self._held_targets(conn, now)
            query = select(func.min(deliveries.c.next_at)).where(deliveries.c.state.in_(CLAIMABLE))
            if held:
                query = query.where(deliveries.c.target.not_in(held))
            found = conn.execute(query).scalar()
            hold_end = conn.execute(select(func.min(holds.c.until)).where(holds.c.until > now)).scalar()
        candidates = [
            schema.UTCDateTime().process_result_value(v, self.engine.dialect) for v in (found, hold_end)
        ]
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def overdue_count(self, now: datetime, cutoff: datetime) -> int:
        """Claimable deliveries of targets not on hold that were due before ``cutoff`` (a stalled queue)."""
        with self._read() as conn:
            held = self._held_targets(conn, now)
            query = select(func.count()).where(
                deliveries.c.state.in_(CLAIMABLE), deliveries.c.next_at < cutoff
            )
            if held:
                query = query.where(deliveries.c.target.not_in(held))
            return int(conn.execute(query).scalar() or 0)

    # --- recording results (fenced on attempt_id) --------------------------------------------------

    def _fenced(
        self,
        delivery_id: int,
        attempt_id: str,
        now: datetime,
        values: dict[str, Any],
        status: str,
        *,
        allowed: Collection[str] = (S.PUBLISHING.value,),
        event_fields: Mapping[str, Any] | None = None,
    ) -> bool:
        def work(conn: Connection) -> bool:
            # Fenced on the attempt: a late answer of an attempt whose claim was reaped cannot overwrite.
            row = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.attempt_id == attempt_id,
                    deliveries.c.state.in_(list(allowed)),
                )
                .values(**values, updated_at=now)
                .returning(deliveries.c.post_id, deliveries.c.target)
            ).one_or_none()
            if row is None:
                log.warning(
                    "result of a stale attempt ignored",
                    extra={"event": "stale_attempt", "delivery": delivery_id},
                )
                return False
            self._event(
                conn,
                now,
                status,
                post_id=row.post_id,
                delivery_id=delivery_id,
                target=row.target,
                **(event_fields or {}),
            )
            return True

        return self._write(work)

    def mark_sending(self, delivery_id: int, attempt_id: str, now: datetime, rendered_text: str) -> bool:
        """Commit, just before the network call, that this attempt is about to send ``rendered_text``."""

        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.attempt_id == attempt_id,
                    deliveries.c.state == S.PUBLISHING.value,
                )
                .values(sending_at=now, rendered_text=rendered_text, updated_at=now)
            )
            return result.rowcount == 1

        return self._write(work)

    def record_published(
        self,
        delivery_id: int,
        attempt_id: str,
        result: PublishResult,
        now: datetime,
        detail: Mapping[str, Any],
    ) -> bool:
        # An in-doubt delivery whose late answer arrives is settled by it too.
        return self._fenced(
            delivery_id,
            attempt_id,
            now,
            {
                "state": S.PUBLISHED.value,
                "remote_id": result.remote_id,
                "remote_url": result.url,
                "lease_until": None,
                "next_at": None,
                "last_error": None,
            },
            "published",
            allowed=(S.PUBLISHING.value, S.IN_DOUBT.value),
            event_fields={"remote_id": result.remote_id, "url": result.url, "detail": detail},
        )

    def record_retry(
        self,
        delivery_id: int,
        attempt_id: str,
        now: datetime,
        *,
        not_before: datetime,
        error: str,
        burn_attempt: bool,
        status: str = "retry_wait",
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            "state": S.RETRY_WAIT.value if burn_attempt else S.QUEUED.value,
            "next_at": not_before,
            "lease_until": None,
            "last_error": error,
        }
        if not burn_attempt:
            values["attempts"] = deliveries.c.attempts - 1
        return self._fenced(
            delivery_id,
            attempt_id,
            now,
            values,
            status,
            event_fields={"error": error, "detail": {**(detail or {}), "not_before": not_before.isoformat()}},
        )

    def record_failed(
        self,
        delivery_id: int,
        attempt_id: str,
        now: datetime,
        error: str,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        return self._fenced(
            delivery_id,
            attempt_id,
            now,
            {"state": S.FAILED.value, "lease_until": None, "next_at": None, "last_error": error},
            "failed",
            event_fields={"error": error, "detail": detail or {}},
        )

    def record_in_doubt(
        self,
        delivery_id: int,
        attempt_id: str,
        now: datetime,
        error: str,
        *,
        reconcile_at: datetime | None,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        return self._fenced(
            delivery_id,
            attempt_id,
            now,
            {"state": S.IN_DOUBT.value, "lease_until": None, "next_at": reconcile_at, "last_error": error},
            "in_doubt",
            event_fields={"error": error, "detail": detail or {}},
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
        return self._fenced(
            delivery_id,
            attempt_id,
            now,
            values,
            "released",
            event_fields={"detail": {"reason": reason}},
        )

    def reap_expired_leases(self, now: datetime, *, reconcile_at: datetime | None = None) -> list[Delivery]:
        """Settle claims whose holder died: in doubt if sending had begun, else back to the queue."""

        def work(conn: Connection) -> list[Delivery]:
            rows = conn.execute(
                select(deliveries).where(
                    deliveries.c.state == S.PUBLISHING.value, deliveries.c.lease_until < now
                )
            ).all()
            reaped = []
            for row in rows:
                if row.sending_at is None:
                    values = {"state": S.QUEUED.value, "attempts": row.attempts - 1, "next_at": now}
                    status, error = "released", None
                    detail = {"reason": "lease expired before anything was sent"}
                else:
                    values = {"state": S.IN_DOUBT.value, "next_at": reconcile_at}
                    status = "in_doubt"
                    error = "the publishing process stopped during the network call; the post may have been published"
                    detail = {"reason": "lease expired during the network call", "attempt_id": row.attempt_id}
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == row.id)
                    .values(**values, lease_until=None, last_error=error or row.last_error, updated_at=now)
                )
                self._event(
                    conn,
                    now,
                    status,
                    post_id=row.post_id,
                    delivery_id=row.id,
                    target=row.target,
                    error=error,
                    detail=detail,
                )
                fresh = conn.execute(select(deliveries).where(deliveries.c.id == row.id)).one()
                reaped.append(_delivery(fresh, self._source_key(conn, row.post_id)))
            return reaped

        return self._write(work)

    def expire_overdue(self, now: datetime) -> list[Delivery]:
        """Fail waiting deliveries whose post expired: an event announcement loses its value."""

        def work(conn: Connection) -> list[Delivery]:
            rows = conn.execute(
                select(deliveries, posts.c.source_key)
                .join(posts, posts.c.id == deliveries.c.post_id)
                .where(deliveries.c.state.in_(CLAIMABLE), deliveries.c.expires_at < now)
            ).all()
            expired = []
            for row in rows:
                error = f"not published before the post expired at {row.expires_at.isoformat()}"
                if row.last_error:
                    error += f"; last error: {row.last_error}"
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == row.id)
                    .values(state=S.FAILED.value, next_at=None, last_error=error, updated_at=now)
                )
                self._event(
                    conn,
                    now,
                    "failed",
                    post_id=row.post_id,
                    delivery_id=row.id,
                    target=row.target,
                    error=error,
                )
                fresh = conn.execute(select(deliveries).where(deliveries.c.id == row.id)).one()
                expired.append(_delivery(fresh, row.source_key))
            return expired

        return self._write(work)

    # --- in-doubt reconciliation -----------------------------------------------------------------

    def in_doubt_due(self, now: datetime, limit: int = 50) -> list[Claim]:
        """In-doubt deliveries whose next reconciliation check is due."""
        with self._read() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.state == S.IN_DOUBT.value, deliveries.c.next_at <= now)
                .order_by(deliveries.c.next_at)
                .limit(limit)
            ).all()
            return [
                Claim(_delivery(r, self._source_key(conn, r.post_id)), self._post(conn, r.post_id))
                for r in rows
            ]

    def settle_in_doubt(
        self,
        delivery_id: int,
        now: datetime,
        *,
        found: RemoteRef | None = None,
        requeue: bool = False,
        next_check: datetime | None = None,
        actor: str = "reconciliation",
        note: str = "",
    ) -> bool:
        """Record what reconciliation (or an operator) learnt about an in-doubt delivery."""

        def work(conn: Connection) -> bool:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one_or_none()
            if row is None or row.state != S.IN_DOUBT.value:
                return False
            if found is not None:
                values: dict[str, Any] = {
                    "state": S.PUBLISHED.value,
                    "remote_id": found.remote_id,
                    "remote_url": found.url,
                    "next_at": None,
                    "last_error": None,
                }
                status = "published"
            elif requeue:
                values = {"state": S.QUEUED.value, "next_at": now, "attempt_id": None}
                status = "requeued"
            else:
                values = {"next_at": next_check, "reconcile_checks": row.reconcile_checks + 1}
                status = "in_doubt_checked"
            conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(**values, updated_at=now)
            )
            self._event(
                conn,
                now,
                status,
                post_id=row.post_id,
                delivery_id=delivery_id,
                target=row.target,
                remote_id=found.remote_id if found else None,
                url=found.url if found else None,
                detail={"by": actor, "note": note},
            )
            return True

        return self._write(work)

    # --- operator actions ------------------------------------------------------------------------

    def _operator_change(
        self,
        delivery_id: int,
        now: datetime,
        allowed: Collection[str],
        values: dict[str, Any],
        status: str,
        detail: dict[str, Any],
    ) -> Delivery:
        def work(conn: Connection) -> Delivery:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one_or_none()
            if row is None:
                raise StoreError(f"delivery {delivery_id} does not exist: see 'publisher queue' for ids")
            if row.state not in allowed:
                raise StoreError(
                    f"delivery {delivery_id} is {row.state}; this action applies to {', '.join(sorted(allowed))} deliveries"
                )
            conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(**values, updated_at=now)
            )
            self._event(
                conn,
                now,
                status,
                post_id=row.post_id,
                delivery_id=delivery_id,
                target=row.target,
                remote_id=values.get("remote_id"),
                url=values.get("remote_url"),
                detail=detail,
            )
            fresh = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
            return _delivery(fresh, self._source_key(conn, row.post_id))

        return self._write(work)

    def retry(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        """A failed or in-doubt delivery back to the queue, due now, with a fresh attempt budget."""
        return self._operator_change(
            delivery_id,
            now,
            (S.FAILED.value, S.IN_DOUBT.value),
            {"state": S.QUEUED.value, "next_at": now, "attempts": 0, "attempt_id": None},
            "retried",
            {"by": actor},
        )

    def cancel(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        return self._operator_change(
            delivery_id,
            now,
            (S.QUEUED.value, S.RETRY_WAIT.value, S.FAILED.value, S.IN_DOUBT.value),
            {"state": S.CANCELLED.value, "next_at": None},
            "cancelled",
            {"by": actor},
        )

    def resolve(
        self, delivery_id: int, now: datetime, *, published_as: RemoteRef | None, actor: str
    ) -> Delivery:
        """An operator settles an in-doubt delivery: it was published (as this ref) or it was not."""
        if published_as is not None:
            values: dict[str, Any] = {
                "state": S.PUBLISHED.value,
                "remote_id": published_as.remote_id,
                "remote_url": published_as.url,
                "next_at": None,
                "last_error": None,
            }
            return self._operator_change(
                delivery_id, now, (S.IN_DOUBT.value,), values, "resolved", {"by": actor, "published": True}
            )
        return self._operator_change(
            delivery_id,
            now,
            (S.IN_DOUBT.value,),
            {"state": S.CANCELLED.value, "next_at": None},
            "resolved",
            {"by": actor, "published": False},
        )

    # --- holds (pauses and rate-limit waits) -----------------------------------------------------

    def hold_target(self, target: str, reason: str, now: datetime, *, until: datetime | None = None) -> bool:
        """Pause a target (``until`` None) or hold it until a time. Returns True when the hold is new."""

        def work(conn: Connection) -> bool:
            row = conn.execute(select(holds).where(holds.c.target == target)).one_or_none()
            if row is not None and row.until is None and until is not None:
                return False  # a pause outranks a rate-limit hold
            if row is None:
                conn.execute(holds.insert().values(target=target, reason=reason, since=now, until=until))
            else:
                conn.execute(update(holds).where(holds.c.target == target).values(reason=reason, until=until))
            new_pause = until is None and (row is None or row.until is not None)
            if new_pause or (row is None and until is not None):
                self._event(
                    conn,
                    now,
                    "paused" if until is None else "rate_limited",
                    target=target,
                    error=reason,
                    detail={"until": until.isoformat() if until else None},
                )
            return row is None or new_pause

        return self._write(work)

    def release_target(self, target: str, now: datetime, actor: str) -> bool:
        def work(conn: Connection) -> bool:
            gone = conn.execute(holds.delete().where(holds.c.target == target)).rowcount
            if gone:
                self._event(conn, now, "resumed", target=target, detail={"by": actor})
            return bool(gone)

        return self._write(work)

    def holds(self, now: datetime) -> list[Hold]:
        with self._read() as conn:
            rows = conn.execute(
                select(holds)
                .where(or_(holds.c.until.is_(None), holds.c.until > now))
                .order_by(holds.c.target)
            ).all()
        return [Hold(r.target, r.reason, r.since, r.until) for r in rows]

    # --- incidents and heartbeats ----------------------------------------------------------------

    def open_incident(self, key: str, now: datetime) -> bool:
        """True the first time an incident is opened (so exactly one alert goes out per incident)."""

        def work(conn: Connection) -> bool:
            row = conn.execute(select(incidents).where(incidents.c.key == key)).one_or_none()
            if row is None:
                conn.execute(incidents.insert().values(key=key, opened_at=now))
                return True
            if row.closed_at is not None:
                conn.execute(
                    update(incidents).where(incidents.c.key == key).values(opened_at=now, closed_at=None)
                )
                return True
            return False

        try:
            return self._write(work)
        except IntegrityError:
            return False

    def close_incident(self, key: str, now: datetime) -> None:
        self._write(
            lambda conn: conn.execute(
                update(incidents)
                .where(incidents.c.key == key, incidents.c.closed_at.is_(None))
                .values(closed_at=now)
            )
        )

    def heartbeat(
        self, daemon_id: str, now: datetime, *, host: str, pid: int, status: str, stopped: bool = False
    ) -> None:
        def work(conn: Connection) -> None:
            values = {"seen_at": now, "status": status, "stopped_at": now if stopped else None}
            changed = conn.execute(
                update(heartbeats).where(heartbeats.c.daemon_id == daemon_id).values(**values)
            )
            if changed.rowcount == 0:
                conn.execute(
                    heartbeats.insert().values(
                        daemon_id=daemon_id, host=host, pid=pid, started_at=now, **values
                    )
                )

        self._write(work)

    def heartbeats(self) -> list[Heartbeat]:
        with self._read() as conn:
            rows = conn.execute(select(heartbeats).order_by(heartbeats.c.seen_at.desc())).all()
        return [
            Heartbeat(r.daemon_id, r.host, r.pid, r.started_at, r.seen_at, r.stopped_at, r.status)
            for r in rows
        ]

    # --- reading ---------------------------------------------------------------------------------

    def _post(self, conn: Connection, post_id: int) -> Post:
        row = conn.execute(select(posts).where(posts.c.id == post_id)).one()
        return _post(row)

    @staticmethod
    def _source_key(conn: Connection, post_id: int) -> str:
        return str(conn.execute(select(posts.c.source_key).where(posts.c.id == post_id)).scalar())

    def get_post(self, post_id: int) -> Post | None:
        with self._read() as conn:
            row = conn.execute(select(posts).where(posts.c.id == post_id)).one_or_none()
        return _post(row) if row else None

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self._read() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one_or_none()
            return _delivery(row, self._source_key(conn, row.post_id)) if row else None

    def deliveries(
        self,
        *,
        states: Collection[DeliveryState] | None = None,
        post_id: int | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        with self._read() as conn:
            query = select(deliveries, posts.c.source_key).join(posts, posts.c.id == deliveries.c.post_id)
            if states:
                query = query.where(deliveries.c.state.in_([s.value for s in states]))
            if post_id is not None:
                query = query.where(deliveries.c.post_id == post_id)
            query = query.order_by(func.coalesce(deliveries.c.next_at, deliveries.c.due_at), deliveries.c.id)
            if limit:
                query = query.limit(limit)
            return [_delivery(r, r.source_key) for r in conn.execute(query)]

    def counts_by_state(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(deliveries.c.state, func.count()).group_by(deliveries.c.state)).all()
        counts = {s.value: 0 for s in DeliveryState}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    def events(
        self,
        *,
        since: datetime | None = None,
        target: str | None = None,
        status: str | None = None,
        post_id: int | None = None,
        delivery_id: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        with self._read() as conn:
            query = select(events)
            conditions = []
            if since is not None:
                conditions.append(events.c.time >= since)
            if target is not None:
                conditions.append(events.c.target == target)
            if status is not None:
                conditions.append(events.c.status == status)
            if post_id is not None:
                conditions.append(events.c.post_id == post_id)
            if delivery_id is not None:
                conditions.append(events.c.delivery_id == delivery_id)
            if conditions:
                query = query.where(and_(*conditions))
            order = events.c.id.desc() if newest_first or limit else events.c.id
            query = query.order_by(order)
            if limit:
                query = query.limit(limit)
            rows = conn.execute(query).all()
        found = [_event(r) for r in rows]
        return list(reversed(found)) if (limit and not newest_first) else found


def _new_id(conn: Connection, statement: Any) -> int:
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


# --- row mapping ---------------------------------------------------------------------------------


def _media_dict(item: MediaItem) -> dict[str, Any]:
    return {
        "name": item.name,
        "path": str(item.path),
        "sha256": item.sha256,
        "mime": item.mime,
        "size": item.size,
    }


def _post(row: Row[Any]) -> Post:
    media = tuple(
        MediaItem(m["name"], Path(m["path"]), m["sha256"], m["mime"], int(m["size"]))
        for m in json.loads(row.media)
    )
    return Post(
        id=row.id,
        source_name=row.source_name,
        source_key=row.source_key,
        targets=(),
        approved_by=row.approved_by,
        body=row.body,
        publish_at=row.publish_at,
        expires_at=row.expires_at,
        rubric=row.rubric,
        hashtags=tuple(json.loads(row.hashtags)),
        mentions=tuple(json.loads(row.mentions)),
        media=media,
        overrides=json.loads(row.overrides),
        link=row.link,
    )


def _delivery(row: Row[Any], source_key: str) -> Delivery:
    return Delivery(
        id=row.id,
        post_id=row.post_id,
        target=row.target,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        due_at=row.due_at,
        not_before=row.next_at,
        lease_until=row.lease_until,
        attempt_id=row.attempt_id,
        attempt_started_at=row.attempt_started_at,
        remote_id=row.remote_id,
        remote_url=row.remote_url,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        idempotency_key=f"pub-{source_key[:16]}-{row.id}",
        sending_at=row.sending_at,
        rendered_text=row.rendered_text,
    )


def _event(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        time=row.time,
        post_id=row.post_id,
        delivery_id=row.delivery_id,
        target=row.target,
        status=row.status,
        remote_id=row.remote_id,
        url=row.url,
        error=row.error,
        detail=json.loads(row.detail or "{}"),
    )


# --- SQLite connection setup ---------------------------------------------------------------------


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")
