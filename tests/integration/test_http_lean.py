"""The session's plain road (``PublisherSession._lean``) against requests' own, byte for byte on the wire.

A loopback recorder keeps every request exactly as it arrived (request line, headers in order, body) and
answers like each network's publishing call. Each network's ``send_post`` runs once on the plain road and
once with the session forced onto ``requests.Session.request`` (``_plain`` answering False): the bytes
must be the same, and so must the errors that transport failures map to. X's post is compared with the
code it replaced (tweepy's ``create_tweet`` signed by requests-oauthlib), nonce and timestamp fixed.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import oauthlib.oauth1.rfc5849 as rfc5849  # type: ignore[import-untyped]
import pytest
import requests
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape  # type: ignore[import-untyped]
from pydantic import SecretStr
from requests_oauthlib import OAuth1  # type: ignore[import-untyped]

from publisher.adapters import x_oauth
from publisher.adapters.base import Adapter
from publisher.adapters.facebook import FacebookAdapter
from publisher.adapters.http import PublisherSession, make_session
from publisher.adapters.telegram import TelegramAdapter
from publisher.adapters.vk import VkAdapter
from publisher.adapters.x import XAdapter
from publisher.adapters.x_oauth import XSigner
from publisher.errors import InDoubtError, PublishError, TransientError
from publisher.models import Rendered
from publisher.settings import (
    FacebookSettings,
    HttpTimeouts,
    TelegramSettings,
    VkSettings,
    XSettings,
)
from tests.helpers import closed_url
from tests.media import png_file

TEXT = "Студенты посетили выставку редких книг & «журналы» #БНТУ @bntu"
X_KEYS = {
    "api_key": "consumer key+/=",
    "api_secret": "consumer sécret&~",
    "access_token": "123-token value",
    "access_token_secret": "token secret!*'()",
}
NONCE_BITS, NOW = 4242424242, 1_790_000_000


# --- a recorder that answers like the four publishing calls -------------------------------------------


def _answer(path: str) -> tuple[int, dict[str, Any]]:
    path = path.split("?", 1)[0]
    if path.endswith("/sendMessage"):
        return 200, {"ok": True, "result": {"message_id": 11, "date": NOW, "chat": {"id": -100}}}
    if path.endswith("/method/wall.post"):
        return 200, {"response": {"post_id": 12}}
    if path.endswith("/2/tweets"):
        return 201, {"data": {"id": "13", "text": "t"}}
    if path.endswith("/feed"):
        return 200, {"id": "100_14"}
    return 404, {"error": "no route"}


class Recorder:
    """Keeps each request's raw bytes. ``mode``: ok, drop (read, then close), hang (read, answer nothing),
    garbage (200 with a body that is not JSON), cookie (ok, setting a cookie), redirect (307 to ``/moved``
    once per path ``/moving...``)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.raw: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def take(self) -> list[bytes]:
        taken, self.raw = self.raw, []
        return taken

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                self.raw.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                if not self._reply(conn, head.split(b" ")[1].decode()):
                    return

    def _reply(self, conn: socket.socket, path: str) -> bool:
        if self.mode == "drop":
            return False
        if self.mode == "hang":
            with contextlib.suppress(OSError):
                select.select([conn], [], [], 5)
            return False
        extra = ""
        status, body = _answer(path)
        data = json.dumps(body).encode()
        if self.mode == "garbage":
            status, data = 200, b"<html>not json"
        elif self.mode == "cookie":
            extra = "Set-Cookie: remixlang=0; Path=/\r\n"
        elif self.mode == "redirect" and path.startswith("/moving"):
            status, data, extra = 307, b"", f"Location: {self.url}/moved{path[len('/moving') :]}\r\n"
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\n{extra}"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        conn.sendall(head.encode() + data)
        return True


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


# --- the adapters, on the plain road or on requests' --------------------------------------------------

TIMEOUTS = HttpTimeouts(connect=0.5, read=0.4, total=5.0)


