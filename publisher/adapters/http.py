"""The HTTP mechanics every adapter (and the alert sender) shares.

* ``make_session`` builds the one ``requests.Session`` an adapter (and the client library it wraps) uses:
  connect and read timeouts on every request, an overall deadline per exchange, and the origin rewrite
  that points a library with a hard-coded host (vk-api, tweepy) at ``api_url`` from the settings. It is a
  ``PublisherSession``: a plain call (JSON, form or string body) skips requests' general road, and the
  transport reads a plain response header block without the email parser; both give what requests
  gives (tests/integration/test_http_lean.py, tests/unit/test_http_headers.py), at about half the CPU.
* ``transport_errors`` turns ``requests`` exceptions into ``TransientError`` (certainly not sent) or
  ``InDoubtError`` (possibly applied), with messages that never contain the URL (tokens live in URLs).
* ``response_excerpt`` gives a short, scrubbed piece of a response for the operator.
"""

from __future__ import annotations

import email.parser
import http.client
import os
import re
import threading
import time
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.hooks import dispatch_hook
from requests.sessions import preferred_clock
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
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
#: the JSON module requests encodes ``json=`` bodies with (simplejson when installed)
_JSON: Any = requests.compat.json  # type: ignore[attr-defined]


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


# --- response headers ----------------------------------------------------------------------------

#: One header line as the email parser takes it whole: a name of visible characters but ":", a colon, a
#: value without CR or LF, the line's end.
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]+:[^\r\n]*\r?\n\Z")
_END = (b"\r\n", b"\n", b"")


def parse_response_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``, without the email package's general parser for a plain header block.

    ``http.client`` hands the header block to ``email.parser`` (a generator-based MIME parser): ~40 us of
    CPU per response, a tenth of an API call here. A block whose every line is ``Name: value`` on one line,
    with no multipart or message content type, gives the same ``HTTPMessage`` built directly (the same
    headers, payload and no defects); anything else goes to the email parser as before.
    """
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]  # parse_headers's own limits
    message = _class()
    for raw in lines:
        if raw in _END:
            break
        line = raw.decode("iso-8859-1")
        if not _HEADER_LINE.match(line):
            return _email_parse(lines, _class)
        name, value = line.split(":", 1)
        message._headers.append((name, value.lstrip(" \t").rstrip("\r\n")))  # type: ignore[attr-defined]
    block = b"".join(lines).lower()
    if b"multipart/" in block or b"message/" in block:
        return _email_parse(lines, _class)
    message.set_payload("")
    return message


def _email_parse(lines: list[bytes], _class: type[http.client.HTTPMessage]) -> Any:
    return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))


def _begin_with_parser(parse: Any) -> Any:
    """``http.client.HTTPResponse.begin`` itself, reading headers with ``parse`` instead of the module's
    ``parse_headers`` (the same code with its own globals: nothing is patched for other users)."""
    begin = http.client.HTTPResponse.begin
    scope = dict(vars(http.client))
    scope["parse_headers"] = parse
    return types.FunctionType(begin.__code__, scope, begin.__name__, begin.__defaults__, begin.__closure__)


class _Response(http.client.HTTPResponse):
    begin = _begin_with_parser(parse_response_headers)


class _Connection(urllib3.connection.HTTPConnection):
    response_class = _Response


class _TLSConnection(urllib3.connection.HTTPSConnection):
    response_class = _Response


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


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
        self._pools: dict[tuple[Any, ...], Any] = {}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """requests' pool manager, whose pools read response headers with ``parse_response_headers``
        (0.03-0.04 ms of CPU less per call; a proxy's pools keep http.client's own reading)."""
        super().init_poolmanager(*args, **kwargs)
        if hasattr(http.client, "_read_headers"):  # 3.11-3.13; else http.client's own
            self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

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

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        """Without a proxy, the origin's connection pool as last found, while it is open (the pool manager
        closes a pool it drops): finding it again parses the URL twice and rebuilds the pool's key
        (~12 us per request)."""
        if proxies:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        parts = urlsplit(request.url or "")
        key = (parts.scheme, parts.netloc, verify, cert if not isinstance(cert, list) else tuple(cert))
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pools[key] = pool
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        """Without a proxy, the path and query, as requests gives them (without parsing the URL twice)."""
        if proxies:
            return super().request_url(request, proxies)
        return request.path_url

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        """requests' response, without reading cookies from an answer that sets none (~6 us per request:
        a cookie jar's mock request and response and its lock)."""
        headers = getattr(resp, "headers", None)
        if headers is None or "set-cookie" in headers or "set-cookie2" in headers:
            return super().build_response(req, resp)
        response = requests.Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url  # type: ignore[assignment]
        response.request = req
        response.connection = self
        return response

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


