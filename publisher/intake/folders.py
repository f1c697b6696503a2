"""The inbox's own folders and every write into them: never through a symlink, never overwriting.

``processed/`` and ``rejected/`` must be real directories owned by the service. They are opened with
``O_NOFOLLOW | O_DIRECTORY`` relative to the inbox's descriptor, and every rename, sub-folder and note is made
relative to those descriptors (the ``dir_fd`` arguments of ``os.rename``, ``os.mkdir`` and ``os.open``, i.e.
renameat(2), mkdirat(2), openat(2)), so a folder swapped for a link after the check cannot redirect a write
outside the inbox. A folder that is a plain file, a link or someone else's raises ``InboxError`` naming the
path and the fix; the caller alerts, it never "repairs" by deleting.

Notes (``NAME.error.txt``) are created group-readable (0640 whatever the umask): editors in the service's group
read why their post was refused. A name that cannot carry the suffix - not valid UTF-8, control characters, or
too long for the file system - gets a safe note name (printable, short, with a hash of the original name).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from publisher.errors import InboxError
from publisher.intake.media import describe_kind
from publisher.ops.safetext import printable

OWN_FOLDERS = ("processed", "rejected")
NOTE_SUFFIX = ".error.txt"
RECEIPT_SUFFIX = ".receipt.txt"
NOTE_MODE = 0o640
#: Linux file systems limit one name to 255 bytes (NAME_MAX); sub-folder names keep a margin for ".NN".
NAME_MAX = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

log = logging.getLogger("publisher.inbox")  # the inbox's log: resolve_rejection reports as the inbox did


@dataclass
class Folders:
    """Open descriptors of the inbox and of each own folder that is usable; ``problems`` for the others."""

    root: Path
    inbox: int
    own: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def close(self) -> None:
        for fd in (self.inbox, *self.own.values()):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_folders(root: Path) -> Folders:
    """Open the inbox (created if missing) and its own folders; raises InboxError if the inbox itself fails."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        inbox = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise InboxError(
            f"the inbox {printable(str(root))} cannot be opened ({exc.strerror or exc}): "
            "make it a folder the service user can write, or fix PUBLISHER_INBOX_DIR"
        ) from None
    folders = Folders(root, inbox)
    for name in OWN_FOLDERS:
        try:
            folders.own[name] = _own_folder(inbox, root / name)
        except InboxError as exc:
            folders.problems.append(str(exc))
    return folders


