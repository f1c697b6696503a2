"""A loopback Telegram Bot API: the calls the channel adapter (and later the alerting module) makes.

Wire format, from https://core.telegram.org/bots/api :

* "Making requests" (#making-requests): ``{api}/bot<token>/<method>``, GET or POST, parameters in the
  query, an urlencoded or multipart form, or a JSON body; method names are case-insensitive. Every answer
  is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "...",
  "parameters": ResponseParameters}``; the HTTP status equals ``error_code``.
* "ResponseParameters" (#responseparameters): ``retry_after`` (flood control, 429) and
  ``migrate_to_chat_id`` (a group became a supergroup, 400).
* "getMe" (#getme) -> User; "getChat" (#getchat) -> ChatFullInfo; "getChatMember" (#getchatmember) ->
  ChatMember (#chatmemberadministrator: ``status``, ``can_post_messages`` for channels).
* "sendMessage" (#sendmessage) -> Message; "sendPhoto" (#sendphoto) with a multipart ``photo`` and a
  ``caption`` -> Message; "sendVideo" (#sendvideo) with a multipart ``video`` (an MP4; over 50 MB the
  upload is refused with 413 "Request Entity Too Large"), ``duration``, ``width``, ``height``,
  ``supports_streaming`` -> Message with a Video (#video); "sendAnimation" (#sendanimation) with a multipart
  ``animation`` (a GIF or a silent MP4, at most 50 MB), ``caption``, ``parse_mode``, ``width``, ``height``
  -> Message with an Animation (#animation) and, "for backward compatibility", the same file as ``document``
  (#message). Telegram keeps an uploaded GIF as an MP4 (https://github.com/tdlib/td/issues/1902: "I send a
  .gif message but receive a MP4"), so the Animation's ``mime_type`` is ``video/mp4``.
  "sendMediaGroup" (#sendmediagroup) with ``media`` a JSON array of 2-10 InputMediaPhoto / InputMediaVideo
  (#inputmediaphoto, #inputmediavideo; an album holds "photos, videos, documents or audios", never an
  animation) whose ``media`` is ``attach://<part name>`` -> [Message]. ``sendPhoto`` with an animated GIF
  gives a still photo (PhotoSize list), as the real API does.
  Text is at most 4096 characters, a caption 1024 (the limits in #sendmessage / #sendphoto).

Error descriptions are the ones the real API returns (``Bad Request: chat not found``, ``Forbidden: bot
is not a member of the channel chat``, ``Too Many Requests: retry after N``...).

The shared faults (``NetworkFake``) aim at the send methods into the publishing channel (the first chat):
``rate_limit`` is 429 ``Too Many Requests: retry after N`` with ``parameters.retry_after``,
``revoke_token`` 401 ``Unauthorized`` (the token was revoked in @BotFather), ``server_error`` the status
with ``Internal Server Error``, ``answer_without_id`` ``{"ok": true, "result": {}}``. ``posts`` lists the
channel's posts, an album as one post (its first message's id, as the adapter records it).

Reuse: ``add_chat`` registers any chat (a channel, the team's alert group); ``sent_to(chat)`` and
``texts_sent_to(chat)`` return what was posted there; ``fail_*`` helpers queue the API's own errors.
"""

from __future__ import annotations

import itertools
import json
import re
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.base import Fault, Reply, Request
from tests.fakes.network import NetworkFake, Published

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
SEND_METHODS = ("sendMessage", "sendPhoto", "sendVideo", "sendAnimation", "sendMediaGroup")
_SEND = re.compile(rf"/bot[^/]+/(?i:{'|'.join(SEND_METHODS)})$")
#: "Bots can currently send video files of up to 50 MB in size" (#sendvideo)
VIDEO_LIMIT = 50 * 1024 * 1024
#: "Bots can currently send animation files of up to 50 MB in size" (#sendanimation)
ANIMATION_LIMIT = 50 * 1024 * 1024
# Tags allowed in parse_mode=HTML (https://core.telegram.org/bots/api#html-style).
HTML_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ]
)
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")


