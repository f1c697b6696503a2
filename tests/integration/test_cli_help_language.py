"""The command line's help and usage errors in the editors' language: Russian unless asked for English."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher import __version__
from publisher.cli import main
from publisher.cli.main import build_parser
from tests.daemon_helpers import ROOT
from tests.helpers import service_env

ENGLISH_WORDS = ("usage:", "options:", "positional arguments", "show this help message", "error:")


def publisher(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m publisher ARGS`` in ``tmp_path`` with none of the caller's PUBLISHER_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def no_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An operator's shell with no PUBLISHER_* variables, in a folder without a settings.env."""
    service_env(monkeypatch, tmp_path, {})
    yield tmp_path


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)``, whether it returns or exits (``--help`` and usage errors exit), and what it wrote."""
    try:
        code = main(list(args))
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_is_russian_by_default(tmp_path: Path) -> None:
    done = publisher(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("запуск: publisher [-h] [--version] [--settings FILE]")
    for phrase in (
        "Публикация постов по расписанию во ВКонтакте, X, на странице Facebook, в\nканале Telegram и в Instagram.",
        "параметры:",
        "-h, --help            показать эту справку и выйти",
        "--version             показать версию программы и выйти",
        "проверить файлы постов и поставить их в очередь",
        "PUBLISHER_LANGUAGE=en",
    ):
        assert phrase in out, out
    for word in ENGLISH_WORDS:
        assert word not in out, out
    # the commands' and options' own names stay as they are typed
    assert re.search(r"^ +enqueue +проверить", out, re.M) and "--settings FILE" in out


def test_post_help_is_russian_by_default(no_language: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_main(capsys, "post", "--help")
    assert code == 0
    assert out.startswith("запуск: publisher post [-h] ACTION ...\n\nПосты целиком: список, просмотр")
    assert "перенести все ещё не отправленные публикации поста на новое" in out
    assert not any(word in out for word in ENGLISH_WORDS), out

    code, out, _err = run_main(capsys, "post", "reschedule", "--help")
    assert code == 0
    assert "местное время, например '2026-12-01 18:00', или 'now' — сейчас" in out
    assert "id поста (имя файла) или его номер" in out


def test_english_on_request(tmp_path: Path) -> None:
    done = publisher(tmp_path, "post", "--help", PUBLISHER_LANGUAGE="en")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: publisher post [-h] ACTION ...\n\nWhole posts: list, show")
    assert "show this help message and exit" in done.stdout
    assert not re.search("[а-яА-Я]", done.stdout), done.stdout

    done = publisher(tmp_path, "enqueue", PUBLISHER_LANGUAGE="en")
    assert done.returncode == 2
    assert "publisher enqueue: error: the following arguments are required: FILE" in done.stderr


def test_the_settings_file_chooses_the_language(
    no_language: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help is English when the settings file the command would read says so: ``--settings FILE``, else
    ``$PUBLISHER_SETTINGS_FILE``, else ``./settings.env``; the environment's PUBLISHER_LANGUAGE comes first."""
    english = no_language / "english.env"
    english.write_text("# the team's settings\nexport PUBLISHER_LANGUAGE='en'  # for the guest editors\n")
    assert run_main(capsys, "--settings", str(english), "--help")[1].startswith("usage: publisher")
    assert run_main(capsys, f"--settings={english}", "log", "--help")[1].startswith("usage: publisher log")
    monkeypatch.setenv("PUBLISHER_SETTINGS_FILE", str(english))
    assert run_main(capsys, "--help")[1].startswith("usage: publisher")
    monkeypatch.setenv("PUBLISHER_LANGUAGE", "ru")
    assert run_main(capsys, "--help")[1].startswith("запуск: publisher")
    monkeypatch.delenv("PUBLISHER_LANGUAGE")
    monkeypatch.delenv("PUBLISHER_SETTINGS_FILE")
    assert run_main(capsys, "--help")[1].startswith("запуск: publisher")
    (no_language / "settings.env").write_text("PUBLISHER_LANGUAGE=en\n")
    assert run_main(capsys, "--help")[1].startswith("usage: publisher")


