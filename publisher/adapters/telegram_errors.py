"""Telegram Bot API error answers mapped to the error tree, for ``TelegramAdapter``.

An answer that is not ``ok`` is ``{"ok": false, "error_code", "description", "parameters"}``
(https://core.telegram.org/bots/api#making-requests); ``parameters`` may carry ``retry_after`` (flood control)
or ``migrate_to_chat_id`` (a group that became a supergroup), #responseparameters. What holds for every post to
the chat (a rejected token, a bot that may not post there) pauses the target (``AuthError``); a refused post
fails alone (``ContentRejected``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from publisher import errors

if TYPE_CHECKING:
    from publisher.adapters.telegram import TelegramAdapter

#: Descriptions of a 400 that mean "this bot cannot post to this chat" rather than "bad content":
#: every post to the target would fail the same way, so it is paused (errors.AuthError) instead.
TARGET_PROBLEMS = (
    "chat not found",
    "need administrator rights",
    "not enough rights",
    "chat_write_forbidden",
)


def api_error(
    adapter: TelegramAdapter, method: str, body: dict[str, Any], kw: dict[str, Any], header_wait: str | None
) -> errors.PublishError:
    """Map ``{"ok": false, "error_code", "description", "parameters"}`` (#making-requests)."""
    code = body.get("error_code")
    code = code if isinstance(code, int) else kw["status"]
    description = adapter.clean_text(str(body.get("description") or "no description"))[:200]
    parameters = adapter.as_dict(body.get("parameters"))
    said = f"(error {code}: {description})"
    kw = {**kw, "code": code}
    if code == 429:
        # Flood control: ResponseParameters.retry_after seconds (#responseparameters).
        seconds = adapter.retry_after(parameters.get("retry_after") or header_wait)
        wait = f"wait {seconds:g} s" if seconds is not None else "wait"
        message = f"too many messages, {wait} before posting to {adapter.chat_id} again {said}"
        return adapter.error(errors.RateLimited, message, retry_after=seconds, scope="chat", **kw)
    if code in (401, 404):
        # 401 for a revoked token, 404 for a malformed one (no such bot).
        return adapter.error(
            errors.AuthError,
            "the bot token was rejected (revoked or mistyped): take the current token from @BotFather "
            f"and set {adapter.variable('bot_token')} {said}",
            **kw,
        )
    if code == 403 or (code == 400 and any(p in description.lower() for p in TARGET_PROBLEMS)):
        return adapter.error(
            errors.AuthError,
            f"the bot may not post to {adapter.chat_id} — add it to the channel as an administrator with "
            f"the 'Post messages' right, and check {adapter.variable('chat_id')} {said}",
            **kw,
        )
    if code == 400 and "migrate_to_chat_id" in parameters:
        return adapter.error(
            errors.AuthError,
            f"the group {adapter.chat_id} became a supergroup: set {adapter.variable('chat_id')} to "
            f"{parameters['migrate_to_chat_id']} {said}",
            **kw,
        )
    if code in (400, 413) and method.startswith("send"):  # 413: a file over the Bot API's limit
        return adapter.error(errors.ContentRejected, f"the post was refused {said}", **kw)
    return adapter.error(errors.PermanentError, f"{method} failed {said}", **kw)
