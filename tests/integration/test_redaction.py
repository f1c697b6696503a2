"""Tokens in the form ``requests`` puts them in a URL path are masked too; unusable tokens are refused by name.

requests re-quotes a URL (``requests.utils.requote_uri``) keeping ``:`` and ``/`` literal, so a Telegram bot
token ``123:AB{c}`` travels - and is logged by urllib3 at DEBUG, and quoted in connection errors - as
``/bot123:AB%7Bc%7D/``: neither the raw token nor any fully-encoded form of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from publisher.adapters.telegram import TelegramAdapter
from publisher.cli import main
from publisher.errors import ConfigurationError, PublishError
from publisher.ops.alerts import Incident, format_alert
from publisher.ops.redact import register_secret, scrub
from publisher.settings import HttpTimeouts, TelegramSettings, load_settings
from tests.fakes.telegram import FakeTelegram
from tests.helpers import captured_log

#: Characters requests percent-encodes in a path, around the ``:`` it keeps.
TOKEN = '7000000042:AAk{zz}|q^w`e"r<t>y\\uЖ-end'


def path_form(token: str) -> str:
    url = requests.Request("POST", f"http://127.0.0.1/bot{token}/sendMessage").prepare().url
    assert url is not None
    return url.split("/bot", 1)[1].split("/", 1)[0]


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram("123456789:the-fake-knows-another-token")  # answers 401 Unauthorized to ours
    server.start()
    yield server
    server.stop()


def test_scrub_masks_the_path_form() -> None:
    register_secret(TOKEN)
    wire = path_form(TOKEN)
    assert wire not in (TOKEN,) and ":" in wire and "%7B" in wire  # the form this test is about
    for text in (f"POST /bot{wire}/sendMessage", f"url: /bot{wire.lower()}/getMe", f"/bot{wire}"):
        assert "AAk" not in scrub(text), text


def test_no_token_form_in_debug_lines_errors_check_output_or_alert_text(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PUBLISHER_TELEGRAM__BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLISHER_TELEGRAM__CHAT_ID", "@channel")
    monkeypatch.setenv("PUBLISHER_TELEGRAM__API_URL", fake.url)
    load_settings()  # registers the token, as the service does
    section = TelegramSettings(
        api_url=fake.url, bot_token=SecretStr(TOKEN), chat_id="@channel", timeouts=HttpTimeouts(total=5)
    )
    wire = path_form(TOKEN)
    with captured_log("DEBUG") as log:
        with pytest.raises(PublishError) as caught:
            TelegramAdapter("telegram", section).check()
        assert main(["--log-level", "DEBUG", "check"]) == 1
    out = capsys.readouterr()
    subject, body = format_alert(
        Incident("k", "failed", "t", f"Telegram said: POST /bot{wire}/sendMessage 401")
    )
    assert any(r.path.startswith(f"/bot{wire}/") for r in fake.requests)  # it did go out, in that form
    for text in (log.getvalue(), str(caught.value), repr(caught.value), out.out, out.err, subject, body):
        assert "AAk" not in text, text


@pytest.mark.parametrize("bad", ["7000:abc def", "7000:abc\n", "7000:abc\x1b[2J", "\t7000:abc"])
def test_a_token_with_whitespace_or_control_characters_is_refused_by_name(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PUBLISHER_TELEGRAM__BOT_TOKEN", bad)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "PUBLISHER_TELEGRAM__BOT_TOKEN: contains whitespace or control characters" in message
    assert "abc" not in message and "\n" not in message
