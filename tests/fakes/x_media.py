"""X's v2 chunked media upload, for FakeX: videos (``tweet_video``) and animated GIFs (``tweet_gif``).

The wire format (https://docs.x.com/x-api/media/quickstart/media-upload-chunked and the v2 endpoint pages
https://docs.x.com/x-api/media/media-upload-initialize , .../media-upload-append , .../media-upload-finalize ,
.../media-upload-status):

* ``POST /2/media/upload/initialize`` JSON ``{"media_type", "total_bytes", "media_category"}`` ->
  ``{"data": {"id", "media_key", "expires_after_secs"}}``
* ``POST /2/media/upload/{id}/append`` multipart ``segment_index`` + ``media`` (at most 5 MB a segment) ->
  ``{"data": {"expires_at"}}``
* ``POST /2/media/upload/{id}/finalize`` -> ``{"data": {"id", "media_key", "size", "expires_after_secs",
  "processing_info": {"state": "pending", "check_after_secs"}}}``
* ``GET /2/media/upload?command=STATUS&media_id={id}`` -> ``{"data": {"id", "media_key", "processing_info":
  {"state": "in_progress" | "succeeded" | "failed", "check_after_secs", "progress_percent", "error":
  {"code", "name", "message"}}}}``

``steps`` records every call in order (``("initialize", id)``, ``("append", id, index)``, ...) so a test can
assert the documented sequence. ``fail_processing`` makes the next finalized upload fail in processing with
X's reason; a 5xx in the middle of the appends is the shared ``server_error(path=r"/append$")``.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from tests.fakes.base import Reply, Request

INITIALIZE = r"^/2/media/upload/initialize$"
APPEND = r"^/2/media/upload/(\d+)/append$"
FINALIZE = r"^/2/media/upload/(\d+)/finalize$"
STATUS = r"^/2/media/upload$"  # GET; POST on the same path is the simple image upload
SEGMENT_LIMIT = 5 * 1024 * 1024
CATEGORIES = {"tweet_video": ("video/mp4", "video/quicktime"), "tweet_gif": ("image/gif",)}


def _invalid(message: str, parameter: str, value: Any = None) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {parameter: [] if value is None else [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


class ChunkedUploads:
    """The chunked-upload routes and state; FakeX mixes it in (it provides ``route``, ``_authorise``)."""

    lock: threading.RLock
    media: dict[str, dict[str, Any]]
    _ids: itertools.count[int]

    def setup_chunked(self) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}
        self.steps: list[tuple[Any, ...]] = []
        #: STATUS reads that answer in_progress before processing ends; and what it ends in
        self.processing_polls = 1
        self.check_after_secs = 0
        self._failures: list[str] = []
        self.route("POST", INITIALIZE[1:-1], self._initialize)  # type: ignore[attr-defined]
        self.route("POST", APPEND[1:-1], self._append)  # type: ignore[attr-defined]
        self.route("POST", FINALIZE[1:-1], self._finalize)  # type: ignore[attr-defined]
        self.route("GET", STATUS[1:-1], self._status)  # type: ignore[attr-defined]

    def fail_processing(self, message: str = "Your media file could not be processed.") -> None:
        """The next finalized upload fails in processing, with this reason (X's ``InvalidMedia``)."""
        with self.lock:
            self._failures.append(message)

    def _denied(self, request: Request) -> Reply | None:
        return self._authorise(request)  # type: ignore[attr-defined,no-any-return]

    def _initialize(self, request: Request) -> Reply:
        denied = self._denied(request)
        if denied:
            return denied
        body = request.json if isinstance(request.json, dict) else {}
        category, kind = str(body.get("media_category") or ""), str(body.get("media_type") or "")
        total = body.get("total_bytes")
        if kind not in CATEGORIES.get(category, ()):
            return Reply(400, _invalid(f"Invalid media_category {category} for {kind}", "media_category"))
        if not isinstance(total, int) or total <= 0:
            return Reply(400, _invalid("total_bytes must be a positive integer", "total_bytes", total))
        media_id = str(next(self._ids))
        with self.lock:
            self.uploads[media_id] = {"type": kind, "category": category, "total": total, "parts": {}}
            self.steps.append(("initialize", media_id))
        data = {"id": media_id, "media_key": f"7_{media_id}", "expires_after_secs": 86400}
        return Reply(200, {"data": data})

    def _append(self, request: Request) -> Reply:
        denied = self._denied(request)
        if denied:
            return denied
        media_id = request.path.split("/")[4]
        upload = self.uploads.get(media_id)
        index = request.form.get("segment_index", "")
        if upload is None:
            return Reply(400, _invalid("Invalid media id", "id", media_id))
        if not index.isdigit() or "media" not in request.files:
            return Reply(400, _invalid("segment_index and media are required", "segment_index"))
        data = request.files["media"][1]
        if len(data) > SEGMENT_LIMIT:
            return Reply(400, _invalid("Segment is larger than 5 MB", "media"))
        with self.lock:
            upload["parts"][int(index)] = data
            self.steps.append(("append", media_id, int(index)))
        return Reply(200, {"data": {"expires_at": 1_900_000_000}})

    def _finalize(self, request: Request) -> Reply:
        denied = self._denied(request)
        if denied:
            return denied
        media_id = request.path.split("/")[4]
        upload = self.uploads.get(media_id)
        if upload is None:
            return Reply(400, _invalid("Invalid media id", "id", media_id))
        parts = upload["parts"]
        data = b"".join(parts[i] for i in sorted(parts))
        if sorted(parts) != list(range(len(parts))) or len(data) != upload["total"]:
            message = f"File size mismatch: {len(data)} bytes received of {upload['total']}"
            return Reply(400, _invalid(message, "total_bytes", upload["total"]))
        with self.lock:
            upload.update(data=data, polls=0, failure=self._failures.pop(0) if self._failures else None)
            self.media[media_id] = {
                "name": "chunked",
                "data": data,
                "type": upload["type"],
                "category": upload["category"],
                "state": "pending",
            }
            self.steps.append(("finalize", media_id))
        info = {"state": "pending", "check_after_secs": self.check_after_secs}
        body = {"id": media_id, "media_key": f"7_{media_id}", "size": len(data), "expires_after_secs": 86400}
        return Reply(200, {"data": {**body, "processing_info": info}})

    def _status(self, request: Request) -> Reply:
        denied = self._denied(request)
        if denied:
            return denied
        media_id = request.query.get("media_id", "")
        upload = self.uploads.get(media_id)
        if request.query.get("command") != "STATUS" or upload is None or "data" not in upload:
            return Reply(400, _invalid("Invalid media id or command", "media_id", media_id))
        with self.lock:
            upload["polls"] += 1
            self.steps.append(("status", media_id))
            done = upload["polls"] > self.processing_polls
            state = ("failed" if upload["failure"] else "succeeded") if done else "in_progress"
            self.media[media_id]["state"] = state
        info: dict[str, Any] = {"state": state}
        if state == "in_progress":
            info.update(check_after_secs=self.check_after_secs, progress_percent=50)
        if state == "failed":
            info["error"] = {"code": 1, "name": "InvalidMedia", "message": upload["failure"]}
        return Reply(200, {"data": {"id": media_id, "media_key": f"7_{media_id}", "processing_info": info}})

    def processed(self, media_id: str) -> bool:
        """True for an image, or a chunked upload whose processing succeeded (a post may carry it)."""
        entry = self.media.get(media_id) or {}
        return entry.get("state", "succeeded") == "succeeded"