def _own_folder(inbox: int, path: Path) -> int:
    name = path.name
    shown = printable(str(path))
    try:
        os.mkdir(name, dir_fd=inbox)
    except FileExistsError:
        pass
    except OSError as exc:
        raise InboxError(
            f"{shown} cannot be created ({exc.strerror}): give the service user write access to the inbox"
        ) from None
    st = os.stat(name, dir_fd=inbox, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise InboxError(
            f"{shown} is a symbolic link; the service writes only into its own folders: "
            "move the link away (the service then creates a real folder)"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise InboxError(
            f"{shown} is {describe_kind(st.st_mode)}, not a folder: "
            "move it away (nothing is lost; the service then creates the folder)"
        )
    if st.st_uid != os.geteuid():
        raise InboxError(
            f"{shown} belongs to user id {st.st_uid}, not to the service (user id {os.geteuid()}): "
            "chown it to the service user, or move it away"
        )
    try:
        fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=inbox)
    except OSError as exc:
        raise InboxError(f"{shown} cannot be opened ({exc.strerror}): check its permissions") from None
    if (os.fstat(fd).st_dev, os.fstat(fd).st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise InboxError(f"{shown} was replaced while it was being opened: check who writes into the inbox")
    return fd


def _fits(name: str, limit: int = NAME_MAX) -> bool:
    return len(os.fsencode(name)) <= limit


def safe_stem(name: str, limit: int = 100) -> str:
    """A short, printable stand-in for ``name``, unique by a hash of its bytes."""
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    plain = "".join(c if (c.isalnum() or c in "._-") and printable(c) == c else "_" for c in name)
    while not _fits(plain, limit):
        plain = plain[:-1]
    return f"{plain}-{digest}"


def note_name(name: str, suffix: str = NOTE_SUFFIX) -> str:
    """``NAME.error.txt`` (or ``NAME.receipt.txt``), or a safe name when ``name`` cannot carry the suffix."""
    wanted = name + suffix
    if printable(name) == name and _fits(wanted):
        return wanted
    return safe_stem(name) + suffix


def fresh_folder(dest: int, name: str) -> tuple[int, str]:
    """A new sub-folder of ``dest`` for a group whose names collide: ``kino.2``, ``kino.3``...; fd and name."""
    stem = name[: -len(".md")] if name.lower().endswith(".md") and len(name) > 3 else name
    if printable(stem) != stem or not _fits(stem, NAME_MAX - 8):
        stem = safe_stem(stem)
    n = 2
    while True:
        folder = f"{stem}.{n}"
        try:
            os.mkdir(folder, dir_fd=dest)
        except FileExistsError:
            n += 1
            continue
        return os.open(folder, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dest), folder


def exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def exists_in(dir_fd: int, folder: str, name: str) -> bool:
    """``folder/name`` exists under ``dir_fd`` (the folder opened without following a link)."""
    try:
        fd = os.open(folder, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        return exists(fd, name)
    finally:
        os.close(fd)


def open_subfolder(dir_fd: int, name: str) -> int:
    """Open (creating it when missing) a real sub-folder of ``dir_fd``, never through a link."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o750, dir_fd=dir_fd)
    return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)


def write_note(dir_fd: int, name: str, text: str) -> None:
    """Write ``text`` as ``name`` in ``dir_fd``: temporary file, fsync, rename; mode 0640 whatever the umask."""
    tmp = f".note-{os.getpid()}-{hashlib.sha256(os.urandom(8)).hexdigest()[:8]}"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, NOTE_MODE, dir_fd=dir_fd
    )
    try:
        os.fchmod(fd, NOTE_MODE)
        os.write(fd, printable(text, keep="\n").encode("utf-8"))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if exists(dir_fd, name):
            raise FileExistsError(f"{printable(name)} appeared while writing the note")
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)  # our own temporary note, never an editor's file
        raise


def resolve_rejection(rejected: int, name: str) -> None:
    """A file is accepted: move its earlier rejection notes (and stale copies) to ``rejected/resolved/``.

    ``rejected`` is the open descriptor of ``rejected/``.
    Best effort: ``rejected/`` then shows only what still needs work; a failure here is logged, never
    held against the accepted post.
    """
    note = note_name(name)
    stem = name[: -len(".md")] if name.lower().endswith(".md") else name
    try:
        found = [n for n in (note, name) if exists(rejected, n)] if exists(rejected, note) else []
        found += [
            e.name
            for e in os.scandir(rejected)
            if e.is_dir(follow_symlinks=False)
            and e.name.startswith(stem + ".")
            and e.name[len(stem) + 1 :].isdigit()
            and exists_in(rejected, e.name, note)
        ]
        if not found:
            return
        resolved = open_subfolder(rejected, "resolved")
        try:
            target, fresh = resolved, None
            if any(exists(resolved, n) for n in found):
                target, fresh = fresh_folder(resolved, name)
            try:
                for item in found:
                    os.rename(item, item, src_dir_fd=rejected, dst_dir_fd=target)
            finally:
                if fresh is not None:
                    os.close(target)
        finally:
            os.close(resolved)
        log.info(
            "inbox: earlier rejection of %s moved to rejected/resolved/",
            printable(name),
            extra={"event": "ingest_resolved"},
        )
    except OSError as exc:
        log.warning(
            "inbox: could not move the earlier rejection of %s to rejected/resolved/: %s",
            printable(name),
            exc,
            extra={"event": "ingest_resolve_failed"},
        )
