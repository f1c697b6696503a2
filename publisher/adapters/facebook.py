"""Facebook Page: posts through the Graph API with plain ``requests`` on the shared session.

Why no client library: facebook-sdk 3.1.0 (the last release) accepts Graph versions only up to 3.1, which
Meta retired years ago, and has no timeout; python-facebook-api would add a second HTTP stack and hide
which calls are made. Four calls with plain ``requests`` through ``self.session`` keep every request
visible, bounded by our timeouts and deadline, and easy to fake.

Calls (Graph ``settings.graph_version``, default v24.0):

* text / link post: ``POST /{page-id}/feed`` with ``message`` (and ``link``) -> ``{"id": "PAGEID_POSTID"}``
  https://developers.facebook.com/docs/pages-api/posts ,
  https://developers.facebook.com/docs/graph-api/reference/v23.0/page/feed#publish
* one image: ``POST /{page-id}/photos`` multipart ``source`` + ``message`` -> ``{"id": photo, "post_id": ...}``
* several images: each ``POST /{page-id}/photos`` with ``published=false`` (-> ``{"id": photo}``), then
  ``POST /{page-id}/feed`` with ``message`` and ``attached_media[i]={"media_fbid": photo}``.
  https://developers.facebook.com/docs/graph-api/photo-uploads ,
  https://developers.facebook.com/docs/graph-api/reference/page/photos
* check: ``GET /{page-id}?fields=id,name`` and ``GET /me?fields=id,name`` (a Page token's "me" is the Page).
* reconcile: ``GET /{page-id}/feed?fields=id,message,created_time&since=<unix time>``.

The token travels in an ``Authorization: Bearer`` header, never as the documented ``access_token``
parameter: a header keeps it out of every URL, so neither urllib3's DEBUG lines nor a requests exception
can carry it, whether or not the log scrubber knows it. graph.facebook.com accepts Bearer tokens; Meta's
own Graph examples send them that way, e.g.
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages/ .

Errors are ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
(https://developers.facebook.com/docs/graph-api/guides/error-handling); throttling codes and the usage
headers are described in https://developers.facebook.com/docs/graph-api/overview/rate-limiting and
https://developers.facebook.com/blog/post/2016/06/16/page-level-rate-limits/ (Page tokens: error 32).

Graph has no idempotency key, so ``deduplicates`` is False: an in-doubt post is found by ``reconcile``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from publisher.adapters.base import Adapter, make_session, transport_errors
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
from publisher.settings import FacebookSettings, NetworkSettings

log = logging.getLogger(__name__)

#: how far before the attempt a found post may have been created (clocks differ).
CLOCK_SKEW = timedelta(minutes=2)
#: posts read by reconcile; a library Page publishes a handful a day, so one page of the feed suffices.
RECONCILE_LIMIT = 50
EXCERPT_LIMIT = 300
_TOKEN_VAR = "PUBLISHER_FACEBOOK__PAGE_ACCESS_TOKEN"

# Error codes, from the error-handling guide and the rate-limiting overview (module docstring).
#: 4 app, 17 user, 32 Page, 341 app limit, 613 endpoint; 800xx are Business Use Case throttles
#: (80001 "too many calls to this Page account"), which Page tokens are subject to.
#: the fields of a post's engagement (reactions, comments, shares) in one read
ENGAGEMENT = "reactions.summary(total_count),comments.summary(total_count),shares"
_RATE_SCOPES = {4: "app", 17: "account", 32: "page", 341: "app", 613: "endpoint"}
_AUTH_TOKEN = {190, 102, 2500}  # token expired / invalid / session gone
_AUTH_PERMISSION = {3, 10, *range(200, 300)}  # capability or permission missing
#: 506 duplicate post, 368 blocked for policy, 324 bad image file, 1609005 link could not be fetched.
_REJECTED = {
    506: "Facebook refused a duplicate of a recent post — change the text before re-sending",
    368: "Facebook blocked the post as a policy violation — review the text and links",
    324: "Facebook could not read the image file — check that it is a valid JPEG/PNG/GIF",
    1609005: "Facebook could not fetch the link — check the URL",
}


class FacebookAdapter(Adapter):
    """Posts to one Facebook Page as the Page, with that Page's access token."""

    network = "facebook"
    #: resolve --published-as: https://www.facebook.com/<page id>/posts/<post id> or /<page id>_<post id>
    published_form = PublishedForm(
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
    )
    default_origin = "https://graph.facebook.com"
    # Graph documents no count for attached_media; 10 keeps an upload within the deadlines and a post
    # readable, and matches what the editors use elsewhere.
    max_images = 10
    deduplicates = False
    #: a multiple-id read takes at most 50 ids
    metrics_batch = 50

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        if not isinstance(settings, FacebookSettings):
            raise ConfigurationError(f"{target}: Facebook settings expected")
        if not settings.page_id or settings.page_access_token is None:
            raise ConfigurationError(
                f"target {target} is not configured: set PUBLISHER_FACEBOOK__PAGE_ID and {_TOKEN_VAR}"
            )
        super().__init__(target, settings, session or make_session(settings, self.default_origin))
        self.page_id: str = settings.page_id
        self._token = settings.page_access_token
        # load_settings registers it too; repeat so an adapter built by hand is just as safe.
        register_secret(self._token.get_secret_value())
        origin = (settings.api_url or self.default_origin).rstrip("/")
        self._base = f"{origin}/{settings.graph_version}"

    def describe(self) -> str:
        return f"{self.target} (Facebook Page {self.page_id})"

    # --- publishing ----------------------------------------------------------------------------

    def publish(self, rendered: Rendered, idempotency_key: str) -> PublishResult:
        """Publish a text, link, one-image or several-image post. Graph has no idempotency key."""
        images = self._images(rendered.media)
        if not images:
            data = {"message": rendered.text}
            if rendered.link:
                data["link"] = rendered.link
            response = self._call("POST", f"{self.page_id}/feed", unsafe=True, data=data)
            body = self._success(response, unsafe=True)
            post_id = self._post_id(body, "id", response)
            return self._result(post_id, (post_id,), response)
        message = _photo_message(rendered)
        if len(images) == 1:
            response = self._upload(images[0], unsafe=True, data={"message": message, "published": "true"})
            body = self._success(response, unsafe=True)
            post_id = self._post_id(body, "post_id", response)
            return self._result(post_id, (post_id, str(body.get("id") or "")), response)
        # Unpublished uploads are a preparatory step: no post exists yet, so failures there are not in
        # doubt (at worst Facebook keeps an invisible unpublished photo).
        photo_ids = [self._upload_unpublished(item) for item in images]
        data = {"message": message}
        for i, photo_id in enumerate(photo_ids):
            data[f"attached_media[{i}]"] = json.dumps({"media_fbid": photo_id})
        response = self._call("POST", f"{self.page_id}/feed", unsafe=True, data=data)
        body = self._success(response, unsafe=True)
        post_id = self._post_id(body, "id", response)
        return self._result(post_id, (post_id, *photo_ids), response)

    def _images(self, media: Iterable[MediaItem]) -> list[MediaItem]:
        items = list(media)
        other = [m.name for m in items if not m.is_image]
        if other:
            raise ContentRejected(
                f"Facebook: only images can be attached by this service, not {', '.join(other)}",
                network=self.network,
                target=self.target,
            )
        if len(items) > self.max_images:
            raise ContentRejected(
                f"Facebook: at most {self.max_images} images per post, this post has {len(items)}",
                network=self.network,
                target=self.target,
            )
        return items

    def _upload(self, item: MediaItem, *, unsafe: bool, data: dict[str, str]) -> requests.Response:
        try:
            handle = item.open()
        except OSError as exc:
            raise PermanentError(
                f"Facebook: cannot read the image {item.name} ({exc.strerror}); nothing was sent",
                network=self.network,
                target=self.target,
            ) from None
        with handle:
            files = {"source": (item.name, handle, item.mime)}
            return self._call("POST", f"{self.page_id}/photos", unsafe=unsafe, data=data, files=files)

    def _upload_unpublished(self, item: MediaItem) -> str:
        response = self._upload(item, unsafe=False, data={"published": "false"})
        body = self._success(response, unsafe=False)
        photo_id = body.get("id")
        if not isinstance(photo_id, str | int) or not str(photo_id):
            raise TransientError(
                f"Facebook accepted the image {item.name} but returned no photo id; nothing was posted",
                network=self.network,
                target=self.target,
                status=response.status_code,
                excerpt=_excerpt(response),
            )
        return str(photo_id)

    def _post_id(self, body: Mapping[str, Any], key: str, response: requests.Response) -> str:
        value = body.get(key)
        if not isinstance(value, str | int) or not str(value):
            raise InDoubtError(
                f"Facebook answered without a post id ({key}); the post may have been published",
                network=self.network,
                target=self.target,
                status=response.status_code,
                excerpt=_excerpt(response),
            )
        return str(value)

    def _result(self, post_id: str, ids: tuple[str, ...], response: requests.Response) -> PublishResult:
        log.info(
            "facebook: published %s",
            post_id,
            extra={"event": "published", "target": self.target},
        )
        return PublishResult(
            remote_id=post_id,
            url=post_url(post_id),
            published_at=datetime.now(UTC),
            remote_ids=tuple(i for i in ids if i),
            excerpt=_excerpt(response),
        )

    # --- check and reconcile -------------------------------------------------------------------

    def check(self) -> AccountInfo:
        """Read the Page's name, then ask who the token is: a Page token's ``/me`` is that Page."""
        page = self._success(self._call("GET", self.page_id, params={"fields": "id,name"}), unsafe=False)
        me = self._success(self._call("GET", "me", params={"fields": "id,name"}), unsafe=False)
        name = str(page.get("name") or self.page_id)
        account = f"{name} ({self.page_id})"
        if str(me.get("id")) != self.page_id:
            return AccountInfo(
                self.target,
                account,
                can_post=False,
                detail=(
                    f"the token belongs to {me.get('name')!s} ({me.get('id')!s}), not to this Page: "
                    f"set {_TOKEN_VAR} to the Page access token of Page {self.page_id}"
                ),
            )
        return AccountInfo(self.target, account, can_post=True, detail="Page access token of this Page")

    def reconcile(
        self, rendered: Rendered, attempt_started_at: datetime, idempotency_key: str
    ) -> ReconcileResult:
        """Look for a Page post with the same text created since the attempt (minus clock skew)."""
        since = attempt_started_at - CLOCK_SKEW
        params = {
            "fields": "id,message,created_time",
            "since": str(int(since.timestamp())),
            "limit": str(RECONCILE_LIMIT),
        }
        try:
            body = self._success(self._call("GET", f"{self.page_id}/feed", params=params), unsafe=False)
        except PublishError as exc:
            return ReconcileResult(ReconcileStatus.UNKNOWN, detail=f"Facebook feed lookup failed: {exc}")
        wanted = {_normal(rendered.text)}
        if rendered.media:
            wanted.add(_normal(_photo_message(rendered)))
        posts = body.get("data")
        for post in posts if isinstance(posts, list) else []:
            if not isinstance(post, dict) or _normal(str(post.get("message") or "")) not in wanted:
                continue
            created = _parse_time(post.get("created_time"))
            if created is not None and created < since:
                continue
            post_id = str(post.get("id"))
            return ReconcileResult(ReconcileStatus.FOUND, RemoteRef(post_id, post_url(post_id)))
        return ReconcileResult(ReconcileStatus.ABSENT, detail="no Page post with this text since the attempt")

    # --- metrics -------------------------------------------------------------------------------

    def fetch_metrics(self, refs: Sequence[RemoteRef]) -> list[Snapshot]:
        """Reactions, comments and shares of Page posts, plus impressions and reach where insights allow.

        One multiple-id read ``GET /?ids=...`` (at most 50 ids) with ``reactions.summary(total_count)``,
        ``comments.summary(total_count)`` and ``shares`` (absent when nobody shared)
        (https://developers.facebook.com/docs/graph-api/reference/post/ ,
        https://developers.facebook.com/docs/graph-api/reference/object/reactions), then one for the
        ``insights`` field with ``post_impressions`` and ``post_impressions_unique``
        (https://developers.facebook.com/docs/graph-api/reference/v24.0/insights). Insights need the
        read_insights permission and Meta is retiring several post metrics ("the API returns an invalid
        metric error"): a refusal leaves views, impressions and reach empty with the reason, never fails.
        A post Graph no longer knows (error 100) is unavailable; the other posts of the batch are read.
        """
        ids = ",".join(r.remote_id for r in refs)
        try:
            body = self._success(
                self._call("GET", "", params={"ids": ids, "fields": ENGAGEMENT}), unsafe=False
            )
        except (AuthError, RateLimited, TransientError):
            raise
        except PermanentError as exc:
            if len(refs) > 1:
                return [s for r in refs for s in self.fetch_metrics([r])]
            now = datetime.now(UTC)
            return [Snapshot(refs[0].remote_id, now, available=False, reason=f"Facebook: {exc}")]
        insights, why = self._insights(ids)
        now = datetime.now(UTC)
        found = []
        for r in refs:
            item = body.get(r.remote_id)
            if not isinstance(item, dict):
                found.append(
                    Snapshot(r.remote_id, now, available=False, reason="Facebook did not return this post")
                )
                continue
            shares = item.get("shares")
            seen = insights.get(r.remote_id, {})
            found.append(
                Snapshot(
                    r.remote_id,
                    now,
                    views=seen.get("post_impressions"),
                    likes=_summary(item, "reactions"),
                    reposts=_int(shares.get("count")) if isinstance(shares, dict) else 0,
                    comments=_summary(item, "comments"),
                    impressions=seen.get("post_impressions"),
                    reach=seen.get("post_impressions_unique"),
                    reason="" if seen else why,
                    raw=scrub(json.dumps({"engagement": item, "insights": seen}, ensure_ascii=False))[:300],
                )
            )
        return found

    def _insights(self, ids: str) -> tuple[dict[str, dict[str, int]], str]:
        """Post insights by post id, or nothing and the reason Graph gave."""
        params = {"ids": ids, "fields": "insights.metric(post_impressions,post_impressions_unique)"}
        try:
            body = self._success(self._call("GET", "", params=params), unsafe=False)
        except (RateLimited, TransientError):
            raise
        except PermanentError as exc:  # AuthError included: a missing insights permission pauses nothing
            return {}, f"views: post insights are not readable with this token ({exc})"
        found: dict[str, dict[str, int]] = {}
        for post_id, item in body.items():
            data = item.get("insights", {}).get("data") if isinstance(item, dict) else None
            for metric in data if isinstance(data, list) else []:
                values = metric.get("values") if isinstance(metric, dict) else None
                value = (
                    values[-1].get("value")
                    if isinstance(values, list) and values and isinstance(values[-1], dict)
                    else None
                )
                if isinstance(value, int):
                    found.setdefault(post_id, {})[str(metric.get("name"))] = value
        return found, "views: Facebook gave no post insights"

    # --- HTTP and errors -----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, unsafe: bool = False, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        log.debug("facebook: %s /%s", method, path, extra={"target": self.target})
        with transport_errors(self.network, self.target, unsafe=unsafe):
            return self.session.request(method, f"{self._base}/{path}", headers=headers, **kwargs)

    def _success(self, response: requests.Response, *, unsafe: bool) -> dict[str, Any]:
        """The JSON object of a 2xx answer, or the error its status and Graph error code mean."""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if 200 <= response.status_code < 300 and isinstance(body, dict) and not error:
            return body
        if isinstance(error, dict):
            raise self._graph_error(response, error, unsafe=unsafe)
        # No Graph error object: a proxy's answer, or a body we cannot read.
        kwargs: dict[str, Any] = {
            "network": self.network,
            "target": self.target,
            "status": response.status_code,
            "excerpt": _excerpt(response),
        }
        if response.status_code == 429:
            wait = _retry_after(response)
            raise RateLimited(f"Facebook: too many requests{_wait_text(wait)}", retry_after=wait, **kwargs)
        if response.status_code >= 500 or 200 <= response.status_code < 300:
            what = "malformed JSON" if body is None else "an unexpected answer"
            if unsafe:
                raise InDoubtError(
                    f"Facebook answered with {what}; the post may have been published", **kwargs
                )
            raise TransientError(f"Facebook answered with {what}", **kwargs)
        raise PermanentError("Facebook refused the request", **kwargs)

    def _graph_error(
        self, response: requests.Response, error: Mapping[str, Any], *, unsafe: bool
    ) -> PublishError:
        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        said = scrub(str(error.get("message") or ""))[:200]
        kwargs: dict[str, Any] = {
            "network": self.network,
            "target": self.target,
            "status": response.status_code,
            "code": code if subcode is None else f"{code}/{subcode}",
            "excerpt": _excerpt(response),
        }
        if code in _RATE_SCOPES or (code is not None and 80000 <= code <= 80099):
            # Throttled calls "will fail" (rate-limiting overview): the post was not created.
            wait = _retry_after(response)
            return RateLimited(
                f"Facebook: request limit reached{_wait_text(wait)}: {said} (error {code})",
                retry_after=wait,
                scope=_RATE_SCOPES.get(code or 0, "page"),
                **kwargs,
            )
        if code in _AUTH_TOKEN:
            return AuthError(
                f"Facebook: the Page access token is invalid or has expired — create a new long-lived Page "
                f"access token and set {_TOKEN_VAR} (error {code}: {said})",
                **kwargs,
            )
        if code in _AUTH_PERMISSION:
            return AuthError(
                "Facebook: the token may not post on this Page — it must be the Page access token of a "
                "person with the CREATE_CONTENT task, granted pages_manage_posts and pages_read_engagement "
                f"(error {code}: {said})",
                **kwargs,
            )
        if code in _REJECTED:
            return ContentRejected(f"{_REJECTED[code]} (error {code}: {said})", **kwargs)
        if error.get("is_transient") is True or code in (1, 2) or response.status_code >= 500:
            # The guide says "wait and retry" for these but never that the request was not applied,
            # so after a publishing POST the post may exist: in doubt. Before it (reads, uploads of
            # unpublished photos) nothing was posted: transient.
            if unsafe:
                return InDoubtError(
                    f"Facebook had a temporary failure while publishing; the post may exist: {said} "
                    f"(error {code})",
                    **kwargs,
                )
            return TransientError(f"Facebook had a temporary failure: {said} (error {code})", **kwargs)
        return PermanentError(f"Facebook refused the request: {said} (error {code})", **kwargs)