class PublisherSession(requests.Session):
    """The session ``make_session`` returns: requests' own, with a shorter road for the plain request.

    ``requests.Session.request`` costs ~0.35 ms of CPU per call before and after the transport (measured
    against the loopback fakes: 0.75 ms for ``session.post`` against 0.41 ms for a prepared request sent
    on the mounted transport): it merges every setting through generic mappings (``isinstance`` against
    ``typing`` protocols, ~9 us each on Python 3.11), builds cookie jars, re-parses the same URL and
    walks the redirect generator. At hundreds of deliveries per second that was a tenth of a delivery's
    CPU. ``request`` prepares the plain case (a JSON, form or string body, no files, no cookies anywhere,
    no per-call proxies, hooks, TLS options or stream) itself, to the same ``PreparedRequest`` requests
    would build, and sends it through the same mounted transport (timeouts, deadline, rewrite, counting
    and error mapping unchanged). Anything else takes ``requests.Session.request`` as before.
    """

    #: the prepared-URL cache's size: the adapters call a handful of fixed URLs (a token may be in one)
    URL_CACHE = 256

    def __init__(self, rewrite: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.rewrite: dict[str, str] = dict(rewrite or {})
        self._urls: dict[str, str] = {}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """Rewrite the origin before the request is prepared, so that an auth hook (OAuth 1.0a) signs it.

        The transport rewrites too, but only at send time, after a signature was computed over the
        original URL; X (and its fake) check the signature against the URL actually requested.
        """
        request.url = self._rewritten(request.url or "")
        return super().prepare_request(request)

    def _rewritten(self, url: str) -> str:
        for real, configured in self.rewrite.items():
            if url == real or url.startswith(real + "/"):
                return configured + url[len(real) :]
        return url

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: bool | None = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        if not (
            files or cookies or proxies or hooks or stream or verify is not None or cert is not None
        ) and self._plain(method, url, headers, data, allow_redirects):
            return self._lean(str(method), str(url), params, data, headers, auth, timeout, json)
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            cookies=cookies,
            files=files,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
            proxies=proxies,
            hooks=hooks,
            stream=stream,
            verify=verify,
            cert=cert,
            json=json,
        )

    def _plain(self, method: Any, url: Any, headers: Any, data: Any, allow_redirects: bool) -> bool:
        """True when the session's settings and the call leave nothing for requests' general road to do."""
        return (
            type(method) is str
            and type(url) is str
            and (headers is None or isinstance(headers, Mapping))
            and (not data or type(data) in (dict, str, bytes))
            and allow_redirects
            and not self.trust_env
            and not self.stream
            and not self.params
            and not self.hooks["response"]
            and len(self.cookies) == 0
        )

    def _lean(
        self,
        method: str,
        url: str,
        params: Any,
        data: Any,
        headers: Any,
        auth: Any,
        timeout: Any,
        json: Any,
    ) -> requests.Response:
        """What ``Session.request`` + ``prepare_request`` + ``send`` do for a plain call, without the rest."""
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        if params:
            prepared.prepare_url(self._rewritten(url), params)
        else:
            prepared.url = self._prepared_url(url)
        # Session headers, then the call's (the later name's spelling, the first one's place), None dropped.
        merged = {name.lower(): (name, value) for name, value in self.headers.items()}
        for name, value in (headers or {}).items():
            merged[name.lower()] = (name, value)
        prepared.prepare_headers({name: value for name, value in merged.values() if value is not None})
        body: Any = None
        content_type = None
        if data:
            if type(data) is dict:
                body, content_type = _form(data), "application/x-www-form-urlencoded"
            else:
                body = data
        elif json is not None:
            try:
                body = _JSON.dumps(json, allow_nan=False)
            except ValueError as exc:
                raise requests.exceptions.InvalidJSONError(exc, request=prepared) from None
            body, content_type = body.encode("utf-8"), "application/json"
        prepared.prepare_content_length(body)
        if content_type and "content-type" not in prepared.headers:
            prepared.headers["Content-Type"] = content_type
        prepared.body = body
        auth = auth if auth is not None else self.auth
        if auth is not None or "@" in (prepared.url or ""):  # requests reads credentials in the URL too
            prepared.prepare_auth(auth, prepared.url or "")
        return self._send_plain(prepared, timeout)

    def _send_plain(self, prepared: requests.PreparedRequest, timeout: Any) -> requests.Response:
        kwargs: dict[str, Any] = {
            "stream": False,
            "timeout": timeout,
            "verify": self.verify,
            "cert": self.cert,
            "proxies": dict(self.proxies),
        }
        adapter = self.get_adapter(url=prepared.url or "")
        start = preferred_clock()
        response = adapter.send(prepared, **kwargs)
        response.elapsed = timedelta(seconds=preferred_clock() - start)
        if prepared.hooks["response"]:  # an auth handler may have registered one
            response = dispatch_hook("response", prepared.hooks, response, **kwargs)  # type: ignore[no-untyped-call]
            for earlier in response.history:
                extract_cookies_to_jar(self.cookies, earlier.request, earlier.raw)  # type: ignore[no-untyped-call]
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies_to_jar(self.cookies, prepared, response.raw)  # type: ignore[no-untyped-call]
        if response.is_redirect:
            # As requests does: the jar it would have prepared (empty: the session's was) follows along.
            prepared._cookies = requests.cookies.RequestsCookieJar()  # type: ignore[attr-defined]
            history = list(self.resolve_redirects(response, prepared, **kwargs))
            if history:
                history.insert(0, response)
                response = history.pop()
                response.history = history
        response.content  # noqa: B018 - read already by the transport; the same call requests makes
        return response

    def _prepared_url(self, url: str) -> str:
        """``PreparedRequest.prepare_url`` of the rewritten URL, kept: it parses and re-quotes the same few
        URLs on every call (13 us each)."""
        found = self._urls.get(url)
        if found is None:
            prepared = requests.PreparedRequest()
            prepared.prepare_url(self._rewritten(url), None)
            found = prepared.url or ""
            if len(self._urls) >= self.URL_CACHE:
                self._urls.clear()
            self._urls[url] = found
        return found


def _form(data: dict[Any, Any]) -> str:
    """A form body exactly as ``requests`` encodes a dict (lists repeat the key, None values are left out),
    without its protocol checks (three ``isinstance`` against ``typing`` protocols, ~27 us)."""
    pairs: list[tuple[Any, Any]] = []
    for key, values in data.items():
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            values = [values]
        for value in values:
            if value is not None:
                pairs.append(
                    (
                        key.encode("utf-8") if isinstance(key, str) else key,
                        value.encode("utf-8") if isinstance(value, str) else value,
                    )
                )
    return urlencode(pairs, doseq=True)


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
    session = PublisherSession(rewrite)
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
