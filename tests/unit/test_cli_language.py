"""How the command line knows its language before it loads anything: the environment, else the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cli.language import cli_language


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "line",
    [
        "PUBLISHER_LANGUAGE=en",
        "publisher_language = en",
        "export PUBLISHER_LANGUAGE=en",
        'PUBLISHER_LANGUAGE="en"',
        "PUBLISHER_LANGUAGE='en' # guests",
        "PUBLISHER_LANGUAGE=en # guests",
    ],
)
def test_the_settings_file_line_is_read_as_the_settings_read_it(here: Path, line: str) -> None:
    (here / "team.env").write_text(f"# team\n\nPUBLISHER_LANGUAGE=ru\n{line}\n")
    assert cli_language(["--settings", "team.env", "--help"], {}) == "en"


@pytest.mark.parametrize(
    "argv",
    [
        ["--settings", "team.env", "queue"],
        ["--settings=team.env", "queue"],
        ["--sett", "team.env", "queue"],
        ["--log-level", "DEBUG", "--settings", "team.env", "log", "--since", "2h"],
    ],
)
def test_settings_named_on_the_command_line(here: Path, argv: list[str]) -> None:
    (here / "team.env").write_text("PUBLISHER_LANGUAGE=en\n")
    assert cli_language(argv, {}) == "en"
    assert cli_language(argv, {"PUBLISHER_LANGUAGE": "ru"}) == "ru"  # the environment first, as for settings


def test_the_default_settings_sources(here: Path) -> None:
    assert cli_language([], {}) == "ru"
    (here / "other.env").write_text("PUBLISHER_LANGUAGE=en\n")
    assert cli_language(["queue"], {"PUBLISHER_SETTINGS_FILE": "other.env"}) == "en"
    (here / "settings.env").write_text("PUBLISHER_LANGUAGE=en\n")
    assert cli_language(["queue"], {}) == "en"
    assert cli_language(["--", "--settings", "x"], {}) == "en"


@pytest.mark.parametrize(
    ("content", "environ"),
    [
        (None, {}),  # no such file
        (b"PUBLISHER_LANGUAGE=de\n", {}),
        (b"PUBLISHER_LANGUAGE=EN\n", {}),  # the settings refuse it: the help stays Russian
        (b"PUBLISHER_LANGUAGE=\xff\xfe\n", {}),
        (b"\x00\x01garbage", {}),
        (b"PUBLISHER_LANGUAGE=en\n", {"PUBLISHER_LANGUAGE": "fr"}),
    ],
)
def test_anything_doubtful_means_russian(here: Path, content: bytes | None, environ: dict[str, str]) -> None:
    if content is not None:
        (here / "team.env").write_bytes(content)
    assert cli_language(["--settings", "team.env", "--help"], environ) == "ru"


def test_a_folder_named_as_the_settings_file_means_russian(here: Path) -> None:
    (here / "team.env").mkdir()
    assert cli_language(["--settings", "team.env"], {}) == "ru"
