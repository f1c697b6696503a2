"""The HTTP mechanics every adapter (and the alert sender) shares.

* ``make_session`` builds the one ``requests.Session`` an adapter (and the client library it wraps) uses:
  connect and read timeouts on every request, an overall deadline per exchange, and the origin rewrite
  that points a library with a hard-coded host (vk-api, tweepy) at ``api_url`` from the settings.
* ``transport_errors`` turns ``requests`` exceptions into ``TransientError`` (certainly not sent) or
  ``InDoubtError`` (possibly applied), with messages that never contain the URL (tokens live in URLs).
* ``response_excerpt`` gives a short, scrubbed piece of a response for the operator.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError

from publisher.errors import InDoubtError, PublishError, TransientError
from publisher.ops.redact import scrub
from publisher.settings import HttpTimeouts, NetworkSettings

# --- HTTP session --------------------------------------------------------------------------------


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The whole exchange took longer than ``timeouts.total`` (the request had been sent)."""


class RequestNotSent(requests.exceptions.RequestException):
    """The request could not be built for the wire (e.g. a header value the HTTP library refuses):
    it never left this process."""


_started = threading.local()


def requests_started() -> int:
    """How many requests this thread has handed to a connection so far (see ``BoundedHTTPAdapter``).

    Compared before and after a call, it tells "the request left" from "failed while being built".
    """
    return int(getattr(_started, "count", 0))


def last_request_started_at() -> float | None:
    """Unix time at which this thread last handed a request to a connection (None: never).

    The dispatcher reads it after a paced call: the moment the request left, not when it was planned.
    """
    at = getattr(_started, "at", None)
    return float(at) if at is not None else None


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
        self._pool_keys: dict[tuple[Any, ...], Any] = {}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        """The connection pool's key for a request, kept per origin and TLS settings: requests stats the CA
        bundle path (``os.path.isdir``) for every request to tell a file from a folder."""
        parts = urlsplit(request.url or "")
        key = (parts.scheme, parts.netloc, verify, cert if not isinstance(cert, list) else tuple(cert))
        found = self._pool_keys.get(key)
        if found is None:
            found = super().build_connection_pool_key_attributes(request, verify, cert)
            self._pool_keys[key] = found
        host_params, pool_kwargs = found
        return dict(host_params), dict(pool_kwargs)

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
        _started.count = requests_started() + 1
        _started.at = time.time()
        try:
            response = super().send(request, stream=True, timeout=timeout, **kwargs)
        except requests.RequestException:
            raise
        except (ValueError, TypeError) as exc:
            # http.client refuses a header value or a method while building the request: nothing was
            # written to the socket (UnicodeEncodeError is a ValueError).
            raise RequestNotSent(
                f"the request could not be built ({type(exc).__name__})", request=request
            ) from None
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
    rewrite.update({real: to for real, to in (extra_origins or {}).items() if real != to})
    session = requests.Session()
    _rewrite_before_signing(session, rewrite)
    transport = BoundedHTTPAdapter(settings.timeouts, rewrite)
    session.mount("http://", transport)
    session.mount("https://", transport)
    session.headers["User-Agent"] = "publisher/0.1 (+library social media team)"
    # The environment (HTTPS_PROXY / NO_PROXY, REQUESTS_CA_BUNDLE) is read once, here: with ``trust_env``
    # requests re-reads it (and ~/.netrc) on every call, a sixth of a delivery's CPU at high rates.
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(configured or default_origin))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


def _rewrite_before_signing(session: requests.Session, rewrite: Mapping[str, str]) -> None:
    """Rewrite the origin when the request is prepared, before an auth hook (OAuth 1.0a) signs it.

    The transport rewrites too, but only at send time, after a signature was computed over the original
    URL; X (and its fake) check the signature against the URL actually requested.
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


# --- error mapping -------------------------------------------------------------------------------


def _host(exc: requests.RequestException) -> str:
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    return urlsplit(url).netloc or "the network"


#: Raised while the request is being prepared, before any byte is sent (an invalid header value built
#: from a token, a bad URL): never in doubt.
_BEFORE_SENDING = (
    RequestNotSent,
    requests.exceptions.ConnectTimeout,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
)


def not_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (not built, refused, DNS, connect timeout)."""
    if isinstance(exc, _BEFORE_SENDING):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False


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
        if not_sent(exc):
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
