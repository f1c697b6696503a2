"""The editors' side through the real daemon: notes and receipts in their language, replacing a queued post."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.acceptance.test_daemon import VK_TOKEN, open_store, post_file
from tests.daemon_helpers import ROOT, DaemonProcess, base_env, run_cli
from tests.fakes.telegram import FakeTelegram
from tests.fakes.vk import FakeVk
from tests.helpers import wait_until as wait_for
from tests.media import jpeg_bytes, png_bytes


@pytest.mark.parametrize(
    ("language", "expected", "absent", "receipt_says"),
    [
        (
            "",
            ["bad.md не принят", "— не заполнено", "Что сделать"],
            ["How to fix"],
            [
                "good.md принят: пост «good»",
                "Опубликуется сейчас",
                "Обратите внимание: у fmmp нет аккаунта в X",
            ],
        ),
        (
            "en",
            ["bad.md was not accepted", "is missing", "How to fix"],
            ["Что сделать"],
            [
                "good.md is accepted as post 'good'",
                "It will be published now",
                "Attention: fmmp has no X account",
            ],
        ),
    ],
)
def test_rejection_note_and_receipt_are_russian_by_default_and_english_by_setting(
    tmp_path: Path, language: str, expected: list[str], absent: list[str], receipt_says: list[str]
) -> None:
    env = base_env(
        tmp_path,
        PUBLISHER_LANGUAGE=language,
        PUBLISHER_TIMEZONE="Europe/Minsk",
        PUBLISHER_INBOX_SETTLE_SECONDS="0",
    )
    if not language:
        del env["PUBLISHER_LANGUAGE"]
    inbox = tmp_path / "var" / "inbox"
    bad = post_file(inbox, "bad.md", "Без одобрения", networks="[vk]")
    bad.write_text(bad.read_text(encoding="utf-8").replace("approved_by: редактор дня\n", ""), "utf-8")
    post_file(inbox, "good.md", "Встреча с @fmmp", networks="[vk, x]")

    result = run_cli(env, "run", "--once", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    note = (inbox / "rejected" / "bad.md.error.txt").read_text(encoding="utf-8")
    assert all(text in note for text in expected), note
    assert not any(text in note for text in absent), note
    assert "(Europe/Minsk)" in note  # the time is local, with the zone named
    assert (inbox / "rejected" / "bad.md").exists()
    receipt = (inbox / "processed" / "good.md.receipt.txt").read_text(encoding="utf-8")
    assert all(text in receipt for text in receipt_says), receipt
    assert not any(text in receipt for text in absent), receipt


def test_redropping_an_edited_file_replaces_the_waiting_post_and_publishes_it_once(tmp_path: Path) -> None:
    """The editor drops kino.md for tomorrow, then an edited kino.md for a second from now: one post,
    moved, published once per network with the new text; later drops say nothing changed or ask for a new id.
    """
    zone = ZoneInfo("Europe/Minsk")
    with FakeVk(VK_TOKEN) as vk, FakeTelegram() as tg:
        env = base_env(
            tmp_path,
            PUBLISHER_LANGUAGE="ru",
            **vk.service_env(),  # VK community 123
            **tg.service_env(),  # the channel @library_news
        )
        inbox = tmp_path / "var" / "inbox"
        processed = inbox / "processed"
        tomorrow = datetime.now(zone) + timedelta(days=1)
        daemon = DaemonProcess(env, "run")
        try:
            post_file(
                inbox, "kino.md", "Киноклуб: старый текст", "[vk, x]", publish_at=f"{tomorrow:%Y-%m-%d %H:%M}"
            )
            assert wait_for(lambda: (processed / "kino.md.receipt.txt").exists()), daemon.output
            first = (processed / "kino.md.receipt.txt").read_text(encoding="utf-8")
            assert "Опубликуется" in first and "(Europe/Minsk)" in first and "Киноклуб: старый текст" in first

            # Due a second from now: moved from tomorrow to (nearly) at once; a drop read after that second is
            # still on time (only a publish_at more than 10 minutes past is refused).
            soon = datetime.now(zone) + timedelta(seconds=1)
            post_file(
                inbox,
                "kino.md",
                "Киноклуб: новый текст",
                "[vk, telegram]",
                publish_at=f"{soon:%Y-%m-%d %H:%M:%S}",
            )
            second_receipt = processed / "kino.2" / "kino.md.receipt.txt"
            assert wait_for(second_receipt.exists), daemon.output
            second = second_receipt.read_text(encoding="utf-8")
            assert "заменяет" in second and "текст" in second and f"{tomorrow:%Y-%m-%d %H:%M}" in second, (
                second
            )
            assert "Добавлено: telegram" in second and "Убрано" in second and "x" in second, second

            store = open_store(tmp_path)
            assert wait_for(lambda: store.counts_by_state()["published"] == 2, timeout=30), daemon.output
            (post,) = {d.post_id for d in store.deliveries()}
            states = {d.target: d.state.value for d in store.deliveries(post_id=post)}
            assert states == {"vk": "published", "x": "cancelled", "telegram": "published"}

            post_file(
                inbox,
                "kino.md",
                "Киноклуб: новый текст",
                "[vk, telegram]",
                publish_at=f"{soon:%Y-%m-%d %H:%M:%S}",
            )
            third = processed / "kino.3" / "kino.md.receipt.txt"
            assert wait_for(third.exists), daemon.output
            assert "ничего не изменилось" in third.read_text(encoding="utf-8")

            post_file(inbox, "kino.md", "Киноклуб: третий текст", "[vk, telegram]")
            note = inbox / "rejected" / "kino.md.error.txt"
            assert wait_for(note.exists), daemon.output
            assert "новый id" in note.read_text(encoding="utf-8")
            time.sleep(1)  # room for a wrong second publish to show up
        finally:
            daemon.stop()
        assert [p.text.split("\n")[0] for p in vk.posts] == ["Киноклуб: новый текст"]
        assert len(tg.texts_sent_to("@library_news") or tg.chats[0].messages) == 1
        assert "новый текст" in str(tg.chats[0].messages[0])
        assert len({d.post_id for d in open_store(tmp_path).deliveries()}) == 1


def test_a_corrected_file_moves_its_old_note_to_resolved_and_gets_a_receipt(tmp_path: Path) -> None:
    from publisher.errors import InputError
    from publisher.intake.inbox import Inbox, Taken

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    calls: list[str] = []

    def accept(path: Path) -> Taken:
        calls.append(path.read_text(encoding="utf-8"))
        if "approved_by" not in calls[-1]:
            raise InputError(path.name, "approved_by", "is missing")
        return Taken("7", "receipt for " + path.name)

    box = Inbox(inbox, settle_seconds=0)
    (inbox / "kino.md").write_text("---\nnetworks: [vk]\n---\nтекст", encoding="utf-8")
    assert box.scan(accept).rejected
    for attempt in (1, 2):  # rejected twice: the second note lands in a sub-folder
        (inbox / "rejected" / ("kino.md" if attempt == 1 else "kino.2/kino.md")).rename(inbox / "kino.md")
        if attempt == 1:
            assert (
                box.scan(accept).rejected and (inbox / "rejected" / "kino.2" / "kino.md.error.txt").exists()
            )
    (inbox / "kino.md").write_text("---\nnetworks: [vk]\napproved_by: Анна\n---\nтекст", encoding="utf-8")

    assert box.scan(accept).accepted == [("kino.md", "7")]

    assert (inbox / "processed" / "kino.md.receipt.txt").read_text(encoding="utf-8") == "receipt for kino.md"
    assert sorted(p.name for p in (inbox / "rejected").iterdir()) == ["resolved"]
    resolved = inbox / "rejected" / "resolved"
    assert (resolved / "kino.md.error.txt").exists() and (resolved / "kino.2" / "kino.md.error.txt").exists()


def test_the_editors_chat_hears_of_accepted_refused_and_published_posts(tmp_path: Path) -> None:
    """Through the daemon: the editors' group (not the alert chat) gets one message each, in Russian."""
    from tests.fakes.telegram import FakeChat

    editors = -1009876543210
    with FakeVk(VK_TOKEN) as vk, FakeTelegram() as tg:
        tg.add_chat(FakeChat(id=editors, type="supergroup", title="Редакторы"))
        env = base_env(
            tmp_path,
            PUBLISHER_LANGUAGE="ru",
            **vk.service_env(),  # VK community 123
            **tg.service_env(),  # the channel @library_news
            PUBLISHER_EDITORS__TELEGRAM_CHAT_ID=str(editors),
        )
        inbox = tmp_path / "var" / "inbox"
        daemon = DaemonProcess(env, "run")
        try:
            post_file(inbox, "kino.md", "Киноклуб в пятницу", "[vk, telegram]")
            post_file(inbox, "bad.md", "Нет сети", "[vk, myspace]")
            assert wait_for(lambda: len(tg.texts_sent_to(editors)) >= 3, timeout=30), daemon.output
            time.sleep(0.5)  # room for a wrong extra message
        finally:
            daemon.stop()
        said = tg.texts_sent_to(editors)
        assert len(said) == 3, said
        accepted = next(t for t in said if "kino" in t and "принят" in t)
        assert "vk, telegram" in accepted
        refused = next(t for t in said if "bad.md" in t)
        assert "не принят" in refused and "myspace" in refused
        published = next(t for t in said if "опубликован" in t)
        assert "https://vk.com/wall-123_" in published and "https://t.me/library_news/" in published
        assert all("Киноклуб" not in t for t in tg.texts_sent_to("@library_news")[1:])  # one post there


