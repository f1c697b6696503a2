"""X media uploads, for ``XAdapter.upload_media``: pictures in one request, videos and GIFs in chunks.

* A still picture: ``POST /2/media/upload`` multipart ``media`` + ``media_category=tweet_image`` ->
  ``{"data": {"id"}}`` (https://docs.x.com/x-api/media/upload-media).
* A video (``tweet_video``) or an animated GIF (``tweet_gif``; sent as ``tweet_image`` X would show it still),
  the v2 chunked upload (https://docs.x.com/x-api/media/quickstart/media-upload-chunked):
  ``POST /2/media/upload/initialize`` JSON ``{"media_type", "total_bytes", "media_category"}`` ->
  ``{"data": {"id"}}``; ``POST /2/media/upload/{id}/append`` multipart ``segment_index`` + ``media`` per
  segment (at most 5 MB each); ``POST /2/media/upload/{id}/finalize`` -> ``{"data": {"processing_info":
  {"state", "check_after_secs"}}}``; then ``GET /2/media/upload?command=STATUS&media_id={id}`` after
  ``check_after_secs`` until the state is ``succeeded`` or ``failed`` (with ``error.message``).

Resumable where X allows it: a segment whose append failed in transport or with a 5xx is sent again (the
same ``segment_index`` replaces it; nothing is published by an append), at most ``SEGMENT_TRIES`` times.
The whole upload is bounded by ``timeouts.upload`` and ends between two steps when the daemon stops
(``Adapter.budget``). A processing failure is X refusing this file: ``ContentRejected`` with X's reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from publisher import errors
from publisher.models import MediaItem

if TYPE_CHECKING:
    from publisher.adapters.x import XAdapter

#: bytes per APPEND: under X's 5 MB per segment
SEGMENT_BYTES = 4 * 1024 * 1024
SEGMENT_TRIES = 3
#: seconds before the first STATUS read when X names none
DEFAULT_CHECK_AFTER = 1.0


def upload(adapter: XAdapter, item: MediaItem) -> str:
    """Upload one file and return its media id (ready to attach: processing succeeded)."""
    if item.is_video:
        return _chunked(adapter, item, "tweet_video")
    if item.is_animated:
        return _chunked(adapter, item, "tweet_gif")
    return _picture(adapter, item)


def _picture(adapter: XAdapter, item: MediaItem) -> str:
    files = {"media": (item.name, item.read(), item.mime)}
    response = adapter.session.post(
        f"{adapter.origin}/2/media/upload",
        files=files,
        data={"media_category": "tweet_image"},
        auth=adapter.oauth(),
    )
    return _media_id(adapter, _ok(adapter, response, f"image {item.name}"), item)


def _chunked(adapter: XAdapter, item: MediaItem, category: str) -> str:
    data = item.read()
    base = f"{adapter.origin}/2/media/upload"
    adapter.budget.step(f"initializing {item.name}")
    init = {"media_type": item.mime, "total_bytes": len(data), "media_category": category}
    response = adapter.session.post(f"{base}/initialize", json=init, auth=adapter.oauth())
    media_id = _media_id(adapter, _ok(adapter, response, f"upload of {item.name}"), item)
    for index, start in enumerate(range(0, len(data), SEGMENT_BYTES)):
        _append(adapter, f"{base}/{media_id}/append", item, index, data[start : start + SEGMENT_BYTES])
    adapter.budget.step(f"finalizing {item.name}")
    response = adapter.session.post(f"{base}/{media_id}/finalize", auth=adapter.oauth())
    info = _processing(adapter, _ok(adapter, response, f"upload of {item.name}"))
    while info.get("state") in ("pending", "in_progress"):
        wait = info.get("check_after_secs")
        seconds = float(wait) if isinstance(wait, int | float) and wait >= 0 else DEFAULT_CHECK_AFTER
        adapter.budget.wait(seconds, f"X processing {item.name}")
        params = {"command": "STATUS", "media_id": media_id}
        response = adapter.session.get(base, params=params, auth=adapter.oauth())
        info = _processing(adapter, _ok(adapter, response, f"processing of {item.name}"))
    if info.get("state") == "failed":
        error = adapter.as_dict(info.get("error"))
        reason = adapter.clean_text(str(error.get("message") or error.get("name") or "no reason given"))
        message = f"could not process {item.name}: {reason[:200]}"
        raise adapter.error(errors.ContentRejected, message, code=error.get("code"))
    return media_id


def _append(adapter: XAdapter, url: str, item: MediaItem, index: int, segment: bytes) -> None:
    """One segment, sent again after a transport failure or a 5xx (an append publishes nothing)."""
    for attempt in range(1, SEGMENT_TRIES + 1):
        adapter.budget.step(f"segment {index} of {item.name}")
        files = {"media": (f"{item.name}.part{index}", segment, "application/octet-stream")}
        try:
            response = adapter.session.post(
                url, data={"segment_index": str(index)}, files=files, auth=adapter.oauth()
            )
        except requests.RequestException:
            if attempt == SEGMENT_TRIES:
                raise  # mapped by the adapter's transport: transient, nothing was published
            continue
        if response.status_code < 500 or attempt == SEGMENT_TRIES:
            _ok(adapter, response, f"segment {index} of {item.name}")
            return


def _ok(adapter: XAdapter, response: requests.Response, step: str) -> Any:
    if not response.ok:
        raise adapter.refusal(response, step)
    return adapter.json(response, unsafe=False)


def _processing(adapter: XAdapter, body: Any) -> dict[str, Any]:
    """``processing_info`` of a finalize or STATUS answer ({} when X needs no processing)."""
    return adapter.as_dict(adapter.as_dict(adapter.as_dict(body).get("data")).get("processing_info"))


def _media_id(adapter: XAdapter, body: Any, item: MediaItem) -> str:
    media_id = adapter.as_dict(adapter.as_dict(body).get("data")).get("id")
    if not media_id:
        message = f"the upload of {item.name} returned no media id"
        raise adapter.error(errors.TransientError, message, excerpt=adapter.data_excerpt(body))
    return str(media_id)