def test_usage_errors_are_russian(no_language: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "enqueue")
    assert code == 2 and not out
    assert err.startswith("запуск: publisher enqueue [-h] FILE [FILE ...]\n")
    assert "publisher enqueue: ошибка: нужно указать: FILE" in err
    for args, message in (
        ((), "publisher: ошибка: нужно указать: COMMAND"),
        (("publish",), "publisher: ошибка: COMMAND: нет такого варианта: 'publish' (можно: 'run', "),
        (("log", "--since"), "publisher log: ошибка: --since: после него нужно указать значение"),
        (("log", "--limit", "ten"), "publisher log: ошибка: --limit: 'ten' — не целое число"),
        (("resolve", "7"), "ошибка: нужно указать одно из: --published-as --not-published"),
        (("queue", "extra"), "publisher: ошибка: неизвестные аргументы: extra"),
    ):
        code, _out, err = run_main(capsys, *args)
        assert code == 2 and message in err, (args, err)
        assert not any(word in err for word in ENGLISH_WORDS), err


def test_help_works_with_a_broken_settings_file(tmp_path: Path) -> None:
    """``--help`` is for when things are wrong: it never loads the settings. A command still says what is wrong."""
    broken = tmp_path / "broken.env"
    broken.write_bytes(b"PUBLISHER_LANGUAGE=\xff\xfe\nPUBLISHER_WORKERS=many\n")
    done = publisher(tmp_path, "--settings", str(broken), "queue", "--help")
    assert done.returncode == 0 and done.stdout.startswith("запуск: publisher queue"), done.stderr
    done = publisher(tmp_path, "--settings", str(broken), "queue")
    assert done.returncode == 2
    assert done.stderr == f"publisher: settings file {broken} is not UTF-8 (byte 19): save it as UTF-8\n"

    invalid = tmp_path / "invalid.env"
    invalid.write_text("PUBLISHER_LANGUAGE=de\nPUBLISHER_WORKERS=many\n")
    done = publisher(tmp_path, "--help", PUBLISHER_SETTINGS_FILE=str(invalid))
    assert done.returncode == 0 and done.stdout.startswith("запуск: publisher"), done.stderr
    done = publisher(tmp_path, "queue", PUBLISHER_SETTINGS_FILE=str(invalid))
    assert done.returncode == 2
    assert "PUBLISHER_LANGUAGE" in done.stderr and "PUBLISHER_WORKERS" in done.stderr

    done = publisher(tmp_path, "--settings", str(tmp_path / "missing.env"), "--help")
    assert done.returncode == 0 and done.stdout.startswith("запуск: publisher")


def test_version_is_unchanged(no_language: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "--version") == (0, f"publisher {__version__}\n", "")


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command line's parser with the words that reach it: (), ("post",), ("post", "list"), ..."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_command_and_option_is_explained_in_both_languages(
    no_language: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = [path for path, _parser in _parsers(build_parser())]
    assert len(commands) > 25 and ("post", "reschedule") in commands and ("metrics", "collect") in commands
    for language, words in (("ru", ("запуск: ", "параметры:")), ("en", ("usage: ", "options:"))):
        monkeypatch.setenv("PUBLISHER_LANGUAGE", language)
        for path in commands:
            code, out, _err = run_main(capsys, *path, "--help")
            assert code == 0 and all(word in out for word in words), (language, path, out)
            if language == "ru":
                assert not any(word in out for word in ENGLISH_WORDS), (path, out)
        for path, here in _parsers(build_parser()):
            assert here.description, path
            for action in here._actions:
                if not isinstance(action, argparse._SubParsersAction):
                    assert action.help, (language, path, action.dest)
