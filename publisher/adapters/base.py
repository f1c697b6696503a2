"""The adapter contract, and the HTTP mechanics every adapter shares.

An adapter knows one network's API and nothing about the store or the scheduler. It receives a
``Rendered`` post (the composer already wrote the text in the network's syntax and checked its length)
and either returns a ``PublishResult`` or raises one error from :mod:`publisher.errors`. It never sleeps
to wait out a rate limit and never retries a non-idempotent call by itself: the dispatcher decides.

Shared mechanics live here so that each network module stays small:

* ``make_session`` builds the one ``requests.Session`` an adapter (and the client library it wraps) uses:
  connect and read timeouts on every request, an overall deadline per exchange, and the origin rewrite
  that points a library with a hard-coded host (vk-api, tweepy) at ``api_url`` from the settings.
* ``transport_errors`` turns ``requests`` exceptions into ``TransientError`` (certainly not sent) or
  ``InDoubtError`` (possibly applied), with messages that never contain the URL (tokens live in URLs).
* ``response_excerpt`` gives a short, scrubbed piece of a response for the operator.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError

from publisher.adapters.published import PublishedForm
from publisher.errors import InDoubtError, PublishError, TransientError
from publisher.models import (
    AccountInfo,
    PublishResult,
    ReconcileResult,
    ReconcileStatus,
    RemoteRef,
    Rendered,
    Snapshot,
)
from publisher.ops.redact import scrub
from publisher.settings import HttpTimeouts, NetworkSettings


class Adapter(ABC):
    """One network's publishing API, for one target (a network's account).

    Class attributes describe the network so that the composer and dispatcher need not ask:
    ``max_images`` how many images one post may carry; ``deduplicates`` whether the network itself drops
    a repeated publish with the same idempotency key (then an in-doubt delivery may be re-sent safely).
    """

    network: ClassVar[str]
    max_images: ClassVar[int] = 10
    deduplicates: ClassVar[bool] = False
    #: how long after the first send the network still drops a repeat (None: for ever)
    dedup_window_seconds: ClassVar[float | None] = None
    #: the real API origin the client library calls; ``api_url`` from the settings replaces it.
    default_origin: ClassVar[str] = ""
    #: what ``resolve --published-as`` accepts for this network (None: nothing can be checked)
    published_form: ClassVar[PublishedForm | None] = None

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        self.target = target
        self.settings = settings
        self.session = session or make_session(settings, self.default_origin)

    @abstractmethod
    def publish(self, rendered: Rendered, idempotency_key: str) -> PublishResult:
        """Publish and return where the post now lives.

        Raises ``TransientError`` / ``RateLimited`` (not applied), ``AuthError`` / ``ContentRejected``
        (permanent) or ``InDoubtError`` (may have been applied).
        """

    @abstractmethod
    def check(self) -> AccountInfo:
        """A cheap "who am I and may I post here" call for ``publisher check``. Raises ``PublishError``."""

    def reconcile(
        self, rendered: Rendered, attempt_started_at: datetime, idempotency_key: str
    ) -> ReconcileResult:
        """Look for a post an in-doubt attempt may have made. The default cannot tell."""
        return ReconcileResult(ReconcileStatus.UNKNOWN, detail=f"{self.network} cannot look posts up")

    #: how many posts one metrics call may ask about (the API's batch limit)
    metrics_batch: ClassVar[int] = 100

    def fetch_metrics(self, refs: Sequence[RemoteRef]) -> list[Snapshot]:
        """Figures of published posts, one ``Snapshot`` per ref, in as few calls as the API allows.

        The caller passes at most ``metrics_batch`` refs. A post the network no longer shows, or a figure
        it will not give, is a snapshot marked unavailable with the reason, never an exception. Raises
        ``RateLimited`` / ``TransientError`` (try later) or ``AuthError`` (pause the target) for the call.
        The default: this network's figures cannot be read.
        """
        now = datetime.now(UTC)
        reason = f"{self.network}: reading figures is not supported"
        return [Snapshot(r.remote_id, now, available=False, reason=reason) for r in refs]

    def describe(self) -> str:
        """Safe for logs: the target and its account or chat id, never a token."""
        return self.target

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


# --- HTTP session --------------------------------------------------------------------------------


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The whole exchange took longer than ``timeouts.total`` (the request had been sent)."""


