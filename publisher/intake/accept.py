"""Acceptance of a post file: parse, check it can be written for every target, copy media, store.

Used by the inbox (the daemon) and by ``publisher enqueue`` alike, so both apply the same rules.
Rendering at acceptance means a post too long for X is refused while its author is still at the desk,
not at 18:00 when it was due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.compose.composer import render_all
from publisher.compose.directory import Directory
from publisher.errors import InputError
from publisher.i18n import _, local_time
from publisher.intake.mentions import check_mentions
from publisher.intake.postfile import parse_post_file
from publisher.models import Post, Rendered
from publisher.plan.cadence import parse_slot
from publisher.plan.slots import slot_candidates
from publisher.settings import Settings
from publisher.store import PostOutcome, Store
from publisher.store.media import media_storage


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
        post = self.read(path, inbox_root)
        if post.withdraw:
            return post, []
        if self.store is None:  # preview: say now what acceptance would refuse
            self.check_dates(post, self.clock())
        check_mentions(post, self.directory())
        return post, render_all(post, self.directory())

    def read(self, path: Path, inbox_root: Path | None = None) -> Post:
        """The post file, checked on its own (no rendering yet); raises InputError listing every problem."""
        expiry = self.settings.default_expiry_hours
        return parse_post_file(
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

    def check_dates(self, post: Post, now: datetime) -> None:
        """A ``publish_at`` well in the past is a typo or an old file, not "publish at once": refuse it."""
        tolerance = timedelta(minutes=self.settings.past_tolerance_minutes)
        if post.publish_at is not None and post.publish_at < now - tolerance:
            raise InputError(
                post.source_name,
                "publish_at",
                _("is {time}, more than {minutes} minutes ago").format(
                    time=local_time(post.publish_at, self.settings.zone),
                    minutes=f"{self.settings.past_tolerance_minutes:g}",
                ),
                _("write 'publish_at: now' to publish at once, or give a later time"),
            )

    def check_repeats(self, post: Post, now: datetime) -> None:
        """The same text to the same network within ``duplicate_days``: refused unless allowed on purpose."""
        if post.allow_duplicate or not self.settings.duplicate_days or self.store is None:
            return
        if post.key and self.store.find_post_id(post.key) is not None:
            return  # a replacement of its own post, not a repeat
        since = now - timedelta(days=self.settings.duplicate_days)
        found = self.store.same_text(post.body, post.targets, since, post.key)
        if found:
            earlier, target, when = found[0]
            raise InputError(
                post.source_name,
                "text",
                _("is the same as post '{post}', accepted {time} for {target}").format(
                    post=earlier, time=local_time(when, self.settings.zone), target=target
                ),
                _(
                    "if it should go out again, add 'allow_duplicate: true'; to change that post, use its id "
                    "('id: {post}')"
                ).format(post=earlier),
            )

    def submit(self, path: Path, inbox_root: Path | None = None) -> Accepted:
        """Store, replace or withdraw the post of this file; raises InputError when it cannot be done.

        Idempotent on the file's content: the same file again (or again after a crash between storing and
        moving it) changes nothing and says so.
        """
        assert self.store is not None, "accept needs a store"
        post, renders = self.parse(path, inbox_root)
        now = self.clock()
        source = post.source_name
        if post.withdraw:
            assert post.key is not None
            done = self.store.withdraw_post(post.key, now, actor=post.approved_by, source=source)
            if done is None:
                problem = _("there is no post '{key}' to withdraw").format(key=post.key)
                fix = _("check the id: the file name of the post, or its 'id:' line")
                raise InputError(source, "id", problem, fix)
            return Accepted(done, post, renders)
        if not self.store.content_known(
            post.source_key, post.key
        ):  # the same file again is never refused for its age
            self.check_dates(post, now)
            self.check_repeats(post, now)
        stored = media_storage(self.settings, self.store).keep(post)
        if post.wants_slot:
            waiting = self.store.find_post_id(post.key) if post.key else None
            if waiting is None:
                post_id, created, in_slot = self._accept_in_slot(stored)
                outcome = PostOutcome(
                    post_id,
                    post.key,
                    "created" if created else "unchanged",
                    added=post.targets if created else (),
                    due_at=in_slot.publish_at,
                )
                return Accepted(outcome, in_slot, renders)
            # A replacement keeps the slot its post already has.
            (summary,) = self.store.post_summaries(post_ids=[waiting])
            stored = replace(stored, publish_at=summary.due_at, wants_slot=False)
        done = self.store.submit_post(stored, now, actor=post.approved_by)
        if done.outcome == "published_everywhere":
            raise InputError(
                source,
                "id",
                _("post '{key}' is already published on every network and cannot be changed").format(
                    key=post.key
                ),
                _("to publish it again, give it a new id, e.g. 'id: {key}-2'").format(key=post.key),
            )
        return Accepted(done, stored, renders)

    def accept(self, path: Path, inbox_root: Path | None = None) -> tuple[int, bool, Post]:
        """Store the post (idempotent on its content hash). Returns ``(post_id, created, post)``.

        A post with ``publish_at: slot`` comes back with ``publish_at`` set to the slot the store chose.
        """
        done = self.submit(path, inbox_root)
        return done.outcome.post_id, done.outcome.outcome == "created", done.post

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


@dataclass(frozen=True)
class Accepted:
    """What taking one file did: the store's outcome, the post as stored and its texts per network."""

    outcome: PostOutcome
    post: Post
    renders: list[Rendered]
