"""Reading posts as editors name them: by identity or number, the ``post list`` summaries, and the checks
intake makes before accepting a file (the same content stored already, the same text sent recently).

Plain reads in one transaction each; the changes to posts (replace, withdraw, reschedule, cancel) are in
``posts``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import func, or_, select

from publisher.models import DeliveryState
from publisher.store.engine import StoreBase
from publisher.store.interface import PostFilter
from publisher.store.records import post_from_row
from publisher.store.schema import UTCDateTime, deliveries, posts


@dataclass(frozen=True)
class PostSummary:
    """One line of ``publisher post list``: the post and the state of each of its deliveries."""

    id: int
    key: str | None
    title: str
    rubric: str | None
    author: str
    approved_by: str
    due_at: datetime | None
    states: dict[str, str]
    source_name: str
    revision: int


class PostReadingMixin(StoreBase):
    def content_known(self, content_key: str, key: str | None) -> bool:
        """The post ``key`` (or a post from before ids) is stored with exactly this content already."""
        with self._read() as conn:
            query = select(posts.c.id).where(
                or_(posts.c.content_key == content_key, posts.c.source_key == content_key)
            )
            if key is not None:
                query = query.where(or_(posts.c.post_key == key, posts.c.post_key.is_(None)))
            found = conn.execute(query).first()
        return found is not None

    def same_text(
        self, body: str, targets: Collection[str], since: datetime, exclude_key: str | None
    ) -> list[tuple[str, str, datetime]]:
        """Posts other than ``exclude_key`` with this text to one of ``targets`` since ``since``, not cancelled.

        Each as ``(post id or number, target, created_at)``, oldest first.
        """
        with self._read() as conn:
            query = (
                select(posts.c.id, posts.c.post_key, posts.c.created_at, deliveries.c.target)
                .join(deliveries, deliveries.c.post_id == posts.c.id)
                .where(
                    posts.c.body == body,
                    posts.c.created_at >= since,
                    deliveries.c.target.in_(list(targets)),
                    deliveries.c.state != DeliveryState.CANCELLED.value,
                )
                .order_by(posts.c.created_at, posts.c.id)
            )
            if exclude_key is not None:
                query = query.where(or_(posts.c.post_key.is_(None), posts.c.post_key != exclude_key))
            rows = conn.execute(query).all()
        return [(r.post_key or str(r.id), r.target, r.created_at) for r in rows]

    def find_post_id(self, ref: str) -> int | None:
        """A post by its identity (``kino``) or its number (``12``)."""
        with self._read() as conn:
            found = conn.execute(select(posts.c.id).where(posts.c.post_key == ref)).scalar()
            if found is None and ref.isdigit():
                found = conn.execute(select(posts.c.id).where(posts.c.id == int(ref))).scalar()
        return int(found) if found is not None else None

    def post_summaries(self, **where: Unpack[PostFilter]) -> list[PostSummary]:
        """Posts whose earliest delivery falls due in ``[due_from, due_to)``, earliest first."""
        due_from, due_to = where.get("due_from"), where.get("due_to")
        rubric, post_ids = where.get("rubric"), where.get("post_ids")
        with self._read() as conn:
            due = func.min(deliveries.c.due_at).label("due")
            query = (
                select(posts, due).join(deliveries, deliveries.c.post_id == posts.c.id).group_by(posts.c.id)
            )
            if rubric is not None:
                query = query.where(posts.c.rubric == rubric)
            if post_ids is not None:
                query = query.where(posts.c.id.in_(list(post_ids)))
            if due_from is not None:
                query = query.having(func.min(deliveries.c.due_at) >= due_from)
            if due_to is not None:
                query = query.having(func.min(deliveries.c.due_at) < due_to)
            rows = conn.execute(query.order_by(due, posts.c.id)).all()
            states: dict[int, dict[str, str]] = {}
            if rows:
                for d in conn.execute(
                    select(deliveries.c.post_id, deliveries.c.target, deliveries.c.state)
                    .where(deliveries.c.post_id.in_([r.id for r in rows]))
                    .order_by(deliveries.c.id)
                ):
                    states.setdefault(d.post_id, {})[d.target] = d.state
        summaries = []
        for r in rows:
            post = post_from_row(r)
            summaries.append(
                PostSummary(
                    id=int(r.id),
                    key=r.post_key,
                    title=_title(post.body),
                    rubric=r.rubric,
                    author=r.author or r.approved_by,
                    approved_by=r.approved_by,
                    due_at=_utc(r.due, post.publish_at),
                    states=states.get(int(r.id), {}),
                    source_name=r.source_name,
                    revision=int(r.revision or 1),
                )
            )
        return summaries


def _title(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _utc(value: Any, fallback: datetime | None) -> datetime | None:
    if value is None:
        return fallback
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    result: datetime | None = UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]
    return result
