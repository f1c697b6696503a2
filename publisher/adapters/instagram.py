"""Instagram (a Business or Creator account): content publishing through the Instagram Graph API.

Plain ``requests`` on the shared session, Graph ``settings.graph_version``, the token in an
``Authorization: Bearer`` header (never in a URL). The calls, from the content publishing guide
(https://developers.facebook.com/docs/instagram-platform/content-publishing) and the IG User references:

* before a post: ``GET /{ig-user-id}/content_publishing_limit?fields=config,quota_usage`` — Instagram caps
  API-published posts per 24-hour moving window; at the cap (or ``max_per_day``) the target waits.
  .../instagram-graph-api/reference/ig-user/content_publishing_limit
* a container: ``POST /{ig-user-id}/media`` with ``image_url`` and ``caption`` -> ``{"id"}``; a carousel:
  one container per item with ``is_carousel_item=true``, then ``media_type=CAROUSEL`` with ``children`` (at
  most 10) and the caption; a reel: ``media_type=REELS&upload_type=resumable`` -> ``{"id", "uri"}``, the
  video sent to ``uri`` (``instagram_media.py``). .../instagram-graph-api/reference/ig-user/media
* ``GET /{container-id}?fields=status_code,status`` until ``FINISHED``; then the post: ``POST /{ig-user-id}/media_publish`` with ``creation_id`` -> ``{"id": media id}`` — the one
  call that may leave a post in doubt. .../instagram-graph-api/reference/ig-user/media_publish
* its address: ``GET /{media-id}?fields=permalink``; reconcile: ``GET /{ig-user-id}/media?fields=id,caption,permalink,timestamp``, newest first, cursor paging;
  ``resolve --published-as`` with a post address: the same list with ``fields=id,permalink``, by shortcode.
* metrics: ``GET /?ids=...&fields=like_count,comments_count``, then media insights ``views``, ``reach``,
  ``shares`` (instagram_manage_insights): ``instagram_metrics.py``.
* check: ``GET /{ig-user-id}?fields=id,username``, the publishing limit, and the public media folder.
Errors: Graph's (``graph.py``) and Instagram's subcodes (``instagram_errors.py``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from publisher import errors
from publisher.adapters.base import Adapter, Answer, Posted, RemotePost
from publisher.adapters.graph import graph_pages, graph_success
from publisher.adapters.http import make_session
from publisher.adapters.instagram_errors import CODES
from publisher.adapters.instagram_media import (
    UPLOAD_ORIGIN,
    PublicFolder,
    quota,
    upload_video,
    wait_for_container,
)
from publisher.adapters.instagram_metrics import read_figures
from publisher.adapters.profile import ImageLimits, NetworkProfile, VideoLimits
from publisher.adapters.published import PostAddress, PublishedForm
from publisher.models import AccountInfo, MediaItem, RemoteRef, Rendered, Snapshot
from publisher.settings import InstagramSettings, NetworkSettings

HANDLE = r"[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?"
PROFILE = NetworkProfile(
    network="instagram",
    title="Instagram",
    # "2,200 characters maximum", at most 30 hashtags and 20 @ tags per caption:
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
    limit=2200,
    counting="characters",
    max_hashtags=30,
    max_mentions=20,
    # A carousel: up to 10 "children". IG User Media, "Image Specifications": "Format: JPEG", 8 MB at most,
    # 4:5 to 1.91:1 (a PNG would be fetched, then refused: subcode 2207005; it is refused at acceptance).
    # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
    images=ImageLimits(per_post=10, max_bytes=8 * 1024 * 1024, ratio=(0.8, 1.91), formats=("image/jpeg",)),
    # A video goes alone, as a reel uploaded to Meta: Reels specifications (MOV/MP4, 3 s-15 min, 300 MB).
    video=VideoLimits(
        max_bytes=300 * 1024 * 1024,
        max_seconds=15 * 60,
        min_seconds=3,
        containers=("mp4", "mov"),
        source="https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media",
    ),
    needs_media=True,
    links_clickable=False,  # a URL in a caption is plain text, and a container has no link field
    handle=re.compile(HANDLE),
    # Usernames may hold dots ("@fitr.bntu"), which the default pattern takes for a domain.
    mention_pattern=re.compile(rf"(?<![\w@.+\-/&#])@({HANDLE})(?![\w@]|\.\w)"),
    handle_fix="write the Instagram username without @: up to 30 Latin letters, digits, _ or .",
    published=PublishedForm(
        hosts=("instagram.com", "www.instagram.com"),
        path=re.compile(r"/(?:p|reel|reels|tv)/([\w-]{5,60})"),
        remote_id=re.compile(r"\d{5,30}"),
        example="https://www.instagram.com/p/C1a2B3c4D5e/",
        # A permalink names the media by its shortcode; the Graph API reads it by its numeric id only.
        lookup_fix="give its media id instead (digits, e.g. 17895695668004550; the Graph API Explorer lists "
        "them with GET /<ig-user-id>/media?fields=id,permalink)",
    ),
)
#: how many of the account's newest media ``resolve --published-as`` looks through (10 pages of 50)
LOOKUP_MEDIA = 500


class InstagramAdapter(Adapter):
    """Publishes pictures, carousels and reels to one Instagram professional account."""

    profile = PROFILE

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        super().__init__(target, settings, session)
        assert isinstance(settings, InstagramSettings) and settings.account_id and settings.access_token
        assert settings.media_dir and settings.media_base_url
        self.account_id: str = settings.account_id
        self._token = settings.access_token
        self._base = f"{(settings.api_url or self.default_origin).rstrip('/')}/{settings.graph_version}"
        self.folder = PublicFolder(settings.media_dir, settings.media_base_url)
        self.max_per_day = settings.max_per_day
        self._permalinks: dict[str, str] = {}

    def new_session(self) -> requests.Session:
        """The shared session, with Meta's upload host sent to ``upload_url`` too."""
        upload = str(getattr(self.settings, "upload_url", UPLOAD_ORIGIN)).rstrip("/")
        return make_session(self.settings, self.default_origin, {UPLOAD_ORIGIN: upload})

    def describe(self) -> str:
        return f"{self.target} (Instagram account {self.account_id})"

    # --- publish hooks -----------------------------------------------------------------------------

    def check_capabilities(self, rendered: Rendered) -> None:
        super().check_capabilities(rendered)
        if not rendered.media:
            raise self.error(errors.ContentRejected, "a post needs a picture or a video; nothing was sent")

    def upload_media(self, rendered: Rendered) -> list[str]:
        """The container to publish: one picture's, or a carousel's over one container per item. Never in
        doubt (no post exists yet); the public copies are removed once Instagram has processed them."""
        self._check_quota()
        copies: list[Path] = []
        try:
            if rendered.media[0].is_video:  # a reel: the composer lets a video go alone
                container = self._reel(rendered.media[0], rendered.text)
            elif len(rendered.media) == 1:
                container = self._container(rendered.media[0], copies, caption=rendered.text)
            else:
                children = [self._container(item, copies, carousel=True) for item in rendered.media]
                for child in children:
                    self._wait(child)
                fields = {"media_type": "CAROUSEL", "children": ",".join(children), "caption": rendered.text}
                container = self._create_with(fields)[0]
            self._wait(container)
        finally:
            for path in copies:
                self.folder.remove(path)
        return [container]

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """``media_publish`` of the processed container: the call that makes the post."""
        data = {"creation_id": media[0]}
        response = self._call("POST", f"{self.account_id}/media_publish", unsafe=True, data=data)
        return Answer(self._ok(response, unsafe=True), self.excerpt(response), response.status_code)

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        media_id = answer.body.get("id")
        return Posted((str(media_id),)) if isinstance(media_id, str | int) and str(media_id) else None

    def post_url(self, remote_id: str) -> str | None:
        """The media's permalink (Instagram's addresses use a shortcode, not the id): one GET, or None
        when it cannot be read now (the post exists all the same)."""
        if remote_id not in self._permalinks:
            try:
                with self.transport(unsafe=False):
                    body = self._ok(
                        self._call("GET", remote_id, params={"fields": "permalink"}), unsafe=False
                    )
            except errors.PublishError:
                return None
            self._permalinks.update(
                {remote_id: body["permalink"]} if isinstance(body.get("permalink"), str) else {}
            )
        return self._permalinks.get(remote_id)

    def _container(
        self, item: MediaItem, copies: list[Path], *, caption: str = "", carousel: bool = False
    ) -> str:
        self.budget.step(f"creating the container of {item.name}")
        path, url = self.folder.put(item)
        copies.append(path)
        fields = {"image_url": url}
        fields.update({"is_carousel_item": "true"} if carousel else {"caption": caption})
        return self._create_with(fields)[0]

    def _reel(self, item: MediaItem, caption: str) -> str:
        """A REELS container for the resumable upload, then the video sent to the ``uri`` it names."""
        fields = {"media_type": "REELS", "upload_type": "resumable", "caption": caption}
        container, body = self._create_with(fields)
        uri = body.get("uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise self.error(errors.TransientError, "the reel container came back without an upload address")
        with self.transport(unsafe=False):
            upload_video(self.session, uri, self._token.get_secret_value(), item, self.budget)
        return container

    def _create_with(self, fields: dict[str, str]) -> tuple[str, dict[str, Any]]:
        body = self._ok(self._call("POST", f"{self.account_id}/media", data=fields), unsafe=False)
        if not str(body.get("id") or ""):
            raise self.error(errors.TransientError, "a media container came back without an id")
        return str(body["id"]), body

    def _wait(self, container: str) -> None:
        def read(container_id: str) -> dict[str, Any]:
            response = self._call("GET", container_id, params={"fields": "status_code,status"})
            return self._ok(response, unsafe=False)

        wait_for_container(read, container, self.budget)

    def _quota(self) -> tuple[int, int]:
        path = f"{self.account_id}/content_publishing_limit"
        body = self._ok(self._call("GET", path, params={"fields": "config,quota_usage"}), False)
        return quota(body, self.max_per_day)

    def _check_quota(self) -> None:
        used, allowed = self._quota()
        if used >= allowed:  # a moving window: a place frees up as the oldest post of the 24 hours ages out
            message = (
                f"{used} posts were published in the last 24 hours, the most allowed is {allowed} "
                f"({self.variable('max_per_day')} or Instagram's limit); trying again in an hour"
            )
            raise self.error(errors.RateLimited, message, retry_after=3600.0, scope="account")

    # --- check and reconcile -----------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """Who the account is, how much of the publishing limit is used, and whether pictures are public."""
        params = {"fields": "id,username"}
        me = self._ok(self._call("GET", self.account_id, params=params), unsafe=False)
        account = f"@{me.get('username') or '?'} ({self.account_id})"
        used, allowed = self._quota()
        problem = self.folder.probe(self.session)
        if problem is not None:
            fix = f"serve the folder at {self.variable('media_base_url')} (see docs/install.md)"
            return AccountInfo(self.target, account, can_post=False, detail=f"{problem}: {fix}")
        detail = f"{used} of {allowed} posts in the last 24 hours; pictures at {self.folder.base_url}"
        return AccountInfo(self.target, account, can_post=used < allowed, detail=detail)

    def recent_posts(self, since: datetime) -> Iterator[RemotePost]:
        """The account's media, newest first, page after page (its caption is the text sent)."""
        for media in self._media("id,caption,permalink,timestamp"):
            if media.get("id"):
                if isinstance(media.get("permalink"), str):
                    self._permalinks[str(media["id"])] = media["permalink"]
                created = self.parse_time(media.get("timestamp"))
                yield RemotePost(str(media["id"]), str(media.get("caption") or ""), created)

    def find_published(self, address: PostAddress) -> RemoteRef | None:
        """The media whose permalink has the shortcode of ``address``, among the account's newest
        ``LOOKUP_MEDIA`` (a permalink is ``/p/<shortcode>/`` or ``/reel/<shortcode>/``; the Graph API knows
        the media by its id only, so the account's media are listed with ``fields=id,permalink``)."""
        form = self.profile.published
        for media in itertools.islice(self._media("id,permalink"), LOOKUP_MEDIA):
            link = media.get("permalink")
            if media.get("id") and isinstance(link, str) and form and form.key_of(link) == address.key:
                return RemoteRef(str(media["id"]), link)
        return None

    def _media(self, fields: str) -> Iterator[dict[str, Any]]:
        """``GET /{ig-user-id}/media``: the account's media, newest first, read page by page as needed."""

        def read(query: dict[str, str]) -> dict[str, Any]:
            return self._ok(self._call("GET", f"{self.account_id}/media", params=query), unsafe=False)

        return map(self.as_dict, graph_pages(read, {"fields": fields, "limit": "50"}))

    # --- metrics -----------------------------------------------------------------------------------

    metrics_batch = 50  # a multiple-id read takes at most 50 ids

    def read_metrics(self, refs: Sequence[RemoteRef], now: datetime) -> dict[str, Snapshot]:
        """Likes and comments in one multiple-id read, then insights (``instagram_metrics``)."""

        def read(params: dict[str, str]) -> dict[str, Any]:
            return self._ok(self._call("GET", "", params=params), unsafe=False)

        return read_figures(self, read, refs, now)

    # --- HTTP --------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, unsafe: bool = False, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        with self.transport(unsafe=unsafe):
            return self.session.request(method, f"{self._base}/{path}", headers=headers, **kwargs)

    def _ok(self, response: requests.Response, unsafe: bool) -> dict[str, Any]:
        return graph_success(self, response, CODES, unsafe=unsafe)
