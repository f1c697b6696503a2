"""``Adapter.reconcile``'s search: the account's recent posts, back to the in-doubt attempt, for its text.

Pages back through ``recent_posts`` until a post older than the attempt (less ``CLOCK_SKEW``): the search is
bounded by that time window, not by a count (``MAX_LOOKUP_POSTS`` is only a safety valve for an API that
never stops paging). Of several matches the oldest wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from publisher.adapters.answers import as_utc
from publisher.errors import PublishError
from publisher.models import ReconcileResult, ReconcileStatus, RemoteRef, SentPost

if TYPE_CHECKING:
    from publisher.adapters.base import Adapter, RemotePost

#: How far before the attempt a post found by ``reconcile`` may have been created (clocks differ).
CLOCK_SKEW = timedelta(minutes=2)
#: A safety valve for ``reconcile``: an API that never stops paging ends the search as "unknown".
MAX_LOOKUP_POSTS = 5000


def reconcile(adapter: Adapter, sent: SentPost, attempt_started_at: datetime) -> ReconcileResult:
    """FOUND (the oldest post with the sent text since the attempt), ABSENT, or UNKNOWN with the reason."""
    if not adapter.can_look_up:
        return ReconcileResult(ReconcileStatus.UNKNOWN, detail=adapter.cannot_look_up())
    since = as_utc(attempt_started_at) - CLOCK_SKEW
    wanted = {adapter.comparable(text) for text in adapter.texts_as_posted(sent)}
    matches: list[RemotePost] = []
    seen = 0
    try:
        with adapter.transport(unsafe=False):
            for post in adapter.recent_posts(since):
                seen += 1
                if seen > MAX_LOOKUP_POSTS:
                    detail = f"looked through {MAX_LOOKUP_POSTS} posts without reaching the attempt's start"
                    return ReconcileResult(ReconcileStatus.UNKNOWN, detail=detail)
                if post.created_at is not None and post.created_at < since:
                    if post.pinned:
                        continue
                    break
                if adapter.comparable(post.text) in wanted:
                    matches.append(post)
    except PublishError as exc:
        detail = f"{adapter.profile.title} lookup failed: {exc}"
        return ReconcileResult(ReconcileStatus.UNKNOWN, detail=detail)
    if not matches:
        return ReconcileResult(
            ReconcileStatus.ABSENT,
            detail=f"no post with this text since {since:%Y-%m-%d %H:%M:%S}Z ({seen} looked at)",
        )
    oldest = min(matches, key=lambda p: p.created_at or datetime.max.replace(tzinfo=UTC))
    return ReconcileResult(
        ReconcileStatus.FOUND, RemoteRef(oldest.id, adapter.post_url(oldest.id)), detail="found by its text"
    )
