"""A loopback X API v2: the calls XAdapter makes, in X's wire format, with X's own error answers.

Implemented (docs.x.com):

* ``POST /2/media/upload`` multipart ``media`` + ``media_category`` -> ``{"data": {"id", "media_key",
  "size", "expires_after_secs"}}`` (https://docs.x.com/x-api/media/upload-media)
* the chunked upload of videos and animated GIFs (initialize, append, finalize, STATUS): ``tests/fakes/
  x_media.py``. A post carries 4 pictures, or one video or GIF alone, once its processing succeeded.
* ``POST /2/tweets`` JSON ``{"text", "media": {"media_ids"}}`` -> 201 ``{"data": {"id", "text",
  "edit_history_tweet_ids"}}`` (https://docs.x.com/x-api/posts/create-or-edit-post). Like X, it refuses
  a text this account already posted with 403 "duplicate content", and a text over 280 weighted
  characters with 400.
* ``GET /2/users/me`` -> ``{"data": {"id", "name", "username"}}``
* ``GET /2/users/:id/tweets`` with ``start_time``, ``max_results``, ``tweet.fields=created_at``,
  ``pagination_token`` -> ``{"data": [...], "meta": {"result_count", "newest_id", "oldest_id",
  "next_token"}}`` (https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id)

Like X it stores the text with every URL replaced by a t.co link and ``& < >`` HTML-escaped, so the
text a lookup returns is not byte-for-byte what was sent.

Every request must carry an OAuth 1.0a header. When the fake is given the four credentials it checks
the keys and the HMAC-SHA1 signature over the URL it was actually called on, and answers 401 like X.

Every answer carries ``x-rate-limit-limit/-remaining/-reset``; posts also the daily
``x-user-limit-24hour-*`` counters (https://docs.x.com/fundamentals/rate-limits).

Error bodies use the two v2 shapes: RFC 7807 problems ``{"title", "detail", "type", "status"}`` and
``{"errors": [...], "title", "detail", "type"}`` for invalid requests
(https://docs.x.com/x-api/fundamentals/response-codes-and-errors). The duplicate answer is the one X
sends: ``{"detail": "You are not allowed to create a Tweet with duplicate content.", "type":
"about:blank", "title": "Forbidden", "status": 403}`` (seen in github.com/akrherz/iembot/issues/163).

Account states, each answering every call until ``restore_account`` (X refuses the whole account, not one
post; bodies as X sends them, see publisher/adapters/x_errors.py for the sources):

* ``deplete_credits``: 402 ``{"title": "CreditsDepleted", "type": ".../2/problems/credits"}``, the
  pay-per-use balance spent;
* ``forbid_account``: 403 ``about:blank`` "Your account is not permitted to access this feature." (a
  suspended or restricted account); ``forbid_client``: 403 ``.../2/problems/client-forbidden`` with
  ``reason: client-not-enrolled`` (an app outside a Project, body as in github.com/geduldig/TwitterAPI/issues/226);
* ``cap_usage``: 429 ``.../2/problems/usage-capped`` "UsageCapExceeded", ``period: Monthly``, while the
  15-minute ``x-rate-limit-*`` window still has room and no header says when the cap resets
  (github.com/xdevplatform/xdk/issues/25).

``refuse_post`` is a 403 about one post (by default X's reply-restriction text), not about the account.
"""

from __future__ import annotations

import html
import itertools
import re
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape
from twitter_text import parse_tweet

from tests.fakes.base import FakeServer, Reply, Request
from tests.fakes.metrics import FigureBook
from tests.fakes.network import NetworkFake, Published
from tests.fakes.x_media import APPEND, FINALIZE, INITIALIZE, STATUS, ChunkedUploads

