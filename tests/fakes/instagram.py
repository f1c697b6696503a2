"""A loopback Instagram Graph API for one professional account, in Graph's wire format, and the operator's
public web server that Instagram fetches pictures from.

Shapes follow Meta's documentation (https://developers.facebook.com/docs/instagram-platform/...):

* ``POST /vX.Y/{ig}/media`` (``image_url``, ``caption``, ``is_carousel_item``; ``media_type=CAROUSEL`` with
  ``children``; ``media_type=REELS`` or ``VIDEO`` with ``upload_type=resumable``) -> ``{"id"}`` (resumable:
  ``{"id", "uri"}``) — .../instagram-graph-api/reference/ig-user/media. Like Instagram ("we cURL media"),
  the fake fetches ``image_url`` at once and refuses what it cannot fetch or is not a picture: error 9004,
  subcode 2207052; a picture that is not a JPEG (PNG) is refused with subcode 2207005 ("Image
  Specifications: Format: JPEG"; .../reference/error-codes).
* ``POST /ig-api-upload/vX.Y/{container}`` (headers ``Authorization: OAuth``, ``offset``, ``file_size``)
  -> ``{"success": true, "message": "Upload successful."}`` — .../content-publishing/resumable-uploads
* ``GET /vX.Y/{container}?fields=status_code,status`` — IN_PROGRESS / FINISHED / ERROR / EXPIRED /
  PUBLISHED (.../reference/ig-container); ``POST /vX.Y/{ig}/media_publish`` (``creation_id``) -> ``{"id"}``
  (.../reference/ig-user/media_publish); ``GET /vX.Y/{ig}/content_publishing_limit`` -> ``{"data":
  [{"config": {"quota_total", "quota_duration"}, "quota_usage"}]}``.
* ``GET /vX.Y/{ig}`` (id, username), ``GET /vX.Y/{media}?fields=permalink``, ``GET /vX.Y/{ig}/media``
  (``fields``, ``limit``, ``after``) newest first with cursor paging, ``GET /vX.Y/?ids=...`` (like_count,
  comments_count, ``insights.metric(...)``).
* errors: ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
  (.../reference/error-codes); throttling with ``X-Business-Use-Case-Usage`` (``type: instagram``) and
  ``X-App-Usage`` (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).

The shared faults aim at ``media_publish``. Instagram's own: ``hold_processing`` (containers stay
IN_PROGRESS), ``fail_processing`` (status ERROR with a subcode), ``use_quota`` (the publishing limit).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.base import FakeServer, Reply, Request
from tests.fakes.facebook import graph_error, graph_page
from tests.fakes.metrics import FigureBook
from tests.fakes.network import NetworkFake, Published

PUBLISH_PATH = r"/media_publish$"
MEDIA_PATH = r"/\d+/media$"
_VERSION = r"/v\d+\.\d+"
_PICTURE = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_JPEG = b"\xff\xd8\xff"


@dataclass
class Container:
    id: str
    kind: str  # IMAGE, CAROUSEL, REELS, VIDEO
    caption: str = ""
    data: bytes = b""
    children: list[str] = field(default_factory=list)
    carousel_item: bool = False
    status_code: str = "FINISHED"
    status: str = "Finished: Media has been uploaded and it is ready to be published."
    published: bool = False


@dataclass
class Media:
    id: str
    caption: str
    timestamp: datetime
    shortcode: str
    media: tuple[bytes, ...]
    kind: str

    @property
    def permalink(self) -> str:
        """Its address: a reel's is ``/reel/<shortcode>/``, any other media's ``/p/<shortcode>/``."""
        return f"https://www.instagram.com/{'reel' if self.kind == 'REELS' else 'p'}/{self.shortcode}/"


class PublicFolder(FakeServer):
    """The operator's web server: a folder served read-only at ``/media/<name>``."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ig-public-"))
        self.route("GET", r"/media/([\w.\-]+)", self._serve)

    def _serve(self, request: Request) -> Reply:
        path = self.folder / request.path.rsplit("/", 1)[-1]
        if not path.is_file():
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        return Reply(200, path.read_bytes(), {"Content-Type": "application/octet-stream"})


