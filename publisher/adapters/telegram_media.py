"""The Bot API request that posts a picture, a video or an album, for ``TelegramAdapter.send_post``.

https://core.telegram.org/bots/api : ``sendPhoto`` (field ``photo``), ``sendVideo`` (field ``video``, with
``duration``, ``width``, ``height`` and ``supports_streaming``), ``sendAnimation`` (field ``animation``, with
``width`` and ``height``) and ``sendMediaGroup`` whose ``media`` is a JSON list of ``InputMediaPhoto`` /
``InputMediaVideo`` items referring to multipart parts as ``attach://<name>`` (#inputmediaphoto,
#inputmediavideo, #sending-files); the caption rides on the first item. Files travel with the post: the
upload is the publishing call itself (bots may send videos and animations up to 50 MB, checked at
acceptance from the profile).

An animated GIF goes by ``sendAnimation`` ("animation files (GIF or H.264/MPEG-4 AVC video without sound)",
#sendanimation): ``sendPhoto`` would turn it into a still picture. A GIF of one frame (``MediaInfo.animated``
False, read at acceptance by ``intake.probe``) stays a photo. ``sendMediaGroup`` sends "a group of photos,
videos, documents or audios" (#sendmediagroup): ``InputMediaAnimation`` exists (#inputmediaanimation) but is
for ``editMessageMedia``, not for albums, so a post with an animated GIF among other files is refused at
acceptance (``PROFILE.video.gif_alone``) and by ``TelegramAdapter.check_capabilities`` before any call.
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
        method, kind, extra = _single(item)
        data = {**fields, "caption": rendered.text, **extra}
        files = {kind: (item.name, stack.enter_context(item.open()), item.mime)}
        return method, data, files
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


def _single(item: MediaItem) -> tuple[str, str, dict[str, Any]]:
    """(method, multipart field, extra form fields) for a post of one file."""
    if item.is_video:
        return "sendVideo", "video", _video_fields(item)
    if item.is_animated:
        # sendAnimation takes duration, width and height too (#sendanimation); a GIF's size is known from
        # acceptance, its duration is not read (Telegram measures the animation itself).
        info = item.info
        size = {"width": info.width, "height": info.height} if info and info.width and info.height else {}
        return "sendAnimation", "animation", size
    return "sendPhoto", "photo", {}


def _video_fields(item: MediaItem) -> dict[str, Any]:
    """What the Bot API lets a bot say about a video, so clients show it right before it is processed."""
    info = item.info
    found: dict[str, Any] = {"supports_streaming": True}
    if info is not None and info.duration is not None:
        found["duration"] = max(1, round(info.duration))
    if info is not None and info.width and info.height:
        found.update(width=info.width, height=info.height)
    return found
