"""A loopback Graph API for one Facebook Page: the calls ``FacebookAdapter`` makes, in Graph's wire format.

Shapes follow Meta's documentation:

* ``POST /vX.Y/{page}/feed`` (form: ``message``, ``link``, ``attached_media[i]={"media_fbid": ...}``)
  -> ``{"id": "PAGE_POST"}`` — https://developers.facebook.com/docs/pages-api/posts
* ``POST /vX.Y/{page}/photos`` (multipart ``source``, ``message``, ``published``) -> ``{"id", "post_id"}``,
  or only ``{"id"}`` when ``published=false`` — https://developers.facebook.com/docs/graph-api/photo-uploads
* ``GET /vX.Y/{page}``, ``GET /vX.Y/me`` (``fields``), ``GET /vX.Y/{page}/feed`` (``fields``, ``since``,
  ``limit``) -> ``{"data": [...], "paging": {...}}``, newest first.
* errors: HTTP 4xx/5xx with ``{"error": {"message", "type", "code", "error_subcode", "is_transient",
  "fbtrace_id"}}`` — https://developers.facebook.com/docs/graph-api/guides/error-handling ; throttling
  with usage headers — https://developers.facebook.com/docs/graph-api/overview/rate-limiting

The shared faults (``NetworkFake``) aim at the call that creates a post (``/feed``, or ``/photos`` unless
``published=false``): ``rate_limit`` is error 32 with ``X-Page-Usage`` naming
``estimated_time_to_regain_access`` in minutes, ``revoke_token`` error 190 subcode 463 (expired),
``server_error`` error 2 with ``is_transient``, ``answer_without_id`` ``{}``.

The token is accepted as ``Authorization: Bearer`` / ``OAuth`` or as ``access_token``, like Graph.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakes.base import Reply, Request
from tests.fakes.facebook_video import FakeVideo, PageVideos
from tests.fakes.metrics import FigureBook
from tests.fakes.network import NetworkFake, Published

#: paths of the calls that can create a post, for faults aimed at publishing
PUBLISH_PATH = r"/(feed|photos|videos)$"
FEED_PATH = r"/feed$"
PHOTOS_PATH = r"/photos$"
_VERSION = r"/v\d+\.\d+"


@dataclass
class FakePost:
    id: str
    message: str
    created_time: datetime
    link: str | None = None
    photos: list[str] = field(default_factory=list)
    #: a video post: the bytes of its video
    video: bytes | None = None


@dataclass
class FakePhoto:
    id: str
    data: bytes
    filename: str
    published: bool


def graph_page(
    url: str, request: Request, newest: list[Any], render: Callable[[Any], dict[str, Any]]
) -> Reply:
    """One page of a Graph edge, newest first, with cursor paging
    (https://developers.facebook.com/docs/graph-api/results): ``before`` and ``after`` are opaque cursors
    (here the offsets of the page's first item and of the next page, base64); ``next`` (``previous``) is the
    whole request again with ``after`` (``before``) set, present only while more pages follow (precede)."""
    limit = int(request.param("limit") or 25)
    offset = int(base64.b64decode(request.param("after") or "MA==").decode() or 0)
    data = [render(item) for item in newest[offset : offset + limit]]
    before, after = (base64.b64encode(str(n).encode()).decode() for n in (offset, offset + limit))
    paging: dict[str, Any] = {"cursors": {"before": before, "after": after}}
    query = {k: v for k, v in request.query.items() if k not in ("after", "before")}
    if offset + limit < len(newest):
        paging["next"] = f"{url}{request.path}?{urlencode({**query, 'after': after})}"
    if offset > 0:
        paging["previous"] = f"{url}{request.path}?{urlencode({**query, 'before': before})}"
    return Reply(200, {"data": data, "paging": paging})


def graph_error(
    code: int,
    message: str,
    *,
    type_: str = "OAuthException",
    subcode: int | None = None,
    is_transient: bool = False,
) -> dict[str, Any]:
    """Graph's error body, as the error-handling guide shows it."""
    error: dict[str, Any] = {
        "message": message,
        "type": type_,
        "code": code,
        "is_transient": is_transient,
        "fbtrace_id": "A" + secrets.token_hex(5),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeFacebook(PageVideos, NetworkFake):
    """One Page, one Page token (plus optional other tokens mapped to other identities)."""

    network = "facebook"

    poll_interval = 0.02  # stop() in every test's teardown should not cost half a second

    def __init__(
        self, page_id: str = "104857600123456", page_name: str = "Библиотека БНТУ", token: str = ""
    ) -> None:
        super().__init__()
        self.page_id = page_id
        self.page_name = page_name
        self.token = token or "EAAfake" + secrets.token_hex(20)
        #: token -> (id, name) that ``/me`` answers with
        self.identities: dict[str, tuple[str, str]] = {}
        self.feed: list[FakePost] = []
        self.photos: dict[str, FakePhoto] = {}
        self._ids = itertools.count(1)
        page = rf"{_VERSION}/{page_id}"
        self.route("POST", page + "/feed", self._post_feed)
        self.route("POST", page + "/photos", self._post_photo)
        self.route("GET", page + "/feed", self._get_feed)
        self.route("GET", page, self._get_page)
        self.route("GET", _VERSION + "/me", self._get_me)
        self.route("GET", _VERSION + "/?", self._get_ids)
        self.setup_videos(page)
        self.figures = FigureBook()
        #: whether the token may read post insights (pages_read_engagement + read_insights)
        self.insights_allowed = False

    # --- the shared interface (NetworkFake) ------------------------------------------------------

    def is_publish(self, request: Request) -> bool:
        if request.method != "POST":
            return False
        if re.search(FEED_PATH, request.path):
            return True
        if re.search(r"/videos$", request.path):  # a simple upload, or the finish of a resumable one
            return request.form.get("upload_phase") in (None, "finish")
        return bool(re.search(PHOTOS_PATH, request.path)) and request.param("published") != "false"

    @property
    def posts(self) -> list[Published]:
        return [
            Published(
                p.id,
                p.message,
                p.created_time,
                p.link,
                (p.video,) if p.video is not None else tuple(self.photos[f].data for f in p.photos),
            )
            for p in list(self.feed)
        ]

    def service_settings(self) -> dict[str, Any]:
        return {"api_url": self.url, "page_id": self.page_id, "page_access_token": self.token}

    def rate_limit_answer(self, request: Request, seconds: int) -> Reply:
        usage = {"call_count": 100, "total_cputime": 12, "total_time": 30}
        usage["estimated_time_to_regain_access"] = math.ceil(seconds / 60)
        body = graph_error(32, "(#32) Page request limit reached")
        return Reply(400, body, {"X-Page-Usage": json.dumps(usage)})

    def revoked_answer(self, request: Request) -> Reply:
        message = "Error validating access token: Session has expired on Friday, 01-Nov-24."
        return Reply(400, graph_error(190, message, subcode=463))

    def server_error_answer(self, request: Request, status: int) -> Reply:
        message = "An unexpected error has occurred. Please retry your request later."
        return Reply(status, graph_error(2, message, is_transient=True))

    def no_id_answer(self) -> Reply:
        return Reply(200, {})

    # --- test helpers ----------------------------------------------------------------------------

    def add_post(self, message: str, created_time: datetime | None = None) -> FakePost:
        """Seed a post as if published earlier (for reconcile tests)."""
        post = FakePost(self._post_id(), message, created_time or datetime.now(UTC))
        self.feed.append(post)
        return post

    def fail(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        **kw: Any,
    ) -> None:
        """The next matching request (by default the publishing call) gets Graph's error, unapplied."""
        body = graph_error(code, message, **kw)
        self.fault("status", path, times=times, status=status, body=body, headers=headers or {})

    def expire_token(self, path: str | None = "", message: str = "") -> None:
        self.fail(
            190,
            message or "Error validating access token: Session has expired on Friday, 01-Nov-24.",
            subcode=463,
            path=path,
        )

    def deny_permission(self, path: str | None = None) -> None:
        self.fail(
            200,
            "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts "
            "as an admin with sufficient administrative permission",
            status=403,
            path=path,
        )

    def throttle(
        self, code: int = 32, minutes: int = 5, header: str = "X-Page-Usage", path: str | None = None
    ) -> None:
        """A throttling error with the usage header Graph sends alongside it."""
        messages = {
            4: "(#4) Application request limit reached",
            17: "(#17) User request limit reached",
            32: "(#32) Page request limit reached",
            613: "(#613) Calls to this api have exceeded the rate limit.",
            80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
        }
        usage: dict[str, Any] = {"call_count": 100, "total_cputime": 12, "total_time": 30}
        if header != "X-App-Usage":  # the app header carries percentages only
            usage["estimated_time_to_regain_access"] = minutes
        value: Any = usage
        if header == "X-Business-Use-Case-Usage":
            value = {self.page_id: [{"type": "pages", **usage}]}
        self.fail(
            code, messages.get(code, f"(#{code}) Rate limit"), path=path, headers={header: json.dumps(value)}
        )

    def reject_duplicate(self, path: str | None = None) -> None:
        self.fail(506, "(#506) Duplicate status message", type_="OAuthException", path=path)

    def block_for_policy(self, path: str | None = None) -> None:
        self.fail(
            368,
            "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
            subcode=1390008,
            path=path,
        )

    def transient_failure(self, status: int = 500, path: str | None = None) -> None:
        self.fail(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            status=status,
            is_transient=True,
            path=path,
        )

    # --- routes ----------------------------------------------------------------------------------

    def _identity(self, request: Request) -> tuple[str, str] | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            token = request.param("access_token") or ""
        if token == self.token:
            return self.page_id, self.page_name
        return self.identities.get(token)

    def _auth(self, request: Request) -> Reply | None:
        if self._identity(request) is None:
            return Reply(400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"))
        return None

    def _post_id(self) -> str:
        return f"{self.page_id}_{next(self._ids) + 122000000000000000}"

    def _post_feed(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        media: list[str] = []
        for i in itertools.count():
            raw = request.form.get(f"attached_media[{i}]")
            if raw is None:
                break
            fbid = str(json.loads(raw).get("media_fbid", ""))
            photo = self.photos.get(fbid)
            if photo is None or photo.published:
                return Reply(
                    400, graph_error(100, f"(#100) Invalid media_fbid {fbid}", type_="GraphMethodException")
                )
            media.append(fbid)
        message = request.form.get("message", "")
        if not (message or request.form.get("link") or media):
            return Reply(400, graph_error(100, "(#100) Missing message or attachment"))
        post = FakePost(self._post_id(), message, datetime.now(UTC), request.form.get("link"), media)
        for fbid in media:
            self.photos[fbid].published = True
        self.feed.append(post)
        return Reply(200, {"id": post.id}, applied=True)

    def _video_post(self, video: FakeVideo) -> FakePost:
        return FakePost(video.id, video.description, datetime.now(UTC), video=video.data)

    def _post_photo(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        upload = request.files.get("source")
        if upload is None:
            return Reply(400, graph_error(324, "(#324) Requires upload file"))
        filename, data, _ctype = upload
        if not data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8")):
            return Reply(400, graph_error(324, "(#324) Missing or invalid image file"))
        published = request.form.get("published", "true").lower() != "false"
        photo = FakePhoto(str(next(self._ids) + 900000000000000), data, filename, published)
        self.photos[photo.id] = photo
        if not published:
            return Reply(200, {"id": photo.id})
        post = FakePost(
            self._post_id(), request.form.get("message", ""), datetime.now(UTC), photos=[photo.id]
        )
        self.feed.append(post)
        return Reply(200, {"id": photo.id, "post_id": post.id}, applied=True)

    def _fields(self, request: Request, node: dict[str, Any]) -> dict[str, Any]:
        wanted = (request.param("fields") or "id").split(",")
        return {k: v for k, v in node.items() if k in wanted}

    def _get_page(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        return Reply(200, self._fields(request, {"id": self.page_id, "name": self.page_name}))

    def _get_me(self, request: Request) -> Reply:
        identity = self._identity(request)
        if identity is None:
            return Reply(400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"))
        return Reply(200, self._fields(request, {"id": identity[0], "name": identity[1]}))

    def _get_feed(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        since = float(request.param("since") or 0)
        newest = [p for p in reversed(self.feed) if p.created_time.timestamp() >= since]
        return graph_page(
            self.url,
            request,
            newest,
            lambda p: self._fields(
                request,
                {
                    "id": p.id,
                    "message": p.message,
                    "created_time": p.created_time.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                },
            ),
        )

    def not_found(self, request: Request) -> Reply:
        return Reply(
            400,
            graph_error(
                100,
                f"Unsupported {request.method.lower()} request. Object with ID does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation",
                type_="GraphMethodException",
                subcode=33,
            ),
        )

    def _get_ids(self, request: Request) -> Reply:
        """Multiple-id read ``GET /?ids=a,b&fields=...`` (at most 50 ids): an object keyed by id.

        https://developers.facebook.com/docs/graph-api/guides/field-expansion (``summary(total_count)``
        on ``reactions`` and ``comments``, ``shares{count}``), post insights as the ``insights`` field
        (https://developers.facebook.com/docs/graph-api/reference/v24.0/insights). Without the permission
        Graph refuses the whole read with (#10); an unknown id is error 100.
        """
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                400, graph_error(190, "Invalid OAuth access token - Cannot parse access token", subcode=None)
            )
        ids = [i for i in (request.query.get("ids") or "").split(",") if i]
        fields = request.query.get("fields") or ""
        if not 1 <= len(ids) <= 50:
            return Reply(400, graph_error(100, "(#100) Too many IDs. Maximum: 50."))
        if "insights" in fields and not self.insights_allowed:
            return Reply(
                403,
                graph_error(
                    10, "(#10) Application does not have permission for this action", type_="OAuthException"
                ),
            )
        known = {p.id for p in self.feed}
        missing = [i for i in ids if i not in known]
        if missing:
            return Reply(
                400,
                graph_error(
                    100, f"(#100) Some of the aliases you requested do not exist: {','.join(missing)}"
                ),
            )
        answer: dict[str, Any] = {}
        for post_id in ids:
            if "insights" in fields:
                f = self.figures.served.get(post_id) or self.figures.read(post_id)
                values = {"post_impressions": f["views"], "post_impressions_unique": f["views"] // 2}
                answer[post_id] = {
                    "id": post_id,
                    "insights": {
                        "data": [
                            {
                                "name": name,
                                "period": "lifetime",
                                "values": [{"value": value}],
                                "id": f"{post_id}/insights/{name}/lifetime",
                            }
                            for name, value in values.items()
                        ]
                    },
                }
                continue
            f = self.figures.read(post_id)
            item: dict[str, Any] = {
                "id": post_id,
                "reactions": {"data": [], "summary": {"total_count": f["likes"], "viewer_reaction": "NONE"}},
                "comments": {
                    "data": [],
                    "summary": {"order": "ranked", "total_count": f["comments"], "can_comment": True},
                },
            }
            if f["reposts"]:
                item["shares"] = {"count": f["reposts"]}  # Graph leaves shares out when there are none
            answer[post_id] = item
        return Reply(200, answer)