class FakeInstagram(NetworkFake):
    """One Instagram professional account, its token, and the public folder its pictures come from."""

    network = "instagram"
    poll_interval = 0.02

    def __init__(
        self, account_id: str = "17841400000000001", username: str = "library_bntu", token: str = ""
    ):
        super().__init__()
        self.account_id, self.username = account_id, username
        self.token = token or "EAAig" + secrets.token_hex(20)
        self.public = PublicFolder()
        self.containers: dict[str, Container] = {}
        self.media: list[Media] = []
        self.fetched: list[str] = []  # every URL the fake fetched, as Instagram would
        self.quota_total, self.quota_used = 50, 0
        self.figures = FigureBook()
        self.insights_allowed = True
        self._held: int | None = 0  # status reads that answer IN_PROGRESS (None: for ever)
        self._failing: str | None = None
        self._ids = itertools.count(1)
        ig = rf"{_VERSION}/{account_id}"
        self.route("POST", ig + "/media", self._create)
        self.route("GET", ig + "/media", self._list)
        self.route("POST", ig + "/media_publish", self._publish)
        self.route("GET", ig + "/content_publishing_limit", self._limit)
        self.route("GET", ig, lambda r: self._auth(r) or Reply(200, {"id": account_id, "username": username}))
        self.route("POST", r"/ig-api-upload" + _VERSION + r"/(\d+)", self._upload)
        self.route("GET", _VERSION + r"/(\d+)", self._node)
        self.route("GET", _VERSION + "/?", self._ids_read)

    # --- the shared interface (NetworkFake) ------------------------------------------------------

    def start(self) -> FakeInstagram:
        self.public.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.public.stop()
        shutil.rmtree(self.public.folder, ignore_errors=True)

    def is_publish(self, request: Request) -> bool:
        return request.method == "POST" and bool(re.search(PUBLISH_PATH, request.path))

    @property
    def posts(self) -> list[Published]:
        return [Published(m.id, m.caption, m.timestamp, None, m.media) for m in list(self.media)]

    def created_texts(self) -> list[str]:
        """The caption of each post a ``media_publish`` created (its body names only the container)."""
        found = []
        for request in list(self.applied):
            container = self.containers.get(request.param("creation_id") or "")
            found.append(container.caption if container else "")
        return found

    def service_settings(self) -> dict[str, Any]:
        return {
            "api_url": self.url,
            "upload_url": self.url,
            "account_id": self.account_id,
            "access_token": self.token,
            "media_dir": str(self.public.folder),
            "media_base_url": f"{self.public.url}/media",
            "max_per_day": min(self.quota_total, 1000),
        }

    def rate_limit_answer(self, request: Request, seconds: int) -> Reply:
        usage = {"type": "instagram", "call_count": 100, "total_cputime": 10, "total_time": 20}
        usage["estimated_time_to_regain_access"] = math.ceil(seconds / 60)
        body = graph_error(80002, "(#80002) There have been too many calls to this Instagram account.")
        return Reply(400, body, {"X-Business-Use-Case-Usage": json.dumps({self.account_id: [usage]})})

    def revoked_answer(self, request: Request) -> Reply:
        message = "Error validating access token: The session has been invalidated because the user changed their password."
        return Reply(400, graph_error(190, message, subcode=460))

    def server_error_answer(self, request: Request, status: int) -> Reply:
        message = "An unexpected error has occurred. Please retry your request later."
        return Reply(status, graph_error(2, message, is_transient=True))

    def no_id_answer(self) -> Reply:
        return Reply(200, {})

    # --- Instagram's own faults and helpers --------------------------------------------------------

    def hold_processing(self, reads: int | None = None) -> None:
        """The next containers answer IN_PROGRESS for ``reads`` status reads (None: until the end)."""
        self._held = reads

    def fail_processing(self, subcode: str = "2207026") -> None:
        """Containers created from now on end in ERROR with ``subcode`` as their status."""
        self._failing = subcode

    def app_throttle(self) -> None:
        """The app's own call budget spent: error 4 with ``X-App-Usage`` (percentages only, no wait)."""
        usage = json.dumps({"call_count": 100, "total_cputime": 31, "total_time": 44})
        body = graph_error(4, "(#4) Application request limit reached", is_transient=True)
        self.fault("status", None, status=400, body=body, headers={"X-App-Usage": usage})

    def use_quota(self, used: int, total: int = 50) -> None:
        self.quota_used, self.quota_total = used, total

    def fail(self, code: int, message: str, *, status: int = 400, path: str | None = None, **kw: Any) -> None:
        self.fault("status", path, status=status, body=graph_error(code, message, **kw))

    def add_media(self, caption: str, timestamp: datetime | None = None, kind: str = "IMAGE") -> Media:
        """Seed a post as if published earlier (for reconcile tests)."""
        media = Media(self._id(), caption, timestamp or datetime.now(UTC), secrets.token_urlsafe(8), (), kind)
        self.media.append(media)
        return media

    # --- routes ----------------------------------------------------------------------------------

    def _id(self) -> str:
        return str(17900000000000000 + next(self._ids))

    def _auth(self, request: Request) -> Reply | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            token = request.param("access_token") or ""
        if token != self.token:
            return Reply(400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"))
        return None

    def _create(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        kind = (request.param("media_type") or "IMAGE").upper()
        item = (request.param("is_carousel_item") or "").lower() == "true"
        container = Container(self._id(), kind, request.param("caption") or "", carousel_item=item)
        reply: dict[str, Any] = {"id": container.id}
        if kind == "CAROUSEL":
            container.children = [c for c in (request.param("children") or "").split(",") if c]
            bad = [
                c
                for c in container.children
                if c not in self.containers or not self.containers[c].carousel_item
            ]
            if not 2 <= len(container.children) <= 10 or bad:
                return Reply(
                    400, graph_error(100, "(#100) The carousel children are invalid", subcode=2207028)
                )
        elif kind in ("REELS", "VIDEO") and request.param("upload_type") == "resumable":
            container.status_code, container.status = "IN_PROGRESS", "In Progress: waiting for the upload"
            reply["uri"] = (
                f"https://rupload.facebook.com/ig-api-upload/{request.path.split('/')[1]}/{container.id}"
            )
        else:
            url = request.param("image_url") or request.param("video_url") or ""
            data = self._fetch(url)
            if data is None or (kind == "IMAGE" and not data.startswith(_PICTURE)):
                message = "Media download has failed. The media URI doesn't meet our requirements."
                return Reply(400, graph_error(9004, message, type_="OAuthException", subcode=2207052))
            if kind == "IMAGE" and not data.startswith(_JPEG):  # "Image Specifications: Format: JPEG"
                return Reply(400, graph_error(36001, "The image format is not supported.", subcode=2207005))
            container.data = data
        if self._failing:
            container.status_code, container.status = "ERROR", f"Error: {self._failing}"
        self.containers[container.id] = container
        return Reply(200, reply)

    def _fetch(self, url: str) -> bytes | None:
        self.fetched.append(url)
        if not url.startswith(("http://", "https://")):
            return None
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return bytes(answer.read())
        except OSError:
            return None

    def _upload(self, request: Request) -> Reply:
        """One part of a resumable upload: it must start where the received bytes end (``offset``); the
        container is processed once ``file_size`` bytes have arrived."""
        container = self.containers.get(request.path.rsplit("/", 1)[-1])
        if request.headers.get("authorization") != f"OAuth {self.token}":
            return Reply(401, _upload_error("Invalid OAuth access token"))
        if container is None or request.headers.get("offset") != str(len(container.data)):
            return Reply(400, _upload_error("unknown container or offset"))
        container.data += request.body
        total = int(request.headers.get("file_size") or -1)
        if len(container.data) > total:
            return Reply(400, _upload_error("more bytes than file_size"))
        if len(container.data) == total and container.status_code == "IN_PROGRESS":
            ok = container.data[4:8] == b"ftyp"  # an ISO media file (MP4 / MOV) starts with its ftyp box
            container.status_code, container.status = (
                ("FINISHED", "Finished") if ok else ("ERROR", "Error: 2207026")
            )
        return Reply(200, {"success": True, "message": "Upload successful."})

    def _node(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        node_id = request.path.rsplit("/", 1)[-1]
        container = self.containers.get(node_id)
        if container is not None:
            status = container.status_code
            if status == "FINISHED" and self._held != 0:
                status = "IN_PROGRESS"
                self._held = None if self._held is None else self._held - 1
            return Reply(200, {"id": node_id, "status_code": status, "status": container.status})
        media = next((m for m in self.media if m.id == node_id), None)
        if media is None:
            return self.not_found(request)
        node = {"id": media.id, "permalink": media.permalink}
        return Reply(
            200, {k: v for k, v in node.items() if k in [*(request.param("fields") or "id").split(","), "id"]}
        )

    def _publish(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        container = self.containers.get(request.param("creation_id") or "")
        if container is None or container.published or container.carousel_item:
            return Reply(400, graph_error(24, "The media with id could not be found", subcode=2207006))
        if container.status_code != "FINISHED":
            return Reply(400, graph_error(9007, "Media ID is not available", subcode=2207027))
        if self.quota_used >= self.quota_total:
            message = "You reached maximum number of posts that is allowed to be published by Content Publishing API."
            return Reply(400, graph_error(9, message, subcode=2207042))
        parts = [self.containers[c].data for c in container.children] or [container.data]
        media = Media(
            self._id(),
            container.caption,
            datetime.now(UTC),
            secrets.token_urlsafe(8),
            tuple(parts),
            container.kind,
        )
        container.published, container.status_code = True, "PUBLISHED"
        self.media.append(media)
        self.quota_used += 1
        return Reply(200, {"id": media.id}, applied=True)

    def _limit(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        config = {"quota_total": self.quota_total, "quota_duration": 86400}
        return Reply(200, {"data": [{"quota_usage": self.quota_used, "config": config}]})

    def _list(self, request: Request) -> Reply:
        """``GET /{ig}/media``: the account's media, newest first, each with the ``fields`` asked for (only
        ``id`` when none are: the edge's default), 25 to a page unless ``limit`` says otherwise."""
        if denied := self._auth(request):
            return denied
        asked = {"id", *(request.param("fields") or "id").split(",")}

        def node(m: Media) -> dict[str, Any]:
            every = {
                "id": m.id,
                "caption": m.caption,
                "permalink": m.permalink,
                "timestamp": m.timestamp.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            }
            return {k: v for k, v in every.items() if k in asked}

        return graph_page(self.url, request, list(reversed(self.media)), node)

    def _ids_read(self, request: Request) -> Reply:
        """``GET /?ids=a,b&fields=...``: an object keyed by id; insights need instagram_manage_insights."""
        if denied := self._auth(request):
            return denied
        ids = [i for i in (request.param("ids") or "").split(",") if i]
        fields = request.param("fields") or ""
        known = {m.id for m in self.media}
        # One error object answers the whole request when any id in it is unknown (the error-handling guide's
        # shape, https://developers.facebook.com/docs/graph-api/guides/error-handling): an alias that is no
        # id, like a shortcode, is code 803 naming it (as Graph answers, e.g. nov/fb_graph#286,
        # daryasary/instagram-graph-api#1); a number that names no media, code 100.
        aliases = [i for i in ids if not i.isdigit()]
        if aliases:
            message = f"(#803) Some of the aliases you requested do not exist: {','.join(aliases)}"
            return Reply(400, graph_error(803, message))
        if not 1 <= len(ids) <= 50 or any(i not in known for i in ids):
            return Reply(400, graph_error(100, "(#100) Some of the aliases you requested do not exist"))
        if "insights" in fields and not self.insights_allowed:
            return Reply(403, graph_error(10, "(#10) Application does not have permission for this action"))
        answer: dict[str, Any] = {}
        for media_id in ids:
            if "insights" in fields:
                f = self.figures.served.get(media_id) or self.figures.read(media_id)
                values = {"views": f["views"], "reach": f["views"] // 2, "shares": f["reposts"]}
                data = [
                    {"name": k, "period": "lifetime", "values": [{"value": v}]} for k, v in values.items()
                ]
                answer[media_id] = {"id": media_id, "insights": {"data": data}}
            else:
                f = self.figures.read(media_id)
                answer[media_id] = {"id": media_id, "like_count": f["likes"], "comments_count": f["comments"]}
        return Reply(200, answer)


def _upload_error(message: str) -> dict[str, Any]:
    return {"debug_info": {"retriable": False, "type": "ProcessingFailedError", "message": message}}