TWEETS = r"^/2/tweets$"
UPLOAD = r"^/2/media/upload$"
ME = r"^/2/users/me$"
TIMELINE = r"^/2/users/\d+/tweets$"

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
OAUTH1_PERMISSIONS = (
    "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."
)
#: a 403 about the post, not the account (X's answer to a reply it does not allow)
REPLY_NOT_ALLOWED = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged "
    "by the author of the post you are replying to."
)
NOT_PERMITTED = "Your account is not permitted to access this feature."
PROBLEMS = "https://api.twitter.com/2/problems/"
_URL = re.compile(r"https?://\S+")
#: (limit, window seconds) per endpoint, the order of magnitude of X's published user limits.
_LIMITS = {TWEETS: (100, 900), UPLOAD: (500, 900), ME: (75, 900), TIMELINE: (900, 900)}
_LIMITS.update({INITIALIZE: (180, 900), APPEND: (1000, 900), FINALIZE: (180, 900), STATUS: (1000, 900)})


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> dict[str, Any]:
    """An RFC 7807 problem, the v2 error shape."""
    return {"title": title, "detail": detail, "type": type_, "status": status}


def invalid_request(message: str, parameter: str = "text", value: Any = None) -> dict[str, Any]:
    """The v2 400 shape for a parameter X refused."""
    return {
        "errors": [{"parameters": {parameter: [value] if value is not None else []}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


class FakeX(ChunkedUploads, NetworkFake):
    """X for one account. Pass the four credentials to have signatures checked."""

    network = "x"

    poll_interval = 0.02  # stop() quickly: tests start one fake each

    def __init__(
        self,
        *,
        username: str = "bntu_library",
        user_id: str = "1580000000000000001",
        name: str = "Библиотека БНТУ",
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        access_token: str | None = None,
        access_token_secret: str | None = None,
        access_level: str = "read-write",
        daily_posts: int = 100,
    ) -> None:
        super().__init__()
        self.username = username
        self.user_id = user_id
        self.name = name
        self.credentials = (consumer_key, consumer_secret, access_token, access_token_secret)
        self.access_level = access_level
        self.tweets: list[dict[str, Any]] = []  # newest last
        self.media: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1_880_000_000_000_000_001)
        self._used: dict[str, int] = {}
        self._window_start = time.time()
        self.daily_posts = daily_posts
        #: the answer every call gets while the account is in a refused state (``deplete_credits``...)
        self.account_state: Reply | None = None
        self.route("POST", TWEETS[1:-1], self._create_tweet)
        self.route("POST", UPLOAD[1:-1], self._upload)
        self.route("GET", ME[1:-1], self._me)
        self.route("GET", TIMELINE[1:-1], self._timeline)
        self.route("GET", TWEETS[1:-1], self._lookup)
        self.figures = FigureBook()
        self.setup_chunked()

    # --- the shared interface (NetworkFake) --------------------------------------------------------

    def is_publish(self, request: Request) -> bool:
        return request.method == "POST" and re.match(TWEETS, request.path) is not None

    @property
    def posts(self) -> list[Published]:
        with self.lock:
            return [
                Published(
                    p["id"],
                    p["sent_text"],
                    p["created_at"],
                    media=tuple(self.media[m]["data"] for m in p["media_ids"] if m in self.media),
                )
                for p in self.tweets
            ]

    def service_settings(self) -> dict[str, Any]:
        names = ("api_key", "api_secret", "access_token", "access_token_secret")
        # Without credentials the fake checks no signature: any values do.
        keys = {n: v or f"unchecked-{n}" for n, v in zip(names, self.credentials, strict=True)}
        return {"api_url": self.url, **keys, "username": self.username}

    def rate_limit(
        self, seconds: int = 600, *, times: int = 1, path: str | None = None, daily: bool = False
    ) -> int:
        """429 with X's headers; ``daily``: the 15-minute window has room, the 24-hour cap ran out.

        Returns the reset epoch it announces (``x-rate-limit-reset`` or ``x-user-limit-24hour-reset``).
        """
        reset = int(time.time()) + seconds
        headers = {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        }
        if daily:
            headers["x-rate-limit-remaining"] = "99"
            headers["x-rate-limit-reset"] = str(int(time.time()) + 60)
            headers.update(
                {
                    "x-user-limit-24hour-limit": str(self.daily_posts),
                    "x-user-limit-24hour-remaining": "0",
                    "x-user-limit-24hour-reset": str(reset),
                }
            )
        answer = Reply(429, problem(429, "Too Many Requests", "Too Many Requests"), headers)
        self._answer(lambda request: answer, path, times)
        return reset

    def rate_limit_answer(self, request: Request, seconds: int) -> Reply:
        headers = {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time()) + seconds),
        }
        return Reply(429, problem(429, "Too Many Requests", "Too Many Requests"), headers)

    def revoked_answer(self, request: Request) -> Reply:
        return Reply(401, problem(401, "Unauthorized", "Unauthorized"))

    def server_error_answer(self, request: Request, status: int) -> Reply:
        title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(
            status, "Error"
        )
        return Reply(status, problem(status, title, title))

    def no_id_answer(self) -> Reply:
        return Reply(201, {"data": {}})

    # --- X's other error answers -------------------------------------------------------------------

    def reject_credentials(self, path: str = "") -> None:
        """401 as X sends it for bad keys or a revoked token, on every call (``path`` narrows it)."""
        self.revoke_token(path=path)

    def forbid(self, path: str | None = None, detail: str = OAUTH1_PERMISSIONS) -> None:
        """403 for an app without write permission (the default detail) or another refusal."""
        type_ = "https://api.twitter.com/2/problems/oauth1-permissions"
        answer = Reply(403, problem(403, "Forbidden", detail, type_))
        self._answer(lambda request: answer, path, 1)

    def reject_duplicate(self) -> None:
        """403 duplicate content, as if the same text had been posted before."""
        answer = Reply(403, problem(403, "Forbidden", DUPLICATE_DETAIL))
        self._answer(lambda request: answer, None, 1)

    def reject_invalid(self, message: str = "Your Tweet text is too long.", path: str | None = None) -> None:
        answer = Reply(400, invalid_request(message))
        self._answer(lambda request: answer, path, 1)

    def refuse_post(self, detail: str = REPLY_NOT_ALLOWED) -> None:
        """403 about this one post (its content or context), once."""
        answer = Reply(403, problem(403, "Forbidden", detail))
        self._answer(lambda request: answer, None, 1)

    # --- account states: every call refused until restore_account ----------------------------------

    def deplete_credits(self) -> None:
        """The pay-per-use credits are spent: 402 CreditsDepleted on every call."""
        detail = f"Your enrolled account [{self.user_id}] does not have any credits to fulfill this request."
        self.account_state = Reply(402, problem(402, "CreditsDepleted", detail, PROBLEMS + "credits"))

    def forbid_account(self, detail: str = NOT_PERMITTED) -> None:
        """A suspended or restricted account: 403 on every call."""
        self.account_state = Reply(403, problem(403, "Forbidden", detail))

    def forbid_client(self) -> None:
        """An app outside a Project (not enrolled): 403 client-forbidden on every call."""
        body = {
            "client_id": "26924600",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
            "tokens from a Twitter developer App that is attached to a Project. You can create a project "
            "via the developer portal.",
            "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
            "title": "Client Forbidden",
            "required_enrollment": "Appropriate Level of API Access",
            "reason": "client-not-enrolled",
            "type": PROBLEMS + "client-forbidden",
        }
        self.account_state = Reply(403, body)

    def cap_usage(self) -> None:
        """The monthly usage cap is reached: 429 UsageCapExceeded on every call, the 15-minute window
        still open (the rate-limit headers ``_send`` adds show room)."""
        body = {
            "account_id": self.user_id,
            "product_name": "standard-basic",
            "title": "UsageCapExceeded",
            "period": "Monthly",
            "scope": "Product",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": PROBLEMS + "usage-capped",
        }
        self.account_state = Reply(429, body)

    def restore_account(self) -> None:
        """Credits bought, account reinstated, cap lifted: calls are answered normally again."""
        self.account_state = None

    # --- state helpers -----------------------------------------------------------------------------

    def add_post(self, text: str, created_at: datetime | None = None) -> str:
        """A post the account already has (e.g. made by hand, or by an earlier attempt)."""
        return self._store(text, [], created_at or datetime.now(UTC))["id"]

    # --- wire --------------------------------------------------------------------------------------

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:  # type: ignore[override]
        """Every answer carries X's rate-limit headers (a fault may bring its own values)."""
        path = urlsplit(handler.path).path
        for pattern, (limit, window) in _LIMITS.items():
            if re.match(pattern, path):
                with self.lock:
                    used = self._used[pattern] = self._used.get(pattern, 0) + 1
                reset = int(self._window_start + window)
                reply.headers.setdefault("x-rate-limit-limit", str(limit))
                reply.headers.setdefault("x-rate-limit-remaining", str(max(limit - used, 0)))
                reply.headers.setdefault("x-rate-limit-reset", str(reset))
                if pattern == TWEETS and handler.command == "POST":
                    posts = len(self.tweets)
                    reply.headers.setdefault("x-user-limit-24hour-limit", str(self.daily_posts))
                    reply.headers.setdefault(
                        "x-user-limit-24hour-remaining", str(max(self.daily_posts - posts, 0))
                    )
                    reply.headers.setdefault(
                        "x-user-limit-24hour-reset", str(int(self._window_start) + 86400)
                    )
                break
        FakeServer._send(handler, reply)

    def _authorise(self, request: Request) -> Reply | None:
        """None when the OAuth 1.0a header is acceptable, else X's 401."""
        denied = Reply(401, problem(401, "Unauthorized", "Unauthorized"))
        header = request.headers.get("authorization", "")
        if not header.startswith("OAuth "):
            return denied
        params = [(k, unescape(v)) for k, v in parse_authorization_header(header)]
        oauth = dict(params)
        key, key_secret, token, token_secret = self.credentials
        if key is None:
            return self._account_refusal()
        if oauth.get("oauth_consumer_key") != key or oauth.get("oauth_token") != token:
            return denied
        signed = SimpleNamespace(
            http_method=request.method,
            uri=f"{self.url}{request.path}",
            params=[
                *request.query.items(),
                *((k, v) for k, v in params if k not in ("oauth_signature", "realm")),
            ],
            signature=oauth.get("oauth_signature", ""),
        )
        if not oauth_signature.verify_hmac_sha1(signed, key_secret, token_secret):
            return denied
        return self._account_refusal()

    def _account_refusal(self) -> Reply | None:
        """The account state's answer (a fresh copy: ``_send`` adds headers to it), else None."""
        state = self.account_state
        return None if state is None else Reply(state.status, state.body, dict(state.headers))

    def _me(self, request: Request) -> Reply:
        denied = self._authorise(request)
        if denied:
            return denied
        data = {"id": self.user_id, "name": self.name, "username": self.username}
        return Reply(200, {"data": data}, {"x-access-level": self.access_level})

    def _upload(self, request: Request) -> Reply:
        denied = self._authorise(request)
        if denied:
            return denied
        if "media" not in request.files:
            return Reply(400, invalid_request("The media field is required.", "media"))
        category = request.form.get("media_category", "")
        if category not in ("tweet_image", "dm_image", "subtitles"):
            return Reply(
                400, invalid_request(f"Invalid media_category: {category}", "media_category", category)
            )
        filename, data, ctype = request.files["media"]
        media_id = str(next(self._ids))
        with self.lock:
            self.media[media_id] = {"name": filename, "data": data, "type": ctype, "category": category}
        body = {"id": media_id, "media_key": f"3_{media_id}", "size": len(data), "expires_after_secs": 86400}
        return Reply(200, {"data": body})

    def _create_tweet(self, request: Request) -> Reply:
        denied = self._authorise(request)
        if denied:
            return denied
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return Reply(400, invalid_request("Request body must be a JSON object.", "body"))
        text = str(body.get("text") or "")
        media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids") or []]
        if not text and not media_ids:
            return Reply(400, invalid_request("Text or media is required.", "text"))
        if text and not parse_tweet(text).valid:
            return Reply(400, invalid_request("Your Tweet text is too long.", "text", text))
        if len(media_ids) > 4:
            return Reply(400, invalid_request("Too many media ids.", "media.media_ids", media_ids))
        unknown = [m for m in media_ids if m not in self.media or not self.processed(m)]
        if unknown:
            return Reply(400, invalid_request("Your media IDs are invalid.", "media.media_ids", unknown[0]))
        moving = [m for m in media_ids if self.media[m]["category"] in ("tweet_video", "tweet_gif")]
        if moving and len(media_ids) > 1:
            message = "A post may carry one video or animated GIF, alone."
            return Reply(400, invalid_request(message, "media.media_ids", moving[0]))
        with self.lock:
            stored = _as_stored(text)
            if text and any(p["text"] == stored for p in self.tweets):
                return Reply(403, problem(403, "Forbidden", DUPLICATE_DETAIL))
            post = self._store(text, media_ids, datetime.now(UTC))
        data = {"id": post["id"], "text": post["text"], "edit_history_tweet_ids": [post["id"]]}
        return Reply(201, {"data": data}, applied=True)

    def _timeline(self, request: Request) -> Reply:
        denied = self._authorise(request)
        if denied:
            return denied
        if request.path.split("/")[3] != self.user_id:
            return Reply(200, {"errors": [problem(404, "Not Found Error", "Could not find user.")]})
        since = request.query.get("start_time")
        start = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        limit = int(request.query.get("max_results", "10"))
        if not 5 <= limit <= 100:
            return Reply(400, invalid_request("max_results must be between 5 and 100", "max_results", limit))
        fields = set((request.query.get("tweet.fields") or "").split(","))
        with self.lock:
            posts = [p for p in reversed(self.tweets) if start is None or p["created_at"] >= start]
        offset = int(request.query.get("pagination_token") or 0)
        page = posts[offset : offset + limit]
        meta: dict[str, Any] = {"result_count": len(page)}
        if not page:
            return Reply(200, {"meta": meta})
        meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if offset + limit < len(posts):
            meta["next_token"] = str(offset + limit)
        data = []
        for post in page:
            item = {"id": post["id"], "text": post["text"], "edit_history_tweet_ids": [post["id"]]}
            if "created_at" in fields:
                item["created_at"] = post["created_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
            data.append(item)
        return Reply(200, {"data": data, "meta": meta})

    def _lookup(self, request: Request) -> Reply:
        """``GET /2/tweets?ids=...`` (1 to 100 ids) with ``tweet.fields=public_metrics``.

        https://docs.x.com/x-api/posts/get-posts-by-ids ; ``public_metrics`` holds retweet, reply, like,
        quote, bookmark and impression counts (https://docs.x.com/x-api/fundamentals/data-dictionary).
        An id that does not exist comes back in ``errors`` as a "Not Found Error", beside ``data``.
        """
        denied = self._authorise(request)
        if denied:
            return denied
        ids = [i for i in (request.query.get("ids") or "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return Reply(400, invalid_request("ids must hold 1 to 100 ids", "ids", len(ids)))
        fields = set((request.query.get("tweet.fields") or "").split(","))
        with self.lock:
            known = {p["id"]: p for p in self.tweets}
        data, errors = [], []
        for tweet_id in ids:
            post = known.get(tweet_id)
            if post is None:
                errors.append(
                    {
                        "value": tweet_id,
                        "detail": f"Could not find tweet with ids: [{tweet_id}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": tweet_id,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                )
                continue
            item: dict[str, Any] = {
                "id": tweet_id,
                "text": post["text"],
                "edit_history_tweet_ids": [tweet_id],
            }
            if "public_metrics" in fields:
                f = self.figures.read(tweet_id)
                item["public_metrics"] = {
                    "retweet_count": f["reposts"],
                    "reply_count": f["comments"],
                    "like_count": f["likes"],
                    "quote_count": 0,
                    "bookmark_count": 0,
                    "impression_count": f["views"],
                }
            data.append(item)
        body: dict[str, Any] = {"data": data} if data else {}
        if errors:
            body["errors"] = errors
        return Reply(200, body)

    def _store(self, text: str, media_ids: list[str], created_at: datetime) -> dict[str, Any]:
        post = {
            "id": str(next(self._ids)),
            "text": _as_stored(text),
            "sent_text": text,
            "media_ids": media_ids,
            "created_at": created_at,
        }
        with self.lock:
            self.tweets.append(post)
        return post


def _as_stored(text: str) -> str:
    """What X keeps: URLs wrapped as t.co links, ``& < >`` escaped."""
    shortened = _URL.sub(lambda m: f"https://t.co/{abs(hash(m.group())) % 10**10:010d}", text)
    return html.escape(shortened, quote=False)
