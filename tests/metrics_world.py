"""A store full of published deliveries with metrics snapshots, for the report and metrics tests and the bench.

Everything goes through the store's public operations (add a post, claim, record the publish, record
snapshots), so what the report reads is what the daemon would have written. The builder remembers what it
wrote (``World.served``) so tests can check the report against figures computed independently.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from publisher.models import Post, PublishResult, Snapshot, network_of
from publisher.store import Store

TARGETS = ("vk", "x", "facebook", "telegram")
RUBRICS = ("древняядичь", "бюроизобретений", "чтотознакомое", "тынепохожанабиблиотекаря", "киноклуб")
ENTITIES = ("fitr", "bntu", "fmmp", "brsm", "atf", "library")
AUTHORS = ("Анна Ким", "Борис Лис", "Вера Ток")
TELEGRAM_REASON = "not available from the Bot API"
FACEBOOK_REASON = "views: post insights need the read_insights permission"


@dataclass
class World:
    """What the builder published and served: delivery id -> (post, target, newest snapshot or None)."""

    served: dict[int, tuple[Post, str, Snapshot | None]] = field(default_factory=dict)
    published_at: dict[int, datetime] = field(default_factory=dict)
    urls: dict[int, str] = field(default_factory=dict)


def snapshot_for(target: str, remote_id: str, taken_at: datetime, rng: random.Random, boost: int) -> Snapshot:
    """Figures shaped like each network's answer: Telegram gives none, Facebook no views without insights."""
    network = network_of(target)
    if network == "telegram":
        return Snapshot(remote_id, taken_at, available=False, reason=TELEGRAM_REASON)
    views = rng.randrange(50, 2000) + boost
    likes, reposts, comments = rng.randrange(0, 90), rng.randrange(0, 20), rng.randrange(0, 15)
    if network == "facebook":
        return Snapshot(
            remote_id, taken_at, likes=likes, reposts=reposts, comments=comments, reason=FACEBOOK_REASON
        )
    if network == "x":
        return Snapshot(
            remote_id,
            taken_at,
            views=views,
            likes=likes,
            reposts=reposts,
            comments=comments,
            impressions=views,
        )
    return Snapshot(remote_id, taken_at, views=views, likes=likes, reposts=reposts, comments=comments)


def build(
    store: Store,
    world: World,
    start: datetime,
    posts: int,
    *,
    seed: int = 7,
    missing_every: int = 0,
    history: int = 2,
    key: str = "m",
) -> World:
    """Publish ``posts`` posts to all four networks, one every 11 hours from ``start``, with snapshots.

    Each post has a rubric, an author and zero to two mentions (cycled so every entity appears with and
    without); every ``missing_every``-th delivery gets no snapshot. ``history`` snapshots per delivery, the
    last one newest (the report must use it).
    """
    rng = random.Random(seed)
    for i in range(posts):
        at = start + timedelta(hours=11 * i)
        mentions = tuple(ENTITIES[(i + k) % len(ENTITIES)] for k in range(i % 3))
        post = Post(
            source_name=f"{key}{i}.md",
            source_key=f"{key}-{seed}-{i:06d}".ljust(64, "0"),
            targets=TARGETS,
            approved_by=AUTHORS[i % len(AUTHORS)],
            body=f"Пост номер {i}\nТекст о выставке",
            publish_at=at,
            rubric=RUBRICS[i % len(RUBRICS)],
            mentions=mentions,
        )
        post_id, _ = store.add_post(post, at - timedelta(hours=1))
        stored = store.get_post(post_id)
        assert stored is not None
        taken: list[tuple[int, Snapshot]] = []
        for claim in store.claim_due(at, worker="world", lease_seconds=60):
            d = claim.delivery
            remote_id, url = f"{d.target}-{d.id}", f"https://example.org/{d.target}/{d.id}"
            result = PublishResult(remote_id, url, at)
            assert store.record_published(d.id, d.attempt_id or "", result, at, {})
            world.published_at[d.id], world.urls[d.id] = at, url
            newest: Snapshot | None = None
            if not (missing_every and d.id % missing_every == 0):
                for step in range(history):
                    newest = snapshot_for(
                        d.target, remote_id, at + timedelta(hours=1 + 24 * step), rng, 300 * len(mentions)
                    )
                    taken.append((d.id, newest))
            world.served[d.id] = (stored, d.target, newest)
        store.record_snapshots(taken)
    return world


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, 9, 0, tzinfo=UTC)
