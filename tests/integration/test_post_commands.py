"""``publisher post list/show/reschedule/cancel`` and withdrawing by file, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.cli import main

ZONE = ZoneInfo("Europe/Minsk")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean environment on ``store_url``; returns the folder to write post files into."""
    import os

    for key in list(os.environ):
        if key.startswith("PUBLISHER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", store_url)
    monkeypatch.setenv("PUBLISHER_LANGUAGE", "en")
    monkeypatch.setenv("PUBLISHER_DIRECTORY_FILE", str(ROOT / "directory.example.yaml"))
    monkeypatch.chdir(tmp_path)
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    yield drafts


def write(folder: Path, name: str, when: datetime, body: str, extra: str = "") -> Path:
    path = folder / name
    path.write_text(
        f"---\nnetworks: [vk, telegram]\napproved_by: Анна\nauthor: Ольга\nrubric: древняядичь\n"
        f"publish_at: {when.astimezone(ZONE):%Y-%m-%d %H:%M}\n{extra}---\n{body}\n",
        encoding="utf-8",
    )
    return path


def out_of(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_post_commands_list_show_reschedule_cancel(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    assert main(["enqueue", str(write(cli, "kino.md", soon, "Киноклуб в пятницу\nПодробности"))]) == 0
    assert main(["enqueue", str(write(cli, "lecture.md", soon + timedelta(days=5), "Лекция"))]) == 0
    out_of(capsys)

    assert main(["post", "list", "--json"]) == 0
    rows = [json.loads(line) for line in out_of(capsys).splitlines()]
    assert [r["id"] for r in rows] == ["kino", "lecture"]
    assert rows[0]["title"] == "Киноклуб в пятницу" and rows[0]["author"] == "Ольга"
    assert rows[0]["networks"] == ["vk", "telegram"] and rows[0]["states"] == {
        "vk": "queued",
        "telegram": "queued",
    }
    assert rows[0]["due_local"] == soon.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    until = (soon + timedelta(days=1)).astimezone(ZONE).strftime("%Y-%m-%d")
    assert main(["post", "list", "--to", until, "--rubric", "древняядичь"]) == 0
    table = out_of(capsys)
    assert "kino" in table and "lecture" not in table and "Europe/Minsk" in table

    later = (soon + timedelta(days=1)).astimezone(ZONE)
    assert main(["post", "reschedule", "kino", later.strftime("%Y-%m-%d %H:%M")]) == 0
    assert "moved to" in out_of(capsys)
    assert main(["post", "show", "kino"]) == 0
    shown = out_of(capsys)
    assert "rescheduled" in shown and later.strftime("%Y-%m-%d %H:%M") in shown and "Подробности" in shown

    assert main(["post", "cancel", "lecture"]) == 0
    assert "vk, telegram cancelled" in out_of(capsys)
    after = (soon + timedelta(days=3)).astimezone(ZONE).strftime("%Y-%m-%d")
    assert main(["post", "list", "--json", "--from", after]) == 0
    (row,) = [json.loads(line) for line in out_of(capsys).splitlines()]
    assert row["id"] == "lecture" and set(row["states"].values()) == {"cancelled"}
    assert main(["post", "show", "nothing-here"]) == 2


def test_withdraw_by_dropping_the_file_with_withdraw_true(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    soon = datetime.now(UTC) + timedelta(days=2)
    path = write(cli, "kino.md", soon, "Киноклуб")
    assert main(["enqueue", str(path)]) == 0
    path.write_text(
        path.read_text(encoding="utf-8").replace("---\nКиноклуб", "withdraw: true\n---\nКиноклуб")
    )
    assert main(["enqueue", str(path)]) == 0
    out_of(capsys)
    assert main(["post", "list", "--json"]) == 0
    (row,) = [json.loads(line) for line in out_of(capsys).splitlines()]
    assert set(row["states"].values()) == {"cancelled"}
    stray = write(cli, "other.md", soon, "x", extra="withdraw: true\n")
    assert main(["enqueue", str(stray)]) == 2
    assert "there is no post 'other' to withdraw" in capsys.readouterr().err


def test_post_commands_answer_in_russian_by_default(
    cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator reads the answer back to an editor: Russian unless ``PUBLISHER_LANGUAGE=en``."""
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    assert main(["enqueue", str(write(cli, "kino.md", soon, "Киноклуб в пятницу"))]) == 0
    monkeypatch.delenv("PUBLISHER_LANGUAGE")
    out_of(capsys)

    assert main(["post", "list"]) == 0
    listing = out_of(capsys)
    assert "НАЗВАНИЕ" in listing and "СЕТИ" in listing and "vk: ждёт, telegram: ждёт" in listing, listing
    later = (soon + timedelta(days=1)).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    assert main(["post", "reschedule", "kino", later]) == 0
    assert f"пост kino: перенесено на {later} (Europe/Minsk): vk, telegram" in out_of(capsys)
    assert main(["post", "show", "kino"]) == 0
    shown = out_of(capsys)
    assert "автор" in shown and "история:" in shown and "перенесён" in shown and "moved" not in shown, shown
    assert main(["post", "cancel", "kino"]) == 0
    assert "пост kino: отменено: vk, telegram" in out_of(capsys)
    assert main(["post", "list", "--json"]) == 0  # for scripts: the exact values, in any language
    assert json.loads(out_of(capsys))["states"] == {"vk": "cancelled", "telegram": "cancelled"}
    assert main(["post", "show", "nothing-here"]) == 2
    assert "«nothing-here» — нет такого поста" in capsys.readouterr().err

    monkeypatch.setenv("PUBLISHER_LANGUAGE", "en")
    assert main(["post", "list"]) == 0
    assert "TITLE" in out_of(capsys)
