"""A loopback VK API: the methods ``VkAdapter`` calls, in VK's wire format (API 5.199).

* ``POST /method/<name>`` with a form body (vk-api posts ``access_token`` and ``v`` among the params).
  Success ``{"response": ...}``; errors in HTTP 200 bodies ``{"error": {"error_code", "error_msg",
  "request_params": [{"key", "value"}, ...]}}`` (https://dev.vk.com/ru/reference/errors; the captcha page
  https://dev.vk.com/en/api/captcha-error shows ``request_params`` echoing ``access_token``, which we copy
  so that tests prove the adapter never repeats it).
* ``POST /upload/wall`` — the upload server that ``photos.getWallUploadServer`` points to (on real VK another
  host), multipart field ``photo``, answering ``{"server", "photo", "hash"}``
  (https://dev.vk.com/en/api/upload/wall-photo).
* ``video.save`` (https://dev.vk.com/ru/method/video.save; needs the ``video`` right, error 7 without it)
  saves a video to the community's list (``wallpost=0``: not posted) and answers ``{"access_key",
  "description", "owner_id", "title", "upload_url", "video_id"}``; ``POST /upload/video`` (``upload_url``,
  multipart ``video_file``) answers ``{"video_hash", "size", "owner_id", "video_id"}``
  (https://dev.vk.com/en/api/upload/video-in-profile). ``wall.post`` attaches it as ``video-GROUP_VIDEOID``.
* ``wall.post`` honours ``guid`` like VK: a repeat with the same guid within an hour returns the first post's
  id and creates nothing (https://dev.vk.com/ru/method/wall.post: "уникальный идентификатор, предназначенный
  для предотвращения повторной отправки одинаковой записи. Действует в течение одного часа").
* The shared faults (``NetworkFake``): ``rate_limit`` is error 29 "Rate limit reached" (the per-method
  daily cap; VK's answers name no wait), ``revoke_token`` error 5, ``server_error`` an HTTP 5xx from VK's
  front with an empty body, ``answer_without_id`` ``{"response": {}}``.
* A post's link: ``wall.post`` takes one external link among ``attachments`` ("ссылка на внешнюю страницу
  ... может быть указана только одна ссылка", https://dev.vk.com/ru/method/wall.post; a second is refused
  with error 100). VK builds the post's link snippet from that link, else from the first URL it reads in the
  message, else there is none; ``wall.get`` shows it as a ``{"type": "link", "link": {"url", "title"}}``
  attachment (https://dev.vk.com/ru/reference/objects/link).
* A *community* token is refused by the user-only methods with error 27, and ``users.get`` without ids
  returns ``[]`` for it (there is no current user).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.base import Fault, Reply, Request
from tests.fakes.metrics import FigureBook
from tests.fakes.network import NetworkFake, Published

_LINK = re.compile(r"https?://[^\s,]+")
ERROR_TEXTS = {
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    27: "Group authorization failed: method is unavailable with group auth.",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    121: "Invalid hash",
    203: "Access to group denied",
    214: "Access to adding post denied",
    222: "Hyperlinks are forbidden",
}
USER_ONLY = {
    "wall.post",
    "photos.getWallUploadServer",
    "photos.saveWallPhoto",
    "account.getAppPermissions",
    "video.save",
}
#: photos | video | wall | offline (dev.vk.com/ru/reference/access-rights)
VIDEO_SCOPE = 1 << 4
FULL_SCOPE = (1 << 2) | VIDEO_SCOPE | (1 << 13) | (1 << 16)


@dataclass
class WallPost:
    id: int
    owner_id: int
    text: str
    attachments: list[str]
    date: int
    guid: str | None = None
    from_id: int = 0
    #: the URL of the post's link snippet (see the module docstring), None when VK made none
    link: str | None = None


@dataclass
class _Queued:
    method: str
    code: int
    times: int
    extra: dict[str, Any] = field(default_factory=dict)


class FakeVk(NetworkFake):
    """VK with one community (``group_id``) and one valid token (``token``)."""

    network = "vk"

    def __init__(
        self,
        token: str = "",
        group_id: int = 123,
        group_name: str = "ФИТР БНТУ",
        *,
        token_kind: str = "user",
        admin_level: int = 3,
        scope: int = FULL_SCOPE,
        guid_ttl: float = 3600.0,
    ) -> None:
        super().__init__()
        self.token = token or "vk1.a." + secrets.token_urlsafe(32)
        self.group_id = group_id
        self.group_name = group_name
        self.token_kind = token_kind
        self.admin_level = admin_level
        self.scope = scope
        self.guid_ttl = guid_ttl
        self.user = {"id": 1001, "first_name": "Ирина", "last_name": "Смирнова"}
        self.wall: list[WallPost] = []
        self.figures = FigureBook()
        #: how wall.getById answers: "items" (API 5.199, as pinned) or "list" (older API versions)
        self.getbyid_shape = "items"
        self.photos: dict[str, bytes] = {}  # "photo-123_5" -> uploaded bytes
        self.videos: dict[str, bytes] = {}  # "video-123_7" -> uploaded bytes (once the upload arrived)
        #: every video.save call's parameters and every video upload, in order ("save" / "upload", ...)
        self.video_steps: list[tuple[str, Any]] = []
        self._video_uploads: dict[str, int] = {}  # upload token -> video id
        self._uploads: dict[str, tuple[bytes, str]] = {}  # upload ref -> (bytes, hash)
        self._guids: dict[str, tuple[int, float]] = {}  # guid -> (post id, monotonic time)
        self._next_id = 1
        self._queued: list[_Queued] = []
        self.route("POST", r"/method/(?P<name>[\w.]+)", self._method)
        self.route("GET", r"/method/(?P<name>[\w.]+)", self._method)
        self.route("POST", r"/upload/wall", self._upload)
        self.route("POST", r"/upload/video", self._upload_video)

    # --- the shared interface (NetworkFake) ------------------------------------------------------

    def is_publish(self, request: Request) -> bool:
        return request.path.endswith("/method/wall.post")

    @property
    def posts(self) -> list[Published]:
        with self.lock:
            return [
                Published(
                    f"-{self.group_id}_{p.id}",
                    p.text,
                    datetime.fromtimestamp(p.date, UTC),
                    link=p.link,
                    media=tuple(
                        {**self.photos, **self.videos}[a]
                        for a in p.attachments
                        if a in {**self.photos, **self.videos}
                    ),
                )
                for p in self.wall
            ]

    def service_settings(self) -> dict[str, Any]:
        return {"api_url": self.url, "access_token": self.token, "group_id": self.group_id}

    def rate_limit_answer(self, request: Request, seconds: int) -> Reply:
        return self._error(request, 29)

    def revoked_answer(self, request: Request) -> Reply:
        return self._error(request, 5)

    def server_error_answer(self, request: Request, status: int) -> Reply:
        return Reply(status, "")

    def no_id_answer(self) -> Reply:
        return Reply(200, {"response": {}})

    # --- helpers for tests -----------------------------------------------------------------------

    def vk_error(self, code: int, method: str = "wall.post", times: int = 1, **extra: Any) -> None:
        """Answer the next ``times`` calls of ``method`` with VK error ``code`` (nothing is applied)."""
        if code == 14 and not extra:
            extra = {"captcha_sid": "239633676097", "captcha_img": "https://api.vk.ru/captcha.php?sid=1"}
        with self.lock:
            self._queued.append(_Queued(method, code, times, extra))

    def http_429(self, retry_after: int, method: str = "wall.post") -> None:
        """A 429 from VK's front (nginx) with Retry-After; VK itself uses error 6/9/29 in 200 bodies."""
        self.inject(
            Fault(
                "status",
                path=f"/method/{method}$",
                status=429,
                body="",
                headers={"Retry-After": str(retry_after)},
            )
        )

    def reset(self) -> None:
        """Forget posts, uploads, requests and queued faults (one server for many scenarios)."""
        with self.lock:
            self.faults.clear()
            self._queued.clear()
            self.requests.clear()
            self.applied.clear()
            self.wall.clear()
            self.photos.clear()
            self._uploads.clear()
            self._guids.clear()
            self.token_kind, self.admin_level, self.scope = "user", 3, FULL_SCOPE

    def add_post(self, text: str, date: float | None = None) -> WallPost:
        """A post made elsewhere (by hand, or long ago), for reconcile tests."""
        with self.lock:
            post = WallPost(
                self._new_id(), -self.group_id, text, [], int(date or time.time()), from_id=-self.group_id
            )
            self.wall.append(post)
            return post

    # --- wire ------------------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _error(self, request: Request, code: int, **extra: Any) -> Reply:
        params = [{"key": "method", "value": request.path.rsplit("/", 1)[-1]}, {"key": "oauth", "value": "1"}]
        params += [{"key": k, "value": v} for k, v in {**request.query, **request.form}.items()]
        error = {
            "error_code": code,
            "error_msg": ERROR_TEXTS.get(code, "Unknown error"),
            "request_params": params,
        }
        return Reply(200, {"error": {**error, **extra}})

    def _method(self, request: Request) -> Reply:
        name = request.path.rsplit("/", 1)[-1]
        if request.param("access_token") != self.token:
            return self._error(request, 5)
        if not request.param("v"):
            return self._error(request, 8, error_msg="Invalid request: v (version) is required")
        with self.lock:
            for queued in self._queued:
                if queued.method == name and queued.times > 0:
                    queued.times -= 1
                    return self._error(request, queued.code, **queued.extra)
        if self.token_kind == "group" and name in USER_ONLY:
            return self._error(request, 27)
        handler = getattr(self, "_m_" + name.replace(".", "_"), None)
        if handler is None:
            return self._error(request, 3, error_msg=f"Unknown method passed: {name}")
        result: Reply = handler(request)
        return result

    def _ok(self, response: Any, applied: bool = False) -> Reply:
        return Reply(200, {"response": response}, applied=applied)

    def _m_users_get(self, request: Request) -> Reply:
        return self._ok([] if self.token_kind == "group" else [{**self.user, "can_access_closed": True}])

    def _m_groups_getById(self, request: Request) -> Reply:
        if request.param("group_id") != str(self.group_id):
            return self._error(request, 100)
        group: dict[str, Any] = {
            "id": self.group_id,
            "name": self.group_name,
            "screen_name": f"club{self.group_id}",
            "is_closed": 0,
            "type": "group",
        }
        if self.token_kind == "user":
            group.update(is_admin=int(self.admin_level > 0), admin_level=self.admin_level, is_member=1)
        return self._ok({"groups": [group], "profiles": []})  # 5.194+ shape

    def _m_account_getAppPermissions(self, request: Request) -> Reply:
        return self._ok(self.scope)

    def _m_photos_getWallUploadServer(self, request: Request) -> Reply:
        if request.param("group_id") != str(self.group_id):
            return self._error(request, 203)
        upload_url = f"{self.url}/upload/wall?act=do_add&gid={self.group_id}&hash={secrets.token_hex(8)}"
        return self._ok({"album_id": -14, "upload_url": upload_url, "user_id": self.user["id"]})

    def _upload(self, request: Request) -> Reply:
        if "photo" not in request.files:
            return Reply(200, {"server": 856312, "photo": "[]", "hash": secrets.token_hex(8)})
        _, data, _ = request.files["photo"]
        ref, digest = secrets.token_hex(5), secrets.token_hex(16)
        with self.lock:
            self._uploads[ref] = (data, digest)
        photo = json.dumps([{"photo": f"{ref}:w", "sizes": [], "kid": secrets.token_hex(16)}])
        return Reply(200, {"server": 856312, "photo": photo, "hash": digest})

    def _m_photos_saveWallPhoto(self, request: Request) -> Reply:
        try:
            ref = json.loads(request.param("photo") or "")[0]["photo"].split(":")[0]
        except (ValueError, LookupError, AttributeError):
            return self._error(request, 100)
        with self.lock:
            data, digest = self._uploads.pop(ref, (b"", ""))
            if not digest or request.param("hash") != digest:
                return self._error(request, 121)
            photo_id = self._new_id()
            self.photos[f"photo-{self.group_id}_{photo_id}"] = data
        return self._ok(
            [{"id": photo_id, "owner_id": -self.group_id, "album_id": -14, "date": int(time.time())}]
        )

    def _m_video_save(self, request: Request) -> Reply:
        if not self.scope & VIDEO_SCOPE:
            return self._error(request, 7)
        if request.param("group_id") != str(self.group_id):
            return self._error(request, 203)
        params = {k: request.param(k) for k in ("group_id", "name", "wallpost", "is_private")}
        with self.lock:
            video_id, token = 456239000 + self._new_id(), secrets.token_hex(8)
            self._video_uploads[token] = video_id
            self.video_steps.append(("save", params))
        upload_url = f"{self.url}/upload/video?upload={token}&vkOwnerId=-{self.group_id}&vkVideoId={video_id}"
        answer = {"access_key": secrets.token_hex(9), "description": "", "owner_id": -self.group_id}
        answer.update(title=request.param("name") or "Untitled", upload_url=upload_url, video_id=video_id)
        return self._ok(answer)

    def _upload_video(self, request: Request) -> Reply:
        video_id = self._video_uploads.get(request.query.get("upload", ""))
        if video_id is None or "video_file" not in request.files:
            return Reply(200, {"error": "invalid upload"})
        _, data, _ = request.files["video_file"]
        with self.lock:
            self.videos[f"video-{self.group_id}_{video_id}"] = data
            self.video_steps.append(("upload", video_id))
        answer = {"video_hash": secrets.token_hex(9), "size": len(data), "owner_id": -self.group_id}
        return Reply(200, {**answer, "video_id": video_id})

    def _m_wall_post(self, request: Request) -> Reply:
        if request.param("owner_id") != str(-self.group_id) or request.param("from_group") != "1":
            return self._error(request, 214)
        if self.admin_level < 2:
            return self._error(request, 214)
        attachments = [a for a in (request.param("attachments") or "").split(",") if a]
        for attachment in attachments:
            if attachment.startswith("photo") and attachment not in self.photos:
                return self._error(request, 100)
            if attachment.startswith("video") and attachment not in self.videos:
                return self._error(request, 100)
        links = [a for a in attachments if _LINK.fullmatch(a)]
        if len(links) > 1:
            return self._error(request, 100)
        message = request.param("message") or ""
        in_text = _LINK.search(message)
        guid = request.param("guid") or None
        with self.lock:
            if guid and guid in self._guids:
                post_id, at = self._guids[guid]
                if time.monotonic() - at < self.guid_ttl:
                    return self._ok({"post_id": post_id})  # the same post again, nothing created
            post = WallPost(
                self._new_id(),
                -self.group_id,
                message,
                [a for a in attachments if a not in links],
                int(time.time()),
                guid,
                from_id=-self.group_id,
                link=links[0] if links else in_text.group() if in_text else None,
            )
            self.wall.append(post)
            if guid:
                self._guids[guid] = (post.id, time.monotonic())
        return self._ok({"post_id": post.id}, applied=True)

    def _m_wall_get(self, request: Request) -> Reply:
        if request.param("owner_id") != str(-self.group_id):
            return self._error(request, 15)
        count = int(request.param("count") or 20)
        offset = int(request.param("offset") or 0)
        with self.lock:
            newest = sorted(self.wall, key=lambda p: p.id, reverse=True)
        items = [
            {
                "id": p.id,
                "owner_id": p.owner_id,
                "from_id": p.from_id,
                "created_by": self.user["id"],
                "date": p.date,
                "text": p.text,
                "post_type": "post",
                "attachments": [
                    *({"type": "photo", "photo": {"id": a}} for a in p.attachments),
                    *([{"type": "link", "link": {"url": p.link, "title": p.link}}] if p.link else []),
                ],
            }
            for p in newest[offset : offset + count]
        ]
        return self._ok({"count": len(self.wall), "items": items})

    def _m_wall_getById(self, request: Request) -> Reply:
        """https://dev.vk.com/ru/method/wall.getById: ``posts=-GROUP_POST,...`` (at most 100 per call).

        Recent API versions (the pinned 5.199) answer ``{"items": [...], "profiles", "groups"}``; older ones
        answered the bare list of posts. A post that does not exist is left out of the answer.
        """
        wanted = [p for p in (request.param("posts") or "").split(",") if p]
        if not wanted or len(wanted) > 100:
            return self._error(request, 100)
        with self.lock:
            known = {f"{p.owner_id}_{p.id}": p for p in self.wall}
        items = []
        for key in wanted:
            post = known.get(key)
            if post is None:
                continue
            f = self.figures.read(key)
            items.append(
                {
                    "id": post.id,
                    "owner_id": post.owner_id,
                    "date": post.date,
                    "text": post.text,
                    "views": {"count": f["views"]},
                    "likes": {"count": f["likes"], "user_likes": 0, "can_like": 1},
                    "reposts": {"count": f["reposts"], "user_reposted": 0},
                    "comments": {"count": f["comments"], "can_post": 1},
                }
            )
        if self.getbyid_shape == "list":
            return self._ok(items)
        return self._ok({"items": items, "profiles": [], "groups": []})
