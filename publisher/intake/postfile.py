"""Parsing and validating a post file: Markdown with YAML front matter, as editors write it.

Post files come from people and from a shared folder, so the parser treats them as hostile: the file is
size-checked before it is read, YAML is loaded with a loader that knows no tags, anchors or aliases and
only strings, lists, mappings and null (PyYAML's event API, https://pyyaml.org/wiki/PyYAMLDocumentation,
lets us check depth and size before anything is built), and every media path must name a plain file in the
inbox. Every problem becomes an ``InputError`` naming the file, the field and the fix; the problems of one
file are collected into one ``InputErrors`` where the rest of the file could still be checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from publisher.errors import InputError, combine_errors
from publisher.i18n import _
from publisher.intake.fieldcheck import FieldChecker, directory_fix, suggest
from publisher.intake.folders import exists
from publisher.intake.frontmatter import decode_post, load_front_matter
from publisher.intake.media import read_media
from publisher.intake.postsource import (
    RESERVED_NAMES,
    plain_name_problem,
    read_post_file,
)
from publisher.intake.postsource import declared_media_names as declared_media_names  # old import path
from publisher.models import MediaItem, Post, network_of
from publisher.ops.safetext import printable

ALLOWED_KEYS = (
    "id",
    "networks",
    "approved_by",
    "publish_at",
    "expires_at",
    "rubric",
    "hashtags",
    "mentions",
    "media",
    "link",
    "overrides",
    "author",
    "withdraw",
    "allow_duplicate",
)
MAX_MEDIA = 20
_HASHTAG_RE = re.compile(r"^\w+$")
_POST_ID_RE = re.compile(r"^\w[\w.-]{0,99}$")
_YES, _NO = ("true", "yes", "да"), ("false", "no", "нет")


class DirectoryLike(Protocol):
    """What the parser needs of ``publisher.compose.directory.Directory``."""

    def has_rubric(self, key: str) -> bool: ...
    def has_entity(self, key: str) -> bool: ...


def _rubric_networks(directory: DirectoryLike | None, key: object) -> tuple[str, ...]:
    """The rubric's usual targets (``networks:`` in the directory), used when a post file names none."""
    rubric = getattr(directory, "rubric", None)
    found = rubric(key) if callable(rubric) and isinstance(key, str) else None
    return tuple(getattr(found, "networks", ()))