def build(network: str, url: str) -> Adapter:
    if network == "telegram":
        token = SecretStr("123456:secret-token")
        bot = TelegramSettings(api_url=url, bot_token=token, chat_id="@news", timeouts=TIMEOUTS)
        return TelegramAdapter("telegram", bot)
    if network == "vk":
        token = SecretStr("vk1.a.secret-token")
        return VkAdapter("vk", VkSettings(api_url=url, access_token=token, group_id=77, timeouts=TIMEOUTS))
    if network == "facebook":
        token = SecretStr("EAAB-secret-token")
        page = FacebookSettings(api_url=url, page_id="100", page_access_token=token, timeouts=TIMEOUTS)
        return FacebookAdapter("facebook", page)
    keys = {name: SecretStr(value) for name, value in X_KEYS.items()}
    return XAdapter("x", XSettings(api_url=url, timeouts=TIMEOUTS, **keys))


def rendered(network: str) -> Rendered:
    mode = "HTML" if network == "telegram" else None
    return Rendered(
        network, network, TEXT, len(TEXT), 5000, link="https://lib.example.by/a?b=1", parse_mode=mode
    )


class Roads:
    """Counts the calls that took requests' road; ``general`` forces every call onto it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.general = False
        self.requests_road = 0
        plain = PublisherSession._plain
        request = requests.Session.request

        def choose(session: PublisherSession, *args: Any) -> bool:
            return not self.general and plain(session, *args)

        def counted(session: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
            self.requests_road += 1
            return request(session, *args, **kwargs)

        monkeypatch.setattr(PublisherSession, "_plain", choose)
        monkeypatch.setattr(requests.Session, "request", counted)


@pytest.fixture
def roads(monkeypatch: pytest.MonkeyPatch) -> Roads:
    # X's signatures: one nonce and one time for XSigner and for oauthlib alike.
    monkeypatch.setattr(x_oauth, "time", SimpleNamespace(time=lambda: float(NOW)))
    monkeypatch.setattr(x_oauth, "secrets", SimpleNamespace(randbits=lambda bits: NONCE_BITS))
    monkeypatch.setattr(rfc5849, "generate_nonce", lambda: f"{NONCE_BITS}{NOW}")
    monkeypatch.setattr(rfc5849, "generate_timestamp", lambda: str(NOW))
    return Roads(monkeypatch)


def publish_old_x(adapter: XAdapter, rendered: Rendered) -> None:
    """What X's ``send_post`` did before: tweepy's ``create_tweet``, signed by requests-oauthlib."""
    adapter.client.create_tweet(text=f"{rendered.text}\n{rendered.link}", media_ids=None, user_auth=True)


# --- the same bytes ----------------------------------------------------------------------------------

NETWORKS = ["telegram", "vk", "facebook", "x"]


@pytest.mark.parametrize("network", NETWORKS)
def test_each_networks_post_leaves_the_same_bytes_on_either_road(
    network: str, recorder: Recorder, roads: Roads
) -> None:
    adapter = build(network, recorder.url)
    post = rendered(network)
    adapter.send_post(post, [], "guid-1")
    adapter.send_post(post, [], "guid-1")  # a kept connection changes nothing
    plain = recorder.take()
    assert roads.requests_road == 0

    roads.general = True
    if isinstance(adapter, XAdapter):
        publish_old_x(adapter, post)
        publish_old_x(adapter, post)
    else:
        adapter.send_post(post, [], "guid-1")
        adapter.send_post(post, [], "guid-1")
    general = recorder.take()
    assert roads.requests_road == 2

    assert len(plain) == 2 and plain == general
    head = plain[0].split(b"\r\n\r\n")[0].decode("latin-1")
    wanted = {
        "telegram": "POST /bot123456:secret-token/sendMessage HTTP/1.1",
        "vk": "POST /method/wall.post HTTP/1.1",
        "facebook": f"POST /{FacebookSettings().graph_version}/100/feed HTTP/1.1",
        "x": "POST /2/tweets HTTP/1.1",
    }[network]
    assert head.startswith(wanted)
    if network == "x":
        assert f'oauth_nonce="{NONCE_BITS}{NOW}"' in head and "oauth_signature=" in head
    if network == "facebook":
        assert "Authorization: Bearer EAAB-secret-token" in head
    adapter.close()


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize(
    ("fault", "expected"),
    [("refused", TransientError), ("drop", InDoubtError), ("hang", InDoubtError), ("garbage", InDoubtError)],
)
def test_transport_failures_map_to_the_same_errors_on_either_road(
    network: str, fault: str, expected: type[PublishError], recorder: Recorder, roads: Roads
) -> None:
    url = closed_url() if fault == "refused" else recorder.url
    recorder.mode = fault
    seen = []
    for general in (False, True):
        roads.general = general
        adapter = build(network, url)
        with pytest.raises(PublishError) as caught:
            adapter.publish(rendered(network), "guid-2")
        seen.append((type(caught.value), str(caught.value)))
        adapter.close()
    assert seen[0] == seen[1]
    assert seen[0][0] is expected
    assert roads.requests_road == 1


# --- what the plain road leaves to requests ----------------------------------------------------------


def telegram_session(url: str) -> requests.Session:
    return make_session(TelegramSettings(api_url=url, timeouts=TIMEOUTS), "https://api.telegram.org")


def test_an_upload_takes_requests_road(recorder: Recorder, roads: Roads, tmp_path: Path) -> None:
    session = telegram_session(recorder.url)
    picture = png_file(tmp_path / "a.png", 1)
    with picture.open() as handle:
        session.post(f"{recorder.url}/bot1:t/sendPhoto", data={"chat_id": "1"}, files={"photo": handle})
    assert roads.requests_road == 1
    assert b"multipart/form-data" in recorder.take()[0]


def test_a_cookie_set_by_an_answer_is_sent_back_on_either_road(recorder: Recorder, roads: Roads) -> None:
    sent = []
    for general in (False, True):
        roads.general = general
        recorder.mode = "cookie"
        session = telegram_session(recorder.url)
        session.post(f"{recorder.url}/bot1:t/sendMessage", json={"text": "a"})
        recorder.mode = "ok"
        session.post(f"{recorder.url}/bot1:t/sendMessage", json={"text": "b"})
        sent.append(recorder.take())
        session.close()
    assert sent[0] == sent[1]
    assert b"Cookie: remixlang=0" in sent[0][1] and b"Cookie" not in sent[0][0]


def test_a_redirect_is_followed_the_same_way_on_either_road(recorder: Recorder, roads: Roads) -> None:
    results = []
    for general in (False, True):
        roads.general = general
        recorder.mode = "redirect"
        session = telegram_session(recorder.url)
        response = session.post(f"{recorder.url}/moving/sendMessage", json={"text": "a"})
        results.append(
            (recorder.take(), response.url, [r.status_code for r in response.history], response.json())
        )
        session.close()
    assert results[0] == results[1]
    assert results[0][2] == [307] and results[0][1].endswith("/moved/sendMessage")
    assert len(results[0][0]) == 2


def test_the_plain_road_gives_what_requests_gives(recorder: Recorder, roads: Roads) -> None:
    """The response's request, URL, encoding, history and JSON, for a JSON call and a form call with a
    query, headers of the call's own (one of them removing a session header) and a session auth."""
    seen: list[Any] = []
    for general in (False, True):
        roads.general = general
        session = telegram_session(recorder.url)
        session.auth = ("user", "password")
        calls: list[Callable[[requests.Session], requests.Response]] = [
            lambda s: s.post(f"{recorder.url}/bot1:t/sendMessage", json={"text": TEXT, "n": [1, None]}),
            lambda s: s.post(
                f"{recorder.url}/method/wall.post?x=1",
                params={"v": "5.199", "q": ["a b", "é"]},
                data={"message": TEXT, "owner_id": -1, "skip": None, "many": ["a", "b"], "flag": True},
                headers={"accept": "text/json", "User-Agent": None, "X-Extra": "1"},
            ),
            lambda s: s.get(f"{recorder.url}/bot1:t/getMe", timeout=3),
        ]
        for call in calls:
            response = call(session)
            prepared = response.request
            seen.append(
                (
                    prepared.method,
                    prepared.url,
                    list(prepared.headers.items()),
                    prepared.body,
                    response.url,
                    response.status_code,
                    response.encoding,
                    response.history,
                    response.content,
                    response.json(),
                )
            )
        seen.append(recorder.take())
        session.close()
    half = len(seen) // 2
    assert seen[:half] == seen[half:]
    assert roads.requests_road == 3


