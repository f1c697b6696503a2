"""Helpers for the post-file tests and the hostile corpus: bad post files and directories an inbox may get.

Each ``Case`` builds its files into an inbox (and, for escapes, into an ``outside`` folder holding files
that must never be read) and says which fragment the rejection message must contain.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.intake.postfile import parse_post_file
from publisher.models import Post
from tests.media import mp4_bytes

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"jpeg-body" * 10
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"png-body" * 10
MP4 = mp4_bytes(3.0)
MOV = mp4_bytes(3.0, quicktime=True)
CANARY = b"TOPSECRET-CANARY-do-not-read"
TARGETS = frozenset({"vk", "x", "facebook", "telegram", "vk:bntu"})
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAX_BYTES = 100_000
MAX_MEDIA = 1_000_000
MAX_MEDIA_TOTAL = 1_500_000


class StubDirectory:
    """Stands in for publisher.compose.directory.Directory: only the two look-ups the parser needs."""

    rubrics = frozenset({"древняядичь", "kino"})
    entities = frozenset({"fitr", "bntu"})

    def has_rubric(self, key: str) -> bool:
        return key in self.rubrics

    def has_entity(self, key: str) -> bool:
        return key in self.entities


def parse(path: Path, **overrides: Any) -> Post:
    """parse_post_file with the test defaults (Europe/Berlin, NOW, the stub directory)."""
    kwargs: dict[str, Any] = {
        "inbox_root": path.parent,
        "zone": BERLIN,
        "known_targets": TARGETS,
        "now": NOW,
        "max_bytes": MAX_BYTES,
        "max_media_bytes": MAX_MEDIA,
        "max_media_total": MAX_MEDIA_TOTAL,
        "default_expiry": timedelta(hours=72),
        "directory": StubDirectory(),
    }
    kwargs.update(overrides)
    return parse_post_file(path, **kwargs)


def post_text(front: str, body: str = "Текст поста.") -> str:
    return f"---\n{front.strip(chr(10))}\n---\n{body}\n"


GOOD = "networks: [vk, x]\napproved_by: редактор дня"


def write(inbox: Path, name: str, front: str, body: str = "Текст поста.") -> Path:
    path = inbox / name
    path.write_text(post_text(front, body), encoding="utf-8")
    return path


def make_outside(outside: Path) -> None:
    """Files outside the inbox that a hostile post tries to reach; each would be accepted if read."""
    outside.mkdir(exist_ok=True)
    (outside / "secret.jpg").write_bytes(JPEG + CANARY)
    (outside / "secret.md").write_text(post_text(GOOD, CANARY.decode()), encoding="utf-8")
    (outside / "secret2.md").write_text(post_text(GOOD, CANARY.decode()), encoding="utf-8")
    (outside / "dir").mkdir(exist_ok=True)
    (outside / "dir" / "poster.jpg").write_bytes(JPEG + CANARY)


Builder = Callable[[Path, Path, str], object]


@dataclass(frozen=True)
class Case:
    name: str  # the post file name in the inbox
    expect: str  # a fragment the rejection message must contain
    build: Builder


def _front(front: str, body: str = "Текст поста.") -> Builder:
    return lambda inbox, outside, name: (inbox / name).write_text(post_text(front, body), encoding="utf-8")


def _raw(data: bytes) -> Builder:
    return lambda inbox, outside, name: (inbox / name).write_bytes(data)


def _with_media(media_name: str, make: Callable[[Path, Path], object]) -> Builder:
    def build(inbox: Path, outside: Path, name: str) -> None:
        write(inbox, name, f"{GOOD}\nmedia: [{media_name!r}]")
        make(inbox, outside)

    return build


def _sparse(inbox: Path, outside: Path, name: str) -> None:
    path = write(inbox, name, GOOD)
    os.truncate(path, 50 * 1024 * 1024)  # sparse: fast to create, never read


def _post_entry(make: Callable[[Path, Path], object]) -> Builder:
    return lambda inbox, outside, name: make(inbox / name, outside)


def _symlink_folder(inbox: Path, outside: Path, name: str) -> None:
    write(inbox, name, f"{GOOD}\nmedia: [poster.jpg]")
    (inbox / name.removesuffix(".md")).symlink_to(outside / "dir")


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def corpus() -> list[Case]:
    """At least 40 bad post files and directories, each with the fragment its rejection must show."""
    g = GOOD
    cases = [
        Case("invalid_yaml.md", "is not valid YAML", _front("networks: [vk\napproved_by: x")),
        Case("bad_indent.md", "is not valid YAML", _front("networks:\n - vk\n  - x\n approved_by: a")),
        Case("python_tag.md", "YAML tag", _front(f'{g}\nrubric: !!python/object/apply:os.system ["id"]')),
        Case("python_name.md", "YAML tag", _front(f"{g}\nrubric: !!python/name:os.system")),
        Case("custom_tag.md", "YAML tag", _front(f"{g}\nrubric: !secret kino")),
        Case("nul_bytes.md", "NUL bytes", _raw(post_text(g, "text\x00more").encode())),
        Case("invalid_utf8.md", "not UTF-8", _raw(post_text(g).encode() + b"\xff\xfe\xc3(")),
        Case(
            "latin1.md",
            "not UTF-8",
            _raw(post_text("networks: [vk]\napproved_by: José", "café").encode("latin-1")),
        ),
        Case("utf16.md", "NUL bytes", _raw(post_text(g).encode("utf-16"))),
        Case("huge.md", "too big", _sparse),
        Case("deep_lists.md", "nested too deeply", _front(f"{g}\nrubric: " + "[" * 5000 + "]" * 5000)),
        Case("deep_maps.md", "nested too deeply", _front(f"{g}\noverrides: " + "{a: " * 50 + "x" + "}" * 50)),
        Case("alias_bomb.md", "anchors or aliases", _front(f"{g}\n{BOMB}")),
        Case("alias.md", "anchors or aliases", _front("networks: &n [vk]\napproved_by: a\nhashtags: *n")),
        Case("merge_key.md", "'<<' is not a known field", _front("<<: {networks: [vk]}\napproved_by: a")),
        Case("list_front.md", "not a set of 'key: value' fields", _front("- vk\n- x")),
        Case("scalar_front.md", "not a set of 'key: value' fields", _front("just some words")),
        Case("no_front.md", "front matter is missing", _raw("Просто текст без полей.\n".encode())),
        Case("unclosed.md", "not closed", _raw(f"---\n{g}\nТекст\n".encode())),
        Case("empty_front.md", "front matter is empty", _raw(b"---\n---\nText\n")),
        Case("empty_file.md", "front matter is missing", _raw(b"")),
        Case("two_docs.md", "more than one YAML document", _front("networks: [vk]\n--- {approved_by: a}")),
        Case("duplicate_key.md", "appears twice", _front(f"{g}\napproved_by: кто-то ещё")),
        Case("control_char.md", "not valid YAML", _front(f"{g}\nrubric: kino\x07")),
        Case("missing_approved.md", "approved_by is missing", _front("networks: [vk]")),
        Case("empty_approved.md", "approved_by is empty", _front('networks: [vk]\napproved_by: ""')),
        Case(
            "approved_list.md",
            "approved_by must be a single text",
            _front("networks: [vk]\napproved_by: [a]"),
        ),
        Case("missing_networks.md", "networks is missing", _front("approved_by: a")),
        Case("empty_networks.md", "networks is empty", _front("networks: []\napproved_by: a")),
        Case("networks_map.md", "networks must be a list", _front("networks: {vk: 1}\napproved_by: a")),
        Case(
            "unknown_network.md",
            "'myspace' is not a configured target",
            _front("networks: [myspace]\napproved_by: a"),
        ),
        Case(
            "unknown_account.md",
            "'vk:nobody' is not a configured",
            _front("networks: [vk:nobody]\napproved_by: a"),
        ),
        Case("unknown_rubric.md", "rubric 'nope' is not in the directory", _front(f"{g}\nrubric: nope")),
        Case(
            "unknown_entity.md",
            "mentions 'nobody' is not in the directory",
            _front(f"{g}\nmentions: [fitr, nobody]"),
        ),
        Case("unknown_key.md", "did you mean 'publish_at'", _front(f"{g}\npublsh_at: 2026-04-01 10:00")),
        Case("bad_hashtag.md", "is not a hashtag", _front(f"{g}\nhashtags: ['two words']")),
        Case("bad_link.md", "link is not a web address", _front(f"{g}\nlink: javascript:alert(1)")),
        Case(
            "override_other.md",
            "overrides.facebook is not one of",
            _front(f"{g}\noverrides: {{facebook: {{text: t}}}}"),
        ),
        Case("override_list.md", "overrides must map", _front(f"{g}\noverrides: [x]")),
        Case(
            "override_field.md",
            "unknown fields: media",
            _front(f"{g}\noverrides: {{x: {{text: t, media: m}}}}"),
        ),
        Case("empty_body.md", "text is empty", _front(g, "")),
        Case("gap_time.md", "does not exist in Europe/Berlin", _front(f"{g}\npublish_at: 2026-03-29 02:30")),
        Case("fold_time.md", "happens twice in Europe/Berlin", _front(f"{g}\npublish_at: 2026-10-25 02:30")),
        Case("year_1970.md", "out of range (1970)", _front(f"{g}\npublish_at: 1970-01-01 00:00")),
        Case("year_2100.md", "out of range (2100)", _front(f"{g}\npublish_at: 2100-01-01 10:00")),
        Case("year_9999.md", "out of range (9999)", _front(f"{g}\npublish_at: 9999-12-31T23:59+14:00")),
        Case("too_far.md", "out of range (2029", _front(f"{g}\npublish_at: 2029-01-01 10:00")),
        Case("bad_date.md", "not a valid date", _front(f"{g}\npublish_at: 2026-02-30 18:00")),
        Case("words_date.md", "not a date and time", _front(f"{g}\npublish_at: завтра вечером")),
        Case("date_only.md", "not a date and time", _front(f"{g}\npublish_at: 2026-04-01")),
        Case("expired.md", "expires_at is in the past", _front(f"{g}\nexpires_at: 2026-02-01 10:00")),
        Case(
            "expires_first.md",
            "not after publish_at",
            _front(f"{g}\npublish_at: 2026-04-02 10:00\nexpires_at: 2026-04-01 10:00"),
        ),
        # Media escapes and special files.
        Case("media_dotdot.md", "is a path", _with_media("../outside/secret.jpg", lambda i, o: None)),
        Case("media_dotdot_only.md", "is a path", _with_media("..", lambda i, o: None)),
        Case(
            "media_absolute.md",
            "is an absolute path",
            lambda i, o, n: write(i, n, f"{g}\nmedia: ['{o}/secret.jpg']"),
        ),
        Case("media_dev_zero.md", "is an absolute path", _with_media("/dev/zero", lambda i, o: None)),
        Case("media_windows.md", "is an absolute path", _with_media("C:\\secret.jpg", lambda i, o: None)),
        Case("media_hidden.md", "is not a media file name", _with_media(".secret.jpg", lambda i, o: None)),
        Case(
            "media_symlink.md",
            "is a symbolic link",
            _with_media("link.jpg", lambda i, o: (i / "link.jpg").symlink_to(o / "secret.jpg")),
        ),
        Case(
            "media_zero_link.md",
            "is a symbolic link",
            _with_media("zero.jpg", lambda i, o: (i / "zero.jpg").symlink_to("/dev/zero")),
        ),
        Case(
            "media_hardlink.md",
            "has other hard links",
            _with_media("hard.jpg", lambda i, o: os.link(o / "secret.jpg", i / "hard.jpg")),
        ),
        Case("media_fifo.md", "is a FIFO", _with_media("pipe.jpg", lambda i, o: os.mkfifo(i / "pipe.jpg"))),
        Case(
            "media_dir.md", "is a directory", _with_media("album.jpg", lambda i, o: (i / "album.jpg").mkdir())
        ),
        Case("media_missing.md", "'ghost.jpg' does not exist", _with_media("ghost.jpg", lambda i, o: None)),
        Case(
            "media_exe.md",
            "not an image or video",
            _with_media("evil.jpg", lambda i, o: (i / "evil.jpg").write_bytes(b"MZ\x90\x00" + b"x" * 64)),
        ),
        Case(
            "media_mismatch.md",
            "content is image/jpeg but the extension says image/png",
            _with_media("photo.png", lambda i, o: (i / "photo.png").write_bytes(JPEG)),
        ),
        Case(
            "media_pdf.md",
            "extension we do not publish",
            _with_media("doc.pdf", lambda i, o: (i / "doc.pdf").write_bytes(b"%PDF-1.4")),
        ),
        Case(
            "media_empty.md",
            "is empty",
            _with_media("blank.jpg", lambda i, o: (i / "blank.jpg").write_bytes(b"")),
        ),
        Case(
            "media_huge.md",
            "too big",
            _with_media("big.mp4", lambda i, o: os.truncate(_touch(i / "big.mp4"), 50 * 1024 * 1024)),
        ),
        Case("media_folder_link.md", "media folder 'media_folder_link' is a symbolic link", _symlink_folder),
        Case(
            "media_many.md",
            "at most 20",
            _front(f"{g}\nmedia: [{', '.join(f'p{n}.jpg' for n in range(30))}]"),
        ),
        # The post file itself is not a plain file of the inbox.
        Case(
            "post_symlink.md", "is a symbolic link", _post_entry(lambda p, o: p.symlink_to(o / "secret.md"))
        ),
        Case(
            "post_hardlink.md", "has other hard links", _post_entry(lambda p, o: os.link(o / "secret2.md", p))
        ),
        Case("post_fifo.md", "is a FIFO", _post_entry(lambda p, o: os.mkfifo(p))),
        Case("post_dir.md", "is a directory", _post_entry(lambda p, o: p.mkdir())),
        Case("post_dev_zero.md", "is a symbolic link", _post_entry(lambda p, o: p.symlink_to("/dev/zero"))),
        # File names that cannot be printed, logged or suffixed as they are (issue 11, points 3 and 4).
        Case("forged\n2026-01-01 INFO all good.md", "approved_by is missing", _front("networks: [vk]")),
        Case("\x1b[2J\x1b[Hclear.md", "approved_by is missing", _front("networks: [vk]")),
        Case("\x1b]0;owned\x07title.md", "approved_by is missing", _front("networks: [vk]")),
        Case("\u202egpj.md", "approved_by is missing", _front("networks: [vk]")),
        Case("tab\there.md", "approved_by is missing", _front("networks: [vk]")),
        Case(
            os.fsdecode("Афиша".encode("cp1251") + b".md"), "approved_by is missing", _front("networks: [vk]")
        ),
        Case(os.fsdecode(b"\xff\xfe.md"), "not UTF-8", _raw(b"---\xff\n")),
        Case("n" * 250 + ".md", "approved_by is missing", _front("networks: [vk]")),
        Case("я" * 126 + ".md", "approved_by is missing", _front("networks: [vk]")),
        Case("long" + "x" * 240 + ".md", "is not valid YAML", _front("networks: [vk\napproved_by: x")),
    ]
    return cases + control_cases() + bound_cases()


def _two_big_images(sparse: bool) -> Builder:
    """Two images each under the per-file limit, together over the per-post limit."""

    def build(inbox: Path, outside: Path, name: str) -> None:
        write(inbox, name, f"{GOOD}\nmedia: [a.jpg, b.jpg]")
        for image in ("a.jpg", "b.jpg"):
            path = inbox / image
            path.write_bytes(JPEG if sparse else JPEG + b"\xab" * (900_000 - len(JPEG)))
            if sparse:
                os.truncate(path, 900_000)  # a hole: no disk used here, 900 KB when copied

    return build


CONTROL = "contains an invisible control character"


def control_cases() -> list[Case]:
    """Control characters in every field and in the text (YAML double quotes can spell them: \\e, \\a...)."""
    g, c = GOOD, CONTROL
    return [
        Case(
            "ctl_approved_esc.md",
            f"approved_by {c} (U+001B)",
            _front('networks: [vk]\napproved_by: "ed\\e[2J"'),
        ),
        Case(
            "ctl_approved_bel.md", f"approved_by {c} (U+0007)", _front('networks: [vk]\napproved_by: "ed\\a"')
        ),
        Case(
            "ctl_approved_del.md",
            f"approved_by {c} (U+007F)",
            _front('networks: [vk]\napproved_by: "e\\x7fd"'),
        ),
        Case("ctl_rubric_nul.md", f"rubric {c} (U+0000)", _front(f'{g}\nrubric: "kino\\0"')),
        Case("ctl_hashtag_csi.md", f"hashtags {c} (U+009B)", _front(f'{g}\nhashtags: ["tag\\x9b2J"]')),
        Case("ctl_mention_esc.md", f"mentions {c} (U+001B)", _front(f'{g}\nmentions: ["fitr\\e[0m"]')),
        Case(
            "ctl_network_esc.md", f"networks {c} (U+001B)", _front('networks: ["vk\\e[8m"]\napproved_by: a')
        ),
        Case(
            "ctl_link_osc8.md",
            f"link {c} (U+001B)",
            _front(f'{g}\nlink: "https://library.bntu.by/\\e]8;;https://evil.example\\a"'),
        ),
        Case("ctl_override_esc.md", f"overrides.x {c} (U+001B)", _front(f'{g}\noverrides: {{x: "a\\e[2J"}}')),
        Case(
            "ctl_override_nel.md",
            f"overrides.x {c} (U+0085)",
            _front(f'{g}\noverrides: {{x: {{text: "a\\Nb"}}}}'),
        ),
        Case("ctl_body_clear.md", f"text {c} (U+001B)", _front(g, "Кино\x1b[2J\x1b[H")),
        Case("ctl_body_title.md", f"text {c} (U+001B)", _front(g, "Кино\x1b]0;owned\x07")),
        Case(
            "ctl_body_osc8.md",
            f"text {c} (U+001B)",
            _front(g, "\x1b]8;;https://evil\x1b\\клик\x1b]8;;\x1b\\"),
        ),
        Case("ctl_body_c1_csi.md", f"text {c} (U+009B)", _front(g, "Кино\u009b2J")),
        Case("ctl_body_backspace.md", f"text {c} (U+0008)", _front(g, "pass\x08\x08\x08\x08word")),
        Case("ctl_body_del.md", f"text {c} (U+007F)", _front(g, "a\x7fb")),
        Case("ctl_body_lone_cr.md", f"text {c} (U+000D)", _front(g, "видно\rскрыто")),
        Case("ctl_body_vt.md", f"text {c} (U+000B)", _front(g, "строка\x0bследующая")),
        Case("ctl_body_nel.md", f"text {c} (U+0085)", _front(g, "a\u0085b")),
        Case("ctl_body_bell.md", f"text {c} (U+0007)", _front(g, "дзынь\x07")),
        Case("media_name_newline.md", "contains control characters", _front(f'{g}\nmedia: ["a\\nb.jpg"]')),
        Case("media_name_esc.md", "contains control characters", _front(f'{g}\nmedia: ["\\e[2J.jpg"]')),
    ]


def bound_cases() -> list[Case]:
    """Values out of range or of the wrong kind, sizes counted as copied, and tags in disguise."""
    g = GOOD
    return [
        Case("media_total.md", "brings 1800000 bytes together (at most 1500000", _two_big_images(False)),
        Case("media_total_sparse.md", "brings 1800000 bytes together", _two_big_images(True)),
        Case("media_long_name.md", "cannot be examined", _front(f"{g}\nmedia: [{'x' * 300}.jpg]")),
        Case("time_huge_number.md", "not a date and time", _front(f"{g}\npublish_at: 99999999999999999999")),
        Case("time_year_10000.md", "not a date and time", _front(f"{g}\npublish_at: 10000-01-01 00:00")),
        Case("time_hour_25.md", "not a valid date and time", _front(f"{g}\npublish_at: 2026-04-01 25:00")),
        Case(
            "time_bad_offset.md",
            "not a valid date and time",
            _front(f"{g}\npublish_at: 2026-04-01T10:00+99:99"),
        ),
        Case("expires_year_1.md", "out of range (1)", _front(f"{g}\nexpires_at: 0001-01-01 00:00")),
        Case("hashtag_too_long.md", "is not a hashtag", _front(f"{g}\nhashtags: [{'a' * 101}]")),
        Case(
            "approved_too_long.md",
            "approved_by is too long",
            _front(f"networks: [vk]\napproved_by: {'a' * 201}"),
        ),
        Case("link_no_host.md", "link is not a web address", _front(f"{g}\nlink: https://")),
        Case("link_file.md", "link is not a web address", _front(f"{g}\nlink: file:///etc/passwd")),
        Case("link_space.md", "link is not a web address", _front(f"{g}\nlink: https://a b.example/")),
        Case("link_too_long.md", "link is too long", _front(f"{g}\nlink: https://a.example/{'x' * 2000}")),
        Case(
            "networks_number.md",
            "networks '1' is not a configured target",
            _front("networks: [vk, 1]\napproved_by: a"),
        ),
        Case("override_empty.md", "overrides.x needs a non-empty text", _front(f'{g}\noverrides: {{x: ""}}')),
        Case(
            "override_text_list.md",
            "overrides.x needs a non-empty text",
            _front(f"{g}\noverrides: {{x: {{text: [a]}}}}"),
        ),
        Case("mentions_map.md", "mentions must be a list of names", _front(f"{g}\nmentions: {{a: 1}}")),
        Case("binary_tag.md", "YAML tag", _front(f"{g}\nrubric: !!binary aGVsbG8=")),
        Case("str_tag.md", "YAML tag", _front(f"{g}\nrubric: !!str kino")),
        Case("homoglyph_key.md", "is not a known field", _front("networks: [vk]\n\u0430pproved_by: a")),
        Case("cesu_surrogate.md", "not UTF-8", _raw(post_text(g).encode() + b"\xed\xa0\x80")),
    ]


def _touch(path: Path) -> Path:
    path.write_bytes(MP4)
    return path
