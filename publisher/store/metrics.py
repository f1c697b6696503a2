"""Metrics snapshots (append-only) and the reads that the metrics job, ``publisher metrics`` and the report need.

A snapshot is never updated or deleted: the newest row per delivery (highest id) is the current figure and
the older rows are the history. When a delivery was published is read from the publish log (the newest
``published`` event of the delivery), so recording a publish stays one place in the store.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Connection, Row, Select, func, select

from publisher.models import FIGURES, DeliveryState, Snapshot, network_of
from publisher.ops.redact import scrub
from publisher.store.engine import StoreBase
from publisher.store.interface import MetricsFilter
from publisher.store.records import CLAIMABLE
from publisher.store.schema import deliveries, events, posts, snapshots

#: How much of a network's answer a snapshot keeps.
RAW_LIMIT = 2000


@dataclass(frozen=True)
class PostFacts:
    """What reports group posts by: title (the first line), rubric, author and mentioned entities."""

    title: str
    rubric: str | None
    author: str
    mentions: tuple[str, ...]


@dataclass(frozen=True)
class MetricsRow:
    """One published delivery with its post's facts and its newest snapshot (None: none taken yet)."""

    delivery_id: int
    post_id: int
    target: str
    facts: PostFacts
    remote_id: str | None
    url: str | None
    published_at: datetime
    snapshot: Snapshot | None
    snapshot_count: int

    @property
    def network(self) -> str:
        return network_of(self.target)

    @property
    def dry_run(self) -> bool:
        return (self.remote_id or "").startswith("dry-run:")


def title_of(body: str, width: int = 80) -> str:
    """The post's first non-empty line, without Markdown heading marks, cut to ``width``."""
    for line in body.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def _facts(row: Row[Any]) -> PostFacts:
    # ``author`` is an optional post field (defaults to the approver); older databases have no column.
    author = getattr(row, "author", None) or row.approved_by
    return PostFacts(title_of(row.body), row.rubric, author, tuple(json.loads(row.mentions or "[]")))


def _post_columns() -> list[Any]:
    columns = [posts.c.id, posts.c.body, posts.c.rubric, posts.c.approved_by, posts.c.mentions]
    if "author" in posts.c:
        columns.append(posts.c.author)
    return columns


def _snapshot(row: Row[Any], remote_id: str) -> Snapshot:
    return Snapshot(
        remote_id=remote_id,
        taken_at=row.s_taken_at,
        **{name: getattr(row, "s_" + name) for name in FIGURES},
        available=bool(row.s_available),
        reason=row.s_reason or "",
        raw=row.s_raw or "",
    )


class MetricsMixin(StoreBase):
    def record_snapshots(self, taken: Sequence[tuple[int, Snapshot]]) -> int:
        """Append one snapshot row per ``(delivery_id, snapshot)`` in one transaction; return how many."""
        if not taken:
            return 0
        rows = [
            {
                "delivery_id": delivery_id,
                "taken_at": s.taken_at,
                **s.figures(),
                "available": s.available,
                "reason": scrub(s.reason),
                "raw": scrub(s.raw)[:RAW_LIMIT],
            }
            for delivery_id, s in taken
        ]

        def work(conn: Connection) -> int:
            conn.execute(snapshots.insert(), rows)
            return len(rows)

        return self._write(work)

    def snapshot_history(self, delivery_id: int) -> list[Snapshot]:
        """Every snapshot of a delivery, oldest first."""
        with self._read() as conn:
            remote = conn.execute(
                select(deliveries.c.remote_id).where(deliveries.c.id == delivery_id)
            ).scalar()
            rows = conn.execute(
                select(*_snapshot_columns(snapshots))
                .where(snapshots.c.delivery_id == delivery_id)
                .order_by(snapshots.c.id)
            ).all()
        return [_snapshot(r, remote or "") for r in rows]

    def metrics_rows(self, **where: Unpack[MetricsFilter]) -> list[MetricsRow]:
        """Published deliveries (published in ``[published_from, published_to)``) with their newest snapshot."""
        published_from, published_to = where.get("published_from"), where.get("published_to")
        target, post_id, delivery_ids = where.get("target"), where.get("post_id"), where.get("delivery_ids")
        with self._read() as conn:
            query = _metrics_query(published_from, published_to)
            if target is not None:
                query = query.where(deliveries.c.target == target)
            if post_id is not None:
                query = query.where(deliveries.c.post_id == post_id)
            if delivery_ids is not None:
                query = query.where(deliveries.c.id.in_(list(delivery_ids)))
            rows = conn.execute(query).all()
        return [
            MetricsRow(
                delivery_id=r.id,
                post_id=r.post_id,
                target=r.target,
                facts=_facts(r),
                remote_id=r.remote_id,
                url=r.remote_url,
                published_at=r.published_at,
                snapshot=_snapshot(r, r.remote_id or "") if r.s_taken_at is not None else None,
                snapshot_count=int(r.snapshot_count or 0),
            )
            for r in rows
        ]

    def due_targets(self, now: datetime) -> set[str]:
        """Targets with deliveries waiting to be published now: their metrics wait (publishing first)."""
        with self._read() as conn:
            rows = conn.execute(
                select(deliveries.c.target)
                .where(deliveries.c.state.in_(CLAIMABLE), deliveries.c.next_at <= now)
                .distinct()
            ).all()
        return {r.target for r in rows}

    def post_facts(self, post_ids: Collection[int]) -> dict[int, PostFacts]:
        """Title, rubric, author and mentions of the given posts (for ``log --json``)."""
        if not post_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(select(*_post_columns()).where(posts.c.id.in_(list(post_ids)))).all()
        return {r.id: _facts(r) for r in rows}


