"""Plain data passed along the flow: inbox -> store -> scheduler -> composer -> adapter -> store/log.

Everything here is immutable and free of I/O so each stage can be tested on its own.
Times are timezone-aware UTC; conversion to the configured zone happens only at the edges.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from publisher.adapters import ADAPTERS

if TYPE_CHECKING:
    from publisher.compose.notices import Notice

#: The networks the service knows, in display order: the adapters table's. A *target* is a network's
#: default account (``"vk"``) or a named extra account of it (``"vk:bntu"``).
NETWORKS: tuple[str, ...] = tuple(ADAPTERS)


def network_of(target: str) -> str:
    """``"vk:bntu"`` -> ``"vk"``; ``"telegram"`` -> ``"telegram"``."""
    return target.split(":", 1)[0]


class DeliveryState(StrEnum):
    """Where one post's delivery to one target stands. See docs/operations.md."""

    QUEUED = "queued"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (DeliveryState.PUBLISHED, DeliveryState.FAILED, DeliveryState.CANCELLED)


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds, read from the file itself at acceptance (``publisher.intake.probe``).

    ``kind`` is ``"image"`` or ``"video"``; ``container`` is ``"mp4"``, ``"mov"``, ``"gif"``, ``"jpeg"``,
    ``"png"`` or ``"webp"``; ``duration`` is in seconds (videos only); ``animated`` is True for a GIF of more
    than one frame (X takes it as ``tweet_gif``, not as a still image). Unknown figures are None.
    """

    kind: str
    container: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    animated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # plain values only: kept as JSON with the post

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MediaInfo:
        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        duration = data.get("duration")
        return cls(
            kind=str(data["kind"]),
            container=str(data["container"]),
            duration=float(duration) if duration is not None else None,
            width=number("width"),
            height=number("height"),
            animated=bool(data.get("animated")),
        )


@dataclass(frozen=True)
class MediaItem:
    """One image or video attached to a post, known by its content hash.

    ``path`` is the file at acceptance, then the stored copy's name (see ``publisher.store.media``);
    ``content`` is filled by the dispatcher from the media storage just before publishing. ``info`` is what
    the file holds (duration, size in pixels, animated), read at acceptance and kept with the post.
    """

    name: str
    path: Path
    sha256: str
    mime: str
    size: int
    content: bytes | None = field(default=None, repr=False, compare=False)
    info: MediaInfo | None = field(default=None, compare=False)

    def open(self) -> IO[bytes]:
        """The bytes to upload: the loaded content, else the file at ``path`` (OSError if unreadable)."""
        if self.content is not None:
            return io.BytesIO(self.content)
        return self.path.open("rb")

    def read(self) -> bytes:
        with self.open() as handle:
            return handle.read()

    @property
    def is_image(self) -> bool:
        """A still or animated picture (an animated GIF is an image that X takes as ``tweet_gif``)."""
        return self.mime.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.mime.startswith("video/")

    @property
    def is_animated(self) -> bool:
        return self.info is not None and self.info.animated


@dataclass(frozen=True)
class Post:
    """An approved post as editors wrote it, before any per-network rendering.

    ``source_key`` is a content hash of the post file and its media: the same file dropped twice
    (or re-ingested after a crash between storing and moving it) is the same post.
    """

    source_name: str
    source_key: str
    targets: tuple[str, ...]
    approved_by: str
    body: str
    publish_at: datetime | None = None
    expires_at: datetime | None = None
    rubric: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    media: tuple[MediaItem, ...] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)
    link: str | None = None
    id: int | None = None
    #: ``publish_at: slot``: the store picks the next free posting slot of the rubric when it stores the post.
    wants_slot: bool = False
    #: the post's identity as editors name it: ``id:`` in the file, else the file name without ``.md``
    key: str | None = None
    #: who wrote it (``author:``; defaults to ``approved_by``), kept for reports
    author: str = ""
    #: ``withdraw: true``: cancel what is not yet sent of the post with this identity
    withdraw: bool = False
    #: ``allow_duplicate: true``: publish even though the same text went to the same network recently
    allow_duplicate: bool = False


@dataclass(frozen=True)
class Rendered:
    """A post written for one target: final text, media and how its length was measured."""

    target: str
    network: str
    text: str
    length: int
    limit: int
    media: tuple[MediaItem, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    warnings: tuple[Notice, ...] = ()  # the composer's warnings, worded when shown
    link: str | None = None
    parse_mode: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "network": self.network,
            "text": self.text,
            "length": self.length,
            "limit": self.limit,
            "media": [m.name for m in self.media],
            "hashtags": list(self.hashtags),
            "mentions": list(self.mentions),
            "warnings": [str(w) for w in self.warnings],
            "link": self.link,
        }


@dataclass(frozen=True)
class SentPost:
    """Exactly what an attempt sent, recorded when the delivery is marked as sending.

    Enough for ``Adapter.reconcile`` to recognise the post later in the shape the network stores it
    (e.g. a Facebook photo post carries the link in its text): the final text, the link, the media names
    and the parse mode.
    """

    text: str
    link: str | None = None
    media: tuple[str, ...] = ()
    parse_mode: str | None = None

    @classmethod
    def of(cls, rendered: Rendered) -> SentPost:
        return cls(rendered.text, rendered.link, tuple(m.name for m in rendered.media), rendered.parse_mode)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "link": self.link,
            "media": list(self.media),
            "parse_mode": self.parse_mode,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SentPost:
        return cls(
            text=str(data.get("text") or ""),
            link=data.get("link") or None,
            media=tuple(str(m) for m in data.get("media") or ()),
            parse_mode=data.get("parse_mode") or None,
        )


@dataclass(frozen=True)
class RemoteRef:
    """Where a post lives on a network: enough to open it and to collect metrics later."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True)
