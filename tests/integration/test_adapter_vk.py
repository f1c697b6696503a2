"""VkAdapter through the real vk-api library against the loopback FakeVk."""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from publisher.adapters.vk import VkAdapter
from publisher.compose.composer import render
from publisher.compose.directory import Directory
from publisher.errors import (
    AuthError,
    ContentRejected,
    InDoubtError,
    PermanentError,
    PublishError,
    RateLimited,
    TransientError,
)
from publisher.models import MediaItem, Post, ReconcileStatus, Rendered, SentPost
from publisher.ops.redact import register_secret
from publisher.settings import HttpTimeouts, VkSettings
from tests.fakes.base import Fault
from tests.fakes.vk import FakeVk
from tests.helpers import READ_TIMEOUT, captured_log, closed_url
from tests.media import png_file

TOKEN = "vk1.a.test-" + secrets.token_urlsafe(24)
GROUP = 123
MENTION_TEXT = "Встреча в библиотеке с [club123|ФИТР БНТУ] и [id1001|Ириной]. #БНТУ"


# --- helpers -------------------------------------------------------------------------------------


def rendered(text: str = MENTION_TEXT, media: tuple[MediaItem, ...] = ()) -> Rendered:
    return Rendered(target="vk", network="vk", text=text, length=len(text), limit=16000, media=media)


def make_adapter(api_url: str, token: str = TOKEN, read: float = READ_TIMEOUT) -> VkAdapter:
    settings = VkSettings(
        api_url=api_url,
        access_token=SecretStr(token),
        group_id=GROUP,
        timeouts=HttpTimeouts(connect=0.5, read=read, total=5.0),
    )
    return VkAdapter("vk", settings)


