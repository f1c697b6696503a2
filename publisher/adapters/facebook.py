"""Facebook Page: posts through the Graph API with plain ``requests`` on the shared session.

No client library: facebook-sdk 3.1.0 (the last release) accepts Graph versions only up to 3.1 and has no
timeout; python-facebook-api would add a second HTTP stack. Calls (Graph ``settings.graph_version``):

* text / link post: ``POST /{page-id}/feed`` with ``message`` (and ``link``) -> ``{"id": "PAGEID_POSTID"}``
  https://developers.facebook.com/docs/pages-api/posts
* one image: ``POST /{page-id}/photos`` multipart ``source`` + ``message`` -> ``{"id": photo, "post_id"}``
* a video: ``POST /{page-id}/videos`` with ``description`` (simple, or resumable): ``facebook_media.py``
* several: each ``POST /{page-id}/photos`` with ``published=false`` (-> ``{"id": photo}``), then ``POST
  /{page-id}/feed`` with ``message`` and ``attached_media[i]={"media_fbid": photo}``.
  https://developers.facebook.com/docs/graph-api/photo-uploads
* check: ``GET /{page-id}?fields=id,name`` and ``GET /me?fields=id,name`` (a Page token's "me" is the Page).
* reconcile: ``GET /{page-id}/feed?fields=id,message,created_time&since=<unix time>&limit=100``, then
  ``after=<paging.cursors.after>`` while ``paging.next`` is given.
  https://developers.facebook.com/docs/graph-api/results (cursor-based pagination)

The token travels in an ``Authorization: Bearer`` header, never as the ``access_token`` parameter, so no URL
(in urllib3's DEBUG lines or a requests exception) can carry it; graph.facebook.com accepts Bearer tokens.
Errors are ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
(https://developers.facebook.com/docs/graph-api/guides/error-handling); throttling codes and usage headers:
https://developers.facebook.com/docs/graph-api/overview/rate-limiting (Page tokens: error 32). Graph has no
idempotency key: an in-doubt post is found by ``reconcile``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import requests

from publisher import errors
from publisher.adapters import facebook_media
from publisher.adapters.base import Adapter, Answer, Posted, RemotePost
from publisher.adapters.graph import GraphCodes, graph_pages, graph_success, read_each_alone
from publisher.adapters.profile import ImageLimits, NetworkProfile, VideoLimits
from publisher.adapters.published import PublishedForm
from publisher.models import AccountInfo, MediaItem, RemoteRef, Rendered, SentPost, Snapshot
from publisher.settings import FacebookSettings, NetworkSettings

PROFILE = NetworkProfile(
    network="facebook",
    title="Facebook",
    # 63,206 characters per post (https://developers.facebook.com/docs/graph-api/reference/page/feed/).
    limit=63206,
    counting="characters",
    # Graph documents no count for attached_media; 10 keeps an upload within the deadlines.
    images=ImageLimits(per_post=10),
    # /{page-id}/videos: one video a post, with the text as its description; resumable uploads take up to
    # 10 GB and 240 minutes (https://developers.facebook.com/docs/graph-api/reference/page/videos/).
    video=VideoLimits(
        max_bytes=10 * 1000 * 1000 * 1000,
        max_seconds=240 * 60,
        source="https://developers.facebook.com/docs/graph-api/reference/page/videos/",
    ),
    # A Page tag "@[page-id]" needs Meta's Page Mentioning feature, so by default mentions are the plain
    # names; the directory's networks.facebook.page_mentions turns the tags on.
    mention_in_words="{words}",
    mention="@[{handle}]",
    mention_pattern=re.compile(r"@\[(\d+)\]"),
    handle_mentions_option="page_mentions",
    policy_options=("page_mentions",),
    handle=re.compile(r"\d{5,25}"),
    handle_fix="write the numeric page id (Page > About > Page transparency)",
    #: resolve --published-as: https://www.facebook.com/<page id>/posts/<post id> or /<page id>_<post id>
    published=PublishedForm(
        hosts=(
            "facebook.com",
            "www.facebook.com",
            "m.facebook.com",
            "web.facebook.com",
            "fb.com",
            "www.fb.com",
        ),
        path=re.compile(
            r"/(?:(\d{1,20})/posts/|[\w.\-]{1,100}/posts/)?(\d{1,20}(?:_\d{1,20})?|pfbid\w{10,100})"
        ),
        remote_id=re.compile(r"\d{1,20}(?:_\d{1,20})?|pfbid\w{10,100}"),
        example="https://www.facebook.com/123/posts/456",
    ),
)
LOOKUP_PAGE = 100
#: the fields of a post's engagement (reactions, comments, shares) in one read
ENGAGEMENT = "reactions.summary(total_count),comments.summary(total_count),shares"

#: How Graph errors read for a Page (the shared codes are in ``graph.py``): 506 duplicate post, 368 blocked
#: for policy, 324 bad image file, 1609005 link could not be fetched.
CODES = GraphCodes(
    token_field="page_access_token",
    token_fix="the Page access token is invalid or has expired — create a new long-lived Page access "
    "token and set {variable}",
    permission_fix="the token may not post on this Page — it must be the Page access token of a person "
    "with the CREATE_CONTENT task, granted pages_manage_posts and pages_read_engagement",
    rejected={
        506: "refused a duplicate of a recent post — change the text before re-sending",
        368: "blocked the post as a policy violation — review the text and links",
        324: "could not read the image file — check that it is a valid JPEG/PNG/GIF",
        1609005: "could not fetch the link — check the URL",
    },
)


class FacebookAdapter(Adapter):
    """Posts to one Facebook Page as the Page, with that Page's access token."""

    profile = PROFILE

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        super().__init__(target, settings, session)
        assert isinstance(settings, FacebookSettings) and settings.page_id and settings.page_access_token
        self.page_id: str = settings.page_id
        self._token = settings.page_access_token
        self._base = f"{(settings.api_url or self.default_origin).rstrip('/')}/{settings.graph_version}"
        self.video_base = self._base.replace("//graph.facebook.com/", "//graph-video.facebook.com/")

    def describe(self) -> str:
        return f"{self.target} (Facebook Page {self.page_id})"

    # --- publish hooks -----------------------------------------------------------------------------

    def upload_media(self, rendered: Rendered) -> list[str]:
        """Several images: each uploaded unpublished first (no post exists yet, so not in doubt; at worst
        Facebook keeps an invisible unpublished photo). One image is the post itself (``send_post``)."""
        video = facebook_media.video_of(rendered)
        if video is not None:
            return facebook_media.upload_ahead(self, video)
        if len(rendered.media) < 2:
            return []
        photo_ids = []
        for item in rendered.media:
            body = self._success(self._upload(item, unsafe=False, data={"published": "false"}), unsafe=False)
            if not str(body.get("id") or ""):
                raise self.error(errors.TransientError, f"the image {item.name} came back without a photo id")
            photo_ids.append(str(body["id"]))
        return photo_ids

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """A feed post (text, link, or the uploaded photos attached), or one photo with its message."""
        message = _message(SentPost.of(rendered))
        video = facebook_media.video_of(rendered)
        if video is not None:
            response, video_id = facebook_media.send_video(self, rendered, video, media)
            body = self._success(response, unsafe=True)
            return Answer(body, self.excerpt(response), response.status_code, f"video:{video_id}")
        if len(rendered.media) == 1:
            data = {"message": message, "published": "true"}
            response = self._upload(rendered.media[0], unsafe=True, data=data)
            kind = "photo"
        else:
            data = {"message": message}
            if rendered.link and not rendered.media:
                data["link"] = rendered.link
            for i, photo_id in enumerate(media):
                data[f"attached_media[{i}]"] = json.dumps({"media_fbid": photo_id})
            response = self._call("POST", f"{self.page_id}/feed", unsafe=True, data=data)
            kind = "feed"
        body = self._success(response, unsafe=True)
        return Answer(body, self.excerpt(response), response.status_code, kind)

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        """``{"id"}`` for a feed post; ``{"id": photo, "post_id"}`` for a one-photo post."""
        if answer.kind.startswith("video:"):  # {"id"} of a simple upload; {"success"} of a resumable finish
            vid = str(answer.body.get("id") or answer.kind.removeprefix("video:"))
            ok = vid and (answer.body.get("id") or answer.body.get("success") is True)
            return Posted((vid,), url=f"https://www.facebook.com/{self.page_id}/videos/{vid}") if ok else None
        photo = answer.kind == "photo"
        post_id = answer.body.get("post_id" if photo else "id")
        if not isinstance(post_id, str | int) or not str(post_id):
            return None
        parts = [str(answer.body.get("id") or "")] if photo else media
        return Posted((str(post_id), *(p for p in parts if p)))

    def post_url(self, remote_id: str) -> str:
        """``PAGEID_POSTID`` -> its public permalink (the classic ``/{page}/posts/{post}`` form)."""
        page, sep, post = remote_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{post}" if sep else f"https://www.facebook.com/{page}"

    def _upload(self, item: MediaItem, *, unsafe: bool, data: dict[str, str]) -> requests.Response:
        with item.open() as handle:
            files = {"source": (item.name, handle, item.mime)}
            return self._call("POST", f"{self.page_id}/photos", unsafe=unsafe, data=data, files=files)

    # --- check and reconcile -----------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """Read the Page's name, then ask who the token is: a Page token's ``/me`` is that Page."""
        page = self._success(self._call("GET", self.page_id, params={"fields": "id,name"}), unsafe=False)
        me = self._success(self._call("GET", "me", params={"fields": "id,name"}), unsafe=False)
        account = f"{page.get('name') or self.page_id} ({self.page_id})"
        if str(me.get("id")) != self.page_id:
            detail = (
                f"the token belongs to {me.get('name')!s} ({me.get('id')!s}), not to this Page: "
                f"set {self.variable('page_access_token')} to the Page access token of Page {self.page_id}"
            )
            return AccountInfo(self.target, account, can_post=False, detail=detail)
        return AccountInfo(self.target, account, can_post=True, detail="Page access token of this Page")

    def texts_as_posted(self, sent: SentPost) -> list[str]:
        return [_message(sent)]

    def recent_posts(self, since: datetime) -> Iterator[RemotePost]:
        """The Page's feed since ``since``, page after page (``paging.cursors.after``)."""
        params = {"fields": "id,message,created_time", "since": str(int(since.timestamp()))}
        params["limit"] = str(LOOKUP_PAGE)

        def read(query: dict[str, str]) -> dict[str, Any]:
            return self._success(self._call("GET", f"{self.page_id}/feed", params=query), unsafe=False)

        for post in map(self.as_dict, graph_pages(read, params)):
            if post.get("id"):
                created = self.parse_time(post.get("created_time"))
                yield RemotePost(str(post["id"]), str(post.get("message") or ""), created)

    # --- metrics -----------------------------------------------------------------------------------

    metrics_batch = 50  # a multiple-id read takes at most 50 ids

    def read_metrics(self, refs: Sequence[RemoteRef], now: datetime) -> dict[str, Snapshot]:
        """One multiple-id read ``GET /?ids=...`` of reactions, comments and shares (absent when nobody
        shared), then one of post insights (impressions, reach), which need read_insights and which Meta is
        retiring: a refusal there leaves views empty with the reason. A post Graph no longer knows (error
        100) is unavailable; the rest of the batch is read. https://developers.facebook.com/docs/graph-api/
        reference/post/ , .../reference/object/reactions , .../reference/v24.0/insights"""
        ids = ",".join(r.remote_id for r in refs)
        try:
            body = self._success(
                self._call("GET", "", params={"ids": ids, "fields": ENGAGEMENT}), unsafe=False
            )
        except (errors.AuthError, errors.TransientError):
            raise
        except errors.PermanentError as exc:
            return read_each_alone(self, refs, now, exc)
        insights, why = self._insights(ids)
        found = {}
        for key, item in ((r.remote_id, body.get(r.remote_id)) for r in refs):
            if isinstance(item, dict):
                seen = insights.get(key, {})
                views, reach = seen.get("post_impressions"), seen.get("post_impressions_unique")
                shares = self.count(item, "shares", "count") if isinstance(item.get("shares"), dict) else 0
                likes, comments = (
                    self.count(item, n, "summary", "total_count") for n in ("reactions", "comments")
                )
                raw = self.data_excerpt({"engagement": item, "insights": seen})
                reason = "" if seen else why
                found[key] = Snapshot(
                    key, now, views, likes, shares, comments, views, reach, reason=reason, raw=raw
                )
        return found

    def _insights(self, ids: str) -> tuple[dict[str, dict[str, int]], str]:
        """Post insights by post id, or nothing and the reason Graph gave."""
        params = {"ids": ids, "fields": "insights.metric(post_impressions,post_impressions_unique)"}
        try:
            body = self._success(self._call("GET", "", params=params), unsafe=False)
        except errors.TransientError:
            raise
        except (
            errors.PermanentError
        ) as exc:  # AuthError included: a missing insights permission pauses nothing
            return {}, f"views: post insights are not readable with this token ({exc})"
        found: dict[str, dict[str, int]] = {}
        for post_id, item in body.items():
            for metric in map(
                self.as_dict, self.as_dict(self.as_dict(item).get("insights")).get("data") or []
            ):
                values = metric.get("values")
                value = self.count(values[-1], "value") if isinstance(values, list) and values else None
                if value is not None:
                    found.setdefault(post_id, {})[str(metric.get("name"))] = value
        return found, "views: Facebook gave no post insights"

    # --- HTTP and errors ---------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, unsafe: bool = False, base: str = "", **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        with self.transport(unsafe=unsafe):
            return self.session.request(method, f"{base or self._base}/{path}", headers=headers, **kwargs)

    def _success(self, response: requests.Response, *, unsafe: bool) -> dict[str, Any]:
        """The JSON object of a 2xx answer, or the error its status and Graph error code mean."""
        return graph_success(self, response, CODES, unsafe=unsafe)


def _message(sent: SentPost) -> str:
    """Photo posts carry no link preview, so the link goes into their text unless already there."""
    if sent.media and sent.link and sent.link not in sent.text:
        return f"{sent.text}\n\n{sent.link}" if sent.text else sent.link
    return sent.text
