"""VK: posts to a community wall through the VK API (v5.199), via the vk-api library.

Calls (dev.vk.com, read 2025):

* ``wall.post`` with ``owner_id=-GROUP``, ``from_group=1``, ``message``, ``attachments``, ``guid``; answers
  ``{"response": {"post_id": N}}``. Up to 10 media per post. Callable only with a *user* token (scope
  ``wall``); a community token gets error 27. https://dev.vk.com/ru/method/wall.post
* Photos, three steps: ``photos.getWallUploadServer(group_id)`` -> ``upload_url``; a multipart POST of the
  file in the ``photo`` field to that URL -> ``{"server", "photo", "hash"}``; ``photos.saveWallPhoto(group_id,
  photo, server, hash)`` -> ``[{"id", "owner_id", ...}]``, attached as ``photo{owner_id}_{id}``.
  https://dev.vk.com/ru/method/photos.getWallUploadServer , https://dev.vk.com/ru/method/photos.saveWallPhoto ,
  https://dev.vk.com/en/api/upload/wall-photo
* ``wall.get(owner_id=-GROUP, count=20)`` for reconcile (post objects carry ``text`` and unix ``date``).
  https://dev.vk.com/ru/method/wall.get , https://dev.vk.com/en/reference/objects/post
* ``users.get`` (no ids: the token's own user; a community token gets an empty list),
  ``groups.getById(group_id)`` (``is_admin``/``admin_level``) and ``account.getAppPermissions`` (scope bit
  mask) for ``check``. https://dev.vk.com/ru/method/groups.getById ,
  https://dev.vk.com/ru/method/account.getAppPermissions

Errors come inside HTTP 200 bodies: ``{"error": {"error_code", "error_msg", "request_params": [...]}}``
(https://dev.vk.com/ru/reference/errors). ``request_params`` may echo ``access_token``, so messages and
excerpts are built from the code and message only, and scrubbed.

Idempotency: ``guid`` on ``wall.post`` is "a unique identifier that prevents the same post from being sent
again; valid for one hour" (the wall.post page). So ``deduplicates`` is True: an in-doubt VK delivery may be
re-sent with the same idempotency key **within an hour** of the first attempt and VK keeps one post. After
that window only ``reconcile`` can tell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import vk_api
from vk_api.exceptions import ApiError, ApiHttpError

from publisher.adapters.base import Adapter, json_body, response_excerpt, transport_errors
from publisher.adapters.published import PublishedForm
from publisher.errors import (
    AuthError,
    ConfigurationError,
    ContentRejected,
    InDoubtError,
    PermanentError,
    PublishError,
    RateLimited,
    TransientError,
)
from publisher.models import (
    AccountInfo,
    MediaItem,
    PublishResult,
    ReconcileResult,
    ReconcileStatus,
    RemoteRef,
    Rendered,
    Snapshot,
)
from publisher.ops.redact import register_secret, scrub
from publisher.settings import NetworkSettings, VkSettings

#: vk-api 11.x hard-codes this origin (vk_api/vk_api.py, VkApi.method).
VK_ORIGIN = "https://api.vk.ru"
#: how far before the attempt a found post may have been created (clocks differ).
CLOCK_SKEW = timedelta(minutes=2)
RECONCILE_COUNT = 20
#: account.getAppPermissions bits (vk_api.enums.VkUserPermissions; dev.vk.com/ru/reference/access-rights).
SCOPE_PHOTOS, SCOPE_WALL = 1 << 2, 1 << 13

#: VK rate-limit errors -> seconds to wait. 6 is a per-second limit (3 req/s for a user token): a second
#: is enough. 9 "flood control" (too many identical actions) and 29 "rate limit reached" (a method's
#: quota, counted per day) name no time; we wait 5 minutes and an hour so retries do not hammer VK.
RATE_LIMITS: dict[int, float] = {6: 1.0, 9: 300.0, 29: 3600.0}
_WALL_DENIED = (
    "access denied to the community wall — the token must be a user token of a community admin "
    "with wall,photos scopes"
)
AUTH_ERRORS: dict[int, str] = {
    5: "the access token is invalid, expired or revoked — issue a new user token (scopes wall,photos,offline)",
    7: "the token lacks a permission — issue a user token with scopes wall,photos,offline",
    15: _WALL_DENIED,
    17: "VK wants the token's account validated — log in to vk.com with it and issue a new token",
    18: "the token's account is deleted or banned",
    27: "this is a community token; VK lets only a user token of a community admin "
    "(scopes wall,photos,offline) post to the wall and upload photos",
    28: "application authorization failed — issue a new user token",
    37: "the token's account is banned",
    200: _WALL_DENIED,
    203: _WALL_DENIED,
    214: "posting to the community wall is denied — the token's user must be an editor or admin "
    "of the community and the wall must be open",
}
CONTENT_ERRORS: dict[int, str] = {
    19: "VK blocked this content",
    129: "VK did not accept an image (format or size)",
    219: "an advertisement post was added recently",
    220: "too many recipients",
    222: "VK forbids hyperlinks in this post",
    224: "too many advertisement posts",
    225: "VK Donut is disabled for this community",
}
#: VK's own server trouble: maybe applied when it answers the publishing call.
SERVER_ERRORS = frozenset({1, 10, 13, 36})
_TOKEN_IN_TEXT = re.compile(r"(access_token[=\"': ]+)[^&\"'\s,}]+")
_WS = re.compile(r"\s+")


class _BoundedVkApi(vk_api.VkApi):  # type: ignore[misc]
    """vk-api without its waits: no 0.34 s pacing between calls, no error handlers.

    By default vk-api sleeps ``RPS_DELAY`` before each call, retries error 6 after a 0.5 s sleep in an
    unbounded loop and hands captchas to a handler. Here every API error comes back as ``ApiError`` at
    once, so the dispatcher decides about waiting and the daemon never blocks on a captcha.
    """

    RPS_DELAY = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_handlers: dict[int, Any] = {}


def _no_storage(section: object, **kwargs: object) -> dict[str, Any]:
    """vk-api keeps login sessions in a JSON file; a token-only client needs none (and reads none)."""
    return {}


class VkAdapter(Adapter):
    """Publishes to one VK community wall as the community, with a community admin's user token."""

    network = "vk"
    #: resolve --published-as: https://vk.com/wall-123_456 (or ?w=wall-123_456), the id as wall.post's owner_id_post_id
    published_form = PublishedForm(
        hosts=("vk.com", "www.vk.com", "m.vk.com", "vk.ru", "www.vk.ru", "m.vk.ru"),
        path=re.compile(r"/wall(-?\d{1,19}_\d{1,19})"),
        query=re.compile(r"(?:^|&)w=wall(-?\d{1,19}_\d{1,19})(?:&|$)"),
        remote_id=re.compile(r"-?\d{1,19}_\d{1,19}"),
        example="https://vk.com/wall-123_456",
    )
    default_origin = VK_ORIGIN
    max_images = 10  # "no more than 10 media" (wall.post page)
    deduplicates = True  # guid, for one hour: see the module docstring
    dedup_window_seconds = 3000.0  # 50 minutes: a safety margin under VK's one hour

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        super().__init__(target, settings, session)
        if not isinstance(settings, VkSettings) or settings.access_token is None or not settings.group_id:
            raise ConfigurationError(f"target {target}: VK needs access_token and group_id")
        token = settings.access_token.get_secret_value()
        register_secret(token)  # load_settings does this too; a hand-built settings object may not
        self.group_id: int = settings.group_id
        self._api = _BoundedVkApi(
            token=token, session=self.session, api_version=settings.api_version, config=_no_storage
        )

    def describe(self) -> str:
        return f"{self.target} (VK community club{self.group_id})"

    # --- publish ---------------------------------------------------------------------------------

    def publish(self, rendered: Rendered, idempotency_key: str) -> PublishResult:
        """Upload the images, then one ``wall.post`` with ``guid=idempotency_key``.

        A failed upload is not in doubt (no post exists yet). Raises the errors of ``Adapter.publish``.
        """
        images = [m for m in rendered.media if m.is_image]
        if len(images) != len(rendered.media):
            raise ContentRejected(
                "VK: only images can be attached by this service", network=self.network, target=self.target
            )
        if len(images) > self.max_images:
            raise ContentRejected(
                f"VK: {len(images)} images, at most {self.max_images} per post",
                network=self.network,
                target=self.target,
            )
        attachments = self._upload_photos(images)
        if rendered.link:
            attachments.append(rendered.link)  # one external link may be attached (wall.post page)
        values: dict[str, Any] = {
            "owner_id": -self.group_id,
            "from_group": 1,
            "message": rendered.text,
            "guid": idempotency_key,
        }
        if attachments:
            values["attachments"] = ",".join(attachments)
        answer = self._call("wall.post", values, unsafe=True)
        post_id = answer.get("post_id") if isinstance(answer, dict) else None
        if not isinstance(post_id, int) or isinstance(post_id, bool):
            raise InDoubtError(
                "VK answered wall.post without a post id; the post may exist",
                network=self.network,
                target=self.target,
                status=200,
                excerpt=_excerpt(answer),
            )
        ref = self._ref(post_id)
        return PublishResult(
            remote_id=ref.remote_id,
            url=ref.url,
            published_at=datetime.now(UTC),
            remote_ids=(ref.remote_id,),
            excerpt=_excerpt({"response": answer}),
        )

    def _upload_photos(self, images: list[MediaItem]) -> list[str]:
        if not images:
            return []
        server = self._call("photos.getWallUploadServer", {"group_id": self.group_id}, unsafe=False)
        upload_url = server.get("upload_url") if isinstance(server, dict) else None
        if not isinstance(upload_url, str):
            raise TransientError(
                "VK gave no photo upload address",
                network=self.network,
                target=self.target,
                excerpt=_excerpt(server),
            )
        attachments: list[str] = []
        for item in images:
            uploaded = self._upload_one(upload_url, item)
            saved = self._call(
                "photos.saveWallPhoto",
                {"group_id": self.group_id, **{k: uploaded[k] for k in ("photo", "server", "hash")}},
                unsafe=False,
            )
            try:
                photo = saved[0]
                attachments.append(f"photo{int(photo['owner_id'])}_{int(photo['id'])}")
            except (LookupError, TypeError, ValueError):
                raise TransientError(
                    "VK saved a photo but returned no id", network=self.network, target=self.target
                ) from None
        return attachments

    def _upload_one(self, upload_url: str, item: MediaItem) -> dict[str, Any]:
        """POST one file to VK's upload server (field ``photo``, multipart). Not the publishing call."""
        with transport_errors(self.network, self.target, unsafe=False), item.open() as fh:
            response = self.session.post(upload_url, files={"photo": (item.name, fh, item.mime)})
        if not response.ok:
            cls: type[PublishError] = TransientError if response.status_code >= 500 else PermanentError
            raise cls(
                f"VK photo upload server refused {item.name}",
                network=self.network,
                target=self.target,
                status=response.status_code,
                excerpt=response_excerpt(response),
            )
        body = json_body(response, self.network, self.target, unsafe=False)
        if not isinstance(body, dict) or "error" in body or body.get("photo") in (None, "", "[]"):
            # The upload server answers {"photo": "[]"} (or an error) when it could not read the image.
            raise ContentRejected(
                f"VK did not accept the image {item.name} (JPG, PNG or GIF up to 50 MB)",
                network=self.network,
                target=self.target,
                excerpt=response_excerpt(response),
            )
        return body

    # --- check -----------------------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """Who the token belongs to and whether it may post to the community wall as the community."""
        users = self._call("users.get", {}, unsafe=False)
        if not users:
            # users.get without ids describes the token's user; a community token has none.
            return AccountInfo(
                self.target,
                f"community token (club{self.group_id})",
                can_post=False,
                detail="VK: " + AUTH_ERRORS[27] + " (error 27)",
            )
        user = users[0] if isinstance(users, list) and isinstance(users[0], dict) else {}
        who = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip() + f" (id{user.get('id')})"
        answer = self._call("groups.getById", {"group_id": self.group_id}, unsafe=False)
        groups = answer.get("groups") if isinstance(answer, dict) else answer  # 5.194+: {"groups": [...]}
        group = groups[0] if isinstance(groups, list) and groups and isinstance(groups[0], dict) else {}
        account = f"{group.get('name', '?')} (club{self.group_id}) as {who}"
        if not group.get("is_admin") or int(group.get("admin_level") or 0) < 2:
            return AccountInfo(
                self.target,
                account,
                can_post=False,
                detail=f"VK: {who} is not an editor or admin of club{self.group_id}: {_WALL_DENIED}",
            )
        mask = self._call("account.getAppPermissions", {}, unsafe=False)
        granted = mask if isinstance(mask, int) else 0
        missing = [n for n, bit in (("wall", SCOPE_WALL), ("photos", SCOPE_PHOTOS)) if not granted & bit]
        if missing:
            return AccountInfo(
                self.target,
                account,
                can_post=False,
                detail=f"VK: the token lacks the scopes {','.join(missing)}: issue one with wall,photos,offline",
            )
        return AccountInfo(self.target, account, can_post=True, detail="VK: user token of a community admin")

    # --- reconcile -------------------------------------------------------------------------------

    def reconcile(
        self, rendered: Rendered, attempt_started_at: datetime, idempotency_key: str
    ) -> ReconcileResult:
        """Look for the post among the wall's latest posts: same text, created since the attempt.

        Within an hour of the attempt a re-send with the same guid is also safe (``deduplicates``).
        """
        try:
            answer = self._call(
                "wall.get", {"owner_id": -self.group_id, "count": RECONCILE_COUNT}, unsafe=False
            )
            items = answer["items"]
        except PublishError as exc:
            return ReconcileResult(ReconcileStatus.UNKNOWN, detail=f"VK lookup failed: {exc}")
        except (KeyError, TypeError):
            return ReconcileResult(ReconcileStatus.UNKNOWN, detail="VK wall.get answered without items")
        wanted = _normal(rendered.text)
        since = (attempt_started_at - CLOCK_SKEW).timestamp()
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                continue
            if _normal(str(item.get("text", ""))) == wanted and float(item.get("date") or 0) >= since:
                return ReconcileResult(ReconcileStatus.FOUND, self._ref(item["id"]))
        return ReconcileResult(
            ReconcileStatus.ABSENT, detail=f"not among the last {len(items)} posts of club{self.group_id}"
        )

    # --- metrics -------------------------------------------------------------------------------

    def fetch_metrics(self, refs: Sequence[RemoteRef]) -> list[Snapshot]:
        """``wall.getById`` with ``posts=-GROUP_POST,...`` (at most 100): views, likes, reposts, comments.

        https://dev.vk.com/ru/method/wall.getById ; the post object's ``views``/``likes``/``reposts``/
        ``comments`` each carry ``count`` (https://dev.vk.com/en/reference/objects/post). Older API versions
        answered a bare list of posts, recent ones (the 5.199 pinned here) ``{"items": [...]}``: both are
        read. A post missing from the answer (deleted, or hidden from the token) is unavailable.
        """
        answer = self._call("wall.getById", {"posts": ",".join(r.remote_id for r in refs)}, unsafe=False)
        items = answer.get("items") if isinstance(answer, dict) else answer
        if not isinstance(items, list):
            raise TransientError(
                "VK answered wall.getById without posts", network=self.network, target=self.target
            )
        now = datetime.now(UTC)
        found: dict[str, Snapshot] = {}
        for item in items:
            if not isinstance(item, dict):
                continue
            key = f"{item.get('owner_id')}_{item.get('id')}"
            found[key] = Snapshot(
                key,
                now,
                views=_count(item, "views"),
                likes=_count(item, "likes"),
                reposts=_count(item, "reposts"),
                comments=_count(item, "comments"),
                raw=_excerpt(
                    {k: item.get(k) for k in ("id", "owner_id", "views", "likes", "reposts", "comments")}
                ),
            )
        gone = "VK did not return this post (deleted, or hidden from the token)"
        return [
            found.get(r.remote_id) or Snapshot(r.remote_id, now, available=False, reason=gone) for r in refs
        ]

    # --- plumbing --------------------------------------------------------------------------------

    def _ref(self, post_id: int) -> RemoteRef:
        remote_id = f"-{self.group_id}_{post_id}"
        return RemoteRef(remote_id, f"https://vk.com/wall{remote_id}")

    def _call(self, method: str, values: dict[str, Any], *, unsafe: bool) -> Any:
        """One API method through vk-api on our session; every failure mapped to the error tree."""
        with transport_errors(self.network, self.target, unsafe=unsafe):
            try:
                body = self._api.method(method, values, raw=True)
            except requests.exceptions.JSONDecodeError:
                raise (InDoubtError if unsafe else TransientError)(
                    f"VK answered {method} with malformed JSON", network=self.network, target=self.target
                ) from None
            except ApiHttpError as exc:
                raise self._http_error(method, exc.response, unsafe) from None
            except ApiError as exc:
                raise self._api_error(method, exc.error, unsafe) from None
            except (KeyError, TypeError, AttributeError):  # an "error" that is not VK's shape
                raise (InDoubtError if unsafe else TransientError)(
                    f"VK answered {method} in an unexpected shape", network=self.network, target=self.target
                ) from None
        if not isinstance(body, dict) or "response" not in body:
            raise (InDoubtError if unsafe else TransientError)(
                f"VK answered {method} without a result",
                network=self.network,
                target=self.target,
                status=200,
                excerpt=_excerpt(body),
            )
        return body["response"]

    def _http_error(self, method: str, response: requests.Response, unsafe: bool) -> PublishError:
        status = response.status_code
        common: dict[str, Any] = {
            "network": self.network,
            "target": self.target,
            "status": status,
            "excerpt": response_excerpt(response),
        }
        if status == 429:
            return RateLimited(
                f"VK: too many requests ({method})", retry_after=_retry_after(response) or 1.0, **common
            )
        if status >= 500:
            if unsafe:
                return InDoubtError(f"VK server error on {method}; the post may exist", **common)
            return TransientError(f"VK server error on {method}", **common)
        return PermanentError(f"VK refused {method}", **common)

    def _api_error(self, method: str, error: Any, unsafe: bool) -> PublishError:
        code = int(error.get("error_code", 0)) if isinstance(error, dict) else 0
        text = scrub(str(error.get("error_msg", ""))) if isinstance(error, dict) else ""
        text = _TOKEN_IN_TEXT.sub(r"\1***", text)
        common: dict[str, Any] = {
            "network": self.network,
            "target": self.target,
            "status": 200,
            "code": code,
            "excerpt": _excerpt({"error_code": code, "error_msg": text}),
        }
        suffix = f"(error {code}: {text})"
        if code in RATE_LIMITS:
            return RateLimited(
                f"VK: rate limit on {method} {suffix}", retry_after=RATE_LIMITS[code], **common
            )
        if code in AUTH_ERRORS:
            return AuthError(f"VK: {AUTH_ERRORS[code]} {suffix}", **common)
        if code in CONTENT_ERRORS:
            return ContentRejected(f"VK: {CONTENT_ERRORS[code]} {suffix}", **common)
        if code == 14:
            return PermanentError(
                "VK: a captcha is required — a person must log in to vk.com with the posting account, "
                f"post once by hand (passing the captcha) and then retry this delivery {suffix}",
                **common,
            )
        if code in SERVER_ERRORS:
            if unsafe:
                return InDoubtError(f"VK: server trouble on {method}; the post may exist {suffix}", **common)
            return TransientError(f"VK: server trouble on {method} {suffix}", **common)
        return PermanentError(f"VK rejected {method} {suffix}", **common)


def _count(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    count = value.get("count") if isinstance(value, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _excerpt(data: Any, limit: int = 300) -> str:
    """A short, secret-free JSON piece for the operator (never ``request_params``)."""
    try:
        text = json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(data)
    return _TOKEN_IN_TEXT.sub(r"\1***", scrub(text))[:limit]


def _normal(text: str) -> str:
    return _WS.sub(" ", text).strip()