def parse_post_file(
    path: Path,
    *,
    inbox_root: Path,
    zone: ZoneInfo,
    known_targets: Collection[str],
    now: datetime,
    max_bytes: int,
    max_media_bytes: int,
    default_expiry: timedelta | None,
    directory: DirectoryLike | None = None,
    max_media_total: int | None = None,
) -> Post:
    """Read, validate and return one post. Raises InputError (``InputErrors`` for several) for any problem.

    ``now`` must be timezone-aware. Media must be plain names of files next to the post file or in the
    folder named like it (``kino.md`` -> ``kino/``), both inside ``inbox_root``. ``max_media_total`` bounds the
    bytes all media of the post bring together, counted as read (and so as copied): a sparse file counts in full.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    source = printable(path.name)  # a name with control characters or undecodable bytes: stored escaped
    if not path.parent.resolve().is_relative_to(inbox_root.resolve()):
        raise InputError(
            source, "", _("is not inside the inbox"), _("put it into {folder}").format(folder=inbox_root)
        )
    raw, dir_fd = read_post_file(path, max_bytes)
    try:
        data, body = load_front_matter(decode_post(raw, source), source)
        check = FieldChecker(source)
        post = _validate(
            check, data, body, path, dir_fd, zone, known_targets, now, directory, max_media_bytes
        )
        if default_expiry is not None and post["expires_at"] is None and not post["wants_slot"]:
            start = post["publish_at"] if post["publish_at"] and post["publish_at"] > now else now
            post["expires_at"] = start + default_expiry
        total = sum(item.size for item in post["media"])
        if max_media_total is not None and total > max_media_total:
            check.add(
                "media",
                f"brings {total} bytes together (at most {max_media_total} per post)",
                "use fewer or smaller files, or split the post",
            )
    finally:
        os.close(dir_fd)
    if check.problems:
        raise combine_errors(source, check.problems)
    key = hashlib.sha256(raw)
    for item in post["media"]:
        key.update(b"\x00" + item.sha256.encode())
    return Post(source_name=source, source_key=key.hexdigest(), body=body, **post)


def _validate(
    check: FieldChecker,
    data: dict[Any, Any],
    body: str,
    path: Path,
    dir_fd: int,
    zone: ZoneInfo,
    known_targets: Collection[str],
    now: datetime,
    directory: DirectoryLike | None,
    max_media_bytes: int,
) -> dict[str, Any]:
    identity = _identity(check, data, path)
    unknown = [str(k) for k in data if k not in ALLOWED_KEYS]
    for key in unknown:
        check.add(
            f"'{key}'",
            _("is not a known field"),
            suggest(key, ALLOWED_KEYS) + _("allowed fields: {names}").format(names=", ".join(ALLOWED_KEYS)),
        )
    approved_by = check.text(
        data,
        "approved_by",
        required=_("the queue accepts approved posts only; add 'approved_by: <name>'"),
        limit=200,
    )
    identity["author"] = check.text(data, "author", limit=200) or approved_by or ""
    if identity["withdraw"]:
        # Withdrawing needs only the identity and who asks: the rest of the file may be out of date.
        return {**_WITHDRAWN, **identity, "approved_by": approved_by or ""}
    targets = _targets(check, data, known_targets, _rubric_networks(directory, data.get("rubric")))
    # "publish_at: slot": the next free posting slot, chosen when the post is stored (publisher.plan.slots)
    raw_when = data.get("publish_at")
    wants_slot = isinstance(raw_when, str) and raw_when.strip().casefold() == "slot"
    # "publish_at: now": as soon as possible, the same as leaving it out, but said on purpose
    wants_now = isinstance(raw_when, str) and raw_when.strip().casefold() in ("now", "сейчас")
    publish_at = None if wants_slot or wants_now else check.when(data, "publish_at", zone, now)
    expires_at = check.when(data, "expires_at", zone, now)
    if expires_at is not None and expires_at <= now:
        check.add("expires_at", _("is in the past"), _("remove it or give a later time"))
    elif expires_at is not None and publish_at is not None and expires_at <= publish_at:
        check.add(
            "expires_at", _("is not after publish_at"), _("give an expiry later than the publishing time")
        )
    rubric = check.text(data, "rubric", limit=100)
    if rubric is not None and directory is not None and not directory.has_rubric(rubric):
        check.add(
            "rubric",
            _("'{key}' is not in the directory").format(key=rubric),
            suggest(rubric, getattr(directory, "rubrics", ()))
            + directory_fix(directory, _("use a rubric key from the directory file")),
        )
    hashtags = [h.lstrip("#") for h in check.names(data, "hashtags")]
    for tag in hashtags:
        if not _HASHTAG_RE.match(tag) or len(tag) > 100:
            check.add(
                "hashtags",
                _("'{tag}' is not a hashtag").format(tag=tag),
                _("a hashtag is one word: letters, digits and _"),
            )
    mentions = check.names(data, "mentions")
    for key in mentions:
        if directory is not None and not directory.has_entity(key):
            check.add(
                "mentions",
                _("'{key}' is not in the directory").format(key=key),
                suggest(key, getattr(directory, "entities", ()))
                + directory_fix(directory, _("use an entity key from the directory file")),
            )
    link = check.text(data, "link", limit=2000)
    if link is not None:
        parts = urlsplit(link) if not re.search(r"\s", link) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            check.add(
                "link",
                _("is not a web address: {value}").format(value=repr(link[:60])),
                _("write a full https://... address"),
            )
    media = _media(check, data, path, dir_fd, max_media_bytes)
    overrides = _overrides(check, data, targets)
    if not body and not media:
        check.add("text", _("is empty"), _("write the post text below the closing '---' line"))
    check.clean("text", body, allowed="\n\t")
    return {
        **identity,
        "targets": tuple(targets),
        "approved_by": approved_by or "",
        "publish_at": publish_at,
        "expires_at": expires_at,
        "rubric": rubric,
        "hashtags": tuple(dict.fromkeys(hashtags)),
        "mentions": tuple(dict.fromkeys(mentions)),
        "media": tuple(media),
        "overrides": overrides,
        "link": link,
        "wants_slot": wants_slot,
    }


_WITHDRAWN: dict[str, Any] = {
    "targets": (),
    "publish_at": None,
    "expires_at": None,
    "rubric": None,
    "hashtags": (),
    "mentions": (),
    "media": (),
    "overrides": {},
    "link": None,
    "wants_slot": False,
}


def _flag(check: FieldChecker, data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in _YES + _NO:
        return value.strip().lower() in _YES
    check.add(key, _("must be true or false"), _("write '{key}: true'").format(key=key))
    return False


def _identity(check: FieldChecker, data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The post's identity (``id:``, else the file name), ``withdraw`` and ``allow_duplicate``."""
    given = data.get("id")
    key = path.name[: -len(".md")] if path.name.lower().endswith(".md") else path.stem
    if given is not None:
        if isinstance(given, str) and _POST_ID_RE.match(given.strip()):
            key = given.strip()
        else:
            check.add(
                "id",
                _("is not a post id: {value}").format(value=repr(str(given)[:40])),
                _("write one word of letters, digits, '-' or '_', e.g. 'id: kino-2026-12'"),
            )
    elif not _POST_ID_RE.match(key):
        key = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return {
        "key": key,
        "withdraw": _flag(check, data, "withdraw"),
        "allow_duplicate": _flag(check, data, "allow_duplicate"),
    }


