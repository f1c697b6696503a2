"""The drop folder: editors copy ``*.md`` post files (and their media) in; the daemon takes each one once.

A file is taken once it (and its media) is settled: unchanged across scans for ``settle_seconds``, or - at
first sight - last modified (mtime) longer ago than that, so a one-shot ``run --once`` from cron takes
files too, while a file still being copied is not read half-written. Then ``accept(path)`` stores it and
returns the post id, and the file with its media moves to ``processed/``; an ``InputError`` sends them to
``rejected/`` with a note saying what to fix (``NAME.error.txt``, see ``folders.note_name``). **Nothing is ever
deleted**, and nothing is ever overwritten: on a name collision the group goes to a fresh sub-folder
(``processed/kino.2/``) with its names intact, so a rejected post can be edited and dropped again as it is.

Every file has an end: a failure that is not the editor's (store down, a move refused) is retried, counted in a
``FailureBook`` (the daemon's is kept in the store, so the count survives restarts and ``run --once``), and after
``max_failures`` the file goes to ``rejected/`` with a note telling the editor to ask the operator. The own
folders are checked every scan (``folders.open_folders``): when one cannot be used the scan reports it in
``broken`` (the daemon alerts); posts are still stored (and so published on time), and a file whose folder
is broken waits in the inbox, unparsed, until the folder is usable again.

Crash safety: the store keys posts by a content hash (``Post.source_key``), so a crash between storing and
moving makes the next scan accept the same file again, get the same post id, and move it then. The post
file moves before its media: a crash in between leaves only media in the inbox, never a post without them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.errors import InboxError, InputError
from publisher.i18n import _, local_time, ngettext
from publisher.intake.failures import FailureBook, MemoryFailures, Signature, failure_key
from publisher.intake.folders import (
    NOTE_SUFFIX,
    RECEIPT_SUFFIX,
    Folders,
    exists,
    fresh_folder,
    note_name,
    open_folders,
    resolve_rejection,
    write_note,
)
from publisher.intake.postsource import RESERVED_NAMES, declared_media_names
from publisher.ops.redact import scrub
from publisher.ops.safetext import printable

log = logging.getLogger("publisher.inbox")


@dataclass
class ScanReport:
    """What one scan did. ``accepted`` holds (file name, post id); ``rejected`` and ``errors`` (name, message).

    ``deferred``: files left because they are still being written; ``broken``: why an own folder cannot be
    used; ``stuck``: files left because the folder they must go to is broken.
    """

    accepted: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Taken:
    """What ``accept`` may return instead of a bare post id: the id and the receipt to put beside the file."""

    post_id: str
    receipt: str


def is_candidate(name: str) -> bool:
    """A post file name: ``*.md``, not a dotfile or an editor's temporary or lock file."""
    if name.startswith((".", "~", "#")) or name.endswith(("~", "#")):
        return False
    return name.lower().endswith(".md") and name not in RESERVED_NAMES


