"""XAdapter through the real tweepy client against FakeX (which checks OAuth 1.0a signatures)."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, quote_plus

import pytest
import requests
from oauthlib.oauth1.rfc5849.signature import verify_hmac_sha1
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape
from pydantic import SecretStr
from requests.adapters import HTTPAdapter

from publisher.adapters.x import XAdapter
from publisher.errors import (
    AccountError,
    AuthError,
    ContentRejected,
    InDoubtError,
    PublishError,
    RateLimited,
    TransientError,
)
from publisher.models import MediaItem, PublishResult, ReconcileStatus, Rendered, SentPost
from publisher.ops.redact import register_secret
from publisher.settings import HttpTimeouts, XSettings
from tests.fakes.base import Fault
from tests.fakes.x import ME, TIMELINE, TWEETS, UPLOAD, FakeX
from tests.helpers import READ_TIMEOUT, captured_log, closed_url
from tests.media import png_file

USER_ID = "1580000000000000001"


def canary(prefix: str = "") -> str:
    """A long random secret with characters that URL-encoding changes (so both forms are checked)."""
    return prefix + base64.b64encode(os.urandom(24)).decode() + "+/x="


Creds = dict[str, str]


@pytest.fixture
def creds() -> Creds:
    return {
        "api_key": canary(),
        "api_secret": canary(),
        "access_token": canary(f"{USER_ID}-"),
        "access_token_secret": canary(),
    }


def start_fake(creds: Creds, **kwargs: object) -> FakeX:
    fake = FakeX(
        user_id=USER_ID,
        consumer_key=creds["api_key"],
        consumer_secret=creds["api_secret"],
        access_token=creds["access_token"],
        access_token_secret=creds["access_token_secret"],
        **kwargs,  # type: ignore[arg-type]
    )
    return fake.start()


@pytest.fixture
def fake(creds: Creds) -> Iterator[FakeX]:
    server = start_fake(creds)
    yield server
    server.stop()


def make_adapter(url: str, creds: Creds, username: str | None = "bntu_library") -> XAdapter:
    settings = XSettings(
        api_url=url,
        username=username,
        timeouts=HttpTimeouts(connect=0.5, read=READ_TIMEOUT, total=5),
        **{name: SecretStr(value) for name, value in creds.items()},  # type: ignore[arg-type]
    )
    return XAdapter("x", settings)


@pytest.fixture
def adapter(fake: FakeX, creds: Creds) -> Iterator[XAdapter]:
    a = make_adapter(fake.url, creds)
    yield a
    a.close()


def image(tmp_path: Path, n: int = 0, mime: str = "image/png") -> MediaItem:
    return png_file(tmp_path / f"photo{n}.png", n, mime=mime)


def rendered(text: str, media: tuple[MediaItem, ...] = (), link: str | None = None) -> Rendered:
    return Rendered(target="x", network="x", text=text, length=len(text), limit=280, media=media, link=link)


def tweet_requests(fake: FakeX) -> list[dict[str, object]]:
    return [r.json for r in fake.requests if r.method == "POST" and r.path == "/2/tweets"]


# --- publishing ------------------------------------------------------------------------------------


def test_text_post_returns_id_and_public_url(adapter: XAdapter, fake: FakeX) -> None:
    before = datetime.now(UTC)
    result = adapter.publish(rendered("Библиотека открыта до 20:00 в субботу."), "key-1")

    assert len(fake.applied) == 1
    post = fake.tweets[0]
    assert post["sent_text"] == "Библиотека открыта до 20:00 в субботу."
    assert result.remote_id == post["id"]
    assert result.remote_ids == (post["id"],)
    assert result.url == f"https://x.com/bntu_library/status/{post['id']}"
    assert result.published_at >= before and result.published_at.tzinfo is not None
    assert post["id"] in result.excerpt


def test_url_without_username_uses_the_web_status_form(fake: FakeX, creds: Creds) -> None:
    adapter = make_adapter(fake.url, creds, username=None)
    result = adapter.publish(rendered("Новые поступления"), "k")
    assert result.url == f"https://x.com/i/web/status/{result.remote_id}"


def test_mentions_and_hashtags_arrive_verbatim(adapter: XAdapter, fake: FakeX) -> None:
    text = "Встреча с @bntu_rector и @minobr_by в читальном зале №3 #БНТУ #библиотека"
    adapter.publish(rendered(text), "k")
    assert tweet_requests(fake) == [{"text": text}]


def test_link_is_appended_once(adapter: XAdapter, fake: FakeX) -> None:
    adapter.publish(rendered("Каталог обновлён", link="https://library.bntu.by/news/42"), "k1")
    adapter.publish(rendered("См. https://library.bntu.by/a", link="https://library.bntu.by/a"), "k2")
    texts = [r["text"] for r in tweet_requests(fake)]
    assert texts == ["Каталог обновлён\nhttps://library.bntu.by/news/42", "См. https://library.bntu.by/a"]


def test_post_with_one_image(adapter: XAdapter, fake: FakeX, tmp_path: Path) -> None:
    item = image(tmp_path)
    adapter.publish(rendered("Выставка", (item,)), "k")

    ((media_id, media),) = fake.media.items()
    assert media["data"] == item.path.read_bytes()
    assert (media["type"], media["category"], media["name"]) == ("image/png", "tweet_image", item.name)
    assert fake.tweets[0]["media_ids"] == [media_id]
    assert tweet_requests(fake)[0] == {"text": "Выставка", "media": {"media_ids": [media_id]}}


def test_post_with_four_images_keeps_their_order(adapter: XAdapter, fake: FakeX, tmp_path: Path) -> None:
    items = tuple(image(tmp_path, n) for n in range(4))
    adapter.publish(rendered("Фотоотчёт", items), "k")

    by_name = {m["name"]: mid for mid, m in fake.media.items()}
    assert fake.tweets[0]["media_ids"] == [by_name[i.name] for i in items]
    assert len(fake.applied) == 1


def test_media_x_cannot_take_is_refused_before_any_call(
    adapter: XAdapter, fake: FakeX, tmp_path: Path
) -> None:
    items = tuple(image(tmp_path, n) for n in range(5))
    with pytest.raises(ContentRejected):
        adapter.publish(rendered("Слишком много", items), "k")
    assert fake.requests == []


def test_same_text_twice_is_refused_as_duplicate(adapter: XAdapter, fake: FakeX) -> None:
    adapter.publish(rendered("Повтор"), "k1")
    with pytest.raises(ContentRejected, match="duplicate"):
        adapter.publish(rendered("Повтор"), "k2")
    assert len(fake.applied) == 1


def test_production_calls_go_to_api_x_com_signed_for_that_host(creds: Creds) -> None:
    """tweepy builds api.twitter.com URLs; they must leave for api.x.com, signed for api.x.com."""
    adapter = XAdapter("x", XSettings(**{k: SecretStr(v) for k, v in creds.items()}))  # type: ignore[arg-type]
    recorder = Recorder()
    adapter.session.mount("https://", recorder)  # no network: the transport answers itself
    adapter.check()
    (sent,) = recorder.sent
    assert sent.url == "https://api.x.com/2/users/me"
    header = str(sent.headers["Authorization"])
    params = [(k, unescape(v)) for k, v in parse_authorization_header(header)]
    signed = SimpleNamespace(
        http_method="GET",
        uri=sent.url,
        params=[(k, v) for k, v in params if k != "oauth_signature"],
        signature=dict(params)["oauth_signature"],
    )
    assert verify_hmac_sha1(signed, creds["api_secret"], creds["access_token_secret"])


class Recorder(HTTPAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"data": {"id": "1", "name": "n", "username": "bntu_library"}}'
        response.headers["Content-Type"] = "application/json"
        response.request, response.url = request, request.url or ""
        return response


# --- check -------------------------------------------------------------------------------------------


def test_check_names_the_account(adapter: XAdapter) -> None:
    info = adapter.check()
    assert (info.target, info.account, info.can_post) == ("x", "@bntu_library", True)
    assert "read-write" in info.detail


def test_check_sees_a_read_only_token(creds: Creds) -> None:
    with start_fake(creds, access_level="read") as fake:
        info = make_adapter(fake.url, creds).check()
    assert info.can_post is False
    assert "Read and write" in info.detail


def test_check_with_a_wrong_secret_is_an_auth_error(fake: FakeX, creds: Creds) -> None:
    # The fake verifies the HMAC signature, so a wrong secret fails the way it fails on X.
    adapter = make_adapter(fake.url, {**creds, "access_token_secret": canary()})
    with pytest.raises(AuthError) as info:
        adapter.check()
    assert info.value.status == 401


def test_check_with_a_revoked_token_is_an_auth_error(adapter: XAdapter, fake: FakeX) -> None:
    fake.reject_credentials(ME)
    with pytest.raises(AuthError, match="revoked"):
        adapter.check()


# --- reconcile ---------------------------------------------------------------------------------------

LINK_TEXT = "Читайте: https://library.bntu.by/news?id=5&lang=ru — R&D в библиотеке"


def test_reconcile_finds_a_post_whose_answer_was_lost(adapter: XAdapter, fake: FakeX) -> None:
    started = datetime.now(UTC)
    fake.inject(Fault("timeout_after_apply", path=TWEETS, seconds=READ_TIMEOUT * 2))
    with pytest.raises(InDoubtError):
        adapter.publish(rendered(LINK_TEXT), "k")
    # X keeps the text with the URL as a t.co link and '&' escaped: matching must see past that.
    assert fake.tweets[0]["text"] != LINK_TEXT

    result = adapter.reconcile(SentPost.of(rendered(LINK_TEXT)), started)

    assert result.status is ReconcileStatus.FOUND
    assert result.ref is not None
    assert result.ref.remote_id == fake.tweets[0]["id"]
    assert result.ref.url == f"https://x.com/bntu_library/status/{fake.tweets[0]['id']}"
    assert len(fake.applied) == 1


def test_reconcile_absent_ignores_older_and_other_posts(adapter: XAdapter, fake: FakeX) -> None:
    started = datetime.now(UTC)
    fake.add_post(LINK_TEXT, created_at=started - timedelta(hours=3))  # same text, long before
    fake.add_post("Другой пост", created_at=started)
    result = adapter.reconcile(SentPost.of(rendered(LINK_TEXT)), started)
    assert result.status is ReconcileStatus.ABSENT
    timeline = [r for r in fake.requests if r.path == f"/2/users/{USER_ID}/tweets"]
    assert timeline and timeline[0].query["start_time"] == (started - timedelta(minutes=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@pytest.mark.parametrize("path,fail", [(ME, "server_error"), (TIMELINE, "rate_limit")])
def test_reconcile_unknown_when_the_lookup_fails(
    adapter: XAdapter, fake: FakeX, path: str, fail: str
) -> None:
    fake.add_post("Пост", created_at=datetime.now(UTC))
    getattr(fake, fail)(path=path)
    result = adapter.reconcile(SentPost.of(rendered("Пост")), datetime.now(UTC))
    assert result.status is ReconcileStatus.UNKNOWN
    assert result.ref is None


# --- fault matrix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[FakeX], object]
    error: type[PublishError] | None
    applied: int
    with_image: bool = False


CASES = [
    Case("latency within timeout", lambda f: f.inject(Fault("latency", TWEETS, seconds=0.2)), None, 1),
    # X gives no guarantee that a 5xx on POST /2/tweets did not create the post: in doubt.
    Case("503 on the post", lambda f: f.server_error(503), InDoubtError, 0),
    Case("429 on the post", lambda f: f.rate_limit(), RateLimited, 0),
    Case("daily cap on the post", lambda f: f.rate_limit(20_000, daily=True), RateLimited, 0),
    Case("401 revoked token", lambda f: f.reject_credentials(TWEETS), AuthError, 0),
    Case("403 app without write permission", lambda f: f.forbid(), AuthError, 0),
    Case("403 duplicate", lambda f: f.reject_duplicate(), ContentRejected, 0),
    # Issue 11, point 12: what holds for the whole account pauses the target; a 403 about the post fails it.
    Case("402 credits depleted", lambda f: f.deplete_credits(), AccountError, 0),
    Case("402 credits depleted on the upload", lambda f: f.deplete_credits(), AccountError, 0, True),
    Case("403 account not permitted", lambda f: f.forbid_account(), AccountError, 0),
    Case("403 app outside a Project", lambda f: f.forbid_client(), AuthError, 0),
    Case("403 about this post", lambda f: f.refuse_post(), ContentRejected, 0),
    Case("400 text refused", lambda f: f.reject_invalid(), ContentRejected, 0),
    Case(
        "read timeout after apply",
        lambda f: f.inject(Fault("timeout_after_apply", TWEETS, seconds=READ_TIMEOUT * 2)),
        InDoubtError,
        1,
    ),
    Case("drop before apply", lambda f: f.inject(Fault("drop_before_apply", TWEETS)), InDoubtError, 0),
    Case("drop after apply", lambda f: f.inject(Fault("drop_after_apply", TWEETS)), InDoubtError, 1),
    Case("malformed JSON", lambda f: f.inject(Fault("malformed_after_apply", TWEETS)), InDoubtError, 1),
    Case(
        "201 without id",
        lambda f: f.inject(Fault("raw", TWEETS, status=201, body={"data": {"text": "?"}})),
        InDoubtError,
        1,
    ),
    # A failed image upload happens before the post is sent: never in doubt.
    Case("503 on the upload", lambda f: f.server_error(503, path=UPLOAD), TransientError, 0, True),
    Case("429 on the upload", lambda f: f.rate_limit(path=UPLOAD), RateLimited, 0, True),
    Case(
        "timeout on the upload",
        lambda f: f.inject(Fault("timeout_after_apply", UPLOAD, seconds=READ_TIMEOUT * 2)),
        TransientError,
        0,
        True,
    ),
    Case(
        "400 on the upload", lambda f: f.reject_invalid("Unsupported image", UPLOAD), ContentRejected, 0, True
    ),
]


def run_case(case: Case, fake: FakeX, adapter: XAdapter, tmp_path: Path) -> PublishResult | PublishError:
    setup = case.setup(fake)
    media = (image(tmp_path),) if case.with_image else ()
    try:
        result: PublishResult | PublishError = adapter.publish(rendered(f"Пост: {case.name}", media), "k")
    except PublishError as exc:
        result = exc
    if isinstance(result, RateLimited):
        assert isinstance(setup, int)
        assert result.reset_at == datetime.fromtimestamp(setup, UTC)
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_matrix(case: Case, adapter: XAdapter, fake: FakeX, tmp_path: Path) -> None:
    outcome = run_case(case, fake, adapter, tmp_path)
    if case.error is None:
        assert isinstance(outcome, PublishResult)
    else:
        assert type(outcome) is case.error, outcome
        assert isinstance(outcome, PublishError) and outcome.network == "x" and outcome.target == "x"
    assert len(fake.applied) == case.applied


def test_daily_cap_reports_the_account_scope(adapter: XAdapter, fake: FakeX) -> None:
    reset = fake.rate_limit(20_000, daily=True)
    with pytest.raises(RateLimited) as info:
        adapter.publish(rendered("Пост"), "k")
    assert info.value.reset_at == datetime.fromtimestamp(reset, UTC)
    assert info.value.scope == "account"


def test_connection_refused_is_transient(creds: Creds) -> None:
    adapter = make_adapter(closed_url(), creds)
    with pytest.raises(TransientError) as info:
        adapter.publish(rendered("Пост"), "k")
    assert type(info.value) is TransientError


# --- secrets -----------------------------------------------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    with captured_log() as stream:
        yield stream


def test_no_secret_leaks_through_the_fault_matrix(
    creds: Creds, debug_log: io.StringIO, tmp_path: Path
) -> None:
    for value in creds.values():
        register_secret(value)  # as load_settings does for every token it loads
    seen: list[object] = []
    with start_fake(creds) as fake:  # one server: each case's text differs, so no duplicates
        adapter = make_adapter(fake.url, creds)
        for case in CASES:
            fake.clear_faults()
            seen.append(run_case(case, fake, adapter, tmp_path))
        fake.reject_credentials(ME)
        for _ in range(2):
            try:
                seen.append(adapter.check())
            except PublishError as exc:
                seen.append(exc)
        seen.append(adapter.reconcile(SentPost.of(rendered("Пост: drop after apply")), datetime.now(UTC)))
        seen.append(adapter)
        # The canaries really travelled: the fake saw the key in the signed header.
        assert any(
            quote(creds["api_key"], safe="~") in r.headers.get("authorization", "") for r in fake.requests
        )
    adapter.close()
    assert any(isinstance(o, AuthError) for o in seen)

    log = debug_log.getvalue()
    assert "Authorization" in log or "oauth_consumer_key" in log  # the debug lines we scrub were there
    texts = [log] + [str(o) for o in seen] + [repr(o) for o in seen]
    for secret in creds.values():
        for form in {secret, quote(secret, safe=""), quote_plus(secret), quote(secret, safe="~")}:
            for text in texts:
                assert form not in text
