"""Telegram channel adapter: the Bot API over plain ``requests``.

python-telegram-bot (v20+) is async-only and brings its own httpx transport, which would bypass the shared
session (timeouts, deadline, origin rewrite) and force an event loop into a synchronous worker. The Bot API
is a handful of HTTP calls, so we make them ourselves through ``self.session``.

API reference: https://core.telegram.org/bots/api — sections cited where used.

* Every call is ``{api_url}/bot<token>/<method>`` (#making-requests). The token sits in the URL path, so
  no URL is ever put in a message; urllib3 logs the path at DEBUG and the scrubbing log filter masks it.
* Text posts use ``sendMessage``, one picture ``sendPhoto``, one video ``sendVideo``, one animated GIF
  ``sendAnimation``, 2-10 pictures and videos ``sendMediaGroup`` (an album whose caption rides on the first
  item; it cannot hold an animated GIF, so such a post is refused): ``telegram_media.py``.
* An answer with ``"ok": false`` is mapped to the error tree in ``telegram_errors.py``.
* Telegram keeps no idempotency key and a bot cannot read a channel's history, so a post cannot be
  looked up after an in-doubt attempt: ``reconcile`` answers UNKNOWN and ``deduplicates`` is False.
"""

from __future__ import annotations

import html
import json
import re
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import requests

from publisher import errors
from publisher.adapters.base import Adapter, Answer, Posted
from publisher.adapters.profile import ImageLimits, NetworkProfile, VideoLimits, utf16_length
from publisher.adapters.published import PublishedForm
from publisher.adapters.telegram_errors import api_error
from publisher.adapters.telegram_media import media_request
from publisher.models import AccountInfo, Rendered
from publisher.settings import NetworkSettings, TelegramSettings

# Telegram accepts only these named entities and numeric ones; any other "&" must be escaped.
# https://core.telegram.org/bots/api#html-style
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d{1,6}|#x[0-9a-fA-F]{1,5});)")


