"""The drop folder: settled files are taken once, moved with their media, never deleted or overwritten."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from publisher.errors import InputError
from publisher.intake.inbox import Inbox
from tests.hostile_corpus import GOOD, JPEG, parse, write


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    """Keyed by source_key like the real store: a second add of the same post returns the same id."""

    def __init__(self) -> None:
        self.posts: dict[str, str] = {}
        self.calls = 0

    def accept(self, path: Path) -> str:
        self.calls += 1
        post = parse(path)
        return self.posts.setdefault(post.source_key, f"p{len(self.posts) + 1}")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_dropped_file_is_accepted_once_and_moved_with_its_media(inbox: Path) -> None:
    write(inbox, "kino.md", f"{GOOD}\nmedia: [poster.jpg, still.jpg]")
    (inbox / "poster.jpg").write_bytes(JPEG)
    (inbox / "kino").mkdir()
    (inbox / "kino" / "still.jpg").write_bytes(JPEG + b"2")
    (inbox / "unrelated.jpg").write_bytes(JPEG)
    store, clock = FakeStore(), Clock()
    box = Inbox(inbox, settle_seconds=2, clock=clock)

    assert box.scan(store.accept).deferred == ["kino.md"]
    clock.now += 2
    report = box.scan(store.accept)

    assert report.accepted == [("kino.md", "p1")] and report.rejected == [] and report.errors == []
    done = inbox / "processed"
    assert (done / "kino.md").exists() and (done / "poster.jpg").read_bytes() == JPEG
    assert (done / "kino" / "still.jpg").exists()
    assert sorted(p.name for p in inbox.iterdir()) == ["processed", "rejected", "unrelated.jpg"]
    clock.now += 10
    assert box.scan(store.accept).accepted == []
    assert store.calls == 1


def test_half_written_file_is_not_taken_early(inbox: Path) -> None:
    store, clock = FakeStore(), Clock()
    box = Inbox(inbox, settle_seconds=2, clock=clock)
    path = inbox / "kino.md"
    path.write_text("---\nnetworks: [vk]\n", encoding="utf-8")  # the copy has just begun
    assert box.scan(store.accept).deferred == ["kino.md"]
    clock.now += 1.5
    with path.open("a", encoding="utf-8") as out:
        out.write("approved_by: редактор\n---\n")  # still growing
    assert box.scan(store.accept).deferred == ["kino.md"]
    clock.now += 1.5  # 3 s since the first sight, but only 1.5 s since the last change
    assert box.scan(store.accept).deferred == ["kino.md"]
    with path.open("a", encoding="utf-8") as out:
        out.write("Текст")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    clock.now += 1
    assert box.scan(store.accept).deferred == ["kino.md"]
    assert store.calls == 0
    clock.now += 2
    report = box.scan(store.accept)
    assert report.accepted == [("kino.md", "p1")]
    assert parse(inbox / "processed" / "kino.md").body == "Текст"


def test_media_still_being_copied_delays_the_post(inbox: Path) -> None:
    store, clock = FakeStore(), Clock()
    box = Inbox(inbox, settle_seconds=2, clock=clock)
    write(inbox, "kino.md", f"{GOOD}\nmedia: [poster.jpg]")
    (inbox / "poster.jpg").write_bytes(JPEG[:5])
    box.scan(store.accept)
    clock.now += 2
    (inbox / "poster.jpg").write_bytes(JPEG)  # the image arrives after the post file
    assert box.scan(store.accept).deferred == ["kino.md"]
    clock.now += 2
    assert box.scan(store.accept).accepted == [("kino.md", "p1")]
    assert (inbox / "processed" / "poster.jpg").read_bytes() == JPEG


def test_rejected_file_gets_an_error_note_and_keeps_its_media(inbox: Path) -> None:
    write(inbox, "kino.md", "networks: [vk]\nmedia: [poster.jpg]")
    (inbox / "poster.jpg").write_bytes(JPEG)
    report = Inbox(inbox, settle_seconds=0).scan(FakeStore().accept)
    assert [name for name, _ in report.rejected] == ["kino.md"]
    note = (inbox / "rejected" / "kino.md.error.txt").read_text(encoding="utf-8")
    assert (
        "kino.md: approved_by is missing: the queue accepts approved posts only; add 'approved_by: <name>'"
        in note
    )
    assert "drop it with its media into the inbox again" in note
    assert (inbox / "rejected" / "kino.md").exists() and (inbox / "rejected" / "poster.jpg").exists()
    assert not (inbox / "kino.md").exists()


def test_name_collisions_never_overwrite(inbox: Path) -> None:
    store = FakeStore()
    box = Inbox(inbox, settle_seconds=0)
    for n in range(3):
        write(inbox, "kino.md", f"{GOOD}\nmedia: [poster.jpg]", f"version {n}")
        (inbox / "poster.jpg").write_bytes(JPEG + bytes([n]))
        assert box.scan(store.accept).accepted == [("kino.md", f"p{n + 1}")]
    done = inbox / "processed"
    assert "version 0" in (done / "kino.md").read_text(encoding="utf-8")
    assert "version 1" in (done / "kino.2" / "kino.md").read_text(encoding="utf-8")
    assert (done / "kino.2" / "poster.jpg").read_bytes() == JPEG + b"\x01"
    assert "version 2" in (done / "kino.3" / "kino.md").read_text(encoding="utf-8")
    for n in range(2):
        write(inbox, "bad.md", "networks: [vk]", f"try {n}")
        assert box.scan(store.accept).rejected
    assert (inbox / "rejected" / "bad.md.error.txt").exists()
    assert "try 1" in (inbox / "rejected" / "bad.2" / "bad.md").read_text(encoding="utf-8")
    assert (inbox / "rejected" / "bad.2" / "bad.md.error.txt").exists()


def test_dotfiles_and_editor_temporaries_are_ignored(inbox: Path) -> None:
    names = [
        ".kino.md",
        ".kino.md.swp",
        "kino.md~",
        ".#kino.md",
        "#kino.md#",
        "~$kino.md",
        "kino.md.part",
        "notes.txt",
    ]
    for name in names:
        (inbox / name).write_text("---\nnetworks: [vk]\n---\n", encoding="utf-8")
    calls: list[Path] = []

    def accept(path: Path) -> str:
        calls.append(path)
        return "x"

    report = Inbox(inbox, settle_seconds=0).scan(accept)
    assert calls == [] and report.deferred == [] and report.rejected == []
    assert all((inbox / name).exists() for name in names)


def test_other_failures_are_retried_then_given_up_without_losing_the_file(
    inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(inbox, "a.md", GOOD)
    write(inbox, "b.md", GOOD, "другой текст")
    store = FakeStore()

    def flaky(path: Path) -> str:
        if path.name == "a.md":
            raise RuntimeError("database is down")
        return store.accept(path)

    box = Inbox(inbox, settle_seconds=0, max_failures=3)
    first = box.scan(flaky)
    assert first.errors == [("a.md", "RuntimeError: database is down")]
    assert first.accepted == [("b.md", "p1")]  # the next file is not held up
    assert box.scan(flaky).errors and (inbox / "a.md").exists()
    last = box.scan(flaky)
    assert [name for name, _ in last.rejected] == ["a.md"]
    note = (inbox / "rejected" / "a.md.error.txt").read_text(encoding="utf-8")
    assert "could not be stored after 3 attempts (RuntimeError: database is down)" in note
    assert "tell the operator" in note
    assert [r.event for r in caplog.records if getattr(r, "event", None)].count("ingest_gave_up") == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("failures", "said"),
    [(1, "после 1 попытки"), (3, "после 3 попыток"), (5, "после 5 попыток"), (21, "после 21 попытки")],
)
def test_a_file_given_up_on_gets_a_russian_note_with_the_count_in_the_right_form(
    inbox: Path, failures: int, said: str
) -> None:
    """The note beside a file the service could not store: Russian plural forms, and no request to edit it."""
    from publisher.i18n import language

    write(inbox, "a.md", GOOD)

    def broken(path: Path) -> str:
        raise RuntimeError("database is down")

    box = Inbox(inbox, settle_seconds=0, max_failures=failures)
    with language("ru"):
        for _scan in range(failures):
            box.scan(broken)
    note = (inbox / "rejected" / "a.md.error.txt").read_text(encoding="utf-8")
    assert f"a.md: не удалось сохранить {said} (RuntimeError: database is down)" in note, note
    assert "дело не в файле: сообщите оператору" in note and "ничего менять не нужно" in note, note
    assert "исправьте" not in note and "attempt" not in note, note


def test_crash_between_storing_and_moving_does_not_make_a_second_post(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(inbox, "kino.md", f"{GOOD}\nmedia: [poster.jpg]")
    (inbox / "poster.jpg").write_bytes(JPEG)
    store = FakeStore()
    real_rename = os.rename

    def crash(src: str, dst: str, **dir_fds: int) -> None:
        raise OSError("simulated crash before the move")

    monkeypatch.setattr(os, "rename", crash)
    report = Inbox(inbox, settle_seconds=0).scan(store.accept)
    assert report.accepted == [] and report.errors and store.posts  # stored, not moved
    monkeypatch.setattr(os, "rename", real_rename)
    again = Inbox(inbox, settle_seconds=0).scan(store.accept)  # a restarted daemon
    assert again.accepted == [("kino.md", "p1")] and len(store.posts) == 1
    assert (inbox / "processed" / "kino.md").exists() and (inbox / "processed" / "poster.jpg").exists()


def test_shared_media_stays_until_its_last_post_leaves(inbox: Path) -> None:
    write(inbox, "a.md", f"{GOOD}\nmedia: [poster.jpg]")
    write(inbox, "b.md", "networks: [vk]\nmedia: [poster.jpg]")  # rejected: no approval
    (inbox / "poster.jpg").write_bytes(JPEG)
    report = Inbox(inbox, settle_seconds=0).scan(FakeStore().accept)
    assert [n for n, _ in report.accepted] == ["a.md"] and [n for n, _ in report.rejected] == ["b.md"]
    assert (inbox / "rejected" / "poster.jpg").exists()  # moved with the last post that listed it
    assert "does not exist" not in report.rejected[0][1]


def test_outcomes_are_logged_as_events(inbox: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(inbox, "good.md", GOOD)
    write(inbox, "bad.md", "networks: [vk]")
    caplog.set_level(logging.INFO, logger="publisher.inbox")

    def accept(path: Path) -> str:
        if path.name == "bad.md":
            raise InputError("bad.md", "approved_by", "is missing")
        return "7"

    Inbox(inbox, settle_seconds=0).scan(accept)
    events = {(r.getMessage(), getattr(r, "event", None)) for r in caplog.records}
    assert ("inbox: good.md accepted as post 7", "ingest_accepted") in events
    assert ("inbox: bad.md rejected: bad.md: approved_by is missing", "ingest_rejected") in events
