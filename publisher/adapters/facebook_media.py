"""Facebook Page videos, for ``FacebookAdapter``: ``POST /{page-id}/videos`` with the post text as
``description``, on graph-video.facebook.com (https://developers.facebook.com/docs/video-api/guides/publishing,
https://developers.facebook.com/docs/graph-api/reference/page/videos/ "Creating").

* Up to ``SIMPLE_UPLOAD_MAX`` bytes: one multipart request with ``source`` and ``description``; that request
  is the publishing call (``send_post``), so it may end in doubt, like a photo post.
* Larger: the resumable protocol. ``upload_phase=start`` with ``file_size`` -> ``{"video_id",
  "upload_session_id", "start_offset", "end_offset"}``; ``upload_phase=transfer`` with ``upload_session_id``,
  ``start_offset`` and the multipart ``video_file_chunk`` of bytes ``start_offset..end_offset`` -> the next
  offsets, until they are equal; these publish nothing (``upload_media``). Then ``upload_phase=finish`` with
  ``upload_session_id`` and ``description`` -> ``{"success": true}`` publishes the video: the publishing call.
  A chunk that failed in transport or with a 5xx is sent again (at most ``CHUNK_TRIES`` times in a row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from publisher import errors
from publisher.models import MediaItem, Rendered, SentPost

if TYPE_CHECKING:
    from publisher.adapters.facebook import FacebookAdapter

# The adapter's ``_call`` / ``_success`` (token header, transport mapping, Graph errors) are used as they are:
# this module is the adapter's video half, split off to keep facebook.py short. The Page's videos go to
# graph-video.facebook.com (``FacebookAdapter.video_base``); a configured api_url (a fake) takes both.

#: larger videos go resumable, so the publishing call itself stays small (Graph takes 1 GB simple uploads)
SIMPLE_UPLOAD_MAX = 20 * 1000 * 1000
CHUNK_TRIES = 3
RESUMABLE = "resumable:"


def video_of(rendered: Rendered) -> MediaItem | None:
    return next((m for m in rendered.media if m.is_video), None)


def upload_ahead(adapter: FacebookAdapter, item: MediaItem) -> list[str]:
    """A large video's start and transfers; ``["resumable:<session>:<video id>"]``, or [] for a simple one."""
    if item.size <= SIMPLE_UPLOAD_MAX:
        return []
    data = item.read()
    adapter.budget.step(f"starting the upload of {item.name}")
    started = _video_call(adapter, {"upload_phase": "start", "file_size": str(len(data))}, unsafe=False)
    session, video_id = str(started.get("upload_session_id") or ""), str(started.get("video_id") or "")
    if not session or not video_id:
        raise adapter.error(errors.TransientError, f"the upload of {item.name} was not started")
    start, end = _offsets(started)
    tries = 0
    while start < end:
        adapter.budget.step(f"bytes {start}-{end} of {item.name}")
        form = {"upload_phase": "transfer", "upload_session_id": session, "start_offset": str(start)}
        files = {"video_file_chunk": (item.name, data[start:end], "application/octet-stream")}
        try:
            answer = _video_call(adapter, form, files=files, unsafe=False)
        except errors.RateLimited:
            raise  # the dispatcher holds the target; the next attempt starts a new upload
        except errors.TransientError:
            tries += 1
            if tries >= CHUNK_TRIES:
                raise
            continue  # the same chunk again: a transfer publishes nothing
        tries = 0
        start, end = _offsets(answer)
    return [f"{RESUMABLE}{session}:{video_id}"]


def send_video(
    adapter: FacebookAdapter, rendered: Rendered, item: MediaItem, media: list[str]
) -> tuple[requests.Response, str]:
    """The publishing call: the simple upload with its description, or the resumable upload's finish."""
    description = SentPost.of(rendered).text
    if media and media[0].startswith(RESUMABLE):
        session, video_id = media[0].removeprefix(RESUMABLE).split(":", 1)
        form = {"upload_phase": "finish", "upload_session_id": session, "description": description}
        return _video_request(adapter, form, unsafe=True), video_id
    with item.open() as handle:
        files = {"source": (item.name, handle, item.mime)}
        return _video_request(adapter, {"description": description}, files=files, unsafe=True), ""


def _offsets(answer: dict[str, Any]) -> tuple[int, int]:
    try:
        return int(answer["start_offset"]), int(answer["end_offset"])
    except (KeyError, TypeError, ValueError):
        raise errors.TransientError("Facebook: the upload answer carried no offsets") from None


def _video_request(
    adapter: FacebookAdapter, form: dict[str, str], *, files: dict[str, Any] | None = None, unsafe: bool
) -> requests.Response:
    path = f"{adapter.page_id}/videos"
    return adapter._call("POST", path, unsafe=unsafe, base=adapter.video_base, data=form, files=files)


def _video_call(
    adapter: FacebookAdapter, form: dict[str, str], *, files: dict[str, Any] | None = None, unsafe: bool
) -> dict[str, Any]:
    return adapter._success(_video_request(adapter, form, files=files, unsafe=unsafe), unsafe=unsafe)
