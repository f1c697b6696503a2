"""Telegram channel adapter: the Bot API over plain ``requests``.

python-telegram-bot (v20+) is async-only and brings its own httpx transport, which would bypass the shared
session (timeouts, deadline, origin rewrite) and force an event loop into a synchronous worker. The Bot API
is a handful of HTTP calls, so we make them ourselves through ``self.session``.

API reference: https://core.telegram.org/bots/api — sections cited where used.

* Every call is ``{api_url}/bot<token>/<method>`` (#making-requests). The token sits in the URL path, so
  no URL is ever put in a message; urllib3 logs the path at DEBUG and the scrubbing log filter masks it.
* Text posts use ``sendMessage``, one image ``sendPhoto``, 2-10 images ``sendMediaGroup`` (an album whose
  caption rides on the first item).
* Telegram keeps no idempotency key and a bot cannot read a channel's history, so a post cannot be
  looked up after an in-doubt attempt: ``reconcile`` answers UNKNOWN and ``deduplicates`` is False.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import IO, Any

import requests

from publisher.adapters.base import Adapter, json_body, response_excerpt, transport_errors
from publisher.adapters.published import PublishedForm
from publisher.errors import (
    AuthError,
    ConfigurationError,
    ContentRejected,
    InDoubtError,
    PermanentError,
    PublishError,
    RateLimited,
    TransientError,
)
from publisher.models import (
    AccountInfo,
    MediaItem,
    PublishResult,
    ReconcileResult,
    ReconcileStatus,
    RemoteRef,
    Rendered,
    Snapshot,
)
from publisher.ops.redact import register_secret, scrub
from publisher.settings import NetworkSettings, TelegramSettings

#: why a Telegram post has no figures (shown in ``publisher metrics`` and the report)
NO_METRICS = "not available from the Bot API"
#: Descriptions of a 400 that mean "this bot cannot post to this chat" rather than "bad content":
#: every post to the target would fail the same way, so it is paused (AuthError) instead.
_TARGET_PROBLEMS = (
    "chat not found",
    "need administrator rights",
    "not enough rights",
    "chat_write_forbidden",
)


def _variable(target: str, field: str) -> str:
    """The settings variable an operator edits for this target (named accounts have their own)."""
    prefix = "PUBLISHER_TELEGRAM__"
    if ":" in target:
        prefix += f"ACCOUNTS__{target.split(':', 1)[1].upper()}__"
    return prefix + field.upper()


class TelegramAdapter(Adapter):
    """Posts to one Telegram channel as a bot that is an administrator there with "Post messages"."""

    network = "telegram"
    #: resolve --published-as: https://t.me/<channel>/<message id> (t.me/c/<id>/<n> for a private one)
    published_form = PublishedForm(
        hosts=("t.me", "www.t.me", "telegram.me", "www.telegram.me"),
        path=re.compile(r"/(?:c/\d{1,20}|[A-Za-z][A-Za-z0-9_]{3,31})/(\d{1,12})"),
        remote_id=re.compile(r"\d{1,12}"),
        example="https://t.me/bntu_library/123",
    )
    default_origin = "https://api.telegram.org"
    max_images = 10  # sendMediaGroup takes 2-10 items (#sendmediagroup)
    deduplicates = False

    def __init__(
        self, target: str, settings: NetworkSettings, session: requests.Session | None = None
    ) -> None:
        if not isinstance(settings, TelegramSettings) or settings.bot_token is None or not settings.chat_id:
            raise ConfigurationError(
                f"target {target} needs {_variable(target, 'bot_token')} and {_variable(target, 'chat_id')}"
            )
        super().__init__(target, settings, session)
        token = settings.bot_token.get_secret_value()
        # load_settings registers it already; settings built in code (alerts, tests) must be safe too.
        register_secret(token)
        self.chat_id = settings.chat_id.strip()
        self._base = f"{(settings.api_url or self.default_origin).rstrip('/')}/bot{token}"
        #: channel username for post URLs: None = not asked yet, "" = the channel has none (private)
        self._username: str | None = self.chat_id[1:] if self.chat_id.startswith("@") else None

    def describe(self) -> str:
        return f"{self.target} (chat {self.chat_id})"

    # --- publish -----------------------------------------------------------------------------------

    def publish(self, rendered: Rendered, idempotency_key: str) -> PublishResult:
        """Send the post; see the module docstring for which method each shape uses.

        Raises ``ContentRejected`` before any call for media Telegram cannot take here (non-images, more
        than ``max_images``), ``RateLimited`` / ``TransientError`` / ``AuthError`` / ``ContentRejected`` /
        ``PermanentError`` from the API's answer, and ``InDoubtError`` when the send may have gone through.
        """
        media = rendered.media
        not_images = [m.name for m in media if not m.is_image]
        if not_images:
            raise self._error(
                ContentRejected,
                f"only images can be attached to a Telegram post, not {', '.join(not_images)}",
            )
        if len(media) > self.max_images:
            raise self._error(
                ContentRejected,
                f"a Telegram album holds at most {self.max_images} images, this post has {len(media)}",
            )
        # Preparatory and cached: the channel's public username for the post URL. It runs before the
        # send, so a failure here leaves nothing published (Transient/Auth, never in doubt).
        username = self._channel_username()
        fields: dict[str, Any] = {"chat_id": self.chat_id}
        if rendered.parse_mode == "HTML":
            fields["parse_mode"] = "HTML"

        with ExitStack() as stack:
            if not media:
                fields["text"] = rendered.text
                if rendered.link:
                    # Preview the post's own link rather than the first URL Telegram finds (#linkpreviewoptions).
                    fields["link_preview_options"] = {"url": rendered.link}
                result, excerpt = self._call("sendMessage", payload=fields, unsafe=True)
            elif len(media) == 1:
                files = {"photo": (media[0].name, self._open(stack, media[0]), media[0].mime)}
                fields["caption"] = rendered.text
                result, excerpt = self._call("sendPhoto", data=fields, files=files, unsafe=True)
            else:
                # InputMediaPhoto items refer to multipart parts by name (#inputmediaphoto, #sending-files).
                items: list[dict[str, Any]] = []
                files = {}
                for n, item in enumerate(media):
                    part = f"photo{n}"
                    files[part] = (item.name, self._open(stack, item), item.mime)
                    entry: dict[str, Any] = {"type": "photo", "media": f"attach://{part}"}
                    if n == 0 and rendered.text:
                        entry["caption"] = rendered.text
                        if "parse_mode" in fields:
                            entry["parse_mode"] = fields["parse_mode"]
                    items.append(entry)
                data = {"chat_id": self.chat_id, "media": json.dumps(items, ensure_ascii=False)}
                result, excerpt = self._call("sendMediaGroup", data=data, files=files, unsafe=True)

        messages = result if isinstance(result, list) else [result]
        found = [m.get("message_id") if isinstance(m, dict) else None for m in messages]
        ids: list[int] = [i for i in found if isinstance(i, int) and not isinstance(i, bool)]
        if not ids or len(ids) != len(messages):
            raise self._error(
                InDoubtError,
                "the answer was ok but carried no message id; the post may have been published",
                excerpt=excerpt,
            )
        first = messages[0]
        date = first.get("date")
        published_at = datetime.fromtimestamp(date, UTC) if isinstance(date, int) else datetime.now(UTC)
        return PublishResult(
            remote_id=str(ids[0]),
            url=self._post_url(username, ids[0]),
            published_at=published_at,
            remote_ids=tuple(str(i) for i in ids),
            excerpt=excerpt,
        )

    def _open(self, stack: ExitStack, item: MediaItem) -> IO[bytes]:
        try:
            handle: IO[bytes] = stack.enter_context(item.open())
        except OSError as exc:
            raise self._error(
                PermanentError, f"cannot read the image {item.name} ({exc.strerror}); nothing was sent"
            ) from None
        return handle

    def _post_url(self, username: str, message_id: int) -> str | None:
        """``t.me/<name>/<id>`` for a public channel, ``t.me/c/<id>/<id>`` (members only) for a private one."""
        if username:
            return f"https://t.me/{username}/{message_id}"
        if self.chat_id.startswith("-100") and self.chat_id[4:].isdigit():
            return f"https://t.me/c/{self.chat_id[4:]}/{message_id}"
        return None

    def _channel_username(self) -> str:
        if self._username is None:
            chat, _ = self._call("getChat", payload={"chat_id": self.chat_id}, unsafe=False)
            username = chat.get("username") if isinstance(chat, dict) else None
            self._username = username if isinstance(username, str) else ""
        return self._username

    # --- check and reconcile -----------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """getMe, getChat, getChatMember: is the bot an administrator allowed to post in the channel?

        A rejected token raises ``AuthError``. When the bot is known but cannot see or post to the chat,
        the answer is ``can_post=False`` with what to fix, so ``publisher check`` can list every target.
        """
        me, _ = self._call("getMe", unsafe=False)
        bot_id = me.get("id") if isinstance(me, dict) else None
        bot = f"@{me.get('username')}" if isinstance(me, dict) else "the bot"
        account = f"{bot} in {self.chat_id}"
        try:
            chat, _ = self._call("getChat", payload={"chat_id": self.chat_id}, unsafe=False)
            member, _ = self._call(
                "getChatMember", payload={"chat_id": self.chat_id, "user_id": bot_id}, unsafe=False
            )
        except AuthError as exc:
            return AccountInfo(self.target, account, can_post=False, detail=str(exc))
        chat = chat if isinstance(chat, dict) else {}
        member = member if isinstance(member, dict) else {}
        username = chat.get("username")
        self._username = username if isinstance(username, str) else ""
        title = chat.get("title") or self.chat_id
        account = f"{bot} in {title} ({self.chat_id})"
        status = member.get("status")
        if chat.get("type") == "channel":
            # Only administrators with can_post_messages may post in a channel (#chatmemberadministrator).
            can_post = status == "creator" or (
                status == "administrator" and member.get("can_post_messages") is True
            )
            if not can_post:
                if status == "administrator":
                    why = "is an administrator without the 'Post messages' right"
                else:
                    why = f"is not an administrator (status: {status})"
                detail = f"{bot} {why} in {self.chat_id}: make it an administrator with 'Post messages'"
                return AccountInfo(self.target, account, can_post=False, detail=detail)
        elif status in ("left", "kicked") or (status == "restricted" and not member.get("can_send_messages")):
            detail = f"{bot} may not write to {self.chat_id} (status: {status}): add it to the chat"
            return AccountInfo(self.target, account, can_post=False, detail=detail)
        return AccountInfo(self.target, account, can_post=True, detail=f"{bot} may post ({status})")

    def reconcile(
        self, rendered: Rendered, attempt_started_at: datetime, idempotency_key: str
    ) -> ReconcileResult:
        # No Bot API method returns a channel's past posts (getUpdates only delivers new updates to a
        # bot that polls, and channel_post updates are not kept for us), so we cannot tell.
        return ReconcileResult(
            ReconcileStatus.UNKNOWN,
            detail=(
                "the Telegram Bot API cannot read a channel's history: open the channel and check "
                f"whether the post is there ({self.chat_id})"
            ),
        )

    # --- HTTP --------------------------------------------------------------------------------------

    def fetch_metrics(self, refs: Sequence[RemoteRef]) -> list[Snapshot]:
        """No call: the Bot API has no method that reads a channel post's views or reactions counts.

        https://core.telegram.org/bots/api lists no such method (``getChat``/``forwardMessage`` do not
        carry view counts); views are readable only through a user account over MTProto
        (``messages.getMessagesViews``), a possible later extension, not faked here.
        """
        now = datetime.now(UTC)
        return [Snapshot(r.remote_id, now, available=False, reason=NO_METRICS) for r in refs]

    def _error(self, cls: type[PublishError], message: str, **kwargs: Any) -> PublishError:
        return cls(f"Telegram: {message}", network=self.network, target=self.target, **kwargs)

    def _call(
        self,
        method: str,
        *,
        payload: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        unsafe: bool,
    ) -> tuple[Any, str]:
        """One Bot API call; returns (result, excerpt) or raises from the error tree."""
        with transport_errors(self.network, self.target, unsafe=unsafe):
            response = self.session.post(f"{self._base}/{method}", json=payload, data=data, files=files)
        excerpt = response_excerpt(response)
        if response.status_code >= 500:
            # A 5xx after a send may still have posted (Telegram's front end times out on a busy backend).
            cls: type[PublishError] = InDoubtError if unsafe else TransientError
            what = "the post may have been published" if unsafe else "nothing was changed"
            raise self._error(
                cls, f"server error on {method}; {what}", status=response.status_code, excerpt=excerpt
            )
        body = json_body(response, self.network, self.target, unsafe=unsafe)
        if isinstance(body, dict) and body.get("ok") is True and "result" in body:
            return body["result"], excerpt
        if not isinstance(body, dict) or body.get("ok") is not False:
            cls = InDoubtError if unsafe else TransientError
            raise self._error(
                cls, f"unexpected answer to {method}", status=response.status_code, excerpt=excerpt
            )
        raise self._api_error(method, body, response, excerpt)

    def _api_error(
        self, method: str, body: dict[str, Any], response: requests.Response, excerpt: str
    ) -> PublishError:
        """Map ``{"ok": false, "error_code", "description", "parameters"}`` (#making-requests)."""
        code = body.get("error_code")
        code = code if isinstance(code, int) else response.status_code
        description = scrub(str(body.get("description") or "no description"))[:200]
        raw_parameters = body.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        said = f"(error {code}: {description})"
        common: dict[str, Any] = {"status": response.status_code, "code": code, "excerpt": excerpt}
        if code == 429:
            # Flood control: ResponseParameters.retry_after seconds (#responseparameters).
            retry_after = parameters.get("retry_after") or response.headers.get("Retry-After")
            try:
                seconds: float | None = float(retry_after) if retry_after is not None else None
            except ValueError:
                seconds = None
            wait = f"wait {seconds:g} s" if seconds is not None else "wait"
            return RateLimited(
                f"Telegram: too many messages, {wait} before posting to {self.chat_id} again {said}",
                retry_after=seconds,
                scope="chat",
                network=self.network,
                target=self.target,
                **common,
            )
        if code in (401, 404):
            # 401 for a revoked token, 404 for a malformed one (no such bot).
            return self._error(
                AuthError,
                "the bot token was rejected (revoked or mistyped): take the current token from @BotFather "
                f"and set {_variable(self.target, 'bot_token')} {said}",
                **common,
            )
        lowered = description.lower()
        if code == 403 or (code == 400 and any(p in lowered for p in _TARGET_PROBLEMS)):
            return self._error(
                AuthError,
                f"the bot may not post to {self.chat_id} — add it to the channel as an administrator with "
                f"the 'Post messages' right, and check {_variable(self.target, 'chat_id')} {said}",
                **common,
            )
        if code == 400 and "migrate_to_chat_id" in parameters:
            return self._error(
                AuthError,
                f"the group {self.chat_id} became a supergroup: set {_variable(self.target, 'chat_id')} to "
                f"{parameters['migrate_to_chat_id']} {said}",
                **common,
            )
        if code == 400 and method.startswith("send"):
            return self._error(ContentRejected, f"the post was refused {said}", **common)
        return self._error(PermanentError, f"{method} failed {said}", **common)
