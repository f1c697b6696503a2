"""FacebookAdapter against the loopback Graph fake: posts, check, reconcile, faults, secrets."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from publisher.adapters.facebook import FacebookAdapter
from publisher.errors import (
    AuthError,
    ContentRejected,
    InDoubtError,
    PermanentError,
    PublishError,
    RateLimited,
    TransientError,
)
from publisher.models import MediaItem, PublishResult, ReconcileStatus, Rendered, SentPost
from publisher.ops.redact import register_secret
from publisher.settings import FacebookSettings, HttpTimeouts
from tests.fakes.base import Fault
from tests.fakes.facebook import FEED_PATH, PHOTOS_PATH, FakeFacebook
from tests.helpers import READ_TIMEOUT, captured_log, closed_url
from tests.media import png_bytes, png_file

TEXT = "Встреча с Иваном Петровым в читальном зале 🙂 #библиотека #БНТУ"


# --- helpers -------------------------------------------------------------------------------------


def image(tmp_path: Path, seed: int = 0) -> MediaItem:
    return png_file(tmp_path / f"photo{seed}.png", seed)


def rendered(text: str = TEXT, media: tuple[MediaItem, ...] = (), link: str | None = None) -> Rendered:
    return Rendered("facebook", "facebook", text, len(text), 63206, media=media, link=link)


def make_adapter(url: str, page_id: str, token: str, read: float = READ_TIMEOUT) -> FacebookAdapter:
    settings = FacebookSettings(
        api_url=url,
        page_id=page_id,
        page_access_token=SecretStr(token),
        timeouts=HttpTimeouts(connect=0.5, read=read, total=5.0),
    )
    return FacebookAdapter("facebook", settings)


@pytest.fixture
def fake() -> Iterator[FakeFacebook]:
    server = FakeFacebook()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def adapter(fake: FakeFacebook) -> Iterator[FacebookAdapter]:
    a = make_adapter(fake.url, fake.page_id, fake.token)
    yield a
    a.close()


def publishing(fake: FakeFacebook) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST"]


# --- publishing ----------------------------------------------------------------------------------


def test_text_post_returns_id_and_url_and_keeps_token_out_of_urls(
    fake: FakeFacebook, adapter: FacebookAdapter
) -> None:
    result = adapter.publish(rendered(), "key-1")

    assert len(fake.applied) == 1
    (post,) = fake.feed
    assert post.message == TEXT
    assert result.remote_id == post.id and result.remote_ids == (post.id,)
    page, _, story = post.id.partition("_")
    assert result.url == f"https://www.facebook.com/{page}/posts/{story}"
    assert result.published_at.tzinfo is not None
    assert post.id in result.excerpt
    (request,) = fake.requests
    assert request.path == f"/v24.0/{fake.page_id}/feed"
    assert request.headers["authorization"] == f"Bearer {fake.token}"
    assert fake.token not in json.dumps(request.query) and fake.token not in request.body.decode()


def test_link_post_sends_link(fake: FakeFacebook, adapter: FacebookAdapter) -> None:
    adapter.publish(rendered(link="https://library.bntu.by/news/1"), "k")
    assert fake.feed[0].link == "https://library.bntu.by/news/1"
    assert fake.requests[0].form["message"] == TEXT


def test_one_image_post(fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path) -> None:
    result = adapter.publish(rendered(media=(image(tmp_path),)), "k")

    assert publishing(fake) == [f"/v24.0/{fake.page_id}/photos"]
    assert len(fake.applied) == 1
    (post,) = fake.feed
    (photo_id,) = post.photos
    assert fake.photos[photo_id].data == png_bytes(0)
    assert fake.requests[0].form == {"message": TEXT, "published": "true"}
    assert result.remote_id == post.id and result.remote_ids == (post.id, photo_id)


def test_image_post_puts_link_into_text(fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path) -> None:
    adapter.publish(rendered(media=(image(tmp_path),), link="https://lib.example/x"), "k")
    assert fake.feed[0].message == TEXT + "\n\nhttps://lib.example/x"


def test_several_images_upload_unpublished_then_one_feed_post(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    media = tuple(image(tmp_path, i) for i in range(3))
    result = adapter.publish(rendered(media=media), "k")

    feed = f"/v24.0/{fake.page_id}/feed"
    photos = f"/v24.0/{fake.page_id}/photos"
    assert publishing(fake) == [photos, photos, photos, feed]
    assert [r.form.get("published") for r in fake.requests[:3]] == ["false"] * 3
    assert len(fake.applied) == 1 and len(fake.feed) == 1
    post = fake.feed[0]
    assert post.message == TEXT
    assert [fake.photos[p].data for p in post.photos] == [png_bytes(i) for i in range(3)]
    attached = [json.loads(fake.requests[3].form[f"attached_media[{i}]"]) for i in range(3)]
    assert [a["media_fbid"] for a in attached] == post.photos
    assert result.remote_ids == (post.id, *post.photos)


def test_mentions_and_cyrillic_arrive_verbatim(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    # The composer writes Facebook mentions as plain names; the text must reach Graph byte for byte.
    text = "Поздравляем Марию Ковалёву и «Клуб чтения» ✨\nСпасибо, Библиотека БНТУ! #НеделяКниги"
    adapter.publish(rendered(text), "a")
    adapter.publish(rendered(text + " 2", media=(image(tmp_path),)), "b")
    assert fake.requests[0].form["message"] == text
    assert fake.requests[1].form["message"] == text + " 2"
    assert [p.message for p in fake.feed] == [text, text + " 2"]


def test_missing_image_file_is_permanent(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    item = image(tmp_path)
    item.path.unlink()
    with pytest.raises(PermanentError, match=r"photo0\.png") as err:
        adapter.publish(rendered(media=(item,)), "k")
    assert type(err.value) is PermanentError and fake.requests == []


# --- check ---------------------------------------------------------------------------------------


def test_check_reports_page_name(fake: FakeFacebook, adapter: FacebookAdapter) -> None:
    info = adapter.check()
    assert info.can_post is True
    assert info.account == f"Библиотека БНТУ ({fake.page_id})"


def test_check_with_a_token_of_someone_else(fake: FakeFacebook) -> None:
    other = "EAAother" + secrets.token_hex(16)
    fake.identities[other] = ("555", "Иван Админов")
    a = make_adapter(fake.url, fake.page_id, other)
    info = a.check()
    assert info.can_post is False
    assert "Иван Админов" in info.detail and "PAGE_ACCESS_TOKEN" in info.detail


def test_check_auth_failure_is_readable(fake: FakeFacebook) -> None:
    a = make_adapter(fake.url, fake.page_id, "EAAwrong" + secrets.token_hex(16))
    with pytest.raises(AuthError) as err:
        a.check()
    assert "Page access token" in str(err.value) and err.value.code == 190


def test_check_expired_token(fake: FakeFacebook, adapter: FacebookAdapter) -> None:
    fake.expire_token()
    with pytest.raises(AuthError, match="expired"):
        adapter.check()


# --- reconcile -----------------------------------------------------------------------------------


def test_reconcile_found(fake: FakeFacebook, adapter: FacebookAdapter) -> None:
    started = datetime.now(UTC)
    fake.add_post("Другой пост")
    post = fake.add_post("  " + TEXT.replace(" ", "\n", 1) + " ")  # whitespace differs
    result = adapter.reconcile(SentPost.of(rendered()), started)
    assert result.status is ReconcileStatus.FOUND
    assert result.ref is not None and result.ref.remote_id == post.id
    assert result.ref.url and post.id.split("_")[1] in result.ref.url


def test_reconcile_absent_ignores_older_posts_with_same_text(
    fake: FakeFacebook, adapter: FacebookAdapter
) -> None:
    started = datetime.now(UTC)
    fake.add_post(TEXT, created_time=started - timedelta(hours=1))
    fake.add_post("Другой пост")
    result = adapter.reconcile(SentPost.of(rendered()), started)
    assert result.status is ReconcileStatus.ABSENT
    assert fake.requests[-1].query["since"] == str(int((started - timedelta(minutes=2)).timestamp()))


def test_reconcile_finds_an_in_doubt_image_post(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    fake.inject(Fault("timeout_after_apply", path=PHOTOS_PATH, seconds=60))
    post = rendered(media=(image(tmp_path),), link="https://lib.example/x")
    with pytest.raises(InDoubtError):
        adapter.publish(post, "k")
    result = adapter.reconcile(SentPost.of(post), started)
    assert result.status is ReconcileStatus.FOUND
    assert result.ref is not None and result.ref.remote_id == fake.feed[0].id


def test_reconcile_unknown_when_lookup_fails(fake: FakeFacebook, adapter: FacebookAdapter) -> None:
    fake.transient_failure(path=FEED_PATH)
    assert adapter.reconcile(SentPost.of(rendered()), datetime.now(UTC)).status is ReconcileStatus.UNKNOWN
    gone = make_adapter(closed_url(), fake.page_id, fake.token)
    assert gone.reconcile(SentPost.of(rendered()), datetime.now(UTC)).status is ReconcileStatus.UNKNOWN


# --- fault matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    arrange: Callable[[FakeFacebook], None]
    expect: type[PublishError] | None
    applied: int
    retry_after: float | None = None


def _inject(**kw: object) -> Callable[[FakeFacebook], None]:
    return lambda f: f.inject(Fault(path=FEED_PATH, **kw))  # type: ignore[arg-type]


CASES = [
    Case("latency within timeout", _inject(kind="latency", seconds=0.2), None, 1),
    # A 5xx on the publishing POST: Graph never promises the post was not created.
    Case("plain 500", _inject(kind="status", status=500, body="<html>Internal</html>"), InDoubtError, 0),
    Case("graph transient 503", lambda f: f.transient_failure(503, FEED_PATH), InDoubtError, 0),
    # is_transient with HTTP 400: the guide says retry, not "not applied" -> in doubt for a publish.
    Case(
        "is_transient on 400",
        lambda f: f.fail(1, "An unknown error occurred", is_transient=True, path=FEED_PATH),
        InDoubtError,
        0,
    ),
    Case(
        "429 retry-after",
        _inject(kind="status", status=429, body="", headers={"Retry-After": "30"}),
        RateLimited,
        0,
        30,
    ),
    Case("page limit 32", lambda f: f.throttle(32, 5, "X-Page-Usage", FEED_PATH), RateLimited, 0, 300),
    Case(
        "BUC 80001",
        lambda f: f.throttle(80001, 12, "X-Business-Use-Case-Usage", FEED_PATH),
        RateLimited,
        0,
        720,
    ),
    Case("app limit 4", lambda f: f.throttle(4, 0, "X-App-Usage", FEED_PATH), RateLimited, 0, None),
    Case("user limit 17", lambda f: f.throttle(17, 3, "X-Page-Usage", FEED_PATH), RateLimited, 0, 180),
    Case(
        "endpoint limit 613",
        lambda f: f.throttle(613, 1, "X-Business-Use-Case-Usage", FEED_PATH),
        RateLimited,
        0,
        60,
    ),
    Case("expired token 190", lambda f: f.expire_token(FEED_PATH), AuthError, 0),
    Case("permission 200", lambda f: f.deny_permission(FEED_PATH), AuthError, 0),
    Case(
        "permission 10",
        lambda f: f.fail(10, "(#10) Application does not have permission", path=FEED_PATH),
        AuthError,
        0,
    ),
    Case("duplicate 506", lambda f: f.reject_duplicate(FEED_PATH), ContentRejected, 0),
    Case("policy 368", lambda f: f.block_for_policy(FEED_PATH), ContentRejected, 0),
    Case("read timeout after apply", _inject(kind="timeout_after_apply", seconds=60), InDoubtError, 1),
    Case("dropped before apply", _inject(kind="drop_before_apply"), InDoubtError, 0),
    Case("dropped after apply", _inject(kind="drop_after_apply"), InDoubtError, 1),
    Case("malformed json", _inject(kind="malformed_after_apply"), InDoubtError, 1),
    Case("200 without id", _inject(kind="raw", status=200, body={"success": True}), InDoubtError, 1),
]


def run_case(fake: FakeFacebook, adapter: FacebookAdapter, case: Case) -> PublishResult | PublishError:
    case.arrange(fake)
    try:
        return adapter.publish(rendered(), "key")
    except PublishError as exc:
        return exc


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_matrix(fake: FakeFacebook, adapter: FacebookAdapter, case: Case) -> None:
    outcome = run_case(fake, adapter, case)
    if case.expect is None:
        assert isinstance(outcome, PublishResult)
    else:
        assert type(outcome) is case.expect, repr(outcome)
        assert outcome.network == "facebook" and outcome.target == "facebook"
    if isinstance(outcome, RateLimited):
        assert outcome.retry_after == case.retry_after
    assert len(fake.applied) == case.applied


def test_connection_refused_is_transient(fake: FakeFacebook) -> None:
    a = make_adapter(closed_url(), fake.page_id, fake.token)
    with pytest.raises(TransientError) as err:
        a.publish(rendered(), "k")
    assert type(err.value) is TransientError


@pytest.mark.parametrize(
    ("arrange", "expect"),
    [
        (lambda f: f.inject(Fault("status", path=PHOTOS_PATH, status=500, body="oops")), TransientError),
        (lambda f: f.inject(Fault("timeout_after_apply", path=PHOTOS_PATH, seconds=60)), TransientError),
        (lambda f: f.transient_failure(path=PHOTOS_PATH), TransientError),
        (lambda f: f.throttle(32, 2, path=PHOTOS_PATH), RateLimited),
        (lambda f: f.fail(324, "(#324) Missing or invalid image file", path=PHOTOS_PATH), ContentRejected),
        (lambda f: f.inject(Fault("status", path=FEED_PATH, status=502, body="bad gateway")), InDoubtError),
    ],
    ids=[
        "upload 500",
        "upload timeout",
        "upload transient",
        "upload throttled",
        "bad image",
        "final post 502",
    ],
)
def test_multi_image_failures_before_the_post_are_not_in_doubt(
    fake: FakeFacebook,
    adapter: FacebookAdapter,
    tmp_path: Path,
    arrange: Callable[[FakeFacebook], None],
    expect: type[PublishError],
) -> None:
    arrange(fake)
    with pytest.raises(PublishError) as err:
        adapter.publish(rendered(media=(image(tmp_path, 1), image(tmp_path, 2))), "k")
    assert type(err.value) is expect
    assert len(fake.applied) == 0 and fake.feed == []


def test_single_image_publish_call_is_in_doubt_on_5xx(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    fake.inject(Fault("status", path=PHOTOS_PATH, status=500, body="oops"))
    with pytest.raises(InDoubtError):
        adapter.publish(rendered(media=(image(tmp_path),)), "k")


def test_check_on_server_error_is_transient(fake: FakeFacebook, adapter: FacebookAdapter) -> None:
    fake.transient_failure(path="")
    with pytest.raises(TransientError):
        adapter.check()


# --- secrets -------------------------------------------------------------------------------------


def exercise(fake: FakeFacebook, token: str, case: Case, tmp_path: Path) -> list[str]:
    """One fault case, then a check, a one-image post and a reconcile; every text an operator sees."""
    fake.token = token
    a = make_adapter(fake.url, fake.page_id, token)
    outcome = run_case(fake, a, case)
    seen = [str(outcome), repr(outcome), repr(a), a.describe()]
    if isinstance(outcome, PublishError):
        seen += [outcome.message, outcome.excerpt]
    else:
        seen += [outcome.excerpt, str(outcome.remote_ids)]
    # Graph echoes a malformed token in its message: it must come out masked.
    fake.expire_token(message=f"Malformed access token {token}")
    with pytest.raises(AuthError) as err:
        a.check()
    seen += [str(err.value), repr(err.value), err.value.excerpt]
    seen.append(repr(a.publish(rendered(media=(image(tmp_path),)), "k")))
    seen.append(repr(a.reconcile(SentPost.of(rendered()), datetime.now(UTC))))
    a.close()
    return seen


def test_tokens_never_leak_through_the_fault_matrix(tmp_path: Path) -> None:
    # Characters that URL-encoding changes, so encoded forms are checked too.
    canary = "EAAcanary" + secrets.token_urlsafe(48) + "+/="
    register_secret(canary)  # as load_settings does for every token it loads
    seen: list[str] = []
    with captured_log() as stream:
        for case in CASES:
            fake = FakeFacebook()
            fake.start()
            try:
                seen += exercise(fake, canary, case, tmp_path)
            finally:
                fake.stop()
        gone = make_adapter(closed_url(), "104857600123456", canary)
        with pytest.raises(TransientError) as err:
            gone.publish(rendered(), "k")
        seen += [str(err.value), repr(err.value), repr(gone)]
    log_text = stream.getvalue()
    assert "/feed" in log_text and "urllib3" in log_text  # the DEBUG lines were captured
    assert "Malformed access token ***" in "".join(seen)  # the echoing error did reach us
    for form in {canary, quote(canary, safe=""), quote_plus(canary), quote(canary)}:
        assert form not in log_text
        assert all(form not in text for text in seen)


def test_a_request_that_could_not_even_be_built_is_not_in_doubt(fake: FakeFacebook) -> None:
    """A header value that cannot be encoded fails before anything leaves: retry later, never "may be published"."""
    adapter = make_adapter(fake.url, fake.page_id, "токен-не-латиница")
    try:
        with pytest.raises(PublishError) as caught:
            adapter.publish(rendered(), "key-unsendable")
    finally:
        adapter.close()
    assert isinstance(caught.value, TransientError), type(caught.value)
    assert not isinstance(caught.value, InDoubtError)
    assert fake.requests == [] and fake.feed == []
    assert "токен-не-латиница" not in str(caught.value)
