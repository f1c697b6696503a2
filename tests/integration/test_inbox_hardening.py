"""The inbox trusts nothing, including its own folders, and every file has an end (issue 11, points 1-3, 8)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.intake.failures import StoredFailures
from publisher.intake.inbox import Inbox
from publisher.store import Store
from tests.hostile_corpus import GOOD, JPEG, parse, write


def accept(path: Path) -> str:
    return parse(path).source_key[:8]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` with its content (files) or link target (symlinks)."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = str(full.relative_to(root))
            if full.is_symlink():
                found[rel] = "-> " + os.readlink(full)
            elif full.is_file():
                found[rel] = full.read_bytes()
    return found


# 1. Settled at first sight -------------------------------------------------------------------------


def test_a_file_last_changed_long_ago_is_taken_at_first_sight(inbox: Path) -> None:
    write(inbox, "old.md", GOOD)
    later = Inbox(inbox, settle_seconds=60, clock=lambda: time.time() + 120)  # a cron run two minutes later
    assert [n for n, _ in later.scan(accept).accepted] == ["old.md"]


def test_a_copy_that_kept_its_old_modification_time_is_taken_at_first_sight(inbox: Path) -> None:
    """``cp -p``, rsync and file managers keep the source's mtime; the copy's ctime is new, and is not evidence."""
    write(inbox, "copied.md", GOOD)
    an_hour_ago = time.time() - 3600
    os.utime(inbox / "copied.md", (an_hour_ago, an_hour_ago))
    assert [n for n, _ in Inbox(inbox, settle_seconds=60).scan(accept).accepted] == ["copied.md"]


def test_a_file_changed_just_now_waits_and_is_reported(inbox: Path) -> None:
    write(inbox, "fresh.md", GOOD)
    report = Inbox(inbox, settle_seconds=60).scan(accept)
    assert report.deferred == ["fresh.md"] and report.accepted == []
    assert (inbox / "fresh.md").exists()


def test_fresh_media_holds_back_an_old_post(inbox: Path) -> None:
    write(inbox, "kino.md", f"{GOOD}\nmedia: [poster.jpg]")
    box = Inbox(inbox, settle_seconds=60, clock=lambda: time.time() + 120)
    (inbox / "poster.jpg").write_bytes(JPEG)
    os.utime(inbox / "poster.jpg", (time.time() + 100, time.time() + 100))  # copied "after" the post
    assert box.scan(accept).deferred == ["kino.md"]


# 2. The inbox's own folders ---------------------------------------------------------------------------


def test_a_plain_file_named_rejected_is_reported_and_good_posts_still_go_through(inbox: Path) -> None:
    (inbox / "rejected").write_text("someone's notes", encoding="utf-8")
    write(inbox, "good.md", GOOD)
    write(inbox, "bad.md", "networks: [vk]")  # no approval
    box = Inbox(inbox, settle_seconds=0)

    report = box.scan(accept)

    assert report.broken and "rejected is a file, not a folder: move it away" in report.broken[0]
    assert [n for n, _ in report.accepted] == ["good.md"]
    assert report.rejected == [] and report.stuck == ["bad.md"]
    assert (inbox / "bad.md").exists() and (inbox / "rejected").read_text(
        encoding="utf-8"
    ) == "someone's notes"
    assert box.scan(accept).stuck == ["bad.md"]  # left alone, not parsed and logged on every scan
    (inbox / "rejected").rename(inbox / "rejected-notes.txt")  # the operator's fix
    again = box.scan(accept)
    assert again.broken == [] and [n for n, _ in again.rejected] == ["bad.md"]
    assert (inbox / "rejected" / "bad.md.error.txt").exists()


@pytest.mark.parametrize("folder", ["processed", "rejected"])
def test_an_own_folder_that_is_a_symlink_is_never_followed(inbox: Path, tmp_path: Path, folder: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (inbox / folder).symlink_to(outside)
    write(inbox, "good.md", GOOD)
    write(inbox, "bad.md", "networks: [vk]")
    calls: list[str] = []

    def recording(path: Path) -> str:
        calls.append(path.name)
        return accept(path)

    box = Inbox(inbox, settle_seconds=0)
    report = box.scan(recording)

    assert any(f"{folder} is a symbolic link" in p for p in report.broken), report.broken
    assert list(outside.iterdir()) == [], "something was written through the link"
    if folder == "processed":  # stored (so published on time), but the file waits for a real folder
        assert (
            report.accepted == []
            and report.stuck == ["good.md"]
            and [n for n, _ in report.rejected] == ["bad.md"]
        )
        assert (inbox / "good.md").exists() and calls == ["bad.md", "good.md"]
    else:
        assert [n for n, _ in report.accepted] == ["good.md"] and report.stuck == ["bad.md"]
    box.scan(recording)  # nothing is parsed again while the folder is broken
    assert calls == ["bad.md", "good.md"]
    (inbox / folder).rename(tmp_path / "link")  # the operator's fix
    box.scan(recording)
    assert not (inbox / "good.md").exists() and not (inbox / "bad.md").exists()
    assert list(outside.iterdir()) == []


def test_a_missing_inbox_is_created_and_an_unusable_one_is_reported(tmp_path: Path) -> None:
    assert Inbox(tmp_path / "new" / "inbox", settle_seconds=0).scan(accept).broken == []
    (tmp_path / "file").write_text("x")
    report = Inbox(tmp_path / "file", settle_seconds=0).scan(accept)
    assert report.broken and "cannot be opened" in report.broken[0]


# 3. Every file has an end ----------------------------------------------------------------------------


def test_failure_counts_survive_restarts_so_run_once_gives_up_too(inbox: Path, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    write(inbox, "a.md", GOOD)

    def broken_store(path: Path) -> str:
        raise RuntimeError("database is down")

    def clock() -> datetime:
        return datetime.now(UTC)

    reports = []
    for _ in range(3):  # three one-shot runs: a new process, a new Inbox each time
        box = Inbox(inbox, settle_seconds=0, max_failures=3, failures=StoredFailures(store, clock))
        reports.append(box.scan(broken_store))
    assert [bool(r.errors) for r in reports] == [True, True, False]
    assert [n for n, _ in reports[2].rejected] == ["a.md"]
    note = (inbox / "rejected" / "a.md.error.txt").read_text(encoding="utf-8")
    assert "could not be stored after 3 attempts (RuntimeError: database is down)" in note
    assert len(store.events(status="ingest_failed")) == 3  # each attempt is in the publish log
    store.close()


def test_a_file_that_cannot_even_be_moved_is_logged_once_then_left(
    inbox: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write(inbox, "a.md", GOOD)

    def refuse(src: str, dst: str, **dir_fds: int) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "rename", refuse)
    box = Inbox(inbox, settle_seconds=0, max_failures=2)
    for _ in range(5):
        box.scan(accept)
    assert (inbox / "a.md").exists()
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("ingest_error") == 1 and events.count("ingest_gave_up") == 1
    assert events.count("ingest_stuck") == 1  # then quiet: no traceback on every scan
    assert box.scan(accept).stuck == ["a.md"]


# 8. Notes are readable by the editors' group -------------------------------------------------------------


def test_notes_are_group_readable_whatever_the_umask(inbox: Path, umask_077: None) -> None:
    write(inbox, "bad.md", "networks: [vk]")
    Inbox(inbox, settle_seconds=0).scan(accept)
    mode = stat.S_IMODE((inbox / "rejected" / "bad.md.error.txt").stat().st_mode)
    assert mode == 0o640
