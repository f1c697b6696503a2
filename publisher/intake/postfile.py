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
from publisher.i18n import _
from publisher.intake.frontmatter import decode_post, load_front_matter
from publisher.intake.media import open_regular, read_limited, read_media
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
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=731)
RESERVED_NAMES = frozenset({"processed", "rejected"})
_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
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
            label="the post file",
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
                    _("contains an invisible control character (U+{code})").format(code=f"{ord(char):04X}"),
                    _("retype the text or paste it as plain text, without special characters"),
                )
                return False
        return True

    def text(self, data: Mapping[str, Any], key: str, *, required: str = "", limit: int = 500) -> str | None:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            if len(value) > limit:
                self.add(key, _("is too long (at most {limit} characters)").format(limit=limit))
                return None
            if not self.clean(key, value):
                return None
            return value.strip()
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(key, _("is missing") if key not in data else _("is empty"), required)
            return None
        self.add(key, _("must be a single text value"), _("write '{key}: <text>'").format(key=key))
        return None

    def names(self, data: Mapping[str, Any], key: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
            self.add(key, _("must be a list of names"), _("write '{key}: [first, second]'").format(key=key))
            return []
        if key != "media" and not all(self.clean(key, v) for v in items):  # media names: plain_name_problem
            return []
        return [v.strip() for v in items]

    def when(self, data: Mapping[str, Any], key: str, zone: ZoneInfo, now: datetime) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        fix = _("write '{key}: 2026-12-01 18:00' (local time) or '2026-12-01T18:00+03:00'").format(key=key)
        if key == "publish_at":
            fix += _(" or 'slot' (the next free posting slot of the rubric)")
        match = _TIME_RE.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            self.add(key, _("is not a date and time: {value}").format(value=repr(str(value)[:40])), fix)
            return None
        day, clock, offset = match.groups()
        offset = "" if offset is None else "+00:00" if offset == "Z" else offset
        try:
            clock = "0" + clock if clock[1] == ":" else clock
            parsed = datetime.fromisoformat(f"{day}T{clock}{offset}")
        except ValueError:
            self.add(key, _("is not a valid date and time: {value}").format(value=repr(value.strip())), fix)
            return None
        if not EARLIEST.year <= parsed.year <= now.year + 3:
            self.add(
                key, _("is out of range ({year}): a typo?").format(year=parsed.year), _("check the year")
            )
            return None
        aware = self._local(key, parsed, zone) if parsed.tzinfo is None else parsed
        if aware is None:
            return None
        try:
            result = aware.astimezone(UTC)
        except OverflowError:
            self.add(key, _("is out of range"), _("check the date"))
            return None
        if not EARLIEST <= result <= now + MAX_AHEAD:
            self.add(
                key,
                _("is out of range ({date}): a typo?").format(date=f"{result:%Y-%m-%d}"),
                _("use a date within two years"),
            )
            return None
        return result

    def _local(self, key: str, naive: datetime, zone: ZoneInfo) -> datetime | None:
        """Local wall time -> aware; refuses a time skipped or repeated by a DST change (PEP 495 fold)."""
        early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if early.utcoffset() == late.utcoffset():
            return early
        fix = _("write the time with an explicit UTC offset, e.g. '2026-03-29T02:30+01:00'")
        roundtrip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if roundtrip != naive:
            problem = _("{time} does not exist in {zone} (clocks jump forward)")
            self.add(key, problem.format(time=f"{naive:%Y-%m-%d %H:%M}", zone=zone.key), fix)
        else:
            problem = _("{time} happens twice in {zone} (clocks go back)")
            self.add(key, problem.format(time=f"{naive:%Y-%m-%d %H:%M}", zone=zone.key), fix)
        return None


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return _("did you mean '{word}'? ").format(word=close[0]) if close else ""


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
    identity = _identity(check, data, path)
    unknown = [str(k) for k in data if k not in ALLOWED_KEYS]
    for key in unknown:
        check.add(
            f"'{key}'",
            _("is not a known field"),
            _suggest(key, ALLOWED_KEYS) + _("allowed fields: {names}").format(names=", ".join(ALLOWED_KEYS)),
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
            _suggest(rubric, getattr(directory, "rubrics", ()))
            + _("use a rubric key from the directory file"),
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
                _suggest(key, getattr(directory, "entities", ()))
                + _("use an entity key from the directory file"),
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


def _flag(check: _Checker, data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in _YES + _NO:
        return value.strip().lower() in _YES
    check.add(key, _("must be true or false"), _("write '{key}: true'").format(key=key))
    return False


def _identity(check: _Checker, data: Mapping[str, Any], path: Path) -> dict[str, Any]:
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
    check: _Checker, data: Mapping[str, Any], known: Collection[str], rubric_default: tuple[str, ...] = ()
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
                _suggest(name, known) + _("known: {names}").format(names=", ".join(sorted(known))),
            )
        elif name not in targets:
            targets.append(name)
    return targets


def _media(check: _Checker, data: Mapping[str, Any], path: Path, dir_fd: int, limit: int) -> list[MediaItem]:
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
            check.add(f"media folder '{path.stem}'", _("is a symbolic link"), _("make it a real folder"))
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
