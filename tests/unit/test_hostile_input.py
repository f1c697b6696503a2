"""Hostile input: every bad post file lands in rejected/ with a clear reason, nothing is deleted, the scan
goes on, and no file outside the inbox is ever opened. Plus fuzzing: the parser returns a Post or raises
InputError - nothing else, and it never hangs.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.errors import InputError
from publisher.intake.folders import note_name
from publisher.intake.inbox import Inbox
from publisher.ops.safetext import printable
from tests.hostile_corpus import CANARY, GOOD, Case, corpus, make_outside, parse, write

CASES = corpus()


def test_corpus_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 76 + 40  # the first corpus, and the cases issue 11 added
    assert len({c.name for c in CASES}) == len(CASES)


def _inventory(root: Path) -> dict[int, str]:
    """Inode -> relative path of every entry under root (lstat, symlinks not followed)."""
    found: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            found[os.lstat(full).st_ino] = os.path.relpath(full, root)
    return found


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, os.stat_result | None]]]:
    """Record every os.open (resolving dir_fd) with what lstat said about the path just before."""
    calls: list[tuple[str, os.stat_result | None]] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        full = os.fspath(path)
        if dir_fd is not None and not os.path.isabs(full):
            full = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), full)
        try:
            info: os.stat_result | None = os.lstat(full)
        except OSError:
            info = None
        calls.append((os.path.normpath(full), info))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", recording_open)
    yield calls


def _assert_nothing_outside_opened(
    calls: list[tuple[str, os.stat_result | None]], inbox: Path, outside: Path
) -> None:
    outside_inodes = {os.lstat(os.path.join(d, f)).st_ino for d, _, fs in os.walk(outside) for f in fs}
    for path, info in calls:
        assert path.startswith(str(inbox) + os.sep) or path == str(inbox), f"opened outside the inbox: {path}"
        assert info is None or not stat.S_ISLNK(info.st_mode), f"opened a symlink: {path}"
        assert info is None or info.st_ino not in outside_inodes, f"opened a link to an outside file: {path}"
        if info is not None and not stat.S_ISDIR(info.st_mode):
            assert stat.S_ISREG(info.st_mode), f"opened a special file: {path}"


def _scan_all(inbox: Path, accept: Callable[[Path], str]) -> Any:
    return Inbox(inbox, settle_seconds=0, clock=lambda: 1000.0).scan(accept)


def _accept(path: Path) -> str:
    return parse(path).source_key[:8]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_file_is_rejected_with_a_clear_reason(
    case: Case, tmp_path: Path, opened: list[tuple[str, os.stat_result | None]]
) -> None:
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    make_outside(outside)
    case.build(inbox, outside, case.name)
    before = _inventory(inbox)
    outside_before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}

    report = _scan_all(inbox, _accept)

    assert report.accepted == [] and report.errors == []
    assert [name for name, _ in report.rejected] == [case.name]
    message = report.rejected[0][1]
    assert message.startswith(f"{printable(case.name)}: "), message
    assert case.expect in message, message
    assert printable(message, keep="\n") == message, "a control character reached the message"
    note = (inbox / "rejected" / note_name(case.name)).read_text(encoding="utf-8")
    assert case.expect in note and "drop it" in note and printable(case.name) in note
    assert os.path.lexists(inbox / "rejected" / case.name)
    assert not os.path.lexists(inbox / case.name)
    after = _inventory(inbox)
    assert set(before) <= set(after), "an entry of the inbox was deleted"
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == outside_before
    _assert_nothing_outside_opened(opened, inbox, outside)
    assert not any(CANARY.decode() in m for _, m in report.rejected)


def test_whole_corpus_in_one_scan_keeps_going_and_accepts_the_good_post(
    tmp_path: Path, opened: list[tuple[str, os.stat_result | None]]
) -> None:
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    make_outside(outside)
    for case in CASES:
        case.build(inbox, outside, case.name)
    write(inbox, "zz_good.md", f"{GOOD}\nmedia: [poster.jpg]")
    (inbox / "poster.jpg").write_bytes(b"\xff\xd8\xff\xe0good-poster")
    before = _inventory(inbox)

    report = _scan_all(inbox, _accept)

    assert [name for name, _ in report.accepted] == ["zz_good.md"]
    assert sorted(name for name, _ in report.rejected) == sorted(c.name for c in CASES)
    assert report.errors == []
    assert (inbox / "processed" / "zz_good.md").exists() and (inbox / "processed" / "poster.jpg").exists()
    for case in CASES:
        assert os.path.lexists(inbox / "rejected" / case.name), case.name
    assert set(before) <= set(_inventory(inbox)), "an entry of the inbox was deleted"
    _assert_nothing_outside_opened(opened, inbox, outside)
    # A second scan finds nothing left to do: rejected files are not retried in a loop.
    again = _scan_all(inbox, _accept)
    assert again.accepted == [] and again.rejected == []


def test_python_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(tmp_path, "evil.md", f"{GOOD}\nrubric: !!python/object/apply:os.system ['touch {marker}']")
    with pytest.raises(InputError, match="YAML tag"):
        parse(path)
    assert not marker.exists()


def test_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    levels = "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 12))
    path = write(tmp_path, "bomb.md", f"{GOOD}\nl0: &l0 [x]\n{levels}")
    with pytest.raises(InputError, match="anchors or aliases"):
        parse(path)


# Fuzzing ---------------------------------------------------------------------------------------------

_SNIPPETS = [
    "networks: [vk, x]",
    "networks: vk",
    "networks: [vk:bntu, telegram]",
    "approved_by: редактор",
    "approved_by:",
    "publish_at: 2026-03-29 02:30",
    "publish_at: 2026-10-25T02:30+01:00",
    "publish_at: 2026-04-01 9:05",
    "expires_at: 2026-04-01 10:00:00Z",
    "rubric: kino",
    "mentions: [fitr, bntu]",
    "hashtags: ['#a', b]",
    "media: [poster.jpg]",
    "media: [../x.jpg, /etc/passwd]",
    "link: https://library.bntu.by/",
    "overrides: {x: {text: short}}",
    "overrides:\n  x: short",
    "a: &a [*a]",
    "b: !!python/object:os.system",
    "? [a, b]\n: c",
    "{",
    "[[[[[",
    "- item",
    "'unterminated",
    "key: value: more",
    "\t\tx: 1",
    "...",
    "%YAML 1.1",
    "<<: {a: 1}",
    "~: null",
]


def _fuzz_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    (folder / "poster.jpg").write_bytes(b"\xff\xd8\xff\xe0fuzz")
    return folder


FUZZ_DIR = _fuzz_dir()


def _parse_bytes(data: bytes) -> None:
    path = FUZZ_DIR / "fuzz.md"
    path.write_bytes(data)
    try:
        parse(path)
    except InputError as exc:
        assert str(exc).startswith("fuzz.md: ")


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    _parse_bytes(data)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.sampled_from(_SNIPPETS), st.text(max_size=40)), max_size=12),
    st.text(max_size=200),
    st.booleans(),
)
def test_fuzz_yamlish_front_matter(lines: list[str], body: str, closed: bool) -> None:
    text = "---\n" + "\n".join(lines) + ("\n---\n" if closed else "\n") + body
    _parse_bytes(text.encode("utf-8", errors="surrogatepass"))
