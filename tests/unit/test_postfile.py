"""The post-file parser: what editors write becomes a Post, and every mistake is named with its fix."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.errors import InputError, InputErrors
from publisher.intake.media import store_media
from tests.hostile_corpus import GOOD, JPEG, MOV, MP4, NOW, PNG, parse, write

FULL = """
networks: [vk, x, facebook, telegram, vk:bntu]
approved_by: редактор дня
publish_at: 2026-12-01 18:00
expires_at: 2026-12-02T18:00+03:00
rubric: древняядичь
hashtags: ['#CinemaClubBNTU', no]
mentions: [fitr, bntu]
media: [poster.jpg, clip.mp4]
link: https://library.bntu.by/kino
overrides:
  x: {text: "Короткая версия для X"}
  vk:bntu: Текст для второй группы
"""


def test_full_post_file(tmp_path: Path) -> None:
    (tmp_path / "poster.jpg").write_bytes(JPEG)
    (tmp_path / "clip.mp4").write_bytes(MP4)
    post = parse(write(tmp_path, "kino.md", FULL, "Текст поста…\n\nВторой абзац."))
    assert post.source_name == "kino.md"
    assert post.targets == ("vk", "x", "facebook", "telegram", "vk:bntu")
    assert post.approved_by == "редактор дня"
    assert post.publish_at == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # Berlin winter time, UTC+1
    assert post.expires_at == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert post.rubric == "древняядичь"
    assert post.hashtags == ("CinemaClubBNTU", "no")  # YAML 1.1 'no' stays text, not False
    assert post.mentions == ("fitr", "bntu")
    assert post.link == "https://library.bntu.by/kino"
    assert post.overrides == {"x": "Короткая версия для X", "vk:bntu": "Текст для второй группы"}
    assert post.body == "Текст поста…\n\nВторой абзац."
    poster, clip = post.media
    assert (poster.name, poster.mime, poster.size, poster.path) == (
        "poster.jpg",
        "image/jpeg",
        len(JPEG),
        tmp_path / "poster.jpg",
    )
    assert clip.mime == "video/mp4" and len(clip.sha256) == 64


def test_missing_approval_message_names_file_field_and_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        parse(write(tmp_path, "kino.md", "networks: [vk]"))
    assert str(caught.value) == (
        "kino.md: approved_by is missing: the queue accepts approved posts only; add 'approved_by: <name>'"
    )
    assert caught.value.field == "approved_by"


def test_all_problems_of_one_file_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(InputErrors) as caught:
        parse(
            write(tmp_path, "kino.md", "networks: [vk, myspace]\npublsh_at: 2026-04-01 10:00\nrubric: nope")
        )
    lines = str(caught.value).splitlines()
    assert lines[0] == "kino.md: 4 problems:" and all(line.startswith("  - ") for line in lines[1:])
    assert len(lines) == 5 and len(caught.value.errors) == 4
    assert any("'publsh_at' is not a known field: did you mean 'publish_at'?" in line for line in lines)
    assert any(
        "'myspace' is not a configured target" in line and "known: facebook, telegram" in line
        for line in lines
    )
    assert any("approved_by is missing" in line for line in lines)
    assert any("rubric 'nope' is not in the directory" in line for line in lines)


def test_same_bytes_same_key_and_media_content_changes_the_key(tmp_path: Path) -> None:
    (tmp_path / "poster.jpg").write_bytes(JPEG)
    path = write(tmp_path, "kino.md", f"{GOOD}\nmedia: [poster.jpg]")
    first, again = parse(path), parse(path)
    assert first.source_key == again.source_key
    (tmp_path / "poster.jpg").write_bytes(JPEG + b"edited")
    assert parse(path).source_key != first.source_key


def test_default_expiry_counts_from_publish_time_or_now(tmp_path: Path) -> None:
    asap = parse(write(tmp_path, "a.md", GOOD))
    assert asap.publish_at is None and asap.expires_at == NOW + timedelta(hours=72)
    later = parse(write(tmp_path, "b.md", f"{GOOD}\npublish_at: 2026-04-01T10:00Z"))
    assert later.expires_at == datetime(2026, 4, 4, 10, 0, tzinfo=UTC)
    past = parse(write(tmp_path, "c.md", f"{GOOD}\npublish_at: 2026-02-01 10:00"))
    assert past.publish_at is not None and past.publish_at < NOW  # allowed: publish as soon as possible
    assert past.expires_at == NOW + timedelta(hours=72)
    assert parse(write(tmp_path, "d.md", GOOD), default_expiry=None).expires_at is None


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-03-29 01:59", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),  # last minute of winter time
        ("2026-03-29 03:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # first minute of summer time
        ("2026-10-25T02:30+02:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # explicit offset in the fold
        ("2026-10-25T02:30+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        ("2026-07-01 9:05", datetime(2026, 7, 1, 7, 5, tzinfo=UTC)),
    ],
)
def test_times_around_dst_changes(tmp_path: Path, written: str, expected: datetime) -> None:
    assert parse(write(tmp_path, "t.md", f"{GOOD}\npublish_at: {written}")).publish_at == expected


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("2026-03-29 02:30", "2026-03-29 02:30 does not exist in Europe/Berlin (clocks jump forward)"),
        ("2026-10-25 02:30", "2026-10-25 02:30 happens twice in Europe/Berlin (clocks go back)"),
    ],
)
def test_dst_gap_and_fold_ask_for_an_offset(tmp_path: Path, written: str, problem: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(write(tmp_path, "t.md", f"{GOOD}\npublish_at: {written}"))
    assert caught.value.field == "publish_at"
    assert problem in str(caught.value) and "explicit UTC offset" in str(caught.value)


def test_named_accounts_and_case_of_network_names(tmp_path: Path) -> None:
    post = parse(write(tmp_path, "t.md", "networks: [VK, vk:bntu, vk]\napproved_by: a"))
    assert post.targets == ("vk", "vk:bntu")


def test_media_in_folder_named_like_the_post(tmp_path: Path) -> None:
    (tmp_path / "kino").mkdir()
    (tmp_path / "kino" / "poster.png").write_bytes(PNG)
    (tmp_path / "kino" / "clip.mov").write_bytes(MOV)
    post = parse(write(tmp_path, "kino.md", f"{GOOD}\nmedia: [poster.png, clip.mov]"))
    assert [m.path for m in post.media] == [tmp_path / "kino" / "poster.png", tmp_path / "kino" / "clip.mov"]
    assert [m.mime for m in post.media] == ["image/png", "video/quicktime"]


def test_directory_is_optional(tmp_path: Path) -> None:
    path = write(tmp_path, "t.md", f"{GOOD}\nrubric: anything\nmentions: [anyone]")
    assert parse(path, directory=None).rubric == "anything"
    with pytest.raises(InputError, match="rubric 'anything' is not in the directory"):
        parse(path)


def test_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "win.md"
    path.write_bytes("\ufeff---\r\nnetworks: [vk]\r\napproved_by: a\r\n---\r\nТекст\r\n".encode())
    assert parse(path).body == "Текст"


def test_file_over_the_limit_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "big.md", GOOD, "x" * 200)
    with pytest.raises(InputError, match=r"big.md: the post file is too big \(\d+ bytes, at most 100\)"):
        parse(path, max_bytes=100)


def test_post_outside_the_inbox_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    path = write(tmp_path, "t.md", GOOD)
    with pytest.raises(InputError, match="is not inside the inbox"):
        parse(path, inbox_root=tmp_path / "inbox")


def test_store_media_copies_by_content_and_skips_existing(tmp_path: Path) -> None:
    (tmp_path / "poster.jpg").write_bytes(JPEG)
    post = parse(write(tmp_path, "kino.md", f"{GOOD}\nmedia: [poster.jpg]"))
    media_dir = tmp_path / "data" / "media"
    stored = store_media(post, media_dir)
    sha = post.media[0].sha256
    copy = media_dir / sha[:2] / f"{sha}.jpg"
    assert stored.media[0].path == copy and copy.read_bytes() == JPEG
    assert (tmp_path / "poster.jpg").exists()  # the editor's file is untouched
    inode = copy.stat().st_ino
    assert store_media(post, media_dir).media[0].path == copy and copy.stat().st_ino == inode
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_store_media_notices_a_file_changed_after_parsing(tmp_path: Path) -> None:
    (tmp_path / "poster.jpg").write_bytes(JPEG)
    post = parse(write(tmp_path, "kino.md", f"{GOOD}\nmedia: [poster.jpg]"))
    (tmp_path / "poster.jpg").write_bytes(JPEG[:-1] + b"!")  # same size, other content
    with pytest.raises(InputError, match="changed while it was being copied"):
        store_media(post, tmp_path / "media")
    assert not any(p.is_file() for p in (tmp_path / "media").rglob("*"))


def test_media_is_read_without_following_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "poster.jpg").write_bytes(JPEG)
    flags_seen: list[int] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if str(path).endswith((".jpg", ".md")):
            flags_seen.append(flags)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", spy)
    parse(write(tmp_path, "kino.md", f"{GOOD}\nmedia: [poster.jpg]"))
    assert len(flags_seen) == 2
    assert all(f & os.O_NOFOLLOW and f & os.O_NONBLOCK for f in flags_seen)


def test_missing_post_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.md: the post file does not exist: check the file name"):
        parse(tmp_path / "nope.md")
    with pytest.raises(InputError, match=r"nope\.md: its folder cannot be opened"):
        parse(tmp_path / "gone" / "nope.md", inbox_root=tmp_path)


def test_media_problems_reach_the_editor_in_russian(tmp_path: Path) -> None:
    """The rejection note an editor reads says what is wrong with a picture in the editors' language."""
    from publisher.i18n import language

    (tmp_path / "afisha.jpg").write_bytes(b"")
    (tmp_path / "clip.mp4").write_bytes(PNG)
    (tmp_path / "folder.png").mkdir()
    header = (
        "networks: [vk]\napproved_by: редактор дня\nmedia: [poster.jpg, afisha.jpg, clip.mp4, folder.png]"
    )
    with language("ru"), pytest.raises(InputErrors) as caught:
        parse(write(tmp_path, "kino.md", header))
    text = str(caught.value)
    assert text.splitlines()[0] == "kino.md: 4 ошибки:"
    assert "media 'poster.jpg' не найден: положите файл рядом с файлом поста" in text
    assert "media 'afisha.jpg' — пусто: положите файл целиком снова" in text
    assert "по содержимому это image/png, а по расширению video" in text
    assert "media 'folder.png' — папка: скопируйте в папку для публикаций сам файл" in text
    for english in ("does not exist", "is empty", "content is", "a directory", "problems"):
        assert english not in text


def test_without_a_directory_the_fix_names_the_setting(tmp_path: Path) -> None:
    """With no directory loaded every key is unknown: the note says why, not 'use a key from the directory'."""
    from publisher.compose.directory import Directory
    from publisher.intake.mentions import check_mentions

    header = "networks: [vk]\napproved_by: редактор дня\nrubric: kino\nmentions: [fitr]"
    with pytest.raises(InputErrors) as caught:
        parse(write(tmp_path, "kino.md", header), directory=Directory.empty())
    assert [str(e).count("PUBLISHER_DIRECTORY_FILE") for e in caught.value.errors] == [1, 1]
    post = parse(write(tmp_path, "ok.md", "networks: [vk]\napproved_by: ed", "Студенты @fitr"))
    with pytest.raises(InputError) as one:
        check_mentions(post, Directory.empty())
    assert "PUBLISHER_DIRECTORY_FILE" in str(one.value)
    with pytest.raises(InputErrors) as loaded:  # a loaded directory keeps the usual fix
        parse(write(tmp_path, "kino.md", header.replace("kino", "nope").replace("fitr", "fitrr")))
    assert "PUBLISHER_DIRECTORY_FILE" not in str(loaded.value)
