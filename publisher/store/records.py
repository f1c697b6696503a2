"""What the store hands out (Claim, Hold, Heartbeat) and how table rows become models and back.

Pure mapping plus the few one-row reads every part of the store needs; no transactions are opened here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, select

from publisher.models import Delivery, DeliveryState, Event, MediaInfo, MediaItem, Post, SentPost
from publisher.store.schema import deliveries, posts

S = DeliveryState
CLAIMABLE = (S.QUEUED.value, S.RETRY_WAIT.value)
#: work not yet done, in the order status lines show it
UNFINISHED = (S.QUEUED, S.RETRY_WAIT, S.PUBLISHING, S.IN_DOUBT)


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
        """Paused until an operator resumes it (not a rate-limit hold that ends by itself)."""
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


def dumps(value: Any) -> str:
    """JSON for the text columns: stable key order, Cyrillic kept readable in the database."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def new_id(conn: Connection, statement: Any) -> int:
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


# --- one-row reads inside a caller's transaction ------------------------------------------------


def load_post(conn: Connection, post_id: int) -> Post:
    return post_from_row(conn.execute(select(posts).where(posts.c.id == post_id)).one())


def source_key(conn: Connection, post_id: int) -> str:
    return str(conn.execute(select(posts.c.source_key).where(posts.c.id == post_id)).scalar())


def load_delivery(conn: Connection, delivery_id: int, key: str) -> Delivery:
    """The delivery as it stands now (after a change in this transaction); ``key`` is its post's source key."""
    return delivery_from_row(
        conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one(), key
    )


# --- row mapping ---------------------------------------------------------------------------------


def media_dict(item: MediaItem) -> dict[str, Any]:
    return {
        "name": item.name,
        "path": str(item.path),
        "sha256": item.sha256,
        "mime": item.mime,
        "size": item.size,
        **({"info": item.info.as_dict()} if item.info is not None else {}),
    }


def post_from_row(row: Row[Any]) -> Post:
    media = tuple(
        MediaItem(
            m["name"],
            Path(m["path"]),
            m["sha256"],
            m["mime"],
            int(m["size"]),
            info=MediaInfo.from_dict(m["info"]) if m.get("info") else None,
        )
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
        key=row.post_key,
        author=row.author or row.approved_by,
    )


def delivery_from_row(row: Row[Any], key: str, **changes: Any) -> Delivery:
    """The delivery of ``row``; ``changes`` (fields of ``Delivery``) replace what the row holds (a claim
    hands out the claimed delivery without building it twice)."""
    fields: dict[str, Any] = {
        "id": row.id,
        "post_id": row.post_id,
        "target": row.target,
        "state": DeliveryState(row.state),
        "attempts": row.attempts,
        "due_at": row.due_at,
        "not_before": row.next_at,
        "lease_until": row.lease_until,
        "attempt_id": row.attempt_id,
        "attempt_started_at": row.attempt_started_at,
        "remote_id": row.remote_id,
        "remote_url": row.remote_url,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "idempotency_key": f"pub-{key[:16]}-{row.id}",
        "sending_at": row.sending_at,
        "rendered_text": row.rendered_text,
        "sent": None,
    }
    fields.update(changes)
    if "sent" not in changes and row.sent:
        fields["sent"] = SentPost.from_dict(json.loads(row.sent))
    return Delivery(**fields)


def event_from_row(row: Row[Any]) -> Event:
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
