"""Safe reading of files an editor dropped, media type sniffing, and content-addressed media copies.

Everything in the inbox is untrusted: a "media file" may be a symlink to ``/etc/shadow``, a hard link to a
file outside the inbox, a FIFO that blocks the first reader forever, or ``/dev/zero``. So a file is opened
only after ``lstat`` (relative to an already opened directory) says it is a plain regular file with a single
link, and then with ``O_NOFOLLOW | O_NONBLOCK``; ``fstat`` on the open descriptor must agree with the
``lstat`` (same inode, still regular) before a single byte is read. See open(2) for O_NOFOLLOW / O_NONBLOCK
(https://man7.org/linux/man-pages/man2/open.2.html) and the ``dir_fd`` argument of ``os.open`` / ``os.stat``
(https://docs.python.org/3/library/os.html#dir-fd).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from publisher.errors import InputError
from publisher.i18n import N_, _
from publisher.intake.probe import ProbeError, probe
from publisher.models import MediaInfo, MediaItem, Post

#: ProbeError's reasons, marked for the editors' catalogs.
_PROBE_REASONS = (
    N_("cannot be read as an MP4 or MOV video"),
    N_("has no picture (no video track with a size)"),
    N_("is neither a picture nor a video"),
)

#: Extension -> the family of content it must contain. MP4 and QuickTime share one container format
#: (ISO base media file), so either extension accepts either brand.
EXTENSIONS: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".mp4": "video",
    ".m4v": "video",
    ".mov": "video",
}
#: Extension of the content-addressed copy, by sniffed type.
CANONICAL_EXT: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
ALLOWED_HINT = "JPEG, PNG, GIF, WebP, MP4 or MOV (.jpg .jpeg .png .gif .webp .mp4 .m4v .mov)"
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 20


def sniff_mime(head: bytes) -> str | None:
    """The media type from the first bytes (magic numbers), or None when it is none we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # ISO BMFF: a box size then 'ftyp' then the major brand; 'qt  ' is QuickTime.
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    return None


def describe_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return N_("a symbolic link")
    if stat.S_ISDIR(mode):
        return N_("a directory")
    if stat.S_ISFIFO(mode):
        return N_("a FIFO (named pipe)")
    if stat.S_ISSOCK(mode):
        return N_("a socket")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return N_("a device")
    if stat.S_ISREG(mode):
        return N_("a file")
    return N_("not a regular file")


def open_regular(
    dir_fd: int,
    name: str,
    *,
    source: str,
    field: str,
    label: str,
    max_bytes: int,
    missing_fix: str | None = None,
) -> tuple[int, os.stat_result]:
    """Open ``name`` inside the directory ``dir_fd`` for reading, or raise InputError.

    Refuses symlinks, hard-linked files (another name for a file that may live outside the inbox),
    directories, devices, FIFOs, sockets and files over ``max_bytes`` - all before opening. The messages
    reach the editor (the rejection note, ``preview``), so they are in the editors' language.
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        fix = missing_fix or _("put the file next to the post file (or in its folder) and drop again")
        raise InputError(source, field, _("{label} does not exist").format(label=label), fix) from None
    except OSError as exc:
        problem = _("{label} cannot be examined ({reason})").format(label=label, reason=exc.strerror)
        raise InputError(source, field, problem) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            source,
            field,
            _("{label} is {kind}").format(label=label, kind=_(describe_kind(st.st_mode))),
            _("copy the real file itself into the inbox"),
        )
    if st.st_nlink > 1:
        raise InputError(
            source,
            field,
            _("{label} has other hard links").format(label=label),
            _("copy the file into the inbox instead of linking it"),
        )
    if st.st_size > max_bytes:
        raise InputError(
            source,
            field,
            _("{label} is too big ({size} bytes, at most {limit})").format(
                label=label, size=st.st_size, limit=max_bytes
            ),
            _("use a smaller file"),
        )
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        problem = _("{label} cannot be opened ({reason})").format(label=label, reason=exc.strerror)
        raise InputError(source, field, problem) from None
    fst = os.fstat(fd)
    if (
        not stat.S_ISREG(fst.st_mode)
        or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino)
        or fst.st_nlink > 1
    ):
        os.close(fd)
        problem = _("{label} changed while it was being read").format(label=label)
        raise InputError(source, field, problem, _("drop it again"))
    return fd, st


def read_limited(fd: int, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes, so a file that grew past the limit is noticed."""
    parts: list[bytes] = []
    left = max_bytes + 1
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_media(dir_fd: int, name: str, *, path: Path, source: str, max_bytes: int) -> MediaItem:
    """Hash and sniff one media file; ``path`` is where it lives (for the later copy)."""
    field = f"media '{name}'"
    expected = EXTENSIONS.get(os.path.splitext(name)[1].lower())
    if expected is None:
        raise InputError(
            source,
            field,
            _("has an extension we do not publish"),
            _("use {allowed}").format(allowed=ALLOWED_HINT),
        )
    fd, _st = open_regular(dir_fd, name, source=source, field="media", label=f"'{name}'", max_bytes=max_bytes)
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            if len(head) < 16:
                head += chunk[: 16 - len(head)]
            size += len(chunk)
            if size > max_bytes:
                raise InputError(
                    source,
                    field,
                    _("grew past {limit} bytes while being read").format(limit=max_bytes),
                    _("drop it again"),
                )
            digest.update(chunk)
        if size == 0:
            raise InputError(source, field, _("is empty"), _("drop the complete file again"))
        mime = sniff_mime(head)
        if mime is None:
            raise InputError(
                source,
                field,
                _("is not an image or video we can publish"),
                _("use {allowed}").format(allowed=ALLOWED_HINT),
            )
        if not mime.startswith(expected):
            raise InputError(
                source,
                field,
                _("content is {mime} but the extension says {expected}").format(mime=mime, expected=expected),
                _("save the file in the format its name says, or rename it"),
            )
        info = _probe_open(fd, mime, source, field)
    except OSError as exc:
        raise InputError(source, field, _("cannot be read ({reason})").format(reason=exc.strerror)) from None
    finally:
        os.close(fd)
    return MediaItem(name=name, path=path, sha256=digest.hexdigest(), mime=mime, size=size, info=info)


