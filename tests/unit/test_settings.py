"""Settings: the example file documents every setting; errors name the variable and never the secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from publisher.errors import ConfigurationError
from publisher.ops.redact import scrub
from publisher.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "settings.example.env"


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PUBLISHER_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)


def test_example_file_loads_and_covers_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    settings = load_settings(EXAMPLE)
    assert settings.vk.group_id == 123456 and settings.telegram.chat_id == "@library_bntu"
    assert "vk:bntu" in settings.known_targets()
    documented = set(re.findall(r"^(PUBLISHER_[A-Z0-9_]+)=", EXAMPLE.read_text(), re.M))

    def names(model: type, prefix: str) -> set[str]:
        found = set()
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            annotation = field.annotation
            if name == "accounts":
                continue
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                found |= names(annotation, f"{prefix}{name.upper()}__")
            else:
                found.add(f"{prefix}{name.upper()}")
        return found

    missing = names(Settings, "PUBLISHER_") - documented
    # Timeouts are documented once (for VK); they work the same for every network.
    missing = {m for m in missing if "__TIMEOUTS__" not in m or m.startswith("PUBLISHER_VK__")}
    assert not missing, f"settings.example.env does not document: {sorted(missing)}"


def test_defaults_need_no_file_and_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.resolved_database_url == "sqlite:///var/publisher.db"
    assert settings.resolved_inbox_dir == Path("var/inbox")
    assert settings.timezone == "Europe/Minsk"


def test_invalid_value_names_the_variable_and_hides_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("PUBLISHER_VK__GROUP_ID", "not-a-number-SECRETISH")
    monkeypatch.setenv("PUBLISHER_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    text = str(err.value)
    assert "PUBLISHER_VK__GROUP_ID" in text and "PUBLISHER_TIMEZONE" in text
    assert "SECRETISH" not in text


def test_credentials_directory_supplies_tokens_and_they_are_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clean_env(monkeypatch)
    token = "cred-canary-7f3a9b2c1d"
    (tmp_path / "PUBLISHER_TELEGRAM__BOT_TOKEN").write_text(token)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = load_settings()
    assert settings.telegram.bot_token is not None
    assert settings.telegram.bot_token.get_secret_value() == token
    assert token not in repr(settings) and token not in str(settings.model_dump())
    assert scrub(f"GET /bot{token}/getMe") == "GET /bot***/getMe"


def test_missing_settings_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean_env(monkeypatch)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.env")
