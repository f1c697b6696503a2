"""The round-table figures, computed from the store's metrics rows: pure functions, no I/O, no language.

"Posts" here are deliveries (one post on one network), because figures belong to one network's copy.
Medians and engagement are taken over the deliveries whose network gave views; every figure carries the
number of deliveries behind it, so a reader sees when it rests on too few to mean anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from publisher.models import NETWORKS
from publisher.store import MetricsRow

#: Below this many deliveries a comparison is shown but marked as resting on too few posts.
FEW = 5


def interactions(row: MetricsRow) -> int | None:
    """Likes + reposts + comments, or None when the network gave none of them."""
    s = row.snapshot
    if s is None or not s.available:
        return None
    parts = [s.likes, s.reposts, s.comments]
    return None if all(p is None for p in parts) else sum(p or 0 for p in parts)


def views(row: MetricsRow) -> int | None:
    s = row.snapshot
    return s.views if s is not None and s.available else None


def engagement(row: MetricsRow) -> float | None:
    """(likes + reposts + comments) / views for one delivery, where views exist."""
    v, i = views(row), interactions(row)
    return None if not v or i is None else i / v


@dataclass(frozen=True)
class Group:
    """Figures of the deliveries that share a network, rubric, author or mention."""

    key: str
    posts: int
    with_views: int
    total_views: int
    median_views: float | None
    interactions: int
    engagement: float | None

    @property
    def few(self) -> bool:
        return self.with_views < FEW


def group_of(key: str, rows: Sequence[MetricsRow]) -> Group:
    seen = [(v, interactions(r)) for r in rows if (v := views(r)) is not None]
    total = sum(v for v, _ in seen)
    engaged = sum(i or 0 for _, i in seen)
    return Group(
        key=key,
        posts=len(rows),
        with_views=len(seen),
        total_views=total,
        median_views=statistics.median(v for v, _ in seen) if seen else None,
        interactions=sum(i for r in rows if (i := interactions(r)) is not None),
        engagement=engaged / total if total else None,
    )


def grouped(rows: Iterable[MetricsRow], key: Callable[[MetricsRow], str | None]) -> list[Group]:
    """One ``Group`` per key (rows whose key is None are left out), most viewed first, then by name."""
    buckets: dict[str, list[MetricsRow]] = {}
    for r in rows:
        k = key(r)
        if k is not None:
            buckets.setdefault(k, []).append(r)
    groups = [group_of(k, members) for k, members in buckets.items()]
    return sorted(groups, key=lambda g: (-g.total_views, -g.posts, g.key))


@dataclass(frozen=True)
class NetworkTotals:
    """One network this month against the month before."""

    network: str
    now: Group
    before: Group

    @property
    def views_change(self) -> float | None:
        if not self.before.total_views or not self.now.with_views:
            return None
        return self.now.total_views / self.before.total_views - 1

    @property
    def interactions_change(self) -> float | None:
        if not self.before.interactions:
            return None
        return self.now.interactions / self.before.interactions - 1


def network_totals(rows: Sequence[MetricsRow], previous: Sequence[MetricsRow]) -> list[NetworkTotals]:
    present = {r.network for r in rows} | {r.network for r in previous}
    ordered = [n for n in NETWORKS if n in present] + sorted(present - set(NETWORKS))
    return [
        NetworkTotals(
            n,
            group_of(n, [r for r in rows if r.network == n]),
            group_of(n, [r for r in previous if r.network == n]),
        )
        for n in ordered
    ]


@dataclass(frozen=True)
class MentionEffect:
    """Median views of deliveries that mention an entity vs those of the same network and rubric that don't."""

    entity: str
    posts: int  # deliveries with the mention, with or without views
    with_views: int
    median_with: float | None
    without_views: int
    median_without: float | None

    @property
    def ratio(self) -> float | None:
        if self.median_with is None or not self.median_without:
            return None
        return self.median_with / self.median_without

    @property
    def few(self) -> bool:
        return min(self.with_views, self.without_views) < FEW


def mention_effects(rows: Sequence[MetricsRow]) -> list[MentionEffect]:
    """The team's hypothesis, one entity at a time, compared within the same (network, rubric) pairs."""
    entities = sorted({m for r in rows for m in r.facts.mentions})
    effects = []
    for entity in entities:
        mentioning = [r for r in rows if entity in r.facts.mentions]
        pairs = {(r.network, r.facts.rubric) for r in mentioning}
        with_v = [v for r in mentioning if (v := views(r)) is not None]
        without_v = [
            v
            for r in rows
            if entity not in r.facts.mentions
            and (r.network, r.facts.rubric) in pairs
            and (v := views(r)) is not None
        ]
        effects.append(
            MentionEffect(
                entity,
                len(mentioning),
                len(with_v),
                statistics.median(with_v) if with_v else None,
                len(without_v),
                statistics.median(without_v) if without_v else None,
            )
        )
    return sorted(effects, key=lambda e: (-(e.ratio or 0), e.entity))


def top_and_bottom(rows: Sequence[MetricsRow], n: int = 10) -> tuple[list[MetricsRow], list[MetricsRow]]:
    """The ``n`` most and least viewed deliveries (ties by publication order)."""
    seen = [r for r in rows if views(r) is not None]
    by_views = sorted(seen, key=lambda r: (-(views(r) or 0), r.published_at, r.delivery_id))
    bottom = sorted(seen, key=lambda r: (views(r) or 0, r.published_at, r.delivery_id))
    return by_views[:n], bottom[:n]


@dataclass(frozen=True)
class Missing:
    """A delivery whose figures are missing, all or in part, and why (a code and the network's words)."""

    row: MetricsRow
    why: str  # "dry_run", "not_collected", "unavailable", "partial"
    detail: str


def missing(rows: Iterable[MetricsRow]) -> list[Missing]:
    found = []
    for r in rows:
        s = r.snapshot
        if r.dry_run:
            found.append(Missing(r, "dry_run", ""))
        elif s is None:
            found.append(Missing(r, "not_collected", ""))
        elif not s.available:
            found.append(Missing(r, "unavailable", s.reason))
        elif s.views is None or s.reason:
            found.append(Missing(r, "partial", s.reason))
    return found


@dataclass(frozen=True)
class MonthFigures:
    """Everything the report shows, in the order it shows it."""

    rows: list[MetricsRow]
    networks: list[NetworkTotals]
    rubrics: list[Group]
    authors: list[Group]
    mentions: list[MentionEffect]
    top: list[MetricsRow]
    bottom: list[MetricsRow]
    missing: list[Missing]


def month_figures(rows: Sequence[MetricsRow], previous: Sequence[MetricsRow]) -> MonthFigures:
    real = [r for r in rows if not r.dry_run]
    top, bottom = top_and_bottom(real)
    return MonthFigures(
        rows=list(rows),
        networks=network_totals(real, [r for r in previous if not r.dry_run]),
        rubrics=grouped(real, lambda r: r.facts.rubric),
        authors=grouped(real, lambda r: r.facts.author),
        mentions=mention_effects(real),
        top=top,
        bottom=bottom,
        missing=missing(rows),
    )