@dataclass(eq=False, repr=False)
class Inbox:
    """Scans one drop folder. Keep one instance per daemon: it remembers what it saw between scans."""

    dir: Path
    settle_seconds: float
    clock: Callable[[], float] = time.time
    _: KW_ONLY
    max_failures: int = 5
    max_bytes: int = 1_000_000
    failures: FailureBook = field(default_factory=MemoryFailures)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    _seen: dict[str, tuple[Signature, float]] = field(init=False, default_factory=dict)
    _groups: dict[str, list[str]] = field(init=False, default_factory=dict)
    #: keys whose last-resort move failed too: logged once, left alone
    _given_up: set[str] = field(init=False, default_factory=set)
    #: keys waiting for a broken own folder: not parsed again meanwhile
    _blocked: set[str] = field(init=False, default_factory=set)
    _broken_logged: list[str] = field(init=False, default_factory=list)
    _folders: Folders | None = field(init=False, default=None)

    def scan(self, accept: Callable[[Path], str | Taken]) -> ScanReport:
        """Take every settled post file once; one bad file never stops the others."""
        report = ScanReport()
        try:
            folders = open_folders(self.dir)
        except InboxError as exc:
            self._report_broken([str(exc)], report)
            return report
        self._folders = folders
        try:
            self._report_broken(folders.problems, report)
            if not folders.problems:
                self._blocked.clear()
            names = sorted(e.name for e in os.scandir(folders.inbox) if is_candidate(e.name))
            for gone in set(self._seen) - set(names):
                del self._seen[gone]
            # Media listed by several pending posts stay until the last of those posts leaves the inbox.
            self._groups = {name: self._group(self.dir / name) for name in names}
            for name in names:
                self._scan_one(name, accept, report)
        finally:
            self._folders = None
            folders.close()
        return report

    def _report_broken(self, problems: list[str], report: ScanReport) -> None:
        report.broken.extend(problems)
        if problems != self._broken_logged:  # once per change, not every scan
            for problem in problems:
                log.error("inbox: %s", problem, extra={"event": "inbox_broken"})
            if not problems:
                log.info("inbox: its folders are usable again", extra={"event": "inbox_repaired"})
            self._broken_logged = list(problems)

    # One file ------------------------------------------------------------------------------------

    def _scan_one(self, name: str, accept: Callable[[Path], str | Taken], report: ScanReport) -> None:
        path = self.dir / name
        group = self._groups.get(name) or self._group(path)
        signature = self._signature([name, *group])
        if not signature:
            return  # vanished since the listing (another process took it)
        key = failure_key(name, signature)
        if key in self._given_up or key in self._blocked:
            report.stuck.append(name)
            return
        shown = printable(name)
        try:
            count = self.failures.count(key)
            if count >= self.max_failures:  # counted by an earlier run: give up without trying again
                self._give_up(name, group, key, count, None, report)
                return
            if not self._settled(name, signature):
                report.deferred.append(name)
                log.debug("inbox: %s is not settled yet", shown, extra={"event": "ingest_deferred"})
                return
            try:
                taken = accept(path)
            except InputError as exc:
                self._reject(name, group, key, str(exc), report)
                return
            post_id, receipt = (taken.post_id, taken.receipt) if isinstance(taken, Taken) else (taken, None)
            self._seen.pop(name, None)
            if "processed" not in self._folders_own():
                # Stored, so it is published on time; the file waits for a usable processed/ and is then
                # accepted again (same content, same post) and moved.
                self._stuck(name, key, report, f"accepted as post {post_id}", "processed", post=post_id)
                return
            self._move(name, group, "processed", note=receipt, suffix=RECEIPT_SUFFIX)
        except Exception as exc:  # not the editor's fault: the store, a move, a bug
            self._failed(name, group, key, exc, report)
            return
        if self._folders is not None and "rejected" in self._folders.own:
            resolve_rejection(self._folders.own["rejected"], name)
        report.accepted.append((name, str(post_id)))
        log.info(
            "inbox: %s accepted as post %s",
            shown,
            post_id,
            extra={"event": "ingest_accepted", "post": post_id},
        )

    def _stuck(
        self, name: str, key: str, report: ScanReport, outcome: str, folder: str, **extra: object
    ) -> None:
        """Leave a file in the inbox because ``folder`` cannot be used; it is tried again once it can.
        A refused file is an error (its editor cannot see the note); an accepted one is published anyway."""
        self._blocked.add(key)
        report.stuck.append(name)
        log.log(
            logging.ERROR if folder == "rejected" else logging.WARNING,
            "inbox: %s %s but left in the inbox: %s/ cannot be used",
            printable(name),
            outcome,
            folder,
            extra={"event": "ingest_stuck", **extra},
        )

    def _folders_own(self) -> dict[str, int]:
        return self._folders.own if self._folders is not None else {}

    def _settled(self, name: str, signature: Signature) -> bool:
        """Unchanged for ``settle_seconds`` across scans, or last changed longer ago than that."""
        now = self.clock()
        seen = self._seen.get(name)
        if seen is None or seen[0] != signature:
            self._seen[name] = seen = (signature, now)
        newest = max(item[3] for item in signature) / 1e9  # mtime: what copy tools keep, what an editor sees
        return now - seen[1] >= self.settle_seconds or now - newest >= self.settle_seconds

    def _reject(
        self, name: str, group: list[str], key: str, message: str, report: ScanReport, *, ours: bool = False
    ) -> None:
        """Move the file to ``rejected/`` with a note; ``ours``: the service failed, not the file."""
        shown = printable(name)
        if "rejected" not in self._folders_own():
            self._stuck(name, key, report, f"refused ({message})", "rejected")
            return
        self._seen.pop(name, None)
        note = _note_text(name, message, self.clock(), self.zone, ours=ours)
        self._move(name, group, "rejected", note=note)
        report.rejected.append((name, message))
        log.warning("inbox: %s rejected: %s", shown, message, extra={"event": "ingest_rejected"})

    def _failed(self, name: str, group: list[str], key: str, exc: Exception, report: ScanReport) -> None:
        """Retry next scan, but give up after ``max_failures`` (counted per file version, across restarts)."""
        message = printable(scrub(f"{type(exc).__name__}: {exc}"), keep="\n")
        try:
            count = self.failures.add(key, printable(name), message)
        except Exception:  # the failure book is the store, and the store may be what fails
            log.warning("inbox: could not record the failure of %s", printable(name), exc_info=True)
            count = 1
        if count >= self.max_failures:
            self._give_up(name, group, key, count, message, report)
            return
        log.error(
            "inbox: %s failed (attempt %d of %d), will retry: %s",
            printable(name),
            count,
            self.max_failures,
            message,
            exc_info=exc,
            extra={"event": "ingest_error"},
        )
        report.errors.append((name, message))

    def _give_up(
        self, name: str, group: list[str], key: str, count: int, message: str | None, report: ScanReport
    ) -> None:
        """Reject a file the service failed to store ``count`` times; ``message`` is the last failure (None
        when the failures were counted by an earlier run)."""
        reason = message if message is not None else _("the earlier attempts are in the publish log")
        text = ngettext(
            "{file}: could not be stored after {count} attempt ({reason}); this is not a problem in the file: "
            "tell the operator, then drop it again",
            "{file}: could not be stored after {count} attempts ({reason}); this is not a problem in the file: "
            "tell the operator, then drop it again",
            count,
        ).format(file=printable(name), count=count, reason=reason)
        log.error(
            "inbox: %s failed %d times, moved to rejected",
            printable(name),
            count,
            extra={"event": "ingest_gave_up"},
        )
        try:
            self._reject(name, group, key, text, report, ours=True)
        except Exception as exc:
            self._given_up.add(key)
            log.error(
                "inbox: %s could not even be moved to rejected/ (%s); left in the inbox: move it by hand",
                printable(name),
                printable(f"{type(exc).__name__}: {exc}"),
                extra={"event": "ingest_stuck"},
            )
            report.errors.append((name, text))

    # Grouping and moving -------------------------------------------------------------------------

    def _group(self, path: Path) -> list[str]:
        """Inbox entries that travel with the post: its listed media and the folder named like it."""
        group = [n for n in declared_media_names(path, self.max_bytes) if os.path.lexists(self.dir / n)]
        stem = path.name[: -len(".md")]
        if (
            stem
            and stem not in RESERVED_NAMES
            and not is_candidate(stem)
            and os.path.lexists(self.dir / stem)
        ):
            group.append(stem)
        return list(dict.fromkeys(group))

    def _signature(self, names: list[str]) -> Signature:
        """Mode, size, mtime, ctime and inode of the post, its media and the media folder's entries (lstat)."""
        items: list[tuple[str, int, int, int, int, int]] = []
        for name in names:
            target = self.dir / name
            try:
                st = target.lstat()
            except FileNotFoundError:
                if name == names[0]:
                    return ()
                continue
            items.append((name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
            if stat.S_ISDIR(st.st_mode) and name != names[0]:
                try:
                    for e in sorted(os.scandir(target), key=lambda e: e.name):
                        est = e.stat(follow_symlinks=False)
                        items.append(
                            (
                                f"{name}/{e.name}",
                                est.st_mode,
                                est.st_size,
                                est.st_mtime_ns,
                                est.st_ctime_ns,
                                est.st_ino,
                            )
                        )
                except OSError:
                    pass
        return tuple(items)

    def _move(
        self, name: str, group: list[str], dest_name: str, note: str | None = None, suffix: str = NOTE_SUFFIX
    ) -> None:
        """Rename the post and its group into an own folder (or a fresh sub-folder of it); never overwrites."""
        assert self._folders is not None
        inbox, dest = self._folders.inbox, self._folders.own[dest_name]
        self._groups.pop(name, None)
        shared = {m for other in self._groups.values() for m in other}
        group = [m for m in group if m not in shared]
        if not exists(inbox, name):
            return  # another process (a second daemon, `run --once`) took it meanwhile
        note_as = note_name(name, suffix) if note is not None else None
        wanted = [name, *group] + ([note_as] if note_as else [])
        target, fresh = dest, None
        if any(exists(dest, n) for n in wanted):
            target, fresh = fresh_folder(dest, name)
        try:
            if note is not None and note_as is not None:
                write_note(target, note_as, note)
            moved = note is not None
            for item in (name, *group):  # the post first: see the module docstring
                if exists(target, item):
                    raise FileExistsError(f"{printable(item)} appeared in {dest_name}/ while moving; left it")
                try:
                    os.rename(item, item, src_dir_fd=inbox, dst_dir_fd=target)
                    moved = True
                except FileNotFoundError:
                    continue  # already moved by another process
        finally:
            if fresh is not None:
                os.close(target)
        if not moved and fresh is not None:
            with contextlib.suppress(OSError):
                os.rmdir(fresh, dir_fd=dest)  # the fresh folder we made for nothing: empty, ours


def _note_text(name: str, message: str, now: float, zone: ZoneInfo, *, ours: bool = False) -> str:
    """The rejection note, in the editors' language, with the local time and its zone.

    ``ours``: the service could not store the file (not the editor's mistake), so the note does not ask for
    an edit.
    """
    shown = printable(name)
    stamp = local_time(datetime.fromtimestamp(now, UTC), zone)
    if ours:
        fix = _(
            "What to do: nothing needs changing in {name}. Tell the operator; once they say the service "
            "works again, drop it with its media into the inbox again."
        )
    else:
        fix = _(
            "How to fix: edit {name} (it is here, next to this note), correct what is listed above, "
            "and drop it with its media into the inbox again."
        )
    return (
        _("{name} was not accepted, checked {time}.").format(name=shown, time=stamp)
        + f"\n\n{message}\n\n"
        + fix.format(name=shown)
        + "\n"
    )