def _targets(
    check: FieldChecker, data: Mapping[str, Any], known: Collection[str], rubric_default: tuple[str, ...] = ()
) -> list[str]:
    fix = _("add 'networks: [vk, x, facebook, telegram]' (the targets to publish to)")
    if "networks" not in data and rubric_default:
        data = {**data, "networks": list(rubric_default)}
    if data.get("networks") in (None, [], ""):
        check.add("networks", _("is missing") if "networks" not in data else _("is empty"), fix)
        return []
    targets: list[str] = []
    for name in check.names(data, "networks"):
        if name not in known and name.lower() in known:
            name = name.lower()
        if name not in known:
            check.add(
                "networks",
                _("'{name}' is not a configured target").format(name=name),
                suggest(name, known) + _("known: {names}").format(names=", ".join(sorted(known))),
            )
        elif name not in targets:
            targets.append(name)
    return targets


def _media(
    check: FieldChecker, data: Mapping[str, Any], path: Path, dir_fd: int, limit: int
) -> list[MediaItem]:
    names = check.names(data, "media")
    if len(names) > MAX_MEDIA:
        check.add(
            "media",
            _("lists {count} files (at most {limit})").format(count=len(names), limit=MAX_MEDIA),
            _("split the post"),
        )
        return []
    folder_fd = _folder(check, path, dir_fd)
    items: list[MediaItem] = []
    try:
        for name in dict.fromkeys(names):
            problem = plain_name_problem(name)
            if problem is not None:
                check.add(
                    f"media '{name[:80]}'",
                    problem,
                    _("list a plain file name and put the file next to {name} or in {folder}/").format(
                        name=path.name, folder=path.stem
                    ),
                )
                continue
            where, base = dir_fd, path.parent
            if folder_fd is not None and _exists(folder_fd, name):
                where, base = folder_fd, path.parent / path.stem
            try:
                items.append(read_media(where, name, path=base / name, source=check.source, max_bytes=limit))
            except InputError as exc:
                check.problems.append(exc)
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    return items


def _folder(check: FieldChecker, path: Path, dir_fd: int) -> int | None:
    """The media folder named like the post (``kino/``), opened without following symlinks."""
    if path.stem in RESERVED_NAMES:
        return None
    try:
        st = os.stat(path.stem, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISLNK(st.st_mode):
            check.add(f"media folder '{path.stem}'", _("is a symbolic link"), _("make it a real folder"))
        return None
    try:
        return os.open(path.stem, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None


def _exists(dir_fd: int, name: str) -> bool:
    """``folders.exists``, with a name that cannot even be looked up taken as absent (read_media says why)."""
    with contextlib.suppress(OSError):
        return exists(dir_fd, name)
    return False


def _overrides(check: FieldChecker, data: Mapping[str, Any], targets: list[str]) -> dict[str, str]:
    value = data.get("overrides")
    if value is None:
        return {}
    fix = _("write 'overrides: {x: {text: \"...\"}}'")
    if not isinstance(value, dict):
        check.add("overrides", _("must map a network or target to its text"), fix)
        return {}
    allowed = set(targets) | {network_of(t) for t in targets}
    result: dict[str, str] = {}
    for key, spec in value.items():
        field = f"overrides.{key}"
        if not isinstance(key, str) or key not in allowed:
            check.add(
                field,
                _("is not one of this post's targets or networks"),
                _("use one of: {names}").format(names=", ".join(sorted(allowed))),
            )
            continue
        if isinstance(spec, dict):
            extra = [str(k) for k in spec if k != "text"]
            if extra:
                check.add(
                    field,
                    _("has unknown fields: {names}").format(names=", ".join(extra)),
                    _("only 'text' can be overridden"),
                )
            spec = spec.get("text")
        if not isinstance(spec, str) or not spec.strip():
            check.add(field, _("needs a non-empty text"), fix)
            continue
        if check.clean(field, spec, allowed="\n\t"):
            result[key] = spec.strip()
    return result