def test_a_png_for_instagram_is_refused_with_the_fix_and_kept_while_jpeg_and_png_elsewhere_go(
    tmp_path: Path,
) -> None:
    """Instagram takes JPEG pictures only: the editor who drops a PNG for it hears at once (in Russian) which
    file, which field and what to do; the file and its picture are kept in rejected/. The same PNG for the
    other networks, and a JPEG for Instagram, are accepted."""
    env = base_env(tmp_path, PUBLISHER_INBOX_SETTLE_SECONDS="0")
    del env["PUBLISHER_LANGUAGE"]  # the editors' default
    inbox = tmp_path / "var" / "inbox"
    post_file(inbox, "afisha.md", "Афиша недели", "[vk, instagram]", media="[afisha.png]")
    (inbox / "afisha.png").write_bytes(png_bytes(1))
    post_file(inbox, "vystavka.md", "Выставка", "[vk, x, facebook, telegram]", media="[vystavka.png]")
    (inbox / "vystavka.png").write_bytes(png_bytes(2))
    post_file(inbox, "foto.md", "Фото дня", "[vk, instagram]", media="[foto.jpg]")
    (inbox / "foto.jpg").write_bytes(jpeg_bytes(3))

    result = run_cli(env, "run", "--once", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    rejected, processed = inbox / "rejected", inbox / "processed"
    note = (rejected / "afisha.md.error.txt").read_text(encoding="utf-8")
    assert "afisha.md не принят" in note, note
    assert (
        "media — картинка afisha.png в формате PNG, а Instagram принимает картинки только в формате JPEG"
        in note
    )
    assert "переведите её в формат JPEG (сохраните как .jpg) или уберите instagram из networks" in note
    assert (rejected / "afisha.md").exists() and (rejected / "afisha.png").read_bytes() == png_bytes(1)
    assert not (inbox / "afisha.md").exists() and not (inbox / "afisha.png").exists()
    for accepted in ("vystavka", "foto"):
        assert (processed / f"{accepted}.md.receipt.txt").exists(), accepted
    store = open_store(tmp_path)
    try:
        targets = sorted(d.target for d in store.deliveries())
    finally:
        store.close()
    assert targets == sorted(["vk", "x", "facebook", "telegram", "vk", "instagram"])


def test_preview_shows_every_network_marks_the_one_too_long_and_exits_2(tmp_path: Path) -> None:
    env = base_env(tmp_path, PUBLISHER_LANGUAGE="ru")
    long = "Очень длинный анонс лекции о редких книгах. " * 10
    path = post_file(tmp_path / "drafts", "long.md", long.strip(), "[vk, x]")

    result = run_cli(env, "preview", str(path))

    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout
    assert "ЧЕРНОВИК" in out and "ничего не поставлено в очередь" in out
    assert "=== vk: " in out and long.split(".")[0] in out  # the network that fits is shown
    assert "=== x: НЕ БУДЕТ ПРИНЯТ" in out and "overrides.x.text" in out  # the one too long, with the fix
    assert "будет отклонён" in out

    fits = post_file(tmp_path / "drafts", "short.md", "Короткий анонс", "[vk, x]")
    ok = run_cli(env, "preview", str(fits))
    assert ok.returncode == 0 and "можно принять" in ok.stdout


def test_a_key_removed_from_the_directory_while_the_post_waits_fails_it_and_tells_the_editor(
    tmp_path: Path,
) -> None:
    """kino.md mentions @fitr and waits; fitr is removed from the directory (SIGHUP). When it falls due,
    nothing is published (no literal '@fitr'), each delivery fails naming the key, the post and the fix, and
    the editors' chat hears it in Russian. Putting the key back and retrying publishes the real mention."""
    import shutil
    import signal

    from tests.fakes.telegram import FakeChat

    editors = -1009876543210
    directory = tmp_path / "directory.yaml"
    shutil.copy(ROOT / "directory.example.yaml", directory)
    full = directory.read_text(encoding="utf-8")
    fitr = full[full.index("  fitr:\n") : full.index("  fmmp:\n")]
    with FakeVk(VK_TOKEN) as vk, FakeTelegram() as tg:
        tg.add_chat(FakeChat(id=editors, type="supergroup", title="Редакторы"))
        env = base_env(
            tmp_path,
            PUBLISHER_LANGUAGE="ru",
            PUBLISHER_DIRECTORY_FILE=str(directory),
            **vk.service_env(),  # VK community 123
            **tg.service_env(),  # the channel @library_news
            PUBLISHER_EDITORS__TELEGRAM_CHAT_ID=str(editors),
        )
        inbox = tmp_path / "var" / "inbox"
        tomorrow = datetime.now(ZoneInfo("Europe/Minsk")) + timedelta(days=1)
        store = open_store(tmp_path)
        daemon = DaemonProcess(env, "run")
        try:
            post_file(
                inbox,
                "kino.md",
                "Киноклуб с @fitr в пятницу",
                "[vk, telegram]",
                publish_at=f"{tomorrow:%Y-%m-%d %H:%M}",
            )
            assert wait_for((inbox / "processed" / "kino.md.receipt.txt").exists), daemon.output
            directory.write_text(full.replace(fitr, ""), encoding="utf-8")
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "entities removed: fitr" in daemon.output), daemon.output
            assert run_cli(env, "post", "reschedule", "kino", "now").returncode == 0

            assert wait_for(lambda: store.counts_by_state().get("failed") == 2, timeout=30), daemon.output
            assert wait_for(lambda: len(tg.texts_sent_to(editors)) >= 3, timeout=30), daemon.output
            assert vk.posts == [] and tg.texts_sent_to("@library_news") == []
            for d in store.deliveries():
                assert d.last_error is not None
                assert "@fitr" in d.last_error and "kino.md" in d.last_error, d.last_error
                assert "restore the key in the directory" in d.last_error and "same id" in d.last_error
            told = [t for t in tg.texts_sent_to(editors) if "не опубликован" in t]
            assert {t.split(":")[0] for t in told} == {
                "Пост «kino» не опубликован в vk",
                "Пост «kino» не опубликован в telegram",
            }, told
            assert all("@fitr" in t and "справочник" in t and "тем же id" in t for t in told), told

            directory.write_text(full, encoding="utf-8")  # the operator puts the key back and retries
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "entities added: fitr" in daemon.output), daemon.output
            for d in store.deliveries():
                assert run_cli(env, "retry", str(d.id)).returncode == 0
            assert wait_for(lambda: store.counts_by_state().get("published") == 2, timeout=30), daemon.output
        finally:
            daemon.stop()
        assert [p.text.split("\n")[0] for p in vk.posts] == ["Киноклуб с [club12345|ФИТР БНТУ] в пятницу"]
        (channel,) = tg.texts_sent_to("@library_news")
        assert channel.startswith("Киноклуб с @fitr_bntu в пятницу")
