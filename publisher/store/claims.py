"""Claiming due deliveries in order, and ``insert_post`` (one post and its deliveries; ``posts`` decides when).

Claiming commits ``publishing`` with an attempt id and a lease before any network call. PostgreSQL claims with
``FOR UPDATE SKIP LOCKED`` so several daemons can share one queue; SQLite serialises writers with
``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from typing import Any, Unpack

from sqlalchemy import Connection, Update, bindparam, func, or_, select, update

from publisher.errors import StoreError
from publisher.models import DeliveryState, Post
from publisher.store import schema
from publisher.store.engine import EVENT_COLUMNS, StoreBase, append_event
from publisher.store.interface import ClaimOptions
from publisher.store.rawsql import dbapi_connection, sqlalchemy_errors
from publisher.store.records import (
    CLAIMABLE,
    Claim,
    delivery_from_row,
    dumps,
    media_dict,
    new_id,
    post_from_row,
)
from publisher.store.schema import deliveries, events, holds, posts

S = DeliveryState


class ClaimsMixin(StoreBase):
    def _held_targets(self, conn: Connection, now: datetime) -> list[str]:
        rows = conn.execute(select(holds.c.target).where(or_(holds.c.until.is_(None), holds.c.until > now)))
        return [r[0] for r in rows]

    def claim_due(self, now: datetime, **options: Unpack[ClaimOptions]) -> list[Claim]:
        """Claim due deliveries (oldest first) of targets that are not held or excluded."""
        worker, lease_seconds = options["worker"], options["lease_seconds"]
        limit, exclude_targets = options.get("limit", 64), options.get("exclude_targets", ())

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
            rows = conn.execute(self._locking(query, skip_locked=True)).all()
            if not rows:
                return []
            # What a claim sets, the same in the row and in the Delivery handed out (a fresh attempt).
            fresh: dict[str, Any] = {
                "attempt_started_at": now,
                "lease_until": now + timedelta(seconds=lease_seconds),
                "sending_at": None,
                "rendered_text": None,
                "sent": None,
                "updated_at": now,
            }
            changes = [
                {
                    "b_id": row.id,
                    "b_attempts": row.attempts + 1,
                    "b_attempt_id": uuid.uuid4().hex,
                }
                for row in rows
            ]
            # One executemany for the claims, one for their events, one read of their posts.
            # Fenced like every transition: only a delivery still waiting is claimed (the rows are locked
            # on PostgreSQL and the transaction is IMMEDIATE on SQLite, so a miss means a broken lock).
            shared = {
                "c_state": S.PUBLISHING.value,
                "c_claimed_by": worker,
                **{f"c_{k}": v for k, v in fresh.items()},
            }
            events_shared = {
                "time": now,
                "status": "publishing",
                "remote_id": None,
                "url": None,
                "error": None,
            }
            event_rows = [
                {
                    "post_id": row.post_id,
                    "delivery_id": row.id,
                    "target": row.target,
                    "detail": dumps(
                        {
                            "attempt": change["b_attempts"],
                            "attempt_id": change["b_attempt_id"],
                            "worker": worker,
                        }
                    ),
                }
                for row, change in zip(rows, changes, strict=True)
            ]
            if self._group is not None:  # SQLite's fast path (``rawsql``): SQLAlchemy's executemany cost
                # more than SQLite's work, converting every row's constant times again
                claim = self._compiled("claim", _claim_update, (*shared, *changes[0]))
                insert = self._compiled("event", events.insert, EVENT_COLUMNS)
                cursor = dbapi_connection(conn).cursor()
                with sqlalchemy_errors():
                    claimed = cursor.executemany(claim.sql, claim.many(shared, changes)).rowcount
                    if claimed == len(changes):
                        cursor.executemany(insert.sql, insert.many(events_shared, event_rows))
            else:
                claimed = conn.execute(_claim_update(), [{**shared, **change} for change in changes]).rowcount
                if claimed == len(changes):
                    conn.execute(events.insert(), [{**events_shared, **e} for e in event_rows])
            if claimed != len(changes):
                raise StoreError(f"claimed {claimed} of {len(changes)} deliveries: the claim was rolled back")
            post_ids = sorted({row.post_id for row in rows})
            found = {
                r.id: post_from_row(r) for r in conn.execute(select(posts).where(posts.c.id.in_(post_ids)))
            }
            claims = []
            for row, change in zip(rows, changes, strict=True):
                post = found[row.post_id]
                delivery = delivery_from_row(
                    row,
                    post.source_key,
                    state=S.PUBLISHING,
                    attempts=change["b_attempts"],
                    attempt_id=change["b_attempt_id"],
                    **fresh,
                )
                claims.append(Claim(delivery, post))
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


@functools.cache
def _claim_update() -> Update:
    """The claim of one delivery (``b_id``, ``b_attempts``, ``b_attempt_id``; the same ``c_<column>`` for
    every row of a batch), fenced on the delivery still waiting. Built once."""
    return (
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"), or_(*(deliveries.c.state == c for c in CLAIMABLE)))
        .values(
            attempts=bindparam("b_attempts"),
            attempt_id=bindparam("b_attempt_id"),
            **{
                c: bindparam(f"c_{c}", type_=deliveries.c[c].type)
                for c in (
                    "state",
                    "claimed_by",
                    "attempt_started_at",
                    "lease_until",
                    "sending_at",
                    "rendered_text",
                    "sent",
                    "updated_at",
                )
            },
        )
    )


def insert_post(conn: Connection, post: Post, now: datetime, actor: str = "") -> int:
    """Insert a post and one queued delivery (with its ``enqueued`` event) per target, in the caller's transaction."""
    post_id = new_id(
        conn,
        posts.insert().values(
            source_key=post.source_key,
            content_key=post.source_key,
            post_key=post.key,
            author=post.author or post.approved_by,
            revision=1,
            updated_at=now,
            source_name=post.source_name,
            approved_by=post.approved_by,
            body=post.body,
            rubric=post.rubric,
            hashtags=dumps(list(post.hashtags)),
            mentions=dumps(list(post.mentions)),
            media=dumps([media_dict(m) for m in post.media]),
            overrides=dumps(dict(post.overrides)),
            link=post.link,
            publish_at=post.publish_at,
            expires_at=post.expires_at,
            created_at=now,
        ),
    )
    due = post.publish_at or now
    for target in dict.fromkeys(post.targets):
        insert_delivery(conn, post, post_id, target, due, now, actor)
    return int(post_id)


def insert_delivery(
    conn: Connection, post: Post, post_id: int, target: str, due: datetime, now: datetime, actor: str = ""
) -> None:
    """One queued delivery of ``post`` to ``target`` and its ``enqueued`` event, in the caller's transaction."""
    delivery_id = new_id(
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
    detail: dict[str, object] = {
        "source": post.source_name,
        "approved_by": post.approved_by,
        "due_at": due.isoformat(),
    }
    if post.wants_slot:
        detail["slot"] = True
    if actor:
        detail["by"] = actor
    append_event(
        conn, now, "enqueued", post_id=post_id, delivery_id=delivery_id, target=target, detail=detail
    )
