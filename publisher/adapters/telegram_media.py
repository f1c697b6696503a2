"""The Bot API request that posts a picture, a video or an album, for ``TelegramAdapter.send_post``.

https://core.telegram.org/bots/api : ``sendPhoto`` (field ``photo``), ``sendVideo`` (field ``video``, with
``duration``, ``width``, ``height`` and ``supports_streaming``), and ``sendMediaGroup`` whose ``media`` is a
JSON list of ``InputMediaPhoto`` / ``InputMediaVideo`` items referring to multipart parts as
``attach://<name>`` (#inputmediaphoto, #inputmediavideo, #sending-files); the caption rides on the first
item. Files travel with the post: the upload is the publishing call itself (bots may send videos up to
50 MB, checked at acceptance from the profile).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from publisher.models import MediaItem, Rendered


def media_request(
    rendered: Rendered, fields: dict[str, Any], stack: ExitStack
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(method, form fields, files) for a post with media; ``fields`` holds chat_id and parse_mode."""
    items = rendered.media
    if len(items) == 1:
        item = items[0]
        kind = "video" if item.is_video else "photo"
        data = {**fields, "caption": rendered.text, **(_video_fields(item) if item.is_video else {})}
        files = {kind: (item.name, stack.enter_context(item.open()), item.mime)}
        return ("sendVideo" if item.is_video else "sendPhoto"), data, files
    album: list[dict[str, Any]] = []
    files = {}
    for n, item in enumerate(items):
        kind = "video" if item.is_video else "photo"
        files[f"{kind}{n}"] = (item.name, stack.enter_context(item.open()), item.mime)
        entry: dict[str, Any] = {"type": kind, "media": f"attach://{kind}{n}"}
        if item.is_video:
            entry.update(_video_fields(item))
        if n == 0 and rendered.text:
            entry["caption"] = rendered.text
            if "parse_mode" in fields:
                entry["parse_mode"] = fields["parse_mode"]
        album.append(entry)
    data = {"chat_id": fields["chat_id"], "media": json.dumps(album, ensure_ascii=False)}
    return "sendMediaGroup", data, files


def _video_fields(item: MediaItem) -> dict[str, Any]:
    """What the Bot API lets a bot say about a video, so clients show it right before it is processed."""
    info = item.info
    found: dict[str, Any] = {"supports_streaming": True}
    if info is not None and info.duration is not None:
        found["duration"] = max(1, round(info.duration))
    if info is not None and info.width and info.height:
        found.update(width=info.width, height=info.height)
    return found