def test_plain_response_headers_are_read_without_the_email_parser(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport's pools read a plain header block themselves (``parse_response_headers``)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the email parser was used")

    monkeypatch.setattr("email.parser.Parser.parsestr", refuse)
    session = telegram_session(recorder.url)
    response = session.post(f"{recorder.url}/bot1:t/sendMessage", json={"text": "a"})
    assert response.json()["result"]["message_id"] == 11
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.raw.getheaders() == response.headers
    session.close()


def test_xsigner_signs_as_requests_oauthlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same Authorization header as requests-oauthlib for the same nonce and time; anything with
    parameters of its own (a query, a form) is handed to requests-oauthlib."""
    monkeypatch.setattr(x_oauth, "time", SimpleNamespace(time=lambda: float(NOW)))
    monkeypatch.setattr(x_oauth, "secrets", SimpleNamespace(randbits=lambda bits: NONCE_BITS))
    keys = tuple(X_KEYS.values())
    reference = OAuth1(
        keys[0],
        client_secret=keys[1],
        resource_owner_key=keys[2],
        resource_owner_secret=keys[3],
        decoding=None,
        nonce=f"{NONCE_BITS}{NOW}",
        timestamp=str(NOW),
    )
    handed: list[str] = []

    def fallback(request: requests.PreparedRequest) -> requests.PreparedRequest:
        handed.append(request.url or "")
        return reference(request)  # type: ignore[no-any-return]

    signer = XSigner(keys, fallback)
    cases = [
        ("POST", "https://api.x.com/2/tweets", {"json": {"text": TEXT}}),
        ("POST", "http://127.0.0.1:8123/2/tweets", {"json": {"text": "a"}}),
        ("POST", "https://API.X.com:443/2/media/upload/7/finalize", {}),
        ("GET", "https://api.x.com/2/users/me", {}),
        ("GET", "https://api.x.com/2/users/1/tweets?max_results=100&start_time=2026-01-01", {}),
        ("POST", "https://api.x.com/2/media/upload", {"data": {"media_category": "tweet_image"}}),
    ]
    for method, url, body in cases:
        ours = requests.Request(method, url, auth=signer, **body).prepare()
        theirs = requests.Request(method, url, auth=reference, **body).prepare()
        assert ours.headers["Authorization"] == theirs.headers["Authorization"], url
        assert list(ours.headers.items()) == list(theirs.headers.items())
        assert (ours.url, ours.body) == (theirs.url, theirs.body)
    assert handed == [cases[4][1], cases[5][1]]


def test_xsigner_signatures_verify_with_a_fresh_nonce_each() -> None:
    """At the real time and with random nonces, each header verifies as the X fake checks it."""
    keys = tuple(X_KEYS.values())
    signer = XSigner(keys, lambda r: r)
    url = "https://api.x.com/2/tweets"
    nonces = set()
    for _ in range(3):
        params = [(k, unescape(v)) for k, v in parse_authorization_header(signer.header("POST", url))]
        found = dict(params)
        nonces.add(found["oauth_nonce"])
        assert found["oauth_consumer_key"] == keys[0] and found["oauth_token"] == keys[2]
        signed = SimpleNamespace(
            http_method="POST",
            uri=url,
            params=[(k, v) for k, v in params if k != "oauth_signature"],
            signature=found["oauth_signature"],
        )
        assert oauth_signature.verify_hmac_sha1(signed, keys[1], keys[3])
    assert len(nonces) == 3
