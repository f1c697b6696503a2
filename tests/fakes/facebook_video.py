"""Page videos for FakeFacebook: ``POST /vX.Y/{page}/videos``, simple and resumable, in Graph's wire format.

https://developers.facebook.com/docs/graph-api/reference/page/videos/ (Creating) and the publishing guide
https://developers.facebook.com/docs/video-api/guides/publishing (on graph-video.facebook.com):

* simple: multipart ``source`` + ``description`` (+ ``title``) -> ``{"id": video}``: the video is published;
* resumable: ``upload_phase=start`` + ``file_size`` -> ``{"video_id", "upload_session_id", "start_offset",
  "end_offset"}`` (offsets are strings); ``upload_phase=transfer`` + ``upload_session_id`` + ``start_offset`` +
  multipart ``video_file_chunk`` -> the next ``{"start_offset", "end_offset"}`` (equal once all bytes are
  in); ``upload_phase=finish`` + ``upload_session_id`` + ``description`` -> ``{"success": true}``: only now
  is the video published.

``video_steps`` records the phases in order. A transfer whose ``start_offset`` is not the one the session
expects is refused with error 6000 subcode 1363037 and the offsets to resume from, like Graph.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.base import Reply, Request


@dataclass
class FakeVideo:
    id: str
    data: bytes = b""
    size: int = 0
    session: str = ""
    description: str = ""
    published: bool = False
    chunks: list[int] = field(default_factory=list)


def _error(code: int, message: str, subcode: int | None = None, **data: Any) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "Afake",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if data:
        error["error_data"] = data
    return {"error": error}


class PageVideos:
    """Mixed into FakeFacebook (which provides ``_auth``, ``feed``, ``_ids`` and ``route``)."""

    _ids: itertools.count[int]
    feed: list[Any]

    def setup_videos(self, page_route: str) -> None:
        self.videos: dict[str, FakeVideo] = {}
        self.video_steps: list[tuple[str, ...]] = []
        #: the chunk size Graph asks for in its offsets
        self.chunk_bytes = 1024 * 1024
        self.route("POST", page_route + "/videos", self._post_video)  # type: ignore[attr-defined]

    def _post_video(self, request: Request) -> Reply:
        if denied := self._auth(request):  # type: ignore[attr-defined]
            return denied  # type: ignore[no-any-return]
        phase = request.form.get("upload_phase")
        if phase is None:
            upload = request.files.get("source")
            if upload is None or upload[1][4:8] != b"ftyp":
                return Reply(
                    400,
                    _error(
                        352, "(#352) Sorry, the video file you selected is in a format that we don't support."
                    ),
                )
            video = FakeVideo(self._video_id(), upload[1], len(upload[1]))
            self.video_steps.append(("simple", video.id))
            return self._publish(video, request)
        if phase == "start":
            size = int(request.form.get("file_size") or 0)
            if size <= 0:
                return Reply(400, _error(100, "(#100) file_size is required"))
            video = FakeVideo(self._video_id(), size=size, session=str(next(self._ids) + 7_000_000))
            self.videos[video.id] = video
            self.video_steps.append(("start", video.id))
            answer = {"video_id": video.id, "upload_session_id": video.session, **self._offsets(video)}
            return Reply(200, answer)
        video = next(
            (v for v in self.videos.values() if v.session == request.form.get("upload_session_id")), None
        )
        if video is None:
            return Reply(400, _error(100, "(#100) Invalid upload_session_id"))
        if phase == "transfer":
            chunk = request.files.get("video_file_chunk")
            if chunk is None or request.form.get("start_offset") != str(len(video.data)):
                offsets = self._offsets(video)
                return Reply(
                    400, _error(6000, "There was a problem uploading your video file.", 1363037, **offsets)
                )
            video.data += chunk[1]
            video.chunks.append(len(chunk[1]))
            self.video_steps.append(("transfer", video.id, str(len(video.data) - len(chunk[1]))))
            return Reply(200, self._offsets(video))
        if phase == "finish":
            if len(video.data) != video.size:
                return Reply(400, _error(6000, "There was a problem uploading your video file.", 1363019))
            self.video_steps.append(("finish", video.id))
            reply = self._publish(video, request)
            return Reply(200, {"success": True}, applied=reply.applied)
        return Reply(400, _error(100, f"(#100) Invalid upload_phase {phase}"))

    def _offsets(self, video: FakeVideo) -> dict[str, str]:
        start = len(video.data)
        return {"start_offset": str(start), "end_offset": str(min(video.size, start + self.chunk_bytes))}

    def _video_id(self) -> str:
        return str(next(self._ids) + 800_000_000_000_000)

    def _publish(self, video: FakeVideo, request: Request) -> Reply:
        video.description, video.published = request.form.get("description", ""), True
        self.videos[video.id] = video
        post = self._video_post(video)
        self.feed.append(post)
        return Reply(200, {"id": video.id}, applied=True)

    def _video_post(self, video: FakeVideo) -> Any:
        raise NotImplementedError  # FakeFacebook builds its FakePost
