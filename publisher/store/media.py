"""Where accepted media live so that every daemon can read them: in the database unless told otherwise.

A post accepted on one host may be published by a daemon on another, so a copy in one host's data folder is
not enough once several hosts share a queue. ``MediaStorage`` is the small interface between intake, which
keeps each accepted file once by its content hash, and the dispatcher, which loads a post's media before it
commits that it is sending (so a missing file fails the delivery cleanly instead of leaving it in doubt):

- ``DatabaseMedia`` (the default, ``PUBLISHER_MEDIA_STORAGE=database``): the ``media`` table, keyed by
  SHA-256 and written once, read by every daemon on the database. Posts accepted before it existed still
  name their copy in the data folder, which is read as before.
- ``FileMedia`` (``PUBLISHER_MEDIA_STORAGE=files``): content-addressed copies in ``DATA_DIR/media``, for
  a single host, or several hosts that mount one shared directory there.

Adapters never see the storage: they read ``MediaItem.open()``, which gives the loaded bytes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from publisher.errors import InputError
from publisher.intake.media import CANONICAL_EXT, read_verified, store_media
from publisher.models import MediaItem, Post
from publisher.settings import Settings
from publisher.store.blobs import BlobsMixin


class MediaStorage(Protocol):
    def keep(self, post: Post) -> Post:
        """Store every media file of an accepted post; the post naming the stored copies.

        Raises InputError when a file changed since it was parsed (the editor drops it again).
        """

    def load(self, item: MediaItem, source: str) -> MediaItem:
        """The item ready to upload (``MediaItem.open()`` works); InputError when it is gone."""


class DatabaseMedia:
    """Media bytes in the queue database: nothing to share between hosts but the database itself."""

    def __init__(self, store: BlobsMixin) -> None:
        self.store = store

    def keep(self, post: Post) -> Post:
        kept = []
        for item in post.media:
            if not self.store.has_media(item.sha256):
                data = read_verified(item, post.source_name)
                self.store.put_media(item.sha256, item.mime, data, datetime.now(UTC))
            # The name says where it is: no file path that would only hold on the accepting host.
            kept.append(
                dataclasses.replace(item, path=Path(f"{item.sha256}{CANONICAL_EXT.get(item.mime, '')}"))
            )
        return dataclasses.replace(post, media=tuple(kept))

    def load(self, item: MediaItem, source: str) -> MediaItem:
        data = self.store.media_bytes(item.sha256)
        if data is None:
            if not item.path.is_absolute():
                raise _gone(item, source, "is missing from the media table")
            data = _read_copy(item, source)  # accepted before media moved into the database
        return dataclasses.replace(item, content=data)


class FileMedia:
    """Content-addressed copies in a directory (``DATA_DIR/media``)."""

    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir

    def keep(self, post: Post) -> Post:
        return store_media(post, self.media_dir)

    def load(self, item: MediaItem, source: str) -> MediaItem:
        return dataclasses.replace(item, content=_read_copy(item, source))


def media_storage(settings: Settings, store: BlobsMixin) -> MediaStorage:
    """The storage the settings choose (``PUBLISHER_MEDIA_STORAGE``)."""
    if settings.media_storage == "files":
        return FileMedia(settings.media_dir)
    return DatabaseMedia(store)


def _read_copy(item: MediaItem, source: str) -> bytes:
    try:
        return item.path.read_bytes()
    except OSError as exc:
        raise _gone(item, source, f"cannot be read from {item.path} ({exc.strerror})") from None


def _gone(item: MediaItem, source: str, problem: str) -> InputError:
    return InputError(
        source,
        f"media '{item.name}'",
        problem,
        "drop the post with its media again (the stored copy is lost); see docs/install.md on media storage",
    )