class PublishResult:
    """What a successful publish returns. ``remote_ids`` holds every id for multi-part posts."""

    remote_id: str
    url: str | None
    published_at: datetime
    remote_ids: tuple[str, ...] = ()
    excerpt: str = ""

    @property
    def ref(self) -> RemoteRef:
        return RemoteRef(self.remote_id, self.url)


class ReconcileStatus(StrEnum):
    FOUND = "found"
    ABSENT = "absent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ReconcileResult:
    """The answer to "did that in-doubt attempt actually publish?"."""

    status: ReconcileStatus
    ref: RemoteRef | None = None
    detail: str = ""


#: The figures a snapshot may carry, in display order.
FIGURES: tuple[str, ...] = ("views", "likes", "reposts", "comments", "impressions", "reach")


@dataclass(frozen=True)
class Snapshot:
    """A network's figures for one published post at one moment, as ``fetch_metrics`` returns them.

    A figure the network does not give is ``None`` (not 0). ``available`` is False when no figure could be
    read at all; ``reason`` says why figures are missing (all or some: "not available from the Bot API",
    "insights need the read_insights permission"). ``raw`` is a short, scrubbed excerpt of the answer.
    """

    remote_id: str
    taken_at: datetime
    views: int | None = None
    likes: int | None = None
    reposts: int | None = None
    comments: int | None = None
    impressions: int | None = None
    reach: int | None = None
    available: bool = True
    reason: str = ""
    raw: str = ""

    def figures(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in FIGURES}


@dataclass(frozen=True)
class AccountInfo:
    """Result of an adapter's health check: who we are there and whether we may post."""

    target: str
    account: str
    can_post: bool
    detail: str = ""


@dataclass(frozen=True)
class Delivery:
    """One post's delivery to one target, as the store holds it."""

    id: int
    post_id: int
    target: str
    state: DeliveryState
    attempts: int
    due_at: datetime
    not_before: datetime | None
    lease_until: datetime | None
    attempt_id: str | None
    attempt_started_at: datetime | None
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    idempotency_key: str
    sending_at: datetime | None = None
    rendered_text: str | None = None
    #: exactly what the last attempt sent (recorded with ``mark_sending``), for reconciliation
    sent: SentPost | None = None

    @property
    def network(self) -> str:
        return network_of(self.target)


@dataclass(frozen=True)
class Event:
    """One line of the publish log (append-only)."""

    id: int
    time: datetime
    post_id: int | None
    delivery_id: int | None
    target: str | None
    status: str
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
