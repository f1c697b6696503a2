"""Alerts reach the team's Telegram chat and mailbox; a broken channel is logged, never raised."""

from __future__ import annotations

import os
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from publisher.ops.alerts import Alerter, Incident, NullAlerter, format_alert, make_alerter
from publisher.settings import Settings
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.helpers import free_port

TEAM_CHAT = -1009876543210
ALERT_TOKEN = "987654321:ALERTS-bot-token-for-the-fake"
SMTP_USER = "publisher"
SMTP_PASSWORD = "s3cret-smtp-password"

FAILED = Incident(
    key="failed:34",
    kind="failed",
    title="пост не опубликован в vk:bntu",
    text="ContentRejected: VK error 100: message is too long",
    target="vk:bntu",
    post_id=12,
    delivery_id=34,
)


class Sink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=login == SMTP_USER and password == SMTP_PASSWORD, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=sink.authenticate,
        auth_require_tls=False,  # loopback test server; production uses smtp_starttls
    )
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    fake.add_chat(FakeChat(id=TEAM_CHAT, type="supergroup", title="SMM библиотеки", bot_status="member"))
    with fake:
        yield fake


def make_settings(telegram: FakeTelegram | None, smtp_port: int | None, **alerts: Any) -> Settings:
    section: dict[str, Any] = {"mail_from": "publisher@library.example"}
    telegram_section: dict[str, Any] = {}
    if telegram is not None:
        telegram_section = {"api_url": telegram.url, "bot_token": telegram.token}
        section["telegram_chat_id"] = str(TEAM_CHAT)
    if smtp_port is not None:
        section |= {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "mail_to": ["smm@library.example"]}
    section |= alerts
    return Settings(telegram=telegram_section, alerts=section)


def test_alert_arrives_in_the_team_chat_and_the_mailbox(
    telegram: FakeTelegram, smtp: tuple[Sink, int], log_text: StringIO
) -> None:
    sink, port = smtp
    alerter = Alerter(make_settings(telegram, port))
    assert alerter.configured and alerter.channels == ["telegram", "email"]

    assert alerter.send(FAILED) == ["telegram", "email"]

    [text] = telegram.texts_sent_to(TEAM_CHAT)
    for expected in ("vk:bntu", "12", "34", "message is too long", "publisher retry 34"):
        assert expected in text
    assert telegram.texts_sent_to(telegram.channel.id) == []  # never into the public channel
    [mail] = sink.messages
    assert mail["To"] == "smm@library.example"
    assert mail["From"] == "publisher@library.example"
    assert "vk:bntu" in mail["Subject"] and mail["Subject"].startswith("[publisher]")
    body = mail.get_body()
    assert body is not None and "publisher retry 34" in body.get_content()
    assert "alert failed:34 sent via telegram" in log_text.getvalue()


def test_telegram_500_is_logged_and_email_still_arrives(
    telegram: FakeTelegram, smtp: tuple[Sink, int], log_text: StringIO
) -> None:
    sink, port = smtp
    telegram.fail_server_error("sendMessage")
    sent = Alerter(make_settings(telegram, port)).send(FAILED)  # must not raise
    assert sent == ["email"]
    assert len(sink.messages) == 1
    log = log_text.getvalue()
    assert "alert failed:34 via telegram failed: Telegram answered HTTP 500" in log
    assert telegram.token not in log  # urllib3 logs the /bot<token>/ path at DEBUG: scrubbed


def test_closed_smtp_port_is_logged_and_telegram_still_gets_it(
    telegram: FakeTelegram, log_text: StringIO
) -> None:
    sent = Alerter(make_settings(telegram, free_port()), timeout=2).send(FAILED)
    assert sent == ["telegram"]
    assert len(telegram.texts_sent_to(TEAM_CHAT)) == 1
    assert "alert failed:34 via email failed: ConnectionRefusedError" in log_text.getvalue()


def test_unreachable_telegram_is_logged_without_the_token(smtp: tuple[Sink, int], log_text: StringIO) -> None:
    sink, port = smtp
    settings = make_settings(None, port, telegram_chat_id=str(TEAM_CHAT), telegram_bot_token=ALERT_TOKEN)
    settings.telegram.api_url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    assert Alerter(settings, timeout=2).send(FAILED) == ["email"]
    log = log_text.getvalue()
    assert "via telegram failed: ConnectionError" in log
    assert ALERT_TOKEN not in log
    assert len(sink.messages) == 1


def test_a_hanging_channel_is_cut_short(telegram: FakeTelegram, log_text: StringIO) -> None:
    # The Bot API holds the call for a minute; the alert gives up and returns before the message exists.
    telegram.slow(60, path="/sendMessage$")
    assert Alerter(make_settings(telegram, None), timeout=0.5).send(FAILED) == []
    assert telegram.applied == [] and len(telegram.requests) == 1
    assert "via telegram failed" in log_text.getvalue()