def wall_posts(fake: FakeVk) -> list[dict[str, str]]:
    return [r.form for r in fake.requests if r.path == "/method/wall.post"]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``time.sleep`` the test's own thread makes: vk-api paces calls and loops on error 6 there."""
    calls: list[float] = []
    real, caller = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == caller:
            calls.append(seconds)
        real(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return calls


@pytest.fixture
def fake() -> Iterator[FakeVk]:
    server = FakeVk(TOKEN, GROUP)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def adapter(fake: FakeVk) -> Iterator[VkAdapter]:
    a = make_adapter(fake.url)
    yield a
    a.close()


# --- publishing ----------------------------------------------------------------------------------


def test_text_post_lands_on_the_community_wall_with_mentions_verbatim(
    fake: FakeVk, adapter: VkAdapter
) -> None:
    result = adapter.publish(rendered(), "key-text-1")

    assert result.remote_id == f"-{GROUP}_1"
    assert result.remote_ids == (f"-{GROUP}_1",)
    assert result.url == f"https://vk.com/wall-{GROUP}_1"
    assert result.published_at.tzinfo is not None
    assert "post_id" in result.excerpt
    (sent,) = wall_posts(fake)
    assert sent["message"] == MENTION_TEXT  # VK wiki mentions untouched
    assert sent["owner_id"] == f"-{GROUP}" and sent["from_group"] == "1"
    assert sent["guid"] == "key-text-1" and sent["v"] == "5.199"
    assert [p.text for p in fake.wall] == [MENTION_TEXT]
    assert len(fake.applied) == 1


def test_post_with_one_image_uploads_it_and_attaches_it(
    fake: FakeVk, adapter: VkAdapter, tmp_path: Path
) -> None:
    image = png_file(tmp_path / "poster.png")

    adapter.publish(rendered(media=(image,)), "key-img-1")

    (post,) = fake.wall
    assert len(post.attachments) == 1
    assert post.attachments[0].startswith(f"photo-{GROUP}_")
    assert fake.photos[post.attachments[0]] == image.path.read_bytes()
    upload = next(r for r in fake.requests if r.path == "/upload/wall")
    assert upload.files["photo"][0] == "poster.png"


def test_post_with_several_images_keeps_their_order_without_pacing_sleeps(
    fake: FakeVk, adapter: VkAdapter, tmp_path: Path, sleeps: list[float]
) -> None:
    images = tuple(png_file(tmp_path / f"p{i}.png", seed=i) for i in range(4))

    adapter.publish(rendered(media=images), "key-img-4")

    (post,) = fake.wall
    assert [fake.photos[a] for a in post.attachments] == [m.path.read_bytes() for m in images]
    # Three calls per image, then wall.post; vk-api by default sleeps 0.34 s between calls. Not here.
    assert len(fake.requests) >= 6 and sleeps == []


def test_link_is_attached_after_the_photos(fake: FakeVk, adapter: VkAdapter, tmp_path: Path) -> None:
    image = png_file(tmp_path / "a.png")
    post = Rendered("vk", "vk", "Новинки", 7, 16000, media=(image,), link="https://library.bntu.by/new")

    adapter.publish(post, "key-link")

    (sent,) = wall_posts(fake)
    assert sent["attachments"].split(",")[1] == "https://library.bntu.by/new"


def test_more_than_ten_images_is_rejected_before_any_call(
    fake: FakeVk, adapter: VkAdapter, tmp_path: Path
) -> None:
    image = png_file(tmp_path / "a.png")
    with pytest.raises(ContentRejected, match="at most 10"):
        adapter.publish(rendered(media=(image,) * 11), "key-11")
    assert fake.requests == []


def test_same_guid_within_the_hour_creates_one_post(fake: FakeVk, adapter: VkAdapter) -> None:
    first = adapter.publish(rendered(), "key-dup")
    again = adapter.publish(rendered(), "key-dup")

    assert again.remote_id == first.remote_id
    assert len(fake.wall) == 1 and len(fake.applied) == 1
    assert VkAdapter.deduplicates is True


def test_same_guid_after_the_hour_is_a_new_post(fake: FakeVk, adapter: VkAdapter) -> None:
    """VK keeps a guid for one hour only: after that a re-send duplicates (the dispatcher must know)."""
    adapter.publish(rendered(), "key-old")
    fake.guid_ttl = 0.0
    adapter.publish(rendered(), "key-old")
    assert len(fake.wall) == 2


def test_repr_and_describe_name_the_community_not_the_token(adapter: VkAdapter) -> None:
    assert "club123" in adapter.describe()
    assert TOKEN not in repr(adapter) and "club123" in repr(adapter)


# --- check ---------------------------------------------------------------------------------------


def test_check_user_token_of_an_admin_may_post(adapter: VkAdapter) -> None:
    info = adapter.check()
    assert info.can_post is True
    assert "ФИТР БНТУ" in info.account and "Ирина Смирнова" in info.account


def test_check_invalid_token_is_an_auth_error(fake: FakeVk) -> None:
    adapter = make_adapter(fake.url, token="vk1.a.revoked-" + secrets.token_hex(12))
    with pytest.raises(AuthError, match="error 5"):
        adapter.check()


def test_check_says_a_community_token_cannot_post(fake: FakeVk, adapter: VkAdapter) -> None:
    fake.token_kind = "group"
    info = adapter.check()
    assert info.can_post is False
    assert "community token" in info.detail and "error 27" in info.detail


def test_check_flags_a_user_who_is_not_an_editor(fake: FakeVk, adapter: VkAdapter) -> None:
    fake.admin_level = 1  # moderator: may not post as the community
    info = adapter.check()
    assert info.can_post is False and "not an editor or admin" in info.detail


def test_check_flags_missing_scopes(fake: FakeVk, adapter: VkAdapter) -> None:
    fake.scope = 1 << 16  # offline only
    info = adapter.check()
    assert info.can_post is False and "wall,photos" in info.detail


# --- reconcile -----------------------------------------------------------------------------------


def test_reconcile_finds_a_post_the_timed_out_attempt_made(fake: FakeVk, adapter: VkAdapter) -> None:
    started = datetime.now(UTC)
    fake.inject(Fault("timeout_after_apply", path=r"wall\.post$", seconds=60))
    with pytest.raises(InDoubtError):
        adapter.publish(rendered("Текст  с\nпереносом"), "key-rec")

    found = adapter.reconcile(SentPost.of(rendered("Текст с переносом")), started)

    assert found.status is ReconcileStatus.FOUND
    assert found.ref is not None and found.ref.url == f"https://vk.com/wall-{GROUP}_{fake.wall[0].id}"


def test_reconcile_ignores_an_older_post_with_the_same_text(fake: FakeVk, adapter: VkAdapter) -> None:
    fake.add_post(MENTION_TEXT, date=time.time() - 86400)
    fake.add_post("другой текст")
    result = adapter.reconcile(SentPost.of(rendered()), datetime.now(UTC) - timedelta(seconds=5))
    assert result.status is ReconcileStatus.ABSENT


def test_reconcile_unknown_when_the_lookup_fails(fake: FakeVk, adapter: VkAdapter) -> None:
    fake.vk_error(10, method="wall.get")
    result = adapter.reconcile(SentPost.of(rendered()), datetime.now(UTC))
    assert result.status is ReconcileStatus.UNKNOWN and "error 10" in result.detail


# --- fault matrix --------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    arrange: Callable[[FakeVk], None]
    raises: type[PublishError] | None
    applied: int
    retry_after: float | None = None
    with_image: bool = False


def _status(status: int, path: str = r"wall\.post$") -> Callable[[FakeVk], None]:
    return lambda f: f.inject(Fault("status", path=path, status=status, body="<html>Bad Gateway</html>"))


CASES = [
    Case("latency within timeout", lambda f: f.inject(Fault("latency", path="wall", seconds=0.2)), None, 1),
    # VK answers errors inside 200 bodies; a 5xx comes from its front servers and may follow a post
    # that was made, so it is in doubt (a re-send with the same guid is safe within the hour).
    Case("5xx on wall.post", _status(502), InDoubtError, 0),
    # A 5xx while getting the upload address happens before any post exists: certainly not applied.
    Case("5xx before the post", _status(503, r"getWallUploadServer$"), TransientError, 0, with_image=True),
    Case("5xx from the upload host", _status(500, r"/upload/wall$"), TransientError, 0, with_image=True),
    Case("HTTP 429 Retry-After", lambda f: f.http_429(7), RateLimited, 0, retry_after=7.0),
    Case("error 6 too many rps", lambda f: f.vk_error(6), RateLimited, 0, retry_after=1.0),
    Case("error 9 flood control", lambda f: f.vk_error(9), RateLimited, 0, retry_after=300.0),
    Case("error 29 rate limit", lambda f: f.vk_error(29), RateLimited, 0, retry_after=3600.0),
    Case(
        "error 6 on photo save",
        lambda f: f.vk_error(6, method="photos.saveWallPhoto"),
        RateLimited,
        0,
        retry_after=1.0,
        with_image=True,
    ),
    Case("error 5 bad token", lambda f: f.vk_error(5), AuthError, 0),
    Case("error 27 community token", lambda f: setattr(f, "token_kind", "group"), AuthError, 0),
    Case("error 214 posting denied", lambda f: f.vk_error(214), AuthError, 0),
    Case(
        "error 15 on upload address",
        lambda f: f.vk_error(15, "photos.getWallUploadServer"),
        AuthError,
        0,
        with_image=True,
    ),
    Case("error 222 links forbidden", lambda f: f.vk_error(222), ContentRejected, 0),
    Case("error 14 captcha", lambda f: f.vk_error(14), PermanentError, 0),
    Case("error 10 internal on wall.post", lambda f: f.vk_error(10), InDoubtError, 0),
    Case(
        "read timeout after apply",
        lambda f: f.inject(Fault("timeout_after_apply", path="wall", seconds=60)),
        InDoubtError,
        1,
    ),
    Case("drop before apply", lambda f: f.inject(Fault("drop_before_apply", path="wall")), InDoubtError, 0),
    Case("drop after apply", lambda f: f.inject(Fault("drop_after_apply", path="wall")), InDoubtError, 1),
    Case("malformed JSON", lambda f: f.inject(Fault("malformed_after_apply", path="wall")), InDoubtError, 1),
    Case(
        "200 without an id",
        lambda f: f.inject(Fault("raw", path="wall", status=200, body={"response": {}})),
        InDoubtError,
        1,
    ),
    Case(
        "200 without response",
        lambda f: f.inject(Fault("raw", path="wall", status=200, body={"ok": 1})),
        InDoubtError,
        1,
    ),
]


def run_case(case: Case, fake: FakeVk, tmp_path: Path, token: str = TOKEN) -> PublishError | None:
    case.arrange(fake)
    media = (png_file(tmp_path / "c.png"),) if case.with_image else ()
    adapter = make_adapter(fake.url, token=token)
    try:
        result = adapter.publish(rendered(media=media), f"key-{case.name}")
    except PublishError as exc:
        return exc
    finally:
        adapter.close()
    assert result.remote_id
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_matrix(case: Case, fake: FakeVk, tmp_path: Path, sleeps: list[float]) -> None:
    error = run_case(case, fake, tmp_path)

    if case.raises is None:
        assert error is None
    else:
        assert type(error) is case.raises, f"{case.name}: got {error!r}"
    assert len(fake.applied) == case.applied
    if case.retry_after is not None:
        assert isinstance(error, RateLimited) and error.retry_after == case.retry_after
    # vk-api's own error-6 loop and captcha handler are off: one wall.post at most, no waiting.
    assert len(wall_posts(fake)) <= 1
    assert sleeps == []


def test_messages_tell_the_operator_what_to_do(fake: FakeVk, tmp_path: Path) -> None:
    fake.token_kind = "group"
    error = run_case(CASES[0], fake, tmp_path)
    assert isinstance(error, AuthError) and "community token" in str(error) and "error 27" in str(error)
    fake.token_kind = "user"
    fake.vk_error(14)
    error = run_case(CASES[0], fake, tmp_path)
    assert isinstance(error, PermanentError) and "captcha" in str(error)


def test_connection_refused_is_transient() -> None:
    adapter = make_adapter(closed_url())
    with pytest.raises(TransientError) as info:
        adapter.publish(rendered(), "key-refused")
    assert type(info.value) is TransientError


# --- secrets -------------------------------------------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    with captured_log() as stream:
        yield stream


def test_canary_token_never_leaks(debug_log: io.StringIO, tmp_path: Path) -> None:
    canary = "vk1.a.canary/" + secrets.token_urlsafe(40) + "+="
    register_secret(canary)  # as load_settings does for every token
    forms = {canary, quote(canary, safe=""), quote_plus(canary), quote(canary)}
    seen: list[str] = []
    server = FakeVk(canary, GROUP)
    server.start()
    try:
        for case in CASES:
            server.reset()
            error = run_case(case, server, tmp_path, token=canary)
            assert (error is None) == (case.raises is None), case.name
            if error is not None:
                seen += [str(error), repr(error), error.excerpt, error.message]
        server.reset()
        adapter = make_adapter(server.url, token=canary)
        seen += [repr(adapter), adapter.describe(), repr(adapter.check())]
        result = adapter.publish(rendered(media=(png_file(tmp_path / "s.png"),)), "key-canary-ok")
        seen += [repr(result), result.excerpt]
        # VK echoes the token in request_params of an error (error 100 here): it must not come through.
        server.vk_error(100)
        with pytest.raises(PermanentError) as info:
            adapter.publish(rendered(), "key-canary-100")
        seen += [str(info.value), repr(info.value), info.value.excerpt]
        adapter.close()
    finally:
        server.stop()
    log = debug_log.getvalue()
    assert "wall.post" in log or "/method/" in log  # urllib3 DEBUG lines were captured
    for text in [*seen, log]:
        for form in forms:
            assert form not in text


LINK = "https://library.bntu.by/new?from=vk"


@pytest.mark.parametrize(
    ("body", "link", "snippet"),
    [
        ("Новинки месяца в читальном зале", LINK, LINK),
        (f"Новинки месяца: {LINK}", None, LINK),
        ("Новинки месяца в читальном зале", None, None),
    ],
    ids=["link-field", "link-in-text", "no-link"],
)
def test_what_vk_makes_of_a_posts_link(
    body: str, link: str | None, snippet: str | None, fake: FakeVk, adapter: VkAdapter
) -> None:
    """Issue 11, point 15: VK builds a link snippet only from a link it reads in the post. The adapter sends
    the post's ``link`` as wall.post's one external-link attachment and the text as the composer wrote it
    (no URL added: the snippet shows the link); a URL the editor wrote in the text stays there."""
    post = Post(
        source_name="novinki.md", source_key="n" * 64, targets=("vk",), approved_by="ed", body=body, link=link
    )
    draft = render(post, "vk", Directory.empty())
    result = adapter.publish(draft, "key-link")
    (sent,) = wall_posts(fake)
    assert sent.get("attachments") == link  # the link, alone, as the attachment; none without one
    (on_wall,) = fake.posts
    assert (on_wall.remote_id, on_wall.text, on_wall.link) == (result.remote_id, body, snippet)
    # Read back as the service reads the wall: the post is found by its text, link or not.
    found = adapter.reconcile(SentPost.of(draft), datetime.now(UTC) - timedelta(minutes=1))
    assert found.status is ReconcileStatus.FOUND and found.ref is not None
    assert found.ref.remote_id == result.remote_id
