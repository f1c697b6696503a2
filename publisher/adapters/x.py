"""X (Twitter): posts through the v2 API with OAuth 1.0a user context, via tweepy.

Calls (docs.x.com, read 2025):

* ``POST /2/media/upload`` — one simple (non-chunked) upload per image, multipart ``media`` plus
  ``media_category=tweet_image``; answers ``{"data": {"id": ..., "media_key": ...}}``. tweepy 4.17 has no
  v2 media upload, so we sign and send it ourselves on the same session.
  https://docs.x.com/x-api/media/upload-media ,
  https://docs.x.com/x-api/media/quickstart/best-practices (up to 4 photos per post)
* ``POST /2/tweets`` — ``{"text": ..., "media": {"media_ids": [...]}}``; answers 201
  ``{"data": {"id": ..., "text": ...}}``. https://docs.x.com/x-api/posts/create-or-edit-post
* ``GET /2/users/me`` (check) and ``GET /2/users/:id/tweets`` with ``start_time`` (reconcile).
  https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id

Errors come as RFC 7807 problems ``{"title", "detail", "type", "status"}`` or ``{"errors": [...]}``
(https://docs.x.com/x-api/fundamentals/response-codes-and-errors). Rate limits are announced on every
answer by ``x-rate-limit-limit/-remaining/-reset`` (reset in epoch seconds); posting also has daily
``x-user-limit-24hour-*`` / ``x-app-limit-24hour-*`` counters (https://docs.x.com/fundamentals/rate-limits).

X has no idempotency key, so ``deduplicates`` is False: an in-doubt post is found again by
``reconcile`` (the account's recent posts), never by re-sending.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy

from publisher.adapters.base import (
    Adapter,
    json_body,
    make_session,
    response_excerpt,
    transport_errors,
)
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
from publisher.ops.redact import scrub
from publisher.settings import NetworkSettings, XSettings

#: tweepy 4.17 hard-codes this host (tweepy/client.py, BaseClient.request).
TWEEPY_ORIGIN = "https://api.twitter.com"
#: how far before the attempt a found post may have been created (clocks differ).
CLOCK_SKEW = timedelta(minutes=2)
#: pages of the timeline read by reconcile (100 posts each) before giving up.
RECONCILE_PAGES = 3
_URL = re.compile(r"https?://\S+")
_DUPLICATE = "duplicate content"


class XAdapter(Adapter):
    """Posts to one X account. ``username`` in the settings makes the public URLs pretty."""

    network = "x"
    #: resolve --published-as: https://x.com/<user>/status/<id> (twitter.com too), the id a post's digits
    published_form = PublishedForm(
        hosts=("x.com", "www.x.com", "mobile.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"),
        path=re.compile(r"/(?:[A-Za-z0-9_]{1,15}|i/web|i)/status/(\d{1,19})"),
        remote_id=re.compile(r"\d{1,19}"),
        example="https://x.com/bntu_library/status/1234567890123456789",
    )
    default_origin = "https://api.x.com"
    max_images = 4  # "You may attach up to 4 photos" (media best practices, see module docstring)
    deduplicates = False

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        if not isinstance(settings, XSettings):
            raise ConfigurationError(f"target {target}: X needs the [x] settings section")
        missing = settings.credentials_missing()
        if missing:
            raise ConfigurationError(f"target {target}: X credentials missing: {', '.join(missing)}")
        self.origin = settings.api_url.rstrip("/") or self.default_origin
        # tweepy calls api.twitter.com; we send everything to api_url (api.x.com in production, the
        # fake in tests), whichever of the two hosts a request was built for.
        self.rewrite = {o: self.origin for o in (TWEEPY_ORIGIN, self.default_origin) if o != self.origin}
        super().__init__(
            target, settings, session or make_session(settings, self.default_origin, self.rewrite)
        )
        _rewrite_before_signing(self.session, self.rewrite)
        self.username = (settings.username or "").lstrip("@") or None
        keys = (settings.api_key, settings.api_secret, settings.access_token, settings.access_token_secret)
        self._keys = tuple(k.get_secret_value() if k else "" for k in keys)
        self.client = tweepy.Client(
            consumer_key=self._keys[0],
            consumer_secret=self._keys[1],
            access_token=self._keys[2],
            access_token_secret=self._keys[3],
            # Raw responses: we parse JSON ourselves so malformed bodies map to our error tree.
            return_type=requests.Response,
            # Never sleep inside an adapter: a 429 goes back to the dispatcher as RateLimited.
            wait_on_rate_limit=False,
        )
        self.client.session = self.session

    # --- contract ----------------------------------------------------------------------------------

    def publish(self, rendered: Rendered, idempotency_key: str) -> PublishResult:
        text = rendered.text
        if rendered.link and rendered.link not in text:
            # X has no separate link field: a URL in the text is what makes the link card.
            text = f"{text}\n{rendered.link}" if text else rendered.link
        self._check_media(rendered.media)
        media_ids = [self._upload(item) for item in rendered.media]
        with transport_errors(self.network, self.target, unsafe=True):
            try:
                response = self.client.create_tweet(text=text, media_ids=media_ids or None)
            except tweepy.HTTPException as exc:
                raise self._error(exc.response, "post", unsafe=True, content=True) from None
        body = json_body(response, self.network, self.target, unsafe=True)
        tweet_id = _data(body).get("id")
        if not tweet_id:
            raise InDoubtError(
                "X: the post was accepted but the answer has no post id; it may have been published",
                network=self.network,
                target=self.target,
                status=response.status_code,
                excerpt=response_excerpt(response),
            )
        tweet_id = str(tweet_id)
        return PublishResult(
            remote_id=tweet_id,
            url=self.post_url(tweet_id),
            published_at=datetime.now(UTC),
            remote_ids=(tweet_id,),
            excerpt=response_excerpt(response),
        )

    def check(self) -> AccountInfo:
        response, user = self._me()
        handle = f"@{user.get('username', '?')}"
        # With OAuth 1.0a X reports the token's permission in x-access-level (read / read-write /
        # read-write-directmessages): https://developer.x.com/en/docs/apps/app-permissions
        level = response.headers.get("x-access-level", "")
        can_post = "write" in level if level else True
        details = [f"user id {user.get('id', '?')}"]
        if level:
            details.append(f"access level {level}")
        if not can_post:
            details.append("the app has no write permission: set 'Read and write' and regenerate the token")
        if self.username and self.username.lower() != str(user.get("username", "")).lower():
            details.append(f"settings say @{self.username}: post URLs will point to the wrong account")
        return AccountInfo(self.target, handle, can_post=can_post, detail="; ".join(details))

    def reconcile(
        self, rendered: Rendered, attempt_started_at: datetime, idempotency_key: str
    ) -> ReconcileResult:
        """Look through the account's posts since the attempt for one with the same text.

        X answers with the stored text, which differs from what we sent: every URL is replaced by a
        t.co link and ``&``, ``<``, ``>`` come HTML-escaped. So both sides are compared with URLs
        removed, entities unescaped and whitespace collapsed.
        """
        if attempt_started_at.tzinfo is None:
            attempt_started_at = attempt_started_at.replace(tzinfo=UTC)
        since = attempt_started_at - CLOCK_SKEW
        wanted = _normalise(rendered.text)
        try:
            _, user = self._me()
            found = self._find_post(str(user.get("id", "")), since, wanted)
        except PublishError as exc:
            return ReconcileResult(ReconcileStatus.UNKNOWN, detail=f"X lookup failed: {exc}")
        if found is None:
            return ReconcileResult(
                ReconcileStatus.ABSENT, detail=f"no post with this text since {since:%H:%M:%S}Z"
            )
        return ReconcileResult(
            ReconcileStatus.FOUND, RemoteRef(found, self.post_url(found)), detail="found in the timeline"
        )

    def describe(self) -> str:
        return f"{self.target} (@{self.username})" if self.username else f"{self.target} (X account)"

    def post_url(self, tweet_id: str) -> str:
        if self.username:
            return f"https://x.com/{self.username}/status/{tweet_id}"
        return f"https://x.com/i/web/status/{tweet_id}"

    # --- calls -------------------------------------------------------------------------------------

    def _check_media(self, media: tuple[MediaItem, ...]) -> None:
        """Refuse before any call what X would refuse after the uploads."""
        if len(media) > self.max_images:
            raise ContentRejected(
                f"X: a post carries at most {self.max_images} images, this one has {len(media)}",
                network=self.network,
                target=self.target,
            )
        for item in media:
            if not item.is_image:
                raise ContentRejected(
                    f"X: {item.name} is {item.mime}; only images are supported (videos need the chunked "
                    "upload, which this service does not do)",
                    network=self.network,
                    target=self.target,
                )

    def _upload(self, item: MediaItem) -> str:
        """Upload one image; a failure here is never in doubt for the post (not yet sent)."""
        try:
            data = item.read()
        except OSError as exc:
            raise PermanentError(
                f"X: cannot read the image {item.name} ({exc.strerror})",
                network=self.network,
                target=self.target,
            ) from None
        auth = tweepy.OAuth1UserHandler(*self._keys).apply_auth()
        with transport_errors(self.network, self.target, unsafe=False):
            response = self.session.post(
                f"{self.origin}/2/media/upload",
                files={"media": (item.name, data, item.mime)},
                data={"media_category": "tweet_image"},
                auth=auth,
            )
        if not response.ok:
            raise self._error(response, f"image {item.name}", unsafe=False, content=True)
        media_id = _data(json_body(response, self.network, self.target, unsafe=False)).get("id")
        if not media_id:
            raise TransientError(
                f"X: the upload of {item.name} returned no media id",
                network=self.network,
                target=self.target,
                status=response.status_code,
                excerpt=response_excerpt(response),
            )
        return str(media_id)

    def _me(self) -> tuple[requests.Response, dict[str, Any]]:
        with transport_errors(self.network, self.target, unsafe=False):
            try:
                response = self.client.get_me(user_auth=True)
            except tweepy.HTTPException as exc:
                raise self._error(exc.response, "account check", unsafe=False) from None
        user = _data(json_body(response, self.network, self.target, unsafe=False))
        if not user.get("id"):
            raise TransientError(
                "X: the account answer has no user id",
                network=self.network,
                target=self.target,
                excerpt=response_excerpt(response),
            )
        return response, user

    def _find_post(self, user_id: str, since: datetime, wanted: str) -> str | None:
        """The id of the oldest post since ``since`` whose normalised text is ``wanted``."""
        token: str | None = None
        matches: list[tuple[str, str]] = []
        for _ in range(RECONCILE_PAGES):
            params: dict[str, Any] = {
                "start_time": since,
                "max_results": 100,
                "tweet_fields": ["created_at"],
                "exclude": ["retweets", "replies"],
            }
            if token:
                params["pagination_token"] = token
            with transport_errors(self.network, self.target, unsafe=False):
                try:
                    response = self.client.get_users_tweets(user_id, user_auth=True, **params)
                except tweepy.HTTPException as exc:
                    raise self._error(exc.response, "timeline lookup", unsafe=False) from None
            body = json_body(response, self.network, self.target, unsafe=False)
            posts = body.get("data") if isinstance(body, dict) else None
            for post in posts if isinstance(posts, list) else []:
                if not isinstance(post, dict) or _normalise(str(post.get("text", ""))) != wanted:
                    continue
                created = _parse_time(post.get("created_at"))
                if created is None or created >= since:
                    matches.append((str(post.get("created_at", "")), str(post.get("id"))))
            meta = body.get("meta") if isinstance(body, dict) else None
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                break
        return min(matches)[1] if matches else None

    # --- metrics -------------------------------------------------------------------------------

    def fetch_metrics(self, refs: Sequence[RemoteRef]) -> list[Snapshot]:
        """``GET /2/tweets?ids=...`` (at most 100) with ``tweet.fields=public_metrics``, user context.

        https://docs.x.com/x-api/posts/get-posts-by-ids ; ``public_metrics`` carries ``impression_count``
        (what X shows as views), ``like_count``, ``retweet_count``, ``quote_count`` and ``reply_count``
        (https://docs.x.com/x-api/fundamentals/data-dictionary). A repost here counts retweets and quotes.
        An id X cannot find comes back in ``errors`` ("Not Found Error"): that post is unavailable.
        """
        with transport_errors(self.network, self.target, unsafe=False):
            try:
                response = self.client.get_tweets(
                    [r.remote_id for r in refs], tweet_fields=["public_metrics"], user_auth=True
                )
            except tweepy.HTTPException as exc:
                raise self._error(exc.response, "metrics lookup", unsafe=False) from None
        body = json_body(response, self.network, self.target, unsafe=False)
        posts = body.get("data") if isinstance(body, dict) else None
        now = datetime.now(UTC)
        found: dict[str, Snapshot] = {}
        for post in posts if isinstance(posts, list) else []:
            m = post.get("public_metrics") if isinstance(post, dict) else None
            if not isinstance(m, dict):
                continue
            counts = [c for c in (_int(m.get("retweet_count")), _int(m.get("quote_count"))) if c is not None]
            found[str(post.get("id"))] = Snapshot(
                str(post.get("id")),
                now,
                views=_int(m.get("impression_count")),
                likes=_int(m.get("like_count")),
                reposts=sum(counts) if counts else None,
                comments=_int(m.get("reply_count")),
                impressions=_int(m.get("impression_count")),
                raw=scrub(json.dumps({"id": post.get("id"), "public_metrics": m}))[:300],
            )
        gone = "X did not return this post (deleted, or not visible to the account)"
        return [
            found.get(r.remote_id) or Snapshot(r.remote_id, now, available=False, reason=gone) for r in refs
        ]

    # --- error mapping -----------------------------------------------------------------------------

    def _error(
        self, response: requests.Response, step: str, *, unsafe: bool, content: bool = False
    ) -> PublishError:
        """Turn an X error answer into one class of the error tree, with a message for the operator.

        ``unsafe`` marks the publishing POST: only there is a 5xx in doubt. ``content`` marks calls
        that carry our content (the post, an image): there a 400 means X refused that content.
        """
        status = response.status_code
        detail = _problem(response)
        kw: dict[str, Any] = {
            "network": self.network,
            "target": self.target,
            "status": status,
            "excerpt": response_excerpt(response),
        }
        if status == 429:
            reset_at, scope = _rate_limit_reset(response.headers)
            when = f"after {reset_at:%Y-%m-%d %H:%M} UTC" if reset_at else "later"
            return RateLimited(
                f"X: rate limit reached ({step}); try again {when}", reset_at=reset_at, scope=scope, **kw
            )
        if status == 401:
            return AuthError(
                "X rejected the app keys or the access token (401): check API_KEY, API_SECRET, "
                "ACCESS_TOKEN and ACCESS_TOKEN_SECRET of this target; the token may have been revoked",
                **kw,
            )
        if status == 403 and _DUPLICATE in detail.lower():
            # v2 has no error code 187 any more; the detail text is the only marker.
            return ContentRejected(
                "X refused a duplicate post: this account already published the same text", **kw
            )
        if status == 403:
            # "The request is understood, but it has been refused or access is not allowed" — in
            # practice an app without write permission, not in a Project, or a locked account. That
            # is true for every post of this target, so pause it (AuthError) rather than fail one post.
            return AuthError(
                f"X does not let this app act for the account ({step}, 403): give the app 'Read and "
                f"write' permission in the developer portal and regenerate the access token — {detail}",
                **kw,
            )
        if status >= 500:
            if unsafe:
                return InDoubtError(f"X answered {status} to the post; it may have been published", **kw)
            return TransientError(f"X is unavailable ({step}, HTTP {status})", **kw)
        if content and status in (400, 413, 422):
            return ContentRejected(f"X rejected the {step}: {detail}", **kw)
        return PermanentError(f"X refused the {step}: {detail}", **kw)


# --- helpers --------------------------------------------------------------------------------------


def _rewrite_before_signing(session: requests.Session, rewrite: Mapping[str, str]) -> None:
    """Point tweepy's URL at ``api_url`` before OAuth 1.0a signs it.

    The transport also rewrites origins, but only at send time, after the signature was computed over
    the original URL; X (and the fake) check the signature against the URL actually requested.
    """
    if not rewrite:
        return
    prepare = session.prepare_request

    def prepare_request(request: requests.Request) -> requests.PreparedRequest:
        url = request.url or ""
        for real, configured in rewrite.items():
            if url == real or url.startswith(real + "/"):
                request.url = configured + url[len(real) :]
                break
        return prepare(request)

    session.prepare_request = prepare_request  # type: ignore[method-assign]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def _problem(response: requests.Response) -> str:
    """The human part of an X error body: ``detail``/``title`` or each ``errors[].message``."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    parts: list[str] = []
    if isinstance(body, dict):
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                parts.append(str(error.get("message") or error.get("detail") or ""))
        parts.insert(0, str(body.get("detail") or body.get("title") or ""))
    text = "; ".join(p for p in parts if p) or f"HTTP {response.status_code}"
    return scrub(text)[:200]


def _rate_limit_reset(headers: Mapping[str, str]) -> tuple[datetime | None, str]:
    """When posting may resume: the 15-minute window, or a daily cap when that one is used up."""
    candidates: list[tuple[datetime, str]] = []
    for prefix, scope in (
        ("x-rate-limit", "endpoint"),
        ("x-user-limit-24hour", "account"),
        ("x-app-limit-24hour", "app"),
    ):
        reset = _epoch(headers.get(f"{prefix}-reset"))
        remaining = headers.get(f"{prefix}-remaining")
        if reset and (prefix == "x-rate-limit" or remaining == "0"):
            candidates.append((reset, scope))
    if not candidates:
        retry_after = headers.get("retry-after", "")
        if retry_after.isdigit():
            return datetime.now(UTC) + timedelta(seconds=int(retry_after)), "endpoint"
        return None, "account"
    reset_at, scope = max(candidates)
    return reset_at, scope


def _epoch(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value or ""), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _normalise(text: str) -> str:
    """Text as X stores it, comparable: URLs (t.co-shortened by X) removed, entities unescaped."""
    return " ".join(_URL.sub(" ", html.unescape(text)).split())