def test_the_alert_bot_token_is_preferred_over_the_publishing_bot(log_text: StringIO) -> None:
    fake = FakeTelegram(token=ALERT_TOKEN)
    with fake:
        fake.add_chat(FakeChat(id=TEAM_CHAT, type="supergroup", bot_status="member"))
        settings = Settings(
            telegram={"api_url": fake.url, "bot_token": "111111:publishing-bot-token"},
            alerts={"telegram_chat_id": str(TEAM_CHAT), "telegram_bot_token": ALERT_TOKEN},
        )
        assert Alerter(settings).send(FAILED) == ["telegram"]
        assert len(fake.texts_sent_to(TEAM_CHAT)) == 1
        # Without an alert token the publishing bot's is used, which this fake rejects (401).
        settings.alerts.telegram_bot_token = None
        assert Alerter(settings).send(FAILED) == []
        assert "Telegram answered HTTP 401: Unauthorized" in log_text.getvalue()


def test_telegram_error_description_reaches_the_log(telegram: FakeTelegram, log_text: StringIO) -> None:
    settings = make_settings(telegram, None, telegram_chat_id="-100111")  # a chat the bot is not in
    assert Alerter(settings).send(FAILED) == []
    assert "HTTP 400: Bad Request: chat not found" in log_text.getvalue()


def test_a_long_error_is_shortened_to_fit_telegram(telegram: FakeTelegram) -> None:
    long = Incident("failed:1", "failed", "длинная ошибка", "x" * 6000, target="x", delivery_id=1)
    assert Alerter(make_settings(telegram, None)).send(long) == ["telegram"]
    [text] = telegram.texts_sent_to(TEAM_CHAT)
    assert len(text) <= 4096 and text.endswith("…")


def test_smtp_login_works_and_a_wrong_password_stays_out_of_the_log(
    smtp: tuple[Sink, int], log_text: StringIO
) -> None:
    sink, port = smtp
    good = make_settings(None, port, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    assert Alerter(good).send(FAILED) == ["email"]
    assert sink.logins == [(SMTP_USER, SMTP_PASSWORD)]

    wrong = "wrong-password-123"
    bad = make_settings(None, port, smtp_user=SMTP_USER, smtp_password=wrong)
    assert Alerter(bad).send(FAILED) == []
    log = log_text.getvalue()
    assert "via email failed: SMTPAuthenticationError: SMTP 535" in log
    assert wrong not in log and SMTP_PASSWORD not in log
    assert len(sink.messages) == 1


def test_starttls_against_a_server_without_it_is_logged(smtp: tuple[Sink, int], log_text: StringIO) -> None:
    sink, port = smtp
    assert Alerter(make_settings(None, port, smtp_starttls=True)).send(FAILED) == []
    assert "via email failed: SMTPNotSupportedError" in log_text.getvalue()
    assert sink.messages == []  # never falls back to plain text silently


def test_nothing_configured_means_a_null_alerter() -> None:
    settings = Settings()
    assert not Alerter(settings).configured
    alerter = make_alerter(settings)
    assert isinstance(alerter, NullAlerter) and not alerter.configured
    assert alerter.send(FAILED) == []
    # A chat without any bot token, or an SMTP host without recipients, is not a channel.
    assert Alerter(Settings(alerts={"telegram_chat_id": "1", "smtp_host": "localhost"})).channels == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("failed", "publisher retry 34"),
        ("in_doubt", "publisher resolve 34 --published-as"),
        ("in_doubt", "publisher resolve 34 --not-published"),
        ("paused", "publisher resume vk:bntu"),
        ("stalled", "journalctl -u publisher"),
    ],
)
def test_each_kind_tells_what_to_do(kind: Any, expected: str) -> None:
    incident = Incident(f"{kind}:34", kind, "заголовок", "ошибка", "vk:bntu", 12, 34)
    subject, body = format_alert(incident)
    assert expected in body
    assert "\n" not in subject and "заголовок" in subject


def test_alert_settings_changed_by_sighup_are_used_without_a_restart(
    tmp_path: Path, smtp: tuple[Sink, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from publisher.dispatch.daemon import Daemon
    from publisher.settings import load_settings

    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    sink, port = smtp
    settings_file = tmp_path / "settings.env"
    settings_file.write_text(
        f"PUBLISHER_DATA_DIR={tmp_path / 'var'}\nPUBLISHER_DRY_RUN=true\n", encoding="utf-8"
    )
    daemon = Daemon(load_settings(settings_file), settings_file=str(settings_file))
    try:
        daemon.incidents.report(Incident("failed:1", "failed", "before the reload", "no channel yet"))
        with settings_file.open("a", encoding="utf-8") as out:
            out.write(
                f"PUBLISHER_ALERTS__SMTP_HOST=127.0.0.1\nPUBLISHER_ALERTS__SMTP_PORT={port}\n"
                'PUBLISHER_ALERTS__MAIL_TO=["smm@library.example"]\n'
            )
        daemon.reload()  # what SIGHUP triggers
        daemon.incidents.report(Incident("failed:2", "failed", "after the reload", "the new channel is used"))
    finally:
        daemon.incidents.close()
        daemon.store.close()
    assert [m["Subject"] for m in sink.messages] == ["[publisher] ❌ Публикация не удалась: after the reload"]