def escape_html(text: str) -> str:
    """Escape ``& < >`` for Telegram's HTML mode, leaving entities that are already escaped alone.

    Leaving ``&amp;`` as is keeps rendering idempotent; the price is that a body which literally means the
    five characters ``&amp;`` shows ``&`` on Telegram.
    """
    return _BARE_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def visible_text(text: str) -> str:
    """What a reader sees of an HTML-mode text: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


PROFILE = NetworkProfile(
    network="telegram",
    title="Telegram",
    # sendMessage text 1-4096 and captions 0-1024 characters after entities parsing, in UTF-16 code units
    # (https://core.telegram.org/bots/api#sendmessage , https://core.telegram.org/api/entities).
    limit=4096,
    caption_limit=1024,
    counting="UTF-16 code units of the visible text",
    measure=lambda text: utf16_length(visible_text(text)),
    images=ImageLimits(per_post=10),  # sendMediaGroup takes 2-10 items (#sendmediagroup)
    # "Bots can currently send video files of up to 50 MB in size"; "Telegram clients support MPEG4 videos
    # (other formats may be sent as Document)" (https://core.telegram.org/bots/api#sendvideo). No length limit.
    video=VideoLimits(
        max_bytes=50 * 1000 * 1000,
        max_seconds=None,
        containers=("mp4",),
        per_post=10,
        with_images=True,
        # "Bots can currently send animation files of up to 50 MB in size" (#sendanimation); an album takes
        # "photos, videos, documents or audios" (#sendmediagroup), so an animated GIF goes alone.
        gif_max_bytes=50 * 1000 * 1000,
        gif_alone=True,
        source="https://core.telegram.org/bots/api#sendvideo",
    ),
    link_in_text=True,
    parse_mode="HTML",
    escape=escape_html,
    # 5-32 characters, https://core.telegram.org/method/account.checkUsername
    handle=re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}"),
    handle_fix="write the Telegram username (5-32 characters)",
    #: resolve --published-as: https://t.me/<channel>/<message id> (t.me/c/<id>/<n> for a private one)
    published=PublishedForm(
        hosts=("t.me", "www.t.me", "telegram.me", "www.telegram.me"),
        path=re.compile(r"/(?:c/\d{1,20}|[A-Za-z][A-Za-z0-9_]{3,31})/(\d{1,12})"),
        remote_id=re.compile(r"\d{1,12}"),
        example="https://t.me/bntu_library/123",
    ),
)


class TelegramAdapter(Adapter):
    """Posts to one Telegram channel as a bot that is an administrator there with "Post messages"."""

    profile = PROFILE

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        super().__init__(target, settings, session)
        assert isinstance(settings, TelegramSettings) and settings.bot_token and settings.chat_id  # checked
        self.chat_id = settings.chat_id.strip()
        base = (settings.api_url or self.default_origin).rstrip("/")
        self._base = f"{base}/bot{settings.bot_token.get_secret_value()}"
        #: channel username for post URLs: None = not asked yet, "" = the channel has none (private)
        self._username: str | None = self.chat_id[1:] if self.chat_id.startswith("@") else None

    def describe(self) -> str:
        return f"{self.target} (chat {self.chat_id})"

    # --- publish hooks -----------------------------------------------------------------------------

    def check_capabilities(self, rendered: Rendered) -> None:
        """Also refuse an animated GIF among other files (acceptance does; a post queued before it did not):
        an album would show it still (``telegram_media``), so nothing is sent and the editor is told why."""
        super().check_capabilities(rendered)
        gifs = [m.name for m in rendered.media if m.is_image and m.is_animated]
        if gifs and len(rendered.media) > 1:
            raise self.error(
                errors.ContentRejected,
                f"an animated GIF is published alone, never in an album: {', '.join(gifs)} "
                "(put the GIF into a post of its own)",
            )

    def upload_media(self, rendered: Rendered) -> list[str]:
        """Nothing to upload ahead (files travel with the post); the preparatory call here is the channel's
        public username for post URLs, cached, so its failure leaves nothing published."""
        if self._username is None:
            chat, _ = self._call("getChat", payload={"chat_id": self.chat_id}, unsafe=False)
            username = chat.get("username") if isinstance(chat, dict) else None
            self._username = username if isinstance(username, str) else ""
        return []

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """``sendMessage`` for text; ``sendPhoto`` / ``sendVideo`` / ``sendAnimation`` for one file,
        ``sendMediaGroup`` (an album of pictures and videos) for 2-10 (``telegram_media``). Telegram keeps no
        idempotency key."""
        items = rendered.media
        fields: dict[str, Any] = {"chat_id": self.chat_id}
        if rendered.parse_mode == "HTML":
            fields["parse_mode"] = "HTML"
        with ExitStack() as stack:
            if not items:
                fields["text"] = rendered.text
                if rendered.link:
                    # Preview the post's own link rather than the first URL Telegram finds (#linkpreviewoptions).
                    fields["link_preview_options"] = {"url": rendered.link}
                result, excerpt = self._call("sendMessage", payload=fields, unsafe=True)
            else:
                method, data, files = media_request(rendered, fields, stack)
                # sendMediaGroup's media is JSON in a form field: the whole album goes as one multipart call
                sent = {k: json.dumps(v) if isinstance(v, bool) else v for k, v in data.items()}
                result, excerpt = self._call(method, data=sent, files=files, unsafe=True)
        return Answer(result, excerpt)

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        messages = answer.body if isinstance(answer.body, list) else [answer.body]
        found = [m.get("message_id") if isinstance(m, dict) else None for m in messages]
        ids = [i for i in found if isinstance(i, int) and not isinstance(i, bool)]
        if not ids or len(ids) != len(messages):
            return None
        date = messages[0].get("date")
        published_at = datetime.fromtimestamp(date, UTC) if isinstance(date, int) else None
        return Posted(tuple(str(i) for i in ids), published_at)

    def post_url(self, remote_id: str) -> str | None:
        """``t.me/<name>/<id>`` for a public channel, ``t.me/c/<id>/<id>`` (members only) for a private one."""
        if self._username:
            return f"https://t.me/{self._username}/{remote_id}"
        if self.chat_id.startswith("-100") and self.chat_id[4:].isdigit():
            return f"https://t.me/c/{self.chat_id[4:]}/{remote_id}"
        return None

    # --- check and reconcile -----------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """getMe, getChat, getChatMember: is the bot an administrator allowed to post in the channel?

        A rejected token raises ``errors.AuthError``. When the bot is known but cannot see or post to the chat,
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
        except errors.AuthError as exc:
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

    def no_metrics(self) -> str:
        # No Bot API method reads a channel post's views or reactions (https://core.telegram.org/bots/api);
        # views are readable only by a user account over MTProto (messages.getMessagesViews).
        return "not available from the Bot API"

    def cannot_look_up(self) -> str:
        # No Bot API method returns a channel's past posts (getUpdates only delivers new updates to a
        # bot that polls, and channel_post updates are not kept for us), so we cannot tell.
        return (
            "the Telegram Bot API cannot read a channel's history: open the channel and check "
            f"whether the post is there ({self.chat_id})"
        )

    # --- HTTP --------------------------------------------------------------------------------------

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
        with self.transport(unsafe=unsafe):
            response = self.session.post(f"{self._base}/{method}", json=payload, data=data, files=files)
        kw: dict[str, Any] = {"status": response.status_code, "excerpt": self.excerpt(response)}
        if response.status_code >= 500:
            # A 5xx after a send may still have posted (Telegram's front end times out on a busy backend).
            raise self.unsure(unsafe, f"server error on {method}", **kw)
        body = self.json(response, unsafe=unsafe)
        if isinstance(body, dict) and body.get("ok") is True and "result" in body:
            return body["result"], kw["excerpt"]
        if not isinstance(body, dict) or body.get("ok") is not False:
            raise self.unsure(unsafe, f"unexpected answer to {method}", **kw)
        raise api_error(self, method, body, kw, response.headers.get("Retry-After"))
