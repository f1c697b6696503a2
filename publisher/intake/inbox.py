"""The drop folder: editors copy ``*.md`` post files (and their media) in; the daemon takes each one once.

A file is taken only after it (and its media) stayed unchanged for ``settle_seconds`` across scans, so a
file still being copied is not read half-written. Then ``accept(path)`` stores it and returns the post id,
and the file with its media moves to ``processed/``; an ``InputError`` sends them to ``rejected/`` with
``NAME.error.txt`` saying what to fix. **Nothing is ever deleted**, and nothing is ever overwritten: on a
name collision the group goes to a fresh sub-folder (``processed/kino.2/``) with its names intact, so a
rejected post can be edited and dropped again as it is.

Crash safety: the store keys posts by a content hash (``Post.source_key``), so a crash between storing and
moving makes the next scan accept the same file again, get the same post id, and move it then. The post
file moves before its media: a crash in between leaves only media in the inbox, never a post without them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publisher.errors import InputError
from publisher.intake.postfile import RESERVED_NAMES, declared_media_names
from publisher.ops.redact import scrub

log = logging.getLogger("publisher.inbox")
Signature = tuple[tuple[str, int, int, int, int], ...]


@dataclass
class ScanReport:
    """What one scan did. ``accepted`` holds (file name, post id); ``rejected`` and ``errors`` (name, message)."""

    accepted: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def is_candidate(name: str) -> bool:
    """A post file name: ``*.md``, not a dotfile or an editor's temporary or lock file."""
    if name.startswith((".", "~", "#")) or name.endswith(("~", "#")):
        return False
    return name.lower().endswith(".md") and name not in RESERVED_NAMES