def _probe_open(fd: int, mime: str, source: str, field: str) -> MediaInfo:
    """What the already opened (and checked) file holds: read again from its start, through the same fd."""
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as handle:
        try:
            return probe(handle, mime)
        except ProbeError as exc:
            raise InputError(
                source,
                field,
                _("{problem}: the service cannot tell its length").format(problem=_(str(exc))),
                _("export the video again as MP4 (H.264 video, AAC sound) and drop the post again"),
            ) from None


def store_media(post: Post, media_dir: Path) -> Post:
    """Copy each media file to ``media_dir/<sha[:2]>/<sha><ext>`` and return the post pointing at the copies.

    Content-addressed, so a copy that already exists is kept as it is. Each copy is written to a temporary
    file, fsynced and renamed into place, so a crash never leaves a half-written file under the final name.
    The source is re-hashed while copying: if it changed since parsing, InputError (drop it again).
    """
    copies = []
    for item in post.media:
        ext = CANONICAL_EXT.get(item.mime, "")
        final = media_dir / item.sha256[:2] / f"{item.sha256}{ext}"
        if not final.exists():
            _copy_verified(item, final, post.source_name)
        copies.append(dataclasses.replace(item, path=final))
    return dataclasses.replace(post, media=tuple(copies))


def read_verified(item: MediaItem, source: str) -> bytes:
    """The bytes of a parsed media file, checked against the hash taken at parsing (InputError if changed)."""
    src = _reopen(item, source)
    try:
        data = read_limited(src, item.size)
    except OSError as exc:
        problem = _("cannot be read ({reason})").format(reason=exc.strerror)
        raise InputError(source, f"media '{item.name}'", problem) from None
    finally:
        os.close(src)
    if hashlib.sha256(data).hexdigest() != item.sha256:
        problem = _("changed while it was being stored")
        raise InputError(source, f"media '{item.name}'", problem, _("drop it again"))
    return data


def _reopen(item: MediaItem, source: str) -> int:
    """The parsed file opened again with the same checks (a regular file of at most its parsed size)."""
    dir_fd = os.open(item.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        src, _st = open_regular(
            dir_fd,
            item.path.name,
            source=source,
            field="media",
            label=f"'{item.name}'",
            max_bytes=item.size,
        )
    finally:
        os.close(dir_fd)
    return src


def _copy_verified(item: MediaItem, final: Path, source: str) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    src = _reopen(item, source)
    tmp_fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=final.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(tmp_fd, "wb") as out:
            while chunk := os.read(src, _CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != item.sha256:
            raise InputError(
                source, f"media '{item.name}'", _("changed while it was being copied"), _("drop it again")
            )
        os.chmod(tmp_name, 0o644)
        os.rename(tmp_name, final)
    except BaseException:
        # Our own temporary file, never an editor's: safe to remove.
        Path(tmp_name).unlink(missing_ok=True)
        raise
    finally:
        os.close(src)
    dfd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