class BoundedHTTPAdapter(HTTPAdapter):
    """A transport that applies default timeouts, an overall deadline and an origin rewrite.

    ``rewrite`` maps a real origin (``https://api.vk.ru``) to the configured one
    (``http://127.0.0.1:8001``); only the origin changes, path and query stay as the library built them.
    Urllib3 retries are off (``max_retries=0``): a retry of a POST is the dispatcher's decision.
    """

    def __init__(self, timeouts: HttpTimeouts, rewrite: Mapping[str, str] | None = None):
        super().__init__(max_retries=0)
        self.timeouts = timeouts
        self.rewrite = dict(rewrite or {})

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any
    ) -> requests.Response:
        if request.url:
            for real, configured in self.rewrite.items():
                if request.url.startswith(real + "/") or request.url == real:
                    request.url = configured + request.url[len(real) :]
                    break
        if timeout is None:
            timeout = (self.timeouts.connect, self.timeouts.read)
        started = time.monotonic()
        response = super().send(request, stream=True, timeout=timeout, **kwargs)
        if stream:
            return response
        # Read the body ourselves so that a server trickling bytes cannot hold us past the deadline.
        chunks: list[bytes] = []
        try:
            for chunk in response.raw.stream(16384, decode_content=True):
                chunks.append(chunk)
                if time.monotonic() - started > self.timeouts.total:
                    response.close()
                    raise DeadlineExceeded("overall deadline exceeded", request=request)
        except (ProtocolError, ReadTimeoutError) as exc:
            response.close()
            raise requests.exceptions.ConnectionError(exc, request=request) from None
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]
        response.close()
        return response


def make_session(
    settings: NetworkSettings, default_origin: str, extra_origins: Mapping[str, str] | None = None
) -> requests.Session:
    """The one session factory: every adapter's HTTP goes through a ``BoundedHTTPAdapter``.

    ``extra_origins`` adds rewrites for libraries that call more than one host (e.g. an upload host).
    """
    rewrite: dict[str, str] = {}
    configured = settings.api_url.rstrip("/")
    if default_origin and configured and configured != default_origin:
        rewrite[default_origin] = configured
    rewrite.update(extra_origins or {})
    session = requests.Session()
    transport = BoundedHTTPAdapter(settings.timeouts, rewrite)
    session.mount("http://", transport)
    session.mount("https://", transport)
    session.headers["User-Agent"] = "publisher/0.1 (+library social media team)"
    return session


# --- error mapping -------------------------------------------------------------------------------


def _host(exc: requests.RequestException) -> str:
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    return urlsplit(url).netloc or "the network"


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema)


@contextmanager
def transport_errors(network: str, target: str, *, unsafe: bool) -> Iterator[None]:
    """Map transport failures of the calls inside to the error tree.

    ``unsafe`` marks a call that changes something on the network (a publishing POST): a timeout or a
    dropped connection after sending it is ``InDoubtError``. For reads it is ``TransientError``.
    Messages name the host and the kind of failure only: ``str()`` of a requests error carries the URL.
    """
    try:
        yield
    except requests.RequestException as exc:
        host = _host(exc)
        kind = type(exc).__name__
        if _not_sent(exc):
            raise TransientError(
                f"could not reach {host} ({kind}); nothing was sent", network=network, target=target
            ) from None
        if unsafe:
            raise InDoubtError(
                f"no answer from {host} after the request was sent ({kind}); it may have been published",
                network=network,
                target=target,
            ) from None
        raise TransientError(f"no answer from {host} ({kind})", network=network, target=target) from None


def response_excerpt(response: requests.Response, limit: int = 300) -> str:
    """A short piece of the response body for the operator, with secrets masked."""
    try:
        text = response.content[: limit * 8].decode("utf-8", "replace")
    except Exception:  # content could not be read at all
        return ""
    # Scrub before cutting: a token straddling the cut would otherwise survive as a prefix.
    return scrub(text)[:limit]


def json_body(response: requests.Response, network: str, target: str, *, unsafe: bool) -> Any:
    """Parse a JSON response. Malformed JSON after a publishing call is in doubt: the server got it."""
    try:
        return response.json()
    except ValueError:
        cls: type[PublishError] = InDoubtError if unsafe else TransientError
        raise cls(
            "the network answered with malformed JSON",
            network=network,
            target=target,
            status=response.status_code,
            excerpt=response_excerpt(response),
        ) from None