def error_body(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """The Bot API's error object (https://core.telegram.org/bots/api#making-requests)."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@dataclass
class FakeChat:
    """A chat the bot knows. ``bot_status`` is the bot's ChatMember status there."""

    id: int
    type: str = "channel"  # "channel", "supergroup", "group", "private"
    title: str = "Научная библиотека"
    username: str | None = None
    bot_status: str = "administrator"  # "administrator", "member", "left", "kicked"
    can_post_messages: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def as_chat(self) -> dict[str, Any]:
        """The Chat object embedded in a Message (https://core.telegram.org/bots/api#chat)."""
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.title
        else:
            chat["title"] = self.title
        if self.username:
            chat["username"] = self.username
        return chat


class FakeTelegram(NetworkFake):
    """Telegram Bot API for one bot. By default it knows one public channel, ``@library_news``."""

    network = "telegram"

    poll_interval = 0.05  # stop() returns quickly: tests start one fake each

    def __init__(
        self,
        token: str = "123456789:TEST-bot-token-for-the-fake",
        *,
        bot_id: int = 123456789,
        bot_username: str = "library_news_bot",
        channel: FakeChat | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.bot = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Библиотека: публикации",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.chats: list[FakeChat] = []
        self.add_chat(channel or FakeChat(id=-1001234567890, username="library_news"))
        self._file_ids = itertools.count(1)
        #: (chat id, message id) -> the bytes of the picture or video that message carries
        self.files: dict[tuple[int, int], bytes] = {}
        #: what each video was sent with (duration, width, height, supports_streaming), in order
        self.video_params: list[dict[str, Any]] = []
        #: what each animation was sent with (width, height), in order
        self.animation_params: list[dict[str, Any]] = []
        handlers = {
            "getMe": self._get_me,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendVideo": self._send_video,
            "sendAnimation": self._send_animation,
            "sendMediaGroup": self._send_media_group,
            "sendDocument": self._send_document,
        }
        for name, handler in handlers.items():
            # Method names are case-insensitive; GET and POST both work (#making-requests).
            pattern = rf"/bot(?P<token>[^/]+)/(?i:{name})"
            self.route("GET", pattern, self._authorized(handler))
            self.route("POST", pattern, self._authorized(handler))

    # --- the shared interface (NetworkFake) --------------------------------------------------------

    def is_publish(self, request: Request) -> bool:
        return bool(_SEND.search(request.path)) and self.find_chat(request.param("chat_id")) is self.channel

    @property
    def posts(self) -> list[Published]:
        found: list[Published] = []
        group: str | None = None
        with self.lock:
            for m in list(self.channel.messages):
                data = self.files.get((self.channel.id, m["message_id"]))
                media = (data,) if data is not None else ()
                if group is not None and m.get("media_group_id") == group:
                    last = found[-1]
                    found[-1] = Published(
                        last.remote_id, last.text, last.created_at, media=last.media + media
                    )
                    continue
                group = m.get("media_group_id")
                text = m.get("text", m.get("caption", ""))
                at = datetime.fromtimestamp(m["date"], UTC)
                found.append(Published(str(m["message_id"]), text, at, media=media))
        return found

    def service_settings(self) -> dict[str, Any]:
        chat = f"@{self.channel.username}" if self.channel.username else str(self.channel.id)
        return {"api_url": self.url, "bot_token": self.token, "chat_id": chat}

    def rate_limit_answer(self, request: Request, seconds: int) -> Reply:
        return Reply(429, error_body(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds))

    def revoked_answer(self, request: Request) -> Reply:
        return Reply(401, error_body(401, "Unauthorized"))

    def server_error_answer(self, request: Request, status: int) -> Reply:
        return Reply(status, error_body(status, "Internal Server Error"))

    def no_id_answer(self) -> Reply:
        return Reply(200, {"ok": True, "result": {}})

    # --- setup and inspection --------------------------------------------------------------------

    def __enter__(self) -> FakeTelegram:
        self.start()
        return self

    def add_chat(self, chat: FakeChat) -> FakeChat:
        self.chats.append(chat)
        return chat

    def find_chat(self, chat_id: str | int | None) -> FakeChat | None:
        """By numeric id or by ``@username`` (case-insensitive, as Telegram usernames are)."""
        key = str(chat_id or "").strip()
        for chat in self.chats:
            if key == str(chat.id) or (
                chat.username and key.startswith("@") and key[1:].lower() == chat.username.lower()
            ):
                return chat
        return None

    @property
    def channel(self) -> FakeChat:
        return self.chats[0]

    def sent_to(self, chat_id: str | int) -> list[dict[str, Any]]:
        """Every Message the bot posted in a chat, oldest first (an album is several messages)."""
        chat = self.find_chat(chat_id)
        return list(chat.messages) if chat else []

    def texts_sent_to(self, chat_id: str | int) -> list[str]:
        """The text or caption of each message posted in a chat (album items without one skipped)."""
        found = (m.get("text", m.get("caption")) for m in self.sent_to(chat_id))
        return [text for text in found if text is not None]

    def calls(self, method: str) -> list[Request]:
        """Requests received for one Bot API method."""
        return [r for r in self.requests if r.path.lower().endswith("/" + method.lower())]

    # --- the API's own error answers -----------------------------------------------------------

    def fail(self, method: str, code: int, description: str, times: int = 1, **parameters: Any) -> None:
        """Answer the next ``times`` calls of ``method`` with a Bot API error, applying nothing."""
        self.inject(
            Fault(
                "status",
                path=f"/{method}$",
                times=times,
                status=code,
                body=error_body(code, description, **parameters),
            )
        )

    def fail_rate_limited(self, method: str = "sendMessage", retry_after: int = 7) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    def fail_unauthorized(self, method: str = "sendMessage") -> None:
        """The token was revoked in @BotFather."""
        self.fail(method, 401, "Unauthorized")

    def fail_forbidden(
        self,
        method: str = "sendMessage",
        description: str = "Forbidden: bot is not a member of the channel chat",
    ) -> None:
        self.fail(method, 403, description)

    def fail_bad_request(
        self, method: str = "sendMessage", description: str = "Bad Request: message is too long"
    ) -> None:
        self.fail(method, 400, description)

    def fail_server_error(self, method: str = "sendMessage", status: int = 500) -> None:
        self.fail(method, status, "Internal Server Error")

    # --- routes ------------------------------------------------------------------------------------

    def _authorized(self, handler: Any) -> Any:
        def route(request: Request) -> Reply:
            match = re.match(r"/bot([^/]+)/", request.path)
            if not match or match.group(1) != self.token:
                return Reply(401, error_body(401, "Unauthorized"))
            result: Reply = handler(request)
            return result

        return route

    def _chat_or_error(self, request: Request) -> FakeChat | Reply:
        chat_id = request.param("chat_id")
        if not chat_id:
            return Reply(400, error_body(400, "Bad Request: chat_id is empty"))
        chat = self.find_chat(chat_id)
        if chat is None:
            return Reply(400, error_body(400, "Bad Request: chat not found"))
        return chat

    def _may_post(self, chat: FakeChat) -> Reply | None:
        if chat.bot_status in ("left", "kicked"):
            where = "channel chat" if chat.type == "channel" else "group chat"
            verb = "was kicked from" if chat.bot_status == "kicked" else "is not a member of"
            return Reply(403, error_body(403, f"Forbidden: bot {verb} the {where}"))
        if chat.type == "channel" and not (chat.bot_status == "administrator" and chat.can_post_messages):
            return Reply(400, error_body(400, "Bad Request: need administrator rights in the channel chat"))
        return None

    def _postable_chat(self, request: Request) -> FakeChat | Reply:
        """The chat a send method names, or the API's refusal when it is unknown or closed to the bot."""
        chat = self._chat_or_error(request)
        if isinstance(chat, Reply):
            return chat
        return self._may_post(chat) or chat

    def _photo(
        self, upload: tuple[str, bytes, str] | None, caption: Any, parse_mode: Any
    ) -> dict[str, Any] | Reply:
        """A photo message's content (PhotoSize list and caption) or the API's refusal of it."""
        if upload is None:
            return Reply(400, error_body(400, "Bad Request: there is no photo in the request"))
        sizes = self._photo_sizes(upload[1])
        if sizes is None:
            return Reply(400, error_body(400, "Bad Request: IMAGE_PROCESS_FAILED"))
        problem = self._text_error(caption or "", parse_mode, CAPTION_LIMIT, "message caption")
        if problem:
            return problem
        return {"photo": sizes} | ({"caption": caption} if caption else {})

    def _video(self, upload: tuple[str, bytes, str] | None, item: Any) -> dict[str, Any] | Reply:
        """A video message's content (Video and caption, #video) or the API's refusal of it."""
        if upload is None:
            return Reply(400, error_body(400, "Bad Request: there is no video in the request"))
        name, data, mime = upload
        if len(data) > VIDEO_LIMIT:
            return Reply(413, error_body(413, "Request Entity Too Large"))
        if data[4:8] != b"ftyp":
            return Reply(400, error_body(400, "Bad Request: wrong file type of the video"))
        caption = item.get("caption")
        problem = self._text_error(caption or "", item.get("parse_mode"), CAPTION_LIMIT, "message caption")
        if problem:
            return problem
        n = next(self._file_ids)
        video = {"file_id": f"BAACAgIAAxk-{n}", "file_unique_id": f"AgAD{n}v", "file_name": name}
        video.update(mime_type=mime, file_size=len(data))
        for key in ("duration", "width", "height"):
            video[key] = int(item.get(key) or 0)
        self.video_params.append(
            {k: item.get(k) for k in ("duration", "width", "height", "supports_streaming")}
        )
        return {"video": video} | ({"caption": caption} if caption else {})

    def _send_video(self, request: Request) -> Reply:
        chat = self._postable_chat(request)
        if isinstance(chat, Reply):
            return chat
        upload = request.files.get("video")
        fields = ("caption", "parse_mode", "duration", "width", "height", "supports_streaming")
        content = self._video(upload, {k: request.param(k) for k in fields})
        if isinstance(content, Reply):
            return content
        message = self._new_message(chat, upload[1] if upload else None, **content)
        return Reply(200, {"ok": True, "result": message}, applied=True)

    def _send_animation(self, request: Request) -> Reply:
        """A Message with ``animation`` and ``document`` (#message), or the API's refusal of the file."""
        chat = self._postable_chat(request)
        if isinstance(chat, Reply):
            return chat
        upload = request.files.get("animation")
        if upload is None:
            return Reply(400, error_body(400, "Bad Request: there is no animation in the request"))
        name, data, _mime = upload
        if len(data) > ANIMATION_LIMIT:
            return Reply(413, error_body(413, "Request Entity Too Large"))
        if not (data.startswith(b"GIF8") or data[4:8] == b"ftyp"):
            # The fake's wording: what the real API answers for a file that is no animation is not documented.
            return Reply(400, error_body(400, "Bad Request: wrong file type of the animation"))
        caption = request.param("caption")
        problem = self._text_error(
            caption or "", request.param("parse_mode"), CAPTION_LIMIT, "message caption"
        )
        if problem:
            return problem
        sent = {k: request.param(k) for k in ("width", "height")}
        self.animation_params.append(sent)
        # A GIF's logical screen size is in its header (https://www.w3.org/Graphics/GIF/spec-gif89a.txt, 18).
        width, height = struct.unpack("<HH", data[6:10]) if data.startswith(b"GIF8") else (0, 0)
        n = next(self._file_ids)
        file = {
            "file_name": name if name.lower().endswith(".mp4") else f"{name}.mp4",
            "mime_type": "video/mp4",
            "file_id": f"CgACAgIAAxk-{n}",
            "file_unique_id": f"AgAD{n}a",
            "file_size": len(data),
        }
        animation = file | {
            "width": int(sent["width"] or width),
            "height": int(sent["height"] or height),
            "duration": 1,  # Telegram measures the animation itself; the fake does not
        }
        content = {"animation": animation, "document": file} | ({"caption": caption} if caption else {})
        message = self._new_message(chat, data, **content)
        return Reply(200, {"ok": True, "result": message}, applied=True)

    def _get_me(self, request: Request) -> Reply:
        return Reply(200, {"ok": True, "result": dict(self.bot)})

    def _get_chat(self, request: Request) -> Reply:
        chat = self._chat_or_error(request)
        if isinstance(chat, Reply):
            return chat
        # ChatFullInfo (https://core.telegram.org/bots/api#chatfullinfo), the fields we need.
        info = chat.as_chat() | {"accent_color_id": 0, "max_reaction_count": 11}
        return Reply(200, {"ok": True, "result": info})

    def _get_chat_member(self, request: Request) -> Reply:
        chat = self._chat_or_error(request)
        if isinstance(chat, Reply):
            return chat
        if str(request.param("user_id")) != str(self.bot["id"]):
            return Reply(400, error_body(400, "Bad Request: member not found"))
        member: dict[str, Any] = {"status": chat.bot_status, "user": dict(self.bot)}
        if chat.bot_status == "administrator":
            # https://core.telegram.org/bots/api#chatmemberadministrator
            member |= {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": False,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
            if chat.type == "channel":
                member |= {"can_post_messages": chat.can_post_messages, "can_edit_messages": True}
        return Reply(200, {"ok": True, "result": member})

    def _text_error(self, text: str, parse_mode: str | None, limit: int, what: str) -> Reply | None:
        if parse_mode and parse_mode.upper() == "HTML":
            problem = _html_problem(text)
            if problem:
                return Reply(400, error_body(400, f"Bad Request: can't parse entities: {problem}"))
            text = re.sub(r"<[^>]+>", "", text)
        elif parse_mode and parse_mode not in ("Markdown", "MarkdownV2"):
            return Reply(400, error_body(400, "Bad Request: unsupported parse_mode"))
        if len(text) > limit:
            return Reply(400, error_body(400, f"Bad Request: {what} is too long"))
        return None

    def _new_message(self, chat: FakeChat, data: bytes | None = None, **content: Any) -> dict[str, Any]:
        # A channel post: Message with chat and sender_chat, no "from" (#message).
        message = {
            "message_id": next(chat._ids),
            "sender_chat": chat.as_chat(),
            "chat": chat.as_chat(),
            "date": int(time.time()),
        } | content
        chat.messages.append(message)
        if data is not None:
            self.files[(chat.id, int(message["message_id"]))] = data
        return message

    def _photo_sizes(self, data: bytes) -> list[dict[str, Any]] | None:
        """PhotoSize list for an uploaded image, or None when it is not a PNG/JPEG/WebP/GIF."""
        if not data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF", b"GIF8")):
            return None
        n = next(self._file_ids)
        return [
            {
                "file_id": f"AgACAgIAAxk-{n}-s",
                "file_unique_id": f"AQAD{n}s",
                "width": 90,
                "height": 90,
                "file_size": len(data),
            },
            {
                "file_id": f"AgACAgIAAxk-{n}-m",
                "file_unique_id": f"AQAD{n}m",
                "width": 320,
                "height": 320,
                "file_size": len(data),
            },
        ]

    def _send_message(self, request: Request) -> Reply:
        chat = self._postable_chat(request)
        if isinstance(chat, Reply):
            return chat
        text = request.param("text") or ""
        if not text.strip():
            return Reply(400, error_body(400, "Bad Request: message text is empty"))
        problem = self._text_error(text, request.param("parse_mode"), TEXT_LIMIT, "message")
        if problem:
            return problem
        message = self._new_message(chat, text=text)
        return Reply(200, {"ok": True, "result": message}, applied=True)

    def _send_photo(self, request: Request) -> Reply:
        chat = self._postable_chat(request)
        if isinstance(chat, Reply):
            return chat
        upload = request.files.get("photo")
        content = self._photo(upload, request.param("caption"), request.param("parse_mode"))
        if isinstance(content, Reply):
            return content
        message = self._new_message(chat, upload[1] if upload else None, **content)
        return Reply(200, {"ok": True, "result": message}, applied=True)

    def _send_document(self, request: Request) -> Reply:
        """https://core.telegram.org/bots/api#senddocument: multipart ``document``, optional ``caption``.

        The message keeps the file's bytes under ``_data`` so tests can open what was sent.
        """
        chat = self._chat_or_error(request)
        if isinstance(chat, Reply):
            return chat
        refused = self._may_post(chat)
        if refused:
            return refused
        upload = request.files.get("document")
        if upload is None:
            return Reply(400, error_body(400, "Bad Request: there is no document in the request"))
        name, data, mime = upload
        caption = request.param("caption")
        problem = self._text_error(
            caption or "", request.param("parse_mode"), CAPTION_LIMIT, "message caption"
        )
        if problem:
            return problem
        n = next(self._file_ids)
        document = {
            "file_name": name,
            "mime_type": mime,
            "file_id": f"BQACAgIAAxk-{n}",
            "file_unique_id": f"AgAD{n}",
            "file_size": len(data),
        }
        content: dict[str, Any] = {"document": document, "_data": data}
        if caption:
            content["caption"] = caption
        message = self._new_message(chat, **content)
        shown = {k: v for k, v in message.items() if k != "_data"}
        return Reply(200, {"ok": True, "result": shown}, applied=True)

    def _send_media_group(self, request: Request) -> Reply:
        chat = self._postable_chat(request)
        if isinstance(chat, Reply):
            return chat
        try:
            media = json.loads(request.param("media") or "")
        except ValueError:
            return Reply(400, error_body(400, "Bad Request: can't parse media JSON object"))
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            return Reply(400, error_body(400, "Bad Request: wrong number of messages specified"))
        items: list[dict[str, Any]] = []
        uploads: list[bytes] = []
        for item in media:
            ref = str(item.get("media", "")) if isinstance(item, dict) else ""
            if item.get("type") not in ("photo", "video") or not ref.startswith("attach://"):
                return Reply(400, error_body(400, "Bad Request: unsupported media type in the album"))
            upload = request.files.get(ref.removeprefix("attach://"))
            if upload is None:
                return Reply(400, error_body(400, "Bad Request: wrong file identifier/HTTP URL specified"))
            if item["type"] == "video":
                content = self._video(upload, item)
            else:
                content = self._photo(upload, item.get("caption"), item.get("parse_mode"))
            if isinstance(content, Reply):
                return content
            items.append(content)
            uploads.append(upload[1])
        group_id = str(13_000_000_000_000_000 + next(self._file_ids))
        messages = [
            self._new_message(chat, data, media_group_id=group_id, **content)
            for data, content in zip(uploads, items, strict=True)
        ]
        return Reply(200, {"ok": True, "result": messages}, applied=True)


def _html_problem(text: str) -> str | None:
    """A description like Telegram's when ``text`` is not valid Bot API HTML, else None."""
    stack: list[str] = []
    for match in _TAG.finditer(text):
        closing, name = match.group(1) == "/", match.group(2).lower()
        offset = len(text[: match.start()].encode("utf-8"))
        if name not in HTML_TAGS:
            kind = "end" if closing else "start"
            return f'Unsupported {kind} tag "{name}" at byte offset {offset}'
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return f"Unexpected end tag at byte offset {offset}"
    if stack:
        return f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None
