"""Parsing and validating a post file: Markdown with YAML front matter, as editors write it.

Post files come from people and from a shared folder, so the parser treats them as hostile: the file is
size-checked before it is read, YAML is loaded with a loader that knows no tags, anchors or aliases and
only strings, lists, mappings and null (PyYAML's event API, https://pyyaml.org/wiki/PyYAMLDocumentation,
lets us check depth and size before anything is built), and every media path must name a plain file in the
inbox. Every problem becomes an ``InputError`` naming the file, the field and the fix; the problems of one
file are collected into one ``InputErrors`` where the rest of the file could still be checked.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from publisher.errors import InputError, combine_errors
from publisher.intake.frontmatter import decode_post, load_front_matter
from publisher.intake.media import open_regular, read_limited, read_media
from publisher.models import MediaItem, Post, network_of
from publisher.ops.safetext import printable

ALLOWED_KEYS = (
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
)
MAX_MEDIA = 20
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=731)
RESERVED_NAMES = frozenset({"processed", "rejected"})
_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_HASHTAG_RE = re.compile(r"^\w+$")


class DirectoryLike(Protocol):
    """What the parser needs of ``publisher.compose.directory.Directory``."""

    def has_rubric(self, key: str) -> bool: ...
    def has_entity(self, key: str) -> bool: ...


def _rubric_networks(directory: DirectoryLike | None, key: object) -> tuple[str, ...]:
    """The rubric's usual targets (``networks:`` in the directory), used when a post file names none."""
    rubric = getattr(directory, "rubric", None)
    found = rubric(key) if callable(rubric) and isinstance(key, str) else None
    return tuple(getattr(found, "networks", ()))