class Inbox:
    """Scans one drop folder. Keep one instance per daemon: it remembers what it saw between scans."""

    def __init__(
        self,
        inbox_dir: Path,
        settle_seconds: float,
        clock: Callable[[], float] = time.time,
        *,
        max_failures: int = 5,
        max_bytes: int = 1_000_000,
    ) -> None:
        self.dir = inbox_dir
        self.processed = inbox_dir / "processed"
        self.rejected = inbox_dir / "rejected"
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.max_failures = max_failures
        self.max_bytes = max_bytes
        self._seen: dict[str, tuple[Signature, float]] = {}
        self._failures: dict[str, tuple[Signature, int]] = {}
        self._groups: dict[str, list[str]] = {}

    def scan(self, accept: Callable[[Path], str]) -> ScanReport:
        """Take every settled post file once; one bad file never stops the others."""
        report = ScanReport()
        for folder in (self.dir, self.processed, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        names = sorted(e.name for e in os.scandir(self.dir) if is_candidate(e.name))
        for gone in set(self._seen) - set(names):
            del self._seen[gone]
        for gone in set(self._failures) - set(names):
            del self._failures[gone]
        # Media listed by several pending posts stay until the last of those posts leaves the inbox.
        self._groups = {name: self._group(self.dir / name) for name in names}
        for name in names:
            try:
                self._scan_one(name, accept, report)
            except Exception as exc:  # a move failed (disk full, permissions): report, go on
                message = scrub(f"{type(exc).__name__}: {exc}")
                log.exception(
                    "inbox: %s could not be handled: %s", name, message, extra={"event": "ingest_error"}
                )
                report.errors.append((name, message))
        return report

    # One file ------------------------------------------------------------------------------------

    def _scan_one(self, name: str, accept: Callable[[Path], str], report: ScanReport) -> None:
        path = self.dir / name
        group = self._groups.get(name) or self._group(path)
        signature = self._signature([name, *group])
        if not signature:
            return  # vanished since the listing (another process took it)
        now = self.clock()
        seen = self._seen.get(name)
        if seen is None or seen[0] != signature:
            self._seen[name] = seen = (signature, now)
        if now - seen[1] < self.settle_seconds:
            report.deferred.append(name)
            log.debug("inbox: %s is not settled yet", name, extra={"event": "ingest_deferred"})
            return
        try:
            post_id = accept(path)
        except InputError as exc:
            self._reject(name, group, str(exc), report)
            return
        except Exception as exc:
            self._failed(name, group, signature, exc, report)
            return
        self._seen.pop(name, None)
        self._failures.pop(name, None)
        self._move(name, group, self.processed)
        report.accepted.append((name, str(post_id)))
        log.info(
            "inbox: %s accepted as post %s",
            name,
            post_id,
            extra={"event": "ingest_accepted", "post": post_id},
        )

    def _reject(self, name: str, group: list[str], message: str, report: ScanReport) -> None:
        self._seen.pop(name, None)
        self._failures.pop(name, None)
        self._move(name, group, self.rejected, error=message)
        report.rejected.append((name, message))
        log.warning("inbox: %s rejected: %s", name, message, extra={"event": "ingest_rejected"})

    def _failed(
        self, name: str, group: list[str], sig: Signature, exc: Exception, report: ScanReport
    ) -> None:
        """Not the editor's fault (store down, bug): retry next scan, but give up after ``max_failures``."""
        message = scrub(f"{type(exc).__name__}: {exc}")
        previous = self._failures.get(name)
        count = previous[1] + 1 if previous and previous[0] == sig else 1
        self._failures[name] = (sig, count)
        if count >= self.max_failures:
            text = (
                f"{name}: could not be stored after {count} attempts ({message}); "
                "this is not a problem in the file: tell the operator, then drop it again"
            )
            log.error(
                "inbox: %s failed %d times, moved to rejected", name, count, extra={"event": "ingest_gave_up"}
            )
            self._reject(name, group, text, report)
            return
        log.error(
            "inbox: %s failed (attempt %d of %d), will retry: %s",
            name,
            count,
            self.max_failures,
            message,
            exc_info=exc,
            extra={"event": "ingest_error"},
        )
        report.errors.append((name, message))

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
        """Size, mtime and inode of the post, its media and the media folder's entries (lstat only)."""
        items: list[tuple[str, int, int, int, int]] = []
        for name in names:
            target = self.dir / name
            try:
                st = target.lstat()
            except FileNotFoundError:
                if name == names[0]:
                    return ()
                continue
            items.append((name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino))
            if stat.S_ISDIR(st.st_mode) and name != names[0]:
                try:
                    entries = sorted(os.scandir(target), key=lambda e: e.name)
                    for e in entries:
                        est = e.stat(follow_symlinks=False)
                        items.append(
                            (f"{name}/{e.name}", est.st_mode, est.st_size, est.st_mtime_ns, est.st_ino)
                        )
                except OSError:
                    pass
        return tuple(items)

    def _move(self, name: str, group: list[str], dest_root: Path, error: str | None = None) -> Path:
        """Rename the post and its group into ``dest_root`` (or a fresh sub-folder); never overwrites."""
        self._groups.pop(name, None)
        shared = {m for other in self._groups.values() for m in other}
        group = [m for m in group if m not in shared]
        error_name = f"{name}.error.txt"
        wanted = [name, *group] + ([error_name] if error is not None else [])
        dest = dest_root
        if not os.path.lexists(self.dir / name):
            return dest_root  # another process (a second daemon, `run --once`) took it meanwhile
        if any(os.path.lexists(dest_root / n) for n in wanted):
            stem, n = name[: -len(".md")] or name, 2
            while True:
                dest = dest_root / f"{stem}.{n}"
                try:
                    dest.mkdir()
                    break
                except FileExistsError:
                    n += 1
        if error is not None:
            self._write_error(dest / error_name, name, error)
        moved = error is not None
        for item in (name, *group):  # the post first: see the module docstring
            if os.path.lexists(dest / item):
                raise FileExistsError(f"{dest / item} appeared while moving; left {item} in the inbox")
            try:
                os.rename(self.dir / item, dest / item)
                moved = True
            except FileNotFoundError:
                continue  # already moved by another process
        if not moved and dest != dest_root:
            with contextlib.suppress(OSError):
                dest.rmdir()  # the fresh folder we made for nothing: empty, ours
        return dest

    @staticmethod
    def _write_error(target: Path, name: str, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"{name} was not accepted ({stamp}).\n\n{message}\n\n"
            f"How to fix: edit {name} (it is here, next to this note), correct what is listed above, "
            "and drop it with its media into the inbox again.\n"
        )
        fd, tmp = tempfile.mkstemp(prefix=".error-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.rename(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # our own temporary note, never an editor's file
            raise
