"""VK: posts to a community wall through the VK API (v5.199), via the vk-api library (dev.vk.com, read 2025).

* ``wall.post(owner_id=-GROUP, from_group=1, message, attachments, guid)`` -> ``{"post_id"}``; up to 10 media;
  only a *user* token of a community admin may call it (a community token gets error 27).
  https://dev.vk.com/ru/method/wall.post
* Photos (``photos.getWallUploadServer``, upload, ``photos.saveWallPhoto``) and videos (``video.save`` to the
  community, not posted by itself, then its ``upload_url``): ``publisher/adapters/vk_media.py``.
* ``wall.get(owner_id, offset, count<=100)`` for reconcile: a pinned post first, then newest first; posts
  carry ``text``, unix ``date``, ``is_pinned``. https://dev.vk.com/ru/method/wall.get
* ``users.get``, ``groups.getById`` and ``account.getAppPermissions`` for ``check``.

The post's link: VK builds a link snippet only from a link it can read in the post. The adapter passes the
link as the post's one external-link attachment (``attachments=...,https://...``; wall.post allows one) and
leaves the text as the composer wrote it (the VK profile keeps links out of the text, so none shows twice).

Errors come inside HTTP 200 bodies: ``{"error": {"error_code", "error_msg", "request_params"}}``
(https://dev.vk.com/ru/reference/errors); ``request_params`` may echo ``access_token``, so messages are built
from the code and message only, scrubbed. ``guid`` "prevents the same post from being sent again; valid for
one hour": ``deduplicates`` within 50 minutes, after that only ``reconcile`` can tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import requests
import vk_api
from vk_api.exceptions import ApiError, ApiHttpError

from publisher import errors
from publisher.adapters import vk_media
from publisher.adapters.base import Adapter, Answer, Posted, RemotePost
from publisher.adapters.profile import ImageLimits, NetworkProfile, VideoLimits
from publisher.adapters.published import PublishedForm
from publisher.models import AccountInfo, RemoteRef, Rendered, Snapshot
from publisher.settings import NetworkSettings, VkSettings

PROFILE = NetworkProfile(
    network="vk",
    title="VK",
    # wall.post documents no limit for ``message``; 16,384 is the figure community references use (e.g.
    # https://github.com/SevereCloud/vk-limits). Counted in UTF-16 code units, never less than VK counts.
    # The directory may set another: ``networks.vk.max_length``.
    limit=16384,
    limit_configurable=True,
    counting="characters",
    images=ImageLimits(per_post=10),  # "no more than 10 media" (wall.post): photos and videos together
    # video.save documents no size or length limit; the upload page lists AVI, MP4, 3GP, MPEG, MOV, MP3, FLV,
    # WMV (https://dev.vk.com/en/api/upload/video-in-profile): of what intake accepts, MP4 and MOV.
    video=VideoLimits(
        max_bytes=None,
        max_seconds=None,
        per_post=10,
        with_images=True,
        source="https://dev.vk.com/ru/method/video.save",
    ),
    # A wiki link to a community or a person: [club123|Name] (https://dev.vk.com/ru/reference/objects/post)
    mention_in_words="[{handle}|{words}]",
    mention="[{handle}|{name}]",
    mention_pattern=re.compile(r"\[([A-Za-z0-9_.]+)\|([^\[\]|\n]*)\]"),
    handle=re.compile(r"(?:club|public|id)\d+|(?![\d.]+\Z)[A-Za-z0-9_.]{2,32}"),
    handle_fix="write club123, public123, id123 or the screen name (the part after vk.com/)",
    # "#tag@screen_name" opens the tag inside the community (directory: community_hashtags, screen_name)
    rubric_hashtag="#{tag}@{screen_name}",
    policy_options=("community_hashtags", "screen_name"),
    #: resolve --published-as: https://vk.com/wall-123_456 (or ?w=wall-123_456), the id owner_id_post_id
    published=PublishedForm(
        hosts=("vk.com", "www.vk.com", "m.vk.com", "vk.ru", "www.vk.ru", "m.vk.ru"),
        path=re.compile(r"/wall(-?\d{1,19}_\d{1,19})"),
        query=re.compile(r"(?:^|&)w=wall(-?\d{1,19}_\d{1,19})(?:&|$)"),
        remote_id=re.compile(r"-?\d{1,19}_\d{1,19}"),
        example="https://vk.com/wall-123_456",
    ),
)
#: account.getAppPermissions bits (vk_api.enums.VkUserPermissions; dev.vk.com/ru/reference/access-rights).
SCOPE_PHOTOS, SCOPE_VIDEO, SCOPE_WALL = 1 << 2, 1 << 4, 1 << 13
LOOKUP_PAGE = 100
FIGURES = ("views", "likes", "reposts", "comments")  # wall.get's maximum count
#: rate-limit errors -> seconds: 6 per second, 9 flood control and 29 a method's daily quota name no time.
RATE_LIMITS: dict[int, float] = {6: 1.0, 9: 300.0, 29: 3600.0}
_WALL_DENIED = (
    "access denied to the community wall — the token must be a user token of a community admin "
    "with wall,photos,video scopes"
)
AUTH_ERRORS: dict[int, str] = {
    5: "the access token is invalid, expired or revoked — issue a new user token (scopes wall,photos,video,offline)",
    7: "the token lacks a permission — issue a user token with scopes wall,photos,video,offline",
    15: _WALL_DENIED,
    17: "VK wants the token's account validated — log in to vk.com with it and issue a new token",
    18: "the token's account is deleted or banned",
    27: "this is a community token; VK lets only a user token of a community admin "
    "(scopes wall,photos,video,offline) post to the wall and upload photos and videos",
    28: "application authorization failed — issue a new user token",
    37: "the token's account is banned",
    200: _WALL_DENIED,
    203: _WALL_DENIED,
    214: "posting to the community wall is denied — the token's user must be an editor or admin "
    "of the community and the wall must be open",
}
CONTENT_ERRORS: dict[int, str] = {
    **{19: "VK blocked this content", 129: "VK did not accept an image (format or size)"},
    **{219: "an advertisement post was added recently", 220: "too many recipients"},
    **{222: "VK forbids hyperlinks in this post", 224: "too many advertisement posts"},
    225: "VK Donut is disabled for this community",
}
#: VK's own server trouble: maybe applied when it answers the publishing call.
SERVER_ERRORS = frozenset({1, 10, 13, 36})


class _BoundedVkApi(vk_api.VkApi):  # type: ignore[misc]
    """vk-api without its waits: no 0.34 s pacing between calls, no error handlers (captcha, error 6 loop):
    every API error comes back as ``ApiError`` at once and the dispatcher decides about waiting."""

    RPS_DELAY = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_handlers: dict[int, Any] = {}


def _no_storage(section: object, **kwargs: object) -> dict[str, Any]:
    """vk-api keeps login sessions in a JSON file; a token-only client needs none (and reads none)."""
    return {}


class VkAdapter(Adapter):
    """Publishes to one VK community wall as the community, with a community admin's user token."""

    profile = PROFILE
    deduplicates = True  # guid, for one hour: see the module docstring
    dedup_window_seconds = 3000.0  # 50 minutes: a safety margin under VK's one hour

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        super().__init__(target, settings, session)
        assert isinstance(settings, VkSettings) and settings.access_token and settings.group_id  # checked
        self.group_id: int = settings.group_id
        token = settings.access_token.get_secret_value()
        self._api = _BoundedVkApi(
            token=token, session=self.session, api_version=settings.api_version, config=_no_storage
        )

    def describe(self) -> str:
        return f"{self.target} (VK community club{self.group_id})"

    # --- publish hooks -----------------------------------------------------------------------------

    def upload_media(self, rendered: Rendered) -> list[str]:
        """Photos and videos uploaded, in order: their ``wall.post`` attachments (``vk_media``)."""
        return vk_media.attachments(self, rendered.media)

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """One ``wall.post`` with ``guid=idempotency_key``; the link rides as an attachment (docstring)."""
        attachments = [*media, *([rendered.link] if rendered.link else [])]
        values: dict[str, Any] = {"owner_id": -self.group_id, "from_group": 1, "message": rendered.text}
        values["guid"] = idempotency_key
        if attachments:
            values["attachments"] = ",".join(attachments)
        answer = self.call("wall.post", values, unsafe=True)
        return Answer(answer, self.data_excerpt({"response": answer}), 200)

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        post_id = self.as_dict(answer.body).get("post_id")
        ok = isinstance(post_id, int) and not isinstance(post_id, bool)
        return Posted((f"-{self.group_id}_{post_id}",)) if ok else None

    def post_url(self, remote_id: str) -> str | None:
        return f"https://vk.com/wall{remote_id}"

    # --- check -------------------------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """Who the token belongs to and whether it may post to the community wall as the community."""
        users = self.call("users.get", {}, unsafe=False)
        if not users:  # users.get without ids describes the token's user; a community token has none
            return AccountInfo(
                self.target,
                f"community token (club{self.group_id})",
                can_post=False,
                detail="VK: " + AUTH_ERRORS[27] + " (error 27)",
            )
        user = users[0] if isinstance(users, list) and isinstance(users[0], dict) else {}
        who = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip() + f" (id{user.get('id')})"
        answer = self.call("groups.getById", {"group_id": self.group_id}, unsafe=False)
        groups = answer.get("groups") if isinstance(answer, dict) else answer  # 5.194+: {"groups": [...]}
        group = groups[0] if isinstance(groups, list) and groups and isinstance(groups[0], dict) else {}
        account = f"{group.get('name', '?')} (club{self.group_id}) as {who}"
        if not group.get("is_admin") or int(group.get("admin_level") or 0) < 2:
            detail = f"VK: {who} is not an editor or admin of club{self.group_id}: {_WALL_DENIED}"
            return AccountInfo(self.target, account, can_post=False, detail=detail)
        mask = self.call("account.getAppPermissions", {}, unsafe=False)
        granted = mask if isinstance(mask, int) else 0
        missing = [n for n, bit in (("wall", SCOPE_WALL), ("photos", SCOPE_PHOTOS)) if not granted & bit]
        if missing:
            detail = f"VK: the token lacks the scopes {','.join(missing)}: issue one with wall,photos,video,offline"
            return AccountInfo(self.target, account, can_post=False, detail=detail)
        if not granted & SCOPE_VIDEO:  # text and photo posts still work: report, do not refuse
            detail = (
                "VK: no video right: posts with video will fail; issue a token with wall,photos,video,offline"
            )
            return AccountInfo(self.target, account, can_post=True, detail=detail)
        detail = "VK: user token of a community admin, with the video right"
        return AccountInfo(self.target, account, can_post=True, detail=detail)

    # --- reconcile hook ----------------------------------------------------------------------------

    def recent_posts(self, since: datetime) -> Iterator[RemotePost]:
        """``wall.get`` page by page (``offset``); the base stops at the first post older than ``since``."""
        offset = 0
        while True:
            values = {"owner_id": -self.group_id, "offset": offset, "count": LOOKUP_PAGE}
            answer = self.as_dict(self.call("wall.get", values, unsafe=False))
            items = answer.get("items")
            if not isinstance(items, list) or not items:
                return
            for item in map(self.as_dict, items):
                if isinstance(item.get("id"), int):
                    created, pinned = self.parse_time(item.get("date") or 0), bool(item.get("is_pinned"))
                    yield RemotePost(
                        f"-{self.group_id}_{item['id']}", str(item.get("text", "")), created, pinned
                    )
            offset += len(items)
            if offset >= int(answer.get("count") or 0):
                return

    def read_metrics(self, refs: Sequence[RemoteRef], now: datetime) -> dict[str, Snapshot]:
        """``wall.getById(posts=-GROUP_POST,...)`` (at most 100): views, likes, reposts, comments, each a
        ``{"count"}`` (https://dev.vk.com/ru/method/wall.getById). Older API versions answered a bare list,
        5.199 ``{"items": [...]}``: both are read."""
        answer = self.call("wall.getById", {"posts": ",".join(r.remote_id for r in refs)}, unsafe=False)
        items = answer.get("items") if isinstance(answer, dict) else answer
        if not isinstance(items, list):
            raise self.error(errors.TransientError, "wall.getById answered without posts")
        found = {}
        for item in map(self.as_dict, items):
            key = f"{item.get('owner_id')}_{item.get('id')}"
            views, likes, reposts, comments = (self.count(item, n, "count") for n in FIGURES)
            raw = self.data_excerpt({k: item.get(k) for k in ("id", "owner_id", *FIGURES)})
            found[key] = Snapshot(key, now, views, likes, reposts, comments, raw=raw)
        return found

    # --- plumbing ----------------------------------------------------------------------------------

    def call(self, method: str, values: dict[str, Any], *, unsafe: bool) -> Any:
        """One API method through vk-api on our session; every failure mapped to the error tree."""
        with self.transport(unsafe=unsafe):
            try:
                body = self._api.method(method, values, raw=True)
            except requests.exceptions.JSONDecodeError:
                raise self.unsure(unsafe, f"malformed JSON in the answer to {method}") from None
            except ApiHttpError as exc:
                raise self._http_error(method, exc.response, unsafe) from None
            except ApiError as exc:
                raise self._api_error(method, exc.error, unsafe) from None
            except (KeyError, TypeError, AttributeError):  # an "error" that is not VK's shape
                raise self.unsure(unsafe, f"an answer to {method} in an unexpected shape") from None
        if not isinstance(body, dict) or "response" not in body:
            raise self.unsure(
                unsafe, f"no result in the answer to {method}", status=200, excerpt=self.data_excerpt(body)
            )
        return body["response"]

    def _http_error(self, method: str, response: requests.Response, unsafe: bool) -> errors.PublishError:
        common: dict[str, Any] = {"status": response.status_code, "excerpt": self.excerpt(response)}
        if response.status_code == 429:
            wait = self.retry_after(response.headers.get("Retry-After")) or 1.0
            return self.error(errors.RateLimited, f"too many requests ({method})", retry_after=wait, **common)
        if response.status_code >= 500:
            return self.unsure(unsafe, f"server error on {method}", **common)
        return self.error(errors.PermanentError, f"{method} was refused", **common)

    def _api_error(self, method: str, error: Any, unsafe: bool) -> errors.PublishError:
        code = int(error.get("error_code", 0)) if isinstance(error, dict) else 0
        text = self.clean_text(str(error.get("error_msg", ""))) if isinstance(error, dict) else ""
        excerpt = self.data_excerpt({"error_code": code, "error_msg": text})
        common: dict[str, Any] = {"status": 200, "code": code, "excerpt": excerpt}
        suffix = f"(error {code}: {text})"
        if code in RATE_LIMITS:
            wait = RATE_LIMITS[code]
            return self.error(
                errors.RateLimited, f"rate limit on {method} {suffix}", retry_after=wait, **common
            )
        if code in AUTH_ERRORS:
            return self.error(errors.AuthError, f"{AUTH_ERRORS[code]} {suffix}", **common)
        if code in CONTENT_ERRORS:
            return self.error(errors.ContentRejected, f"{CONTENT_ERRORS[code]} {suffix}", **common)
        if code == 14:
            return self.error(
                errors.PermanentError,
                "a captcha is required — a person must log in to vk.com with the posting account, "
                f"post once by hand (passing the captcha) and then retry this delivery {suffix}",
                **common,
            )
        if code in SERVER_ERRORS:
            return self.unsure(unsafe, f"server trouble on {method} {suffix}", **common)
        return self.error(errors.PermanentError, f"{method} was rejected {suffix}", **common)