def read_post_file(path: Path, max_bytes: int) -> tuple[bytes, int]:
    """The file's bytes and an open descriptor of its directory (the caller closes it)."""
    source = path.name
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(source, "", f"its folder cannot be opened ({exc.strerror})") from None
    try:
        fd, _ = open_regular(
            dir_fd,
            path.name,
            source=source,
            field="",
            label="the post file",
            max_bytes=max_bytes,
            missing_fix="check the file name",
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
        raise InputError(source, "", f"the post file grew past {max_bytes} bytes while being read")
    return raw, dir_fd


def declared_media_names(path: Path, max_bytes: int) -> list[str]:
    """Best effort, never raises: the plain media names a post file lists (for moving them with it)."""
    try:
        raw, dir_fd = read_post_file(path, max_bytes)
        os.close(dir_fd)
        data, _ = load_front_matter(decode_post(raw, path.name), path.name)
    except (InputError, OSError):
        return []
    media = data.get("media")
    items = [media] if isinstance(media, str) else media if isinstance(media, list) else []
    return [m for m in items if isinstance(m, str) and plain_name_problem(m) is None]


def plain_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name next to the post, or None."""
    if not name or name.strip() != name:
        return "is empty or has spaces around it"
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if "/" in name or name in (".", ".."):
        return "is a path, not a plain file name"
    if "\x00" in name or any(ord(c) < 32 for c in name):
        return "contains control characters"
    if name.startswith(".") or name.lower().endswith(".md") or name in RESERVED_NAMES:
        return "is not a media file name"
    return None


class _Checker:
    """Collects problems so an editor sees all of them at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[InputError] = []

    def add(self, field: str, problem: str, fix: str = "") -> None:
        self.problems.append(InputError(self.source, field, problem, fix))

    def clean(self, field: str, value: str, *, allowed: str = "") -> bool:
        """False (and a problem) when ``value`` holds a control character: invisible in an editor, it would be
        published as garbage or act on a terminal (an ANSI escape sequence)."""
        for char in value:
            if char not in allowed and (ord(char) < 32 or 0x7F <= ord(char) <= 0x9F):
                self.add(
                    field,
                    f"contains an invisible control character (U+{ord(char):04X})",
                    "retype the text or paste it as plain text, without special characters",
                )
                return False
        return True

    def text(self, data: Mapping[str, Any], key: str, *, required: str = "", limit: int = 500) -> str | None:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            if len(value) > limit:
                self.add(key, f"is too long (at most {limit} characters)")
                return None
            if not self.clean(key, value):
                return None
            return value.strip()
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(key, "is missing" if key not in data else "is empty", required)
            return None
        self.add(key, "must be a single text value", f"write '{key}: <text>'")
        return None

    def names(self, data: Mapping[str, Any], key: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
            self.add(key, "must be a list of names", f"write '{key}: [first, second]'")
            return []
        if key != "media" and not all(self.clean(key, v) for v in items):  # media names: plain_name_problem
            return []
        return [v.strip() for v in items]

    def when(self, data: Mapping[str, Any], key: str, zone: ZoneInfo, now: datetime) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        fix = f"write '{key}: 2026-12-01 18:00' (local time) or '2026-12-01T18:00+03:00'"
        if key == "publish_at":
            fix += " or 'slot' (the next free posting slot of the rubric)"
        match = _TIME_RE.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            self.add(key, f"is not a date and time: {str(value)[:40]!r}", fix)
            return None
        day, clock, offset = match.groups()
        offset = "" if offset is None else "+00:00" if offset == "Z" else offset
        try:
            clock = "0" + clock if clock[1] == ":" else clock
            parsed = datetime.fromisoformat(f"{day}T{clock}{offset}")
        except ValueError:
            self.add(key, f"is not a valid date and time: {value.strip()!r}", fix)
            return None
        if not EARLIEST.year <= parsed.year <= now.year + 3:
            self.add(key, f"is out of range ({parsed.year}): a typo?", "check the year")
            return None
        aware = self._local(key, parsed, zone) if parsed.tzinfo is None else parsed
        if aware is None:
            return None
        try:
            result = aware.astimezone(UTC)
        except OverflowError:
            self.add(key, "is out of range", "check the date")
            return None
        if not EARLIEST <= result <= now + MAX_AHEAD:
            self.add(key, f"is out of range ({result:%Y-%m-%d}): a typo?", "use a date within two years")
            return None
        return result

    def _local(self, key: str, naive: datetime, zone: ZoneInfo) -> datetime | None:
        """Local wall time -> aware; refuses a time skipped or repeated by a DST change (PEP 495 fold)."""
        early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if early.utcoffset() == late.utcoffset():
            return early
        fix = "write the time with an explicit UTC offset, e.g. '2026-03-29T02:30+01:00'"
        roundtrip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if roundtrip != naive:
            self.add(key, f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks jump forward)", fix)
        else:
            self.add(key, f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (clocks go back)", fix)
        return None


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


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
        raise InputError(source, "", "is not inside the inbox", f"put it into {inbox_root}")
    raw, dir_fd = read_post_file(path, max_bytes)
    try:
        data, body = load_front_matter(decode_post(raw, source), source)
        check = _Checker(source)
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
    check: _Checker,
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
    unknown = [str(k) for k in data if k not in ALLOWED_KEYS]
    for key in unknown:
        check.add(
            f"'{key}'",
            "is not a known field",
            f"{_suggest(key, ALLOWED_KEYS)}allowed fields: {', '.join(ALLOWED_KEYS)}",
        )
    targets = _targets(check, data, known_targets, _rubric_networks(directory, data.get("rubric")))
    approved_by = check.text(
        data,
        "approved_by",
        required="the queue accepts approved posts only; add 'approved_by: <name>'",
        limit=200,
    )
    # "publish_at: slot": the next free posting slot, chosen when the post is stored (publisher.plan.slots)
    raw_when = data.get("publish_at")
    wants_slot = isinstance(raw_when, str) and raw_when.strip().casefold() == "slot"
    publish_at = None if wants_slot else check.when(data, "publish_at", zone, now)
    expires_at = check.when(data, "expires_at", zone, now)
    if expires_at is not None and expires_at <= now:
        check.add("expires_at", "is in the past", "remove it or give a later time")
    elif expires_at is not None and publish_at is not None and expires_at <= publish_at:
        check.add("expires_at", "is not after publish_at", "give an expiry later than the publishing time")
    rubric = check.text(data, "rubric", limit=100)
    if rubric is not None and directory is not None and not directory.has_rubric(rubric):
        check.add("rubric", f"'{rubric}' is not in the directory", "use a rubric key from the directory file")
    hashtags = [h.lstrip("#") for h in check.names(data, "hashtags")]
    for tag in hashtags:
        if not _HASHTAG_RE.match(tag) or len(tag) > 100:
            check.add("hashtags", f"'{tag}' is not a hashtag", "a hashtag is one word: letters, digits and _")
    mentions = check.names(data, "mentions")
    for key in mentions:
        if directory is not None and not directory.has_entity(key):
            check.add(
                "mentions", f"'{key}' is not in the directory", "use an entity key from the directory file"
            )
    link = check.text(data, "link", limit=2000)
    if link is not None:
        parts = urlsplit(link) if not re.search(r"\s", link) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            check.add("link", f"is not a web address: {link[:60]!r}", "write a full https://... address")
    media = _media(check, data, path, dir_fd, max_media_bytes)
    overrides = _overrides(check, data, targets)
    if not body and not media:
        check.add("text", "is empty", "write the post text below the closing '---' line")
    check.clean("text", body, allowed="\n\t")
    return {
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


def _targets(
    check: _Checker, data: Mapping[str, Any], known: Collection[str], rubric_default: tuple[str, ...] = ()
) -> list[str]:
    fix = "add 'networks: [vk, x, facebook, telegram]' (the targets to publish to)"
    if "networks" not in data and rubric_default:
        data = {**data, "networks": list(rubric_default)}
    if data.get("networks") in (None, [], ""):
        check.add("networks", "is missing" if "networks" not in data else "is empty", fix)
        return []
    targets: list[str] = []
    for name in check.names(data, "networks"):
        if name not in known and name.lower() in known:
            name = name.lower()
        if name not in known:
            check.add(
                "networks",
                f"'{name}' is not a configured target",
                f"{_suggest(name, known)}known: {', '.join(sorted(known))}",
            )
        elif name not in targets:
            targets.append(name)
    return targets


def _media(check: _Checker, data: Mapping[str, Any], path: Path, dir_fd: int, limit: int) -> list[MediaItem]:
    names = check.names(data, "media")
    if len(names) > MAX_MEDIA:
        check.add("media", f"lists {len(names)} files (at most {MAX_MEDIA})", "split the post")
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
                    f"list a plain file name and put the file next to {path.name} or in {path.stem}/",
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


def _folder(check: _Checker, path: Path, dir_fd: int) -> int | None:
    """The media folder named like the post (``kino/``), opened without following symlinks."""
    if path.stem in RESERVED_NAMES:
        return None
    try:
        st = os.stat(path.stem, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISLNK(st.st_mode):
            check.add(f"media folder '{path.stem}'", "is a symbolic link", "make it a real folder")
        return None
    try:
        return os.open(path.stem, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _overrides(check: _Checker, data: Mapping[str, Any], targets: list[str]) -> dict[str, str]:
    value = data.get("overrides")
    if value is None:
        return {}
    fix = "write 'overrides: {x: {text: \"...\"}}'"
    if not isinstance(value, dict):
        check.add("overrides", "must map a network or target to its text", fix)
        return {}
    allowed = set(targets) | {network_of(t) for t in targets}
    result: dict[str, str] = {}
    for key, spec in value.items():
        field = f"overrides.{key}"
        if not isinstance(key, str) or key not in allowed:
            check.add(
                field,
                "is not one of this post's targets or networks",
                f"use one of: {', '.join(sorted(allowed))}",
            )
            continue
        if isinstance(spec, dict):
            extra = [str(k) for k in spec if k != "text"]
            if extra:
                check.add(field, f"has unknown fields: {', '.join(extra)}", "only 'text' can be overridden")
            spec = spec.get("text")
        if not isinstance(spec, str) or not spec.strip():
            check.add(field, "needs a non-empty text", fix)
            continue
        if check.clean(field, spec, allowed="\n\t"):
            result[key] = spec.strip()
    return result
