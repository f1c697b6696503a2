"""Acceptance of a post file: parse, check it can be written for every target, copy media, store.

Used by the inbox (the daemon) and by ``publisher enqueue`` alike, so both apply the same rules.
Rendering at acceptance means a post too long for X is refused while its author is still at the desk,
not at 18:00 when it was due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.compose.composer import render_all
from publisher.compose.directory import Directory
from publisher.errors import InputError
from publisher.intake.media import store_media
from publisher.intake.postfile import parse_post_file
from publisher.models import Post, Rendered
from publisher.plan.cadence import parse_slot
from publisher.plan.slots import slot_candidates
from publisher.settings import Settings
from publisher.store import Store


class StoredFailures:
    """The inbox's failure counts as ``ingest_failed`` events in the publish log: they survive restarts (so a
    cron-driven ``run --once`` gives up too) and the operator sees each failed attempt in ``publisher log``.
    Counts are cached per process: the store is asked once per file version, not on every scan.
    """

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._counts: dict[str, int] = {}

    def count(self, key: str) -> int:
        if key not in self._counts:
            found = self.store.events(status="ingest_failed")
            self._counts[key] = sum(1 for e in found if e.detail.get("key") == key)
        return self._counts[key]

    def add(self, key: str, name: str, message: str) -> int:
        count = self.count(key) + 1
        self.store.log_event(self.clock(), "ingest_failed", error=message, detail={"file": name, "key": key})
        self._counts[key] = count
        return count


class Intake:
    def __init__(
        self,
        store: Store | None,
        settings: Settings,
        directory: Callable[[], Directory],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.directory = directory
        self.clock = clock

    def parse(self, path: Path, inbox_root: Path | None = None) -> tuple[Post, list[Rendered]]:
        """Parse and render for every target; raises InputError listing every problem."""
        expiry = self.settings.default_expiry_hours
        post = parse_post_file(
            path,
            inbox_root=inbox_root or path.parent,
            zone=self.settings.zone,
            known_targets=self.settings.known_targets(),
            now=self.clock(),
            max_bytes=self.settings.max_post_bytes,
            max_media_bytes=self.settings.max_media_bytes,
            max_media_total=self.settings.max_post_media_bytes,
            default_expiry=timedelta(hours=expiry) if expiry else None,
            directory=self.directory(),
        )
        return post, render_all(post, self.directory())

    def accept(self, path: Path, inbox_root: Path | None = None) -> tuple[int, bool, Post]:
        """Store the post (idempotent on its content hash). Returns ``(post_id, created, post)``.

        A post with ``publish_at: slot`` comes back with ``publish_at`` set to the slot the store chose.
        """
        assert self.store is not None, "accept needs a store"
        post, _ = self.parse(path, inbox_root)
        stored = store_media(post, self.settings.media_dir)
        if post.wants_slot:
            return self._accept_in_slot(stored)
        post_id, created = self.store.add_post(stored, self.clock())
        return post_id, created, stored

    def _accept_in_slot(self, post: Post) -> tuple[int, bool, Post]:
        assert self.store is not None
        now = self.clock()
        rubric = self.directory().rubric(post.rubric) if post.rubric else None
        defaults = [parse_slot(s) for s in self.settings.default_slots]
        candidates = slot_candidates(rubric, defaults, self.settings.zone, now, until=post.expires_at)
        expiry = self.settings.default_expiry_hours
        try:
            post_id, created, slot = self.store.add_post_in_slot(
                post, now, candidates, timedelta(hours=expiry) if expiry else None
            )
        except LookupError:
            raise InputError(
                post.source_name,
                "publish_at",
                f"has no free slot{f' of rubric {rubric.key}' if rubric else ''} within a year",
                "give a date and time instead of 'slot', or add slot times to the rubric",
            ) from None
        return post_id, created, replace(post, publish_at=slot)