def _snapshot_columns(table: Any) -> list[Any]:
    names = ("taken_at", *FIGURES, "available", "reason", "raw")
    return [table.c[name].label("s_" + name) for name in names]


#: The events that make a delivery published: the dispatcher's or reconciliation's, and the operator's
#: ``resolve --published-as`` (its "resolved" of a delivery left cancelled is dropped by the state filter).
PUBLISHED_EVENTS = ("published", "resolved")


def _metrics_query(published_from: datetime | None, published_to: datetime | None) -> Select[Any]:
    recent = [events.c.time >= published_from] if published_from is not None else []
    # The lower bound goes inside the grouping: the latest "published" event is at or after it exactly when some
    # such event is, and ix_events_time then reads only recent history (the daemon's round must not grow with
    # months of published posts). Grouped by ``delivery_id + 0``, not the column: otherwise SQLite's planner
    # walks ix_events_delivery (the whole log, to have the groups in order) and the bound saves nothing. The
    # join below drops events without a delivery.
    delivery = (events.c.delivery_id + 0).label("d")
    published = (
        select(delivery, func.max(events.c.time).label("published_at"))
        .where(events.c.status.in_(PUBLISHED_EVENTS), *recent)
        .group_by(delivery)
        .subquery()
    )
    # The newest snapshot of those deliveries only (through ix_snapshots_delivery): grouping the whole table,
    # which gains rows every round forever, made each round cost more than the last.
    newest = (
        select(
            snapshots.c.delivery_id.label("d"),
            func.max(snapshots.c.id).label("sid"),
            func.count().label("snapshot_count"),
        )
        .join(published, published.c.d == snapshots.c.delivery_id)
        .group_by(snapshots.c.delivery_id)
        .subquery()
    )
    post_columns = [c for c in _post_columns() if c.name != "id"]
    query = (
        select(
            deliveries.c.id,
            deliveries.c.post_id,
            deliveries.c.target,
            deliveries.c.remote_id,
            deliveries.c.remote_url,
            published.c.published_at,
            newest.c.snapshot_count,
            *post_columns,
            *_snapshot_columns(snapshots),
        )
        .join(published, published.c.d == deliveries.c.id)
        .join(posts, posts.c.id == deliveries.c.post_id)
        .outerjoin(newest, newest.c.d == deliveries.c.id)
        .outerjoin(snapshots, snapshots.c.id == newest.c.sid)
        .where(deliveries.c.state == DeliveryState.PUBLISHED.value)
        .order_by(published.c.published_at, deliveries.c.id)
    )
    if published_from is not None:
        query = query.where(published.c.published_at >= published_from)
    if published_to is not None:
        query = query.where(published.c.published_at < published_to)
    return query
