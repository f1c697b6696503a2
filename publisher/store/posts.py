"""Posts as editors know them: an identity (``id:`` in the file, else the file name), replaced by dropping the
file again, withdrawn, rescheduled or cancelled as a whole.

Each operation is one write transaction that reads the post's deliveries (``FOR UPDATE`` on PostgreSQL, so a
concurrent claim either finished before and is seen as ``publishing``, or waits and then skips), changes only
deliveries in the states the operation was decided on (the ``WHERE state IN`` of every update is the fence),
and appends an event per change with who did it and what changed: the publish log tells the whole story.

A delivery that may already be on the network (``publishing``, ``in_doubt``) or is published is never touched
here: the outcome lists it as *kept* so the receipt can say so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from publisher.errors import StoreError
from publisher.models import DeliveryState, Post
from publisher.store.claims import insert_delivery, insert_post
from publisher.store.engine import StoreBase, append_event
from publisher.store.records import dumps, media_dict
from publisher.store.schema import deliveries, posts

S = DeliveryState
#: Not yet sent, and nothing in flight: a replacement or a withdrawal may change these.
UNSENT = (S.QUEUED.value, S.RETRY_WAIT.value, S.FAILED.value, S.CANCELLED.value)
#: Waiting to be sent: rescheduling moves these.
WAITING = (S.QUEUED.value, S.RETRY_WAIT.value)
#: May be on the network already, or is: left alone.
SENT_OR_IN_FLIGHT = (S.PUBLISHED.value, S.PUBLISHING.value, S.IN_DOUBT.value)

# The post fields a replacement compares and copies (the column name and how the model gives it).
_CONTENT = (
    "body",
    "rubric",
    "hashtags",
    "mentions",
    "media",
    "overrides",
    "link",
    "publish_at",
    "expires_at",
)


@dataclass(frozen=True)
class PostOutcome:
    """What one post-level operation did, for the receipt, the chat and the command's output.

    ``outcome``: ``created``, ``unchanged``, ``replaced``, ``withdrawn``, ``rescheduled``, ``cancelled``, or
    ``published_everywhere`` (a replacement refused: every delivery is out already).
    ``changed`` names the fields that differ from the stored revision; ``kept`` maps a target to the state
    that kept its delivery out of the change; ``due_before`` is the due time the waiting deliveries had.
    """

    post_id: int
    key: str | None
    outcome: str
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    requeued: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    kept: dict[str, str] = field(default_factory=dict)
    due_before: datetime | None = None
    due_at: datetime | None = None


def _post_values(post: Post) -> dict[str, Any]:
    return {
        "body": post.body,
        "rubric": post.rubric,
        "hashtags": dumps(list(post.hashtags)),
        "mentions": dumps(list(post.mentions)),
        "media": dumps([media_dict(m) for m in post.media]),
        "overrides": dumps(dict(post.overrides)),
        "link": post.link,
        "publish_at": post.publish_at,
        "expires_at": post.expires_at,
    }


def _changed_fields(
    row: Row[Any], new: dict[str, Any], targets: Collection[str], old_targets: list[str]
) -> list[str]:
    changed = [name for name in _CONTENT if getattr(row, name) != new[name]]
    if set(targets) != set(old_targets):
        changed.append("networks")
    return changed


class PostsMixin(StoreBase):
    def add_post(self, post: Post, now: datetime) -> tuple[int, bool]:
        """Store a post and one delivery per target; idempotent on ``post.source_key``.

        Returns ``(post_id, created)``; a second add of the same content returns the first post's id. A post
        with an identity (``post.key``) replaces the waiting post of that identity: see ``submit_post``.
        """
        outcome = self.submit_post(post, now)
        return outcome.post_id, outcome.outcome == "created"

    def submit_post(self, post: Post, now: datetime, *, actor: str = "") -> PostOutcome:
        """Store a post, or replace the waiting post with the same identity; idempotent on its content.

        The same content again (same key, or a file stored before identities existed) changes nothing.
        A post whose every delivery is published is not replaced (``published_everywhere``).
        """

        def work(conn: Connection) -> PostOutcome:
            row = self._find_for_update(conn, post)
            if row is None:
                return self._create(conn, post, now, actor)
            if row.content_key == post.source_key or (
                row.post_key is None and row.source_key == post.source_key
            ):
                return PostOutcome(int(row.id), row.post_key, "unchanged")
            return self._replace(conn, row, post, now, actor)

        try:
            return self._write(work)
        except IntegrityError:
            # Another process stored the same file (or identity) between our look-up and insert: now we see it.
            return self._write(work)

    def _find_for_update(self, conn: Connection, post: Post) -> Row[Any] | None:
        condition = posts.c.source_key == post.source_key
        if post.key:  # the same content under another id is another post; legacy posts have no id
            condition = or_(posts.c.post_key == post.key, and_(condition, posts.c.post_key.is_(None)))
        query = select(posts).where(condition).order_by(posts.c.post_key.is_(None), posts.c.id)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        rows = conn.execute(query).all()
        keyed = [r for r in rows if post.key and r.post_key == post.key]
        return keyed[0] if keyed else (rows[0] if rows else None)

    def _lock_deliveries(self, conn: Connection, post_id: int) -> list[Row[Any]]:
        query = select(deliveries).where(deliveries.c.post_id == post_id).order_by(deliveries.c.id)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        return list(conn.execute(query).all())

    def _create(self, conn: Connection, post: Post, now: datetime, actor: str) -> PostOutcome:
        taken = conn.execute(select(posts.c.id).where(posts.c.source_key == post.source_key)).first()
        if taken is not None and post.key:
            # The same bytes under a new id (a repeat the editor allowed): a source key of its own.
            unique = hashlib.sha256(f"{post.source_key}\0{post.key}".encode()).hexdigest()
            post = replace(post, source_key=unique)
        post_id = insert_post(conn, post, now, actor)
        targets = tuple(dict.fromkeys(post.targets))
        return PostOutcome(post_id, post.key, "created", added=targets, due_at=post.publish_at or now)

    def _replace(self, conn: Connection, row: Row[Any], post: Post, now: datetime, actor: str) -> PostOutcome:
        current = self._lock_deliveries(conn, row.id)
        by_target = {d.target: d.state for d in current}
        if all(by_target.get(t) in SENT_OR_IN_FLIGHT for t in post.targets):
            # Nothing of the new file would go out: every network it names has the post already.
            return PostOutcome(int(row.id), row.post_key, "published_everywhere")
        values = _post_values(post)
        targets = list(dict.fromkeys(post.targets))
        changed = _changed_fields(row, values, targets, [d.target for d in current])
        due = post.publish_at or now
        waiting = [d for d in current if d.state in WAITING]
        before = min((d.due_at for d in waiting), default=None)
        conn.execute(
            update(posts)
            .where(posts.c.id == row.id)
            .values(
                content_key=post.source_key,
                source_name=post.source_name,
                approved_by=post.approved_by,
                author=post.author or post.approved_by,
                revision=row.revision + 1,
                updated_at=now,
                **values,
            )
        )
        who = actor or post.approved_by
        detail: dict[str, Any] = {
            "by": who,
            "source": post.source_name,
            "changed": changed,
            "revision": row.revision + 1,
        }
        added, cancelled, requeued, moved, kept = [], [], [], [], {}
        for d in current:
            if d.state in SENT_OR_IN_FLIGHT:
                kept[d.target] = d.state
            elif d.target not in targets:
                if d.state != S.CANCELLED.value and self._change_if(
                    conn, d, now, UNSENT, state=S.CANCELLED.value, next_at=None
                ):
                    cancelled.append(d.target)
                    self._event(conn, d, now, "cancelled", {**detail, "reason": "removed from networks"})
            else:
                values_d: dict[str, Any] = {"due_at": due, "next_at": due, "expires_at": post.expires_at}
                if d.state in (S.FAILED.value, S.CANCELLED.value):
                    values_d.update(state=S.QUEUED.value, attempts=0, attempt_id=None, last_error=None)
                    requeued.append(d.target)
                elif d.state == S.RETRY_WAIT.value and d.next_at is not None and d.next_at > due:
                    values_d["next_at"] = d.next_at  # a network asked us to wait: keep waiting
                if self._change_if(conn, d, now, (d.state,), **values_d):
                    moved.append(d.target)
                    self._event(conn, d, now, "replaced", {**detail, "due_at": due.isoformat()})
        for target in targets:
            if target not in {d.target for d in current}:
                insert_delivery(conn, post, row.id, target, due, now, who)
                added.append(target)
        return PostOutcome(
            int(row.id),
            row.post_key,
            "replaced",
            changed=tuple(changed),
            added=tuple(added),
            cancelled=tuple(cancelled),
            requeued=tuple(requeued),
            moved=tuple(moved),
            kept=kept,
            due_before=before,
            due_at=due,
        )

    def _change_if(
        self, conn: Connection, d: Row[Any], now: datetime, allowed: Collection[str], **values: Any
    ) -> bool:
        """Update one delivery only if it is still in one of ``allowed``; True when it was."""
        result = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == d.id, deliveries.c.state.in_(list(allowed)))
            .values(**values, updated_at=now)
        )
        return bool(result.rowcount)

    @staticmethod
    def _event(conn: Connection, d: Row[Any], now: datetime, status: str, detail: dict[str, Any]) -> None:
        append_event(conn, now, status, post_id=d.post_id, delivery_id=d.id, target=d.target, detail=detail)

    # --- the whole post at once -------------------------------------------------------------------

    def withdraw_post(self, key: str, now: datetime, *, actor: str, source: str = "") -> PostOutcome | None:
        """Cancel what is not yet sent of the post with identity ``key``; None when there is no such post."""

        def work(conn: Connection) -> PostOutcome | None:
            row = conn.execute(select(posts).where(posts.c.post_key == key)).one_or_none()
            if row is None:
                return None
            return self._cancel_all(
                conn, row, now, {"by": actor, "source": source, "reason": "withdrawn"}, "withdrawn"
            )

        return self._write(work)

    def cancel_post(self, post_id: int, now: datetime, *, actor: str) -> PostOutcome:
        """The operator's ``post cancel``: every delivery not yet sent is cancelled."""

        def work(conn: Connection) -> PostOutcome:
            row = self._post_row(conn, post_id)
            return self._cancel_all(conn, row, now, {"by": actor, "reason": "post cancelled"}, "cancelled")

        return self._write(work)

    def _cancel_all(
        self, conn: Connection, row: Row[Any], now: datetime, detail: dict[str, Any], outcome: str
    ) -> PostOutcome:
        cancelled, kept = [], {}
        for d in self._lock_deliveries(conn, row.id):
            if d.state in SENT_OR_IN_FLIGHT:
                kept[d.target] = d.state
            elif d.state != S.CANCELLED.value and self._change_if(
                conn,
                d,
                now,
                (S.QUEUED.value, S.RETRY_WAIT.value, S.FAILED.value),
                state=S.CANCELLED.value,
                next_at=None,
            ):
                cancelled.append(d.target)
                self._event(conn, d, now, "cancelled", detail)
        return PostOutcome(int(row.id), row.post_key, outcome, cancelled=tuple(cancelled), kept=kept)

    def reschedule_post(self, post_id: int, when: datetime, now: datetime, *, actor: str) -> PostOutcome:
        """Move every waiting delivery of the post to ``when`` (the post's publish time changes with them)."""

        def work(conn: Connection) -> PostOutcome:
            row = self._post_row(conn, post_id)
            current = self._lock_deliveries(conn, row.id)
            before = min((d.due_at for d in current if d.state in WAITING), default=None)
            conn.execute(update(posts).where(posts.c.id == row.id).values(publish_at=when, updated_at=now))
            moved, kept = [], {}
            for d in current:
                if d.state not in WAITING:
                    kept[d.target] = d.state
                elif self._change_if(conn, d, now, (d.state,), due_at=when, next_at=when):
                    moved.append(d.target)
                    detail = {"by": actor, "due_at": when.isoformat(), "due_before": d.due_at.isoformat()}
                    self._event(conn, d, now, "rescheduled", detail)
            return PostOutcome(
                int(row.id),
                row.post_key,
                "rescheduled",
                moved=tuple(moved),
                kept=kept,
                due_before=before,
                due_at=when,
            )

        return self._write(work)

    def _post_row(self, conn: Connection, post_id: int) -> Row[Any]:
        query = select(posts).where(posts.c.id == post_id)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise StoreError(f"post {post_id} does not exist: see 'publisher post list' for ids")
        return row
