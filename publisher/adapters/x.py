"""X (Twitter): posts through the v2 API with OAuth 1.0a user context, via tweepy (docs.x.com, read 2025).

* Media: a picture in one ``POST /2/media/upload`` (``tweet_image``), a video (``tweet_video``) or an
  animated GIF (``tweet_gif``) by the v2 chunked upload: ``publisher/adapters/x_media.py``. tweepy 4.17 has
  no v2 upload, so we sign and send those on the same session.
* ``POST /2/tweets`` ``{"text", "media": {"media_ids"}}`` -> 201 ``{"data": {"id", "text"}}``, sent on the
  session as tweepy's ``create_tweet`` sends it (``send_post``), signed by ``x_oauth.XSigner``.
  https://docs.x.com/x-api/posts/create-or-edit-post
* ``GET /2/users/me`` (check) and ``GET /2/users/:id/tweets`` with ``start_time`` and ``pagination_token``
  (reconcile). https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id

Error answers, rate limits and the account states (no credits, a forbidden app or account, a monthly usage
cap) are mapped in ``x_errors.py``. X has no idempotency key: an in-doubt post is found
by ``reconcile``, never by re-sending.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import requests
import tweepy

from publisher import errors
from publisher.adapters import x_media
from publisher.adapters.base import Adapter, Answer, Posted, RemotePost
from publisher.adapters.http import make_session
from publisher.adapters.profile import ImageLimits, NetworkProfile, VideoLimits
from publisher.adapters.published import PublishedForm
from publisher.adapters.x_errors import x_error
from publisher.adapters.x_oauth import XSigner
from publisher.models import AccountInfo, RemoteRef, Rendered, Snapshot
from publisher.settings import NetworkSettings, XSettings

#: x_length.weighted_length once imported
_counting: Callable[[str], int] | None = None


def _weighted_length(text: str) -> int:
    """280 weighted characters as twitter-text counts them: URLs 23, emoji and CJK 2
    (https://docs.x.com/resources/fundamentals/counting-characters)."""
    # Imported on first use: twitter-text compiles its emoji tables on import (~0.3 s). x_length counts
    # exactly as parse_tweet does, ~100× cheaper on a text without emoji or links (see its docstring).
    global _counting
    if _counting is None:
        from publisher.adapters.x_length import weighted_length

        _counting = weighted_length
    return _counting(text)


PROFILE = NetworkProfile(
    network="x",
    title="X",
    limit=280,
    counting="weighted characters (links 23, emoji and CJK 2)",
    measure=_weighted_length,
    images=ImageLimits(per_post=4),  # "You may attach up to 4 photos, 1 animated GIF or 1 video in a Post"
    # https://docs.x.com/x-api/media/quickstart/best-practices : video 512 MB, 0.5-140 s (tweet_video),
    # MP4 or MOV; GIF 15 MB (https://docs.x.com/x-api/media , "Media types & size restrictions").
    video=VideoLimits(
        max_bytes=512 * 1000 * 1000,
        max_seconds=140,
        min_seconds=0.5,
        gif_max_bytes=15 * 1000 * 1000,
        source="https://docs.x.com/x-api/media/quickstart/best-practices",
    ),
    link_in_text=True,  # no link field: a URL in the text makes the card
    # https://help.x.com/en/managing-your-account/x-username-rules
    handle=re.compile(r"[A-Za-z0-9_]{1,15}"),
    handle_fix="write the X username: up to 15 Latin letters, digits or _",
    #: resolve --published-as: https://x.com/<user>/status/<id> (twitter.com too), the id a post's digits
    published=PublishedForm(
        hosts=("x.com", "www.x.com", "mobile.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"),
        path=re.compile(r"/(?:[A-Za-z0-9_]{1,15}|i/web|i)/status/(\d{1,19})"),
        remote_id=re.compile(r"\d{1,19}"),
        example="https://x.com/bntu_library/status/1234567890123456789",
    ),
)
#: tweepy 4.17 hard-codes this host (tweepy/client.py, BaseClient.request).
TWEEPY_ORIGIN = "https://api.twitter.com"
_URL = re.compile(r"https?://\S+")


class XAdapter(Adapter):
    """Posts to one X account. ``username`` in the settings makes the public URLs pretty."""

    profile = PROFILE

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        self.origin = settings.api_url.rstrip("/") or self.default_origin
        super().__init__(target, settings, session)
        assert isinstance(settings, XSettings)  # checked by Adapter.__init__
        self.username = (settings.username or "").lstrip("@") or None
        keys = (settings.api_key, settings.api_secret, settings.access_token, settings.access_token_secret)
        self._keys = tuple(k.get_secret_value() if k else "" for k in keys)
        # Raw responses: we parse JSON ourselves so malformed bodies map to our error tree; never sleep
        # inside an adapter: a 429 goes back to the dispatcher as RateLimited.
        self.client = tweepy.Client(
            None, *self._keys, return_type=requests.Response, wait_on_rate_limit=False
        )
        self.client.session = self.session
        #: the OAuth 1.0a signer, kept (stateless between calls: each signature gets its own nonce and time)
        self._auth = XSigner(self._keys, tweepy.OAuth1UserHandler(*self._keys).apply_auth())

    def new_session(self) -> requests.Session:
        """tweepy calls api.twitter.com; everything goes to api_url (api.x.com in production, the fake in
        tests), whichever of the two hosts a request was built for."""
        return make_session(self.settings, self.default_origin, {TWEEPY_ORIGIN: self.origin})

    # --- publish hooks ---------------------------------------------------------------------------

    def upload_media(self, rendered: Rendered) -> list[str]:
        """Each picture in one request; a video or an animated GIF in chunks, processed (``x_media``)."""
        return [x_media.upload(self, item) for item in rendered.media]

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """``POST /2/tweets``. X has no idempotency key (module docstring).

        Sent on the session itself, as tweepy's ``create_tweet`` would send it (same URL, body, User-Agent
        and OAuth 1.0a header), with the adapter's one signer: tweepy builds a handler, an ``OAuth1Session``
        and a signer per call and formats its debug lines eagerly (~0.1 ms of CPU per post)."""
        payload: dict[str, Any] = {}
        if media:
            payload["media"] = {"media_ids": [str(m) for m in media]}
        payload["text"] = _with_link(rendered)
        headers = {"User-Agent": self.client.user_agent}
        response = self.session.post(
            f"{TWEEPY_ORIGIN}/2/tweets", json=payload, headers=headers, auth=self._auth
        )
        if not 200 <= response.status_code < 300:  # what tweepy raises HTTPException for
            raise x_error(self, response, "post", unsafe=True, content=True)
        body = self.json(response, unsafe=True)
        return Answer(body, self.excerpt(response), response.status_code)

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        tweet_id = _data(answer.body).get("id")
        return Posted((str(tweet_id),)) if tweet_id else None

    def post_url(self, remote_id: str) -> str:
        return f"https://x.com/{self.username or 'i/web'}/status/{remote_id}"

    def describe(self) -> str:
        return f"{self.target} (@{self.username})" if self.username else f"{self.target} (X account)"

    # --- check -------------------------------------------------------------------------------------

    def check(self) -> AccountInfo:
        response, user = self._me()
        handle = f"@{user.get('username', '?')}"
        # With OAuth 1.0a X reports the token's permission in x-access-level (read / read-write /
        # read-write-directmessages): https://developer.x.com/en/docs/apps/app-permissions
        level = response.headers.get("x-access-level", "")
        can_post = "write" in level if level else True
        details = [f"user id {user.get('id', '?')}", *([f"access level {level}"] if level else [])]
        if not can_post:
            details.append("the app has no write permission: set 'Read and write' and regenerate the token")
        if self.username and self.username.lower() != str(user.get("username", "")).lower():
            details.append(f"settings say @{self.username}: post URLs will point to the wrong account")
        return AccountInfo(self.target, handle, can_post=can_post, detail="; ".join(details))

    # --- reconcile hooks ---------------------------------------------------------------------------

    def comparable(self, text: str) -> str:
        """X stores a text with every URL replaced by a t.co link and ``& < >`` HTML-escaped: compare
        with URLs removed, entities unescaped and whitespace collapsed."""
        return " ".join(_URL.sub(" ", html.unescape(text)).split())

    def recent_posts(self, since: datetime) -> Iterator[RemotePost]:
        """The account's timeline since ``since`` (``start_time``), page after page (``next_token``)."""
        _, user = self._me()
        token: str | None = None
        while True:
            params: dict[str, Any] = {"start_time": since, "max_results": 100, "tweet_fields": ["created_at"]}
            params.update(exclude=["retweets", "replies"], pagination_token=token)
            with self._answers("timeline lookup", unsafe=False):
                response = self.client.get_users_tweets(str(user["id"]), user_auth=True, **params)
            body = self.as_dict(self.json(response, unsafe=False))
            posts = body.get("data")
            for post in map(self.as_dict, posts if isinstance(posts, list) else []):
                if post.get("id"):
                    created = self.parse_time(post.get("created_at"))
                    yield RemotePost(str(post["id"]), str(post.get("text", "")), created)
            token = self.as_dict(body.get("meta")).get("next_token")
            if not token:
                return

    def read_metrics(self, refs: Sequence[RemoteRef], now: datetime) -> dict[str, Snapshot]:
        """``GET /2/tweets?ids=...`` (at most 100) with ``tweet.fields=public_metrics``: ``impression_count``
        (X's views), likes, retweets + quotes as reposts, replies (https://docs.x.com/x-api/posts/get-posts-by-ids,
        .../fundamentals/data-dictionary). An id X cannot find comes back in ``errors``: unavailable."""
        with self._answers("metrics lookup", unsafe=False):
            response = self.client.get_tweets(
                [r.remote_id for r in refs], tweet_fields=["public_metrics"], user_auth=True
            )
        found = {}
        for post in map(self.as_dict, self.as_dict(self.json(response, unsafe=False)).get("data") or []):
            m = self.as_dict(post.get("public_metrics"))
            if not m:
                continue
            shared = [
                c for c in (self.count(m, "retweet_count"), self.count(m, "quote_count")) if c is not None
            ]
            views, key = self.count(m, "impression_count"), str(post.get("id"))
            found[key] = Snapshot(
                key,
                now,
                views=views,
                likes=self.count(m, "like_count"),
                reposts=sum(shared) if shared else None,
                comments=self.count(m, "reply_count"),
                impressions=views,
                raw=self.data_excerpt({"id": post.get("id"), "public_metrics": m}),
            )
        return found

    # --- calls -------------------------------------------------------------------------------------

    @contextmanager
    def _answers(self, step: str, *, unsafe: bool, content: bool = False) -> Iterator[None]:
        """tweepy's error answers mapped to the error tree (it raises on any 4xx/5xx)."""
        try:
            yield
        except tweepy.HTTPException as exc:
            raise x_error(self, exc.response, step, unsafe=unsafe, content=content) from None

    def oauth(self) -> Any:
        """OAuth 1.0a signing for a request made on the session (tweepy 4.17 has no v2 media upload)."""
        return self._auth

    def refusal(self, response: requests.Response, step: str) -> errors.PublishError:
        """An error answer to an upload: never in doubt (no post yet); a 400 refuses our file."""
        return x_error(self, response, step, unsafe=False, content=True)

    def _me(self) -> tuple[requests.Response, dict[str, Any]]:
        with self.transport(unsafe=False), self._answers("account check", unsafe=False):
            response = self.client.get_me(user_auth=True)
        user = _data(self.json(response, unsafe=False))
        if not user.get("id"):
            raise self.error(
                errors.TransientError, "the account answer has no user id", excerpt=self.excerpt(response)
            )
        return response, user


def _data(body: Any) -> dict[str, Any]:
    return Adapter.as_dict(Adapter.as_dict(body).get("data"))


def _with_link(rendered: Rendered) -> str:
    """X has no separate link field: a URL in the text is what makes the link card."""
    if rendered.link and rendered.link not in rendered.text:
        return f"{rendered.text}\n{rendered.link}" if rendered.text else rendered.link
    return rendered.text
