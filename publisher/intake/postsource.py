"""Reading a post file from the inbox without trusting it: size-checked bytes, the folder it lies in, the media
names it declares (so the inbox can move them with it), and what makes a media name plain.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from publisher.errors import InputError
from publisher.i18n import _
from publisher.intake.frontmatter import decode_post, load_front_matter
from publisher.intake.media import open_regular, read_limited

RESERVED_NAMES = frozenset({"processed", "rejected"})


def read_post_file(path: Path, max_bytes: int) -> tuple[bytes, int]:
    """The file's bytes and an open descriptor of its directory (the caller closes it)."""
    source = path.name
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(
            source, "", _("its folder cannot be opened ({reason})").format(reason=exc.strerror)
        ) from None
    try:
        fd, _size = open_regular(
            dir_fd,
            path.name,
            source=source,
            field="",
            label=_("the post file"),
            max_bytes=max_bytes,
            missing_fix=_("check the file name"),
        )
        try:
            raw = read_limited(fd, max_bytes)
        finally:
            os.close(fd)
    except BaseException:
        os.close(dir_fd)
        raise
    if len(raw) > max_bytes:
        os.close(dir_fd)
        raise InputError(
            source, "", _("the post file grew past {size} bytes while being read").format(size=max_bytes)
        )
    return raw, dir_fd


def declared_media_names(path: Path, max_bytes: int) -> list[str]:
    """Best effort, never raises: the plain media names a post file lists (for moving them with it)."""
    try:
        raw, dir_fd = read_post_file(path, max_bytes)
        os.close(dir_fd)
        data, _body = load_front_matter(decode_post(raw, path.name), path.name)
    except (InputError, OSError):
        return []
    media = data.get("media")
    items = [media] if isinstance(media, str) else media if isinstance(media, list) else []
    return [m for m in items if isinstance(m, str) and plain_name_problem(m) is None]


def plain_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name next to the post, or None."""
    if not name or name.strip() != name:
        return _("is empty or has spaces around it")
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return _("is an absolute path")
    if "/" in name or name in (".", ".."):
        return _("is a path, not a plain file name")
    if "\x00" in name or any(ord(c) < 32 for c in name):
        return _("contains control characters")
    if name.startswith(".") or name.lower().endswith(".md") or name in RESERVED_NAMES:
        return _("is not a media file name")
    return None
