"""What the content plan reads and writes: posts in a period, rubric statistics, and taking a free slot.

``add_post_in_slot`` chooses the slot and inserts the post in one write transaction: SQLite's
``BEGIN IMMEDIATE`` serialises writers, and on PostgreSQL a transaction-level advisory lock serialises slot
choosers (https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS), so twenty
posts dropped at once get twenty different slots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text

from publisher.models import DeliveryState, Post
from publisher.store.claims import insert_post
from publisher.store.engine import StoreBase
from publisher.store.schema import deliveries, events, posts

#: Any fixed number: the key of the advisory lock slot choosers take on PostgreSQL.
_SLOT_LOCK = 7_150_315
#: A delivery occupies its slot for this long (slots are whole minutes).
SLOT_WIDTH = timedelta(minutes=1)
_NOT_SCHEDULED = (DeliveryState.CANCELLED.value,)


@dataclass(frozen=True)
class PlannedDelivery:
    target: str
    state: str
    due_at: datetime
    url: str | None


@dataclass(frozen=True)
class PlannedPost:
    """A post as the plan shows it: its first line, rubric, author and every delivery."""

    id: int
    body: str
    rubric: str | None
    approved_by: str
    source_name: str
    deliveries: tuple[PlannedDelivery, ...]
    updated_at: datetime
    hashtags: tuple[str, ...] = ()

    @property
    def due_at(self) -> datetime:
        return min(d.due_at for d in self.deliveries)

    @property
    def title(self) -> str:
        return next((line.strip() for line in self.body.splitlines() if line.strip()), self.source_name)


@dataclass(frozen=True)
class RubricStats:
    last: datetime | None
    next: datetime | None


class PlanMixin(StoreBase):
    def add_post_in_slot(
        self, post: Post, now: datetime, candidates: Sequence[datetime], expiry: timedelta | None
    ) -> tuple[int, bool, datetime | None]:
        """Store ``post`` at the first candidate time free on every one of its targets.

        Returns ``(post_id, created, slot)``; a post already stored (same content) keeps its time. Raises
        ``LookupError`` when every candidate is taken (nothing is stored then).
        """

        def work(conn: Connection) -> tuple[int, bool, datetime | None]:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SLOT_LOCK})
            existing = conn.execute(
                select(posts.c.id, posts.c.publish_at).where(posts.c.source_key == post.source_key)
            ).one_or_none()
            if existing is not None:
                return int(existing.id), False, existing.publish_at
            slot = _first_free(conn, post.targets, candidates)
            if slot is None:
                raise LookupError("no free slot")
            expires = post.expires_at or (slot + expiry if expiry else None)
            return insert_post(conn, replace(post, publish_at=slot, expires_at=expires), now), True, slot

        return self._write(work)

    def planned_posts(self, start: datetime, end: datetime) -> list[PlannedPost]:
        """Posts with a delivery due in ``[start, end)``, cancelled deliveries left out, by time."""
        with self._read() as conn:
            ids = select(deliveries.c.post_id).where(
                deliveries.c.due_at >= start,
                deliveries.c.due_at < end,
                deliveries.c.state.not_in(_NOT_SCHEDULED),
            )
            rows = conn.execute(
                select(
                    deliveries,
                    posts.c.body,
                    posts.c.rubric,
                    posts.c.approved_by,
                    posts.c.source_name,
                    posts.c.hashtags,
                )
                .join(posts, posts.c.id == deliveries.c.post_id)
                .where(deliveries.c.post_id.in_(ids), deliveries.c.state.not_in(_NOT_SCHEDULED))
                .order_by(deliveries.c.post_id, deliveries.c.id)
            ).all()
        grouped: dict[int, list[Any]] = {}
        for row in rows:
            grouped.setdefault(row.post_id, []).append(row)
        found = []
        for post_id, group in grouped.items():
            first = group[0]
            found.append(
                PlannedPost(
                    id=post_id,
                    body=first.body,
                    rubric=first.rubric,
                    approved_by=first.approved_by,
                    source_name=first.source_name,
                    deliveries=tuple(
                        PlannedDelivery(r.target, r.state, r.due_at, r.remote_url) for r in group
                    ),
                    updated_at=max(r.updated_at for r in group),
                    hashtags=tuple(json.loads(first.hashtags)),
                )
            )
        return sorted(found, key=lambda p: (p.due_at, p.id))

    def due_horizon(
        self, start: datetime, end: datetime, count: int, *, backwards: bool = False
    ) -> datetime | None:
        """The due time of the ``count``-th scheduled delivery in ``[start, end)``, counted from ``start`` (from
        ``end`` when ``backwards``); None when there are fewer.

        It walks ``ix_deliveries_due`` for ``count`` rows at most, so the calendar can be bounded by a number of
        deliveries without counting the whole queue or the whole history.
        """
        order = deliveries.c.due_at.desc() if backwards else deliveries.c.due_at.asc()
        with self._read() as conn:
            found = conn.execute(
                select(deliveries.c.due_at)
                .where(
                    deliveries.c.due_at >= start,
                    deliveries.c.due_at < end,
                    deliveries.c.state.not_in(_NOT_SCHEDULED),
                )
                .order_by(order)
                .offset(count - 1)
                .limit(1)
            ).scalar()
        return found if isinstance(found, datetime) else None

    def rubric_stats(self, now: datetime) -> dict[str, RubricStats]:
        """Per rubric key: the last post due up to ``now`` and the next one after it (cancelled ignored)."""
        with self._read() as conn:
            base = (
                select(posts.c.rubric, func.max(deliveries.c.due_at), func.min(deliveries.c.due_at))
                .join(posts, posts.c.id == deliveries.c.post_id)
                .where(posts.c.rubric.is_not(None), deliveries.c.state.not_in(_NOT_SCHEDULED))
                .group_by(posts.c.rubric)
            )
            last = conn.execute(base.where(deliveries.c.due_at <= now)).all()
            upcoming = conn.execute(base.where(deliveries.c.due_at > now)).all()
        stats: dict[str, RubricStats] = {}
        for rubric, newest, _ in last:
            stats[rubric] = RubricStats(newest, None)
        for rubric, _, soonest in upcoming:
            stats[rubric] = RubricStats(stats[rubric].last if rubric in stats else None, soonest)
        return stats

    def change_marker(self) -> int:
        """The newest publish-log id: every change to posts and deliveries appends an event."""
        with self._read() as conn:
            return int(conn.execute(select(func.max(events.c.id))).scalar() or 0)


def _first_free(conn: Connection, targets: Sequence[str], candidates: Sequence[datetime]) -> datetime | None:
    if not candidates:
        return None
    rows = conn.execute(
        select(deliveries.c.due_at).where(
            deliveries.c.target.in_(list(targets)),
            deliveries.c.state.not_in(_NOT_SCHEDULED),
            deliveries.c.due_at >= min(candidates),
            deliveries.c.due_at < max(candidates) + SLOT_WIDTH,
        )
    ).all()
    taken = sorted(r[0] for r in rows)
    for slot in candidates:
        if not any(slot <= due < slot + SLOT_WIDTH for due in taken):
            return slot
    return None
