"""Sending last month's round-table report to the team's Telegram chat (the daemon's job on the 1st).

Telegram Bot API ``sendDocument`` (https://core.telegram.org/bots/api#senddocument): multipart/form-data
with ``chat_id``, the file as ``document`` and a ``caption`` of at most 1024 characters; bots may send
files up to 50 MB. The bot is ``alerts.telegram_bot_token`` when set, else the channel's bot (as for
alerts); it must be a member of the chat. A ``report_sent`` event in the publish log remembers each month
sent, so a restart on the 1st does not send it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from publisher.adapters.http import make_session
from publisher.i18n import N_
from publisher.metrics.report import build_report, month_of, previous
from publisher.metrics.texts import month_name, translator
from publisher.ops.alerts import telegram_refusal
from publisher.ops.redact import register_secret, scrub
from publisher.settings import Settings
from publisher.store import Store

log = logging.getLogger("publisher.metrics")

CAPTION = N_("Round-table report for {month}")


def send_report(store: Store, settings: Settings, now: datetime, *, language: str = "") -> bool:
    """Send the report of the month before ``now`` (local time); False when not configured or already sent.

    Raises ``RuntimeError`` (with the API's description, never the token) when Telegram refuses it.
    """
    chat = settings.report.telegram_chat_id
    token = settings.alerts.telegram_bot_token or settings.telegram.bot_token
    if not chat or token is None:
        return False
    local = now.astimezone(settings.zone)
    month = previous(month_of(local.year, local.month, settings.zone), settings.zone)
    if any(e.detail.get("month") == month.label for e in store.events(status="report_sent")):
        return False
    language = language or str(getattr(settings, "language", None) or "ru")
    report = build_report(store, month, zone=settings.zone, language=language, now=now)
    secret = token.get_secret_value()
    register_secret(secret)
    api = settings.telegram.api_url.rstrip("/")
    caption = translator(language)(CAPTION).format(month=month_name(language, month.year, month.month))
    files = {"document": (f"report-{month.label}.html", report.html.encode("utf-8"), "text/html")}
    with make_session(settings.telegram, "") as session:
        response = session.post(
            f"{api}/bot{secret}/sendDocument", data={"chat_id": chat, "caption": caption}, files=files
        )
    description = telegram_refusal(response)
    if description is not None:
        raise RuntimeError(scrub(f"Telegram refused the report: HTTP {response.status_code} {description}"))
    store.log_event(now, "report_sent", detail={"month": month.label, "chat": chat})
    log.info("report for %s sent to %s", month.label, chat, extra={"event": "report_sent"})
    return True