# --- helpers -------------------------------------------------------------------------------------


def post_url(post_id: str) -> str:
    """``PAGEID_POSTID`` -> its public permalink (the classic ``/{page}/posts/{post}`` form)."""
    page, sep, post = post_id.partition("_")
    return f"https://www.facebook.com/{page}/posts/{post}" if sep else f"https://www.facebook.com/{post_id}"


def _photo_message(rendered: Rendered) -> str:
    """Photo posts carry no link preview, so the link goes into the text unless already there."""
    if rendered.link and rendered.link not in rendered.text:
        return f"{rendered.text}\n\n{rendered.link}" if rendered.text else rendered.link
    return rendered.text


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait: the longest ``estimated_time_to_regain_access`` (minutes) in the usage headers
    (X-Business-Use-Case-Usage maps ids to lists of usages; X-Page-Usage / X-App-Usage are one object),
    else ``Retry-After``; None when nobody said."""
    minutes: list[float] = []
    for name in ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"):
        try:
            usage = json.loads(response.headers.get(name) or "null")
        except ValueError:
            continue
        entries: list[Any] = [usage]
        if isinstance(usage, dict) and name == "X-Business-Use-Case-Usage":
            entries = [e for group in usage.values() if isinstance(group, list) for e in group]
        for entry in entries:
            value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(value, int | float) and value > 0:
                minutes.append(float(value))
    if minutes:
        return max(minutes) * 60.0
    header = response.headers.get("Retry-After", "")
    return float(header) if header.strip().isdigit() else None


def _wait_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f", wait {seconds:.0f} s" if seconds < 120 else f", wait about {seconds / 60:.0f} min"


def _excerpt(response: requests.Response) -> str:
    """Like ``base.response_excerpt`` but scrubbed before cutting, so no token prefix survives."""
    text = response.content[: EXCERPT_LIMIT * 8].decode("utf-8", "replace")
    return scrub(text)[:EXCERPT_LIMIT]


def _normal(text: str) -> str:
    return " ".join(text.split())


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _summary(item: Mapping[str, Any], name: str) -> int | None:
    edge = item.get(name)
    summary = edge.get("summary") if isinstance(edge, dict) else None
    return _int(summary.get("total_count")) if isinstance(summary, dict) else None


def _parse_time(value: Any) -> datetime | None:
    """Graph times look like ``2019-05-17T16:24:04+0000``."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
