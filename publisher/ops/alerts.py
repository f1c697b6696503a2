"""Tell the team about incidents: a Telegram message to their chat and/or an e-mail.

An *incident* is something an operator must act on: a delivery failed for good, a delivery is in
doubt (it may or may not be on the network), a target was paused (token revoked), or the daemon
stopped draining. ``Alerter.send`` tries every configured channel with short timeouts and returns the
names of those that accepted the message. It never raises and never retries: alert delivery must not
hold up publishing, and a lost alert is still visible in the journal and in ``publisher status``.
"Once per incident" is the caller's job (``store.open_incident(key)``), not this module's.

API references: Telegram Bot API sendMessage, https://core.telegram.org/bots/api#sendmessage
(``{"ok": true, "result": Message}`` on success, ``{"ok": false, "error_code", "description"}``
otherwise); smtplib, https://docs.python.org/3/library/smtplib.html; email.message.EmailMessage,
https://docs.python.org/3/library/email.message.html.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import requests

from publisher.adapters.http import make_session
from publisher.ops.redact import register_secret, scrub
from publisher.settings import HttpTimeouts, NetworkSettings, Settings

log = logging.getLogger(__name__)

IncidentKind = Literal["failed", "in_doubt", "paused", "stalled", "inbox", "test"]

#: Telegram refuses longer messages (Bot API: 1-4096 characters after entity parsing).
TELEGRAM_LIMIT = 4096
#: Seconds for any one step of an alert (connect, each read, each SMTP command).
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Incident:
    """One thing the team must act on. ``key`` identifies it for deduplication, e.g. ``failed:42``."""

    key: str
    kind: IncidentKind
    title: str
    text: str
    target: str | None = None
    post_id: int | None = None
    delivery_id: int | None = None


_HEADINGS: dict[str, str] = {
    "failed": "❌ Публикация не удалась",
    "in_doubt": "⚠️ Публикация под вопросом",
    "paused": "⏸ Цель приостановлена",
    "stalled": "🛑 Публикатор не разбирает очередь",
    "inbox": "📂 Папка для постов не работает",
    "test": "ℹ️ Проверка оповещений",
}


#: What the team does about each kind of incident; ``{ref}`` is the delivery id, ``{target}`` the target.
_ADVICE: dict[str, str] = {
    "failed": (
        "Подробности: publisher show {ref}. "
        "Исправьте причину (текст, медиа, права) и повторите: publisher retry {ref}."
    ),
    "in_doubt": (
        "Проверьте, появился ли пост в {target}. Появился: publisher resolve {ref} --published-as ССЫЛКА; "
        "нет: publisher resolve {ref} --not-published или publisher retry {ref} --yes. "
        "Сам он не повторится, чтобы не было дубля."
    ),
    "paused": (
        "Публикации в {target} ждут. Обновите токен или права (docs/install.md), затем: publisher resume {target}."
    ),
    "inbox": (
        "Новые посты ждут в папке. processed и rejected в ней должны быть обычными папками службы, "
        "не файлами и не ссылками: уберите мешающее (ничего не удаляя), служба создаст папки сама. "
        "Подробности: publisher status, journalctl -u publisher."
    ),
    "stalled": "Проверьте: systemctl status publisher, journalctl -u publisher, publisher status.",
}


def _what_to_do(incident: Incident) -> str:
    ref = str(incident.delivery_id) if incident.delivery_id is not None else "ID"
    advice = _ADVICE.get(incident.kind, "Ничего делать не нужно: это проверка канала оповещений.")
    return advice.format(ref=ref, target=incident.target or "ЦЕЛЬ")


def format_alert(incident: Incident) -> tuple[str, str]:
    """The subject (one line) and body (plain text, Russian) for the team."""
    heading = _HEADINGS.get(incident.kind, incident.kind)
    subject = f"{heading}: {incident.title}"
    lines = [subject]
    if incident.target:
        lines.append(f"Цель: {incident.target}")
    if incident.post_id is not None:
        lines.append(f"Пост: {incident.post_id}")
    if incident.delivery_id is not None:
        lines.append(f"Доставка: {incident.delivery_id}")
    if incident.text:
        lines.append(f"Что случилось: {incident.text}")
    lines.append(f"Что делать: {_what_to_do(incident)}")
    return " ".join(subject.split()), scrub("\n".join(lines))


class Alerter:
    """Sends incidents to every configured channel: ``"telegram"`` and/or ``"email"``.

    Telegram needs ``alerts.telegram_chat_id`` and a bot token: ``alerts.telegram_bot_token``, else
    the publishing bot's ``telegram.bot_token`` (the bot must be a member of the team's chat). E-mail
    needs ``alerts.smtp_host`` and at least one ``alerts.mail_to`` address.
    """

    def __init__(self, settings: Settings, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.settings = settings.alerts
        self.timeout = timeout
        token = self.settings.telegram_bot_token or settings.telegram.bot_token
        self._token = token.get_secret_value() if token is not None else None
        self._api_url = settings.telegram.api_url.rstrip("/")
        password = self.settings.smtp_password
        self._smtp_password = password.get_secret_value() if password is not None else None
        # Settings built without load_settings() have not registered these yet.
        register_secret(self._token)
        register_secret(self._smtp_password)

    @property
    def channels(self) -> list[str]:
        """The channels that are configured, in the order they are tried."""
        found = []
        if self._token and self.settings.telegram_chat_id:
            found.append("telegram")
        if self.settings.smtp_host and self.settings.mail_to:
            found.append("email")
        return found

    @property
    def configured(self) -> bool:
        return bool(self.channels)

    def send(self, incident: Incident) -> list[str]:
        """Deliver ``incident`` to every channel; return the names that succeeded. Never raises."""
        subject, body = format_alert(incident)
        sent: list[str] = []
        for channel in self.channels:
            try:
                if channel == "telegram":
                    self._send_telegram(body)
                else:
                    self._send_email(subject, body)
            except Exception as exc:  # alerting must never break the caller
                log.warning(
                    "alert %s via %s failed: %s",
                    incident.key,
                    channel,
                    scrub(_describe(exc)),
                    extra=_fields(incident, "alert_failed"),
                )
                continue
            sent.append(channel)
            log.info("alert %s sent via %s", incident.key, channel, extra=_fields(incident, "alert_sent"))
        if not self.channels:
            log.debug("no alert channel configured; %s only logged", incident.key)
        return sent

    def send_chat(self, text: str, key: str) -> bool:
        """Send a plain message (a reminder, not an incident) to the team's Telegram chat. Never raises.

        ``key`` names the message in the log. False when Telegram is not configured or refused it.
        """
        if "telegram" not in self.channels:
            log.debug("no team chat configured; %s only logged", key)
            return False
        try:
            self._send_telegram(scrub(text))
        except Exception as exc:  # a reminder must never break the caller
            log.warning(
                "message %s to the team chat failed: %s",
                key,
                scrub(_describe(exc)),
                extra={"event": "chat_failed"},
            )
            return False
        log.info("message %s sent to the team chat", key, extra={"event": "chat_sent"})
        return True

    # --- channels ----------------------------------------------------------------------------------

    def _send_telegram(self, body: str) -> None:
        assert self._token is not None
        section = NetworkSettings(
            api_url=self._api_url,
            timeouts=HttpTimeouts(connect=self.timeout, read=self.timeout, total=self.timeout * 2),
        )
        text = body if len(body) <= TELEGRAM_LIMIT else body[: TELEGRAM_LIMIT - 1] + "…"
        payload = {
            "chat_id": self.settings.telegram_chat_id,
            "text": text,  # plain text: error excerpts may contain characters Markdown would eat
            "link_preview_options": {"is_disabled": True},
        }
        with make_session(section, "") as session:
            response = session.post(f"{self._api_url}/bot{self._token}/sendMessage", json=payload)
        description = telegram_refusal(response)
        if description is not None:
            raise AlertChannelError(
                f"Telegram answered HTTP {response.status_code}" + (f": {description}" if description else "")
            )

    def _send_email(self, subject: str, body: str) -> None:
        alerts = self.settings
        assert alerts.smtp_host is not None
        message = EmailMessage()
        message["Subject"] = f"[publisher] {subject}"
        message["From"] = alerts.mail_from
        message["To"] = ", ".join(alerts.mail_to)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=alerts.mail_from.rpartition("@")[2] or None)
        message.set_content(body)
        with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=self.timeout) as smtp:
            if alerts.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if alerts.smtp_user:
                smtp.login(alerts.smtp_user, self._smtp_password or "")
            smtp.send_message(message)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} channels={self.channels}>"


class NullAlerter(Alerter):
    """For when alerting is off: ``send`` only logs at DEBUG and reports no channel."""

    def __init__(self) -> None:  # no settings needed
        pass

    @property
    def channels(self) -> list[str]:
        return []

    def send(self, incident: Incident) -> list[str]:
        log.debug("alerting is off; %s only logged", incident.key)
        return []

    def send_chat(self, text: str, key: str) -> bool:
        log.debug("no team chat configured; %s only logged", key)
        return False

    def __repr__(self) -> str:
        return "<NullAlerter>"


def make_alerter(settings: Settings, timeout: float = DEFAULT_TIMEOUT) -> Alerter:
    """An ``Alerter`` when a channel is configured, else a ``NullAlerter``."""
    alerter = Alerter(settings, timeout=timeout)
    return alerter if alerter.configured else NullAlerter()


def telegram_refusal(response: requests.Response) -> str | None:
    """None when the Bot API took the call (HTTP 200 and ``"ok": true``), else its ``description`` ("" when
    it gave none). https://core.telegram.org/bots/api#making-requests"""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code == 200 and isinstance(answer, dict) and answer.get("ok") is True:
        return None
    description = answer.get("description") if isinstance(answer, dict) else None
    return str(description or "")


class AlertChannelError(Exception):
    """A channel refused the alert (internal: logged by ``send``, never raised to callers)."""


def _describe(exc: Exception) -> str:
    """A short reason without URLs: ``str()`` of a requests error carries the token in its URL."""
    if isinstance(exc, AlertChannelError):
        return str(exc)
    if isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__} (no answer from the Telegram API)"
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        return f"{type(exc).__name__}: SMTP {exc.smtp_code} {detail}".strip()
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _fields(incident: Incident, event: str) -> dict[str, object]:
    fields: dict[str, object] = {"event": event}
    if incident.target:
        fields["target"] = incident.target
    if incident.post_id is not None:
        fields["post"] = incident.post_id
    if incident.delivery_id is not None:
        fields["delivery"] = incident.delivery_id
    return fields
