"""The Telegram channel adapter against the loopback Bot API (tests/fakes/telegram.py).

Everything goes through the adapter's real ``requests`` session; the fake speaks the Bot API's wire
format and error shapes, so these tests show what the operator would see from the real service.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from publisher.adapters import build_adapter
from publisher.adapters.telegram import TelegramAdapter
from publisher.errors import (
    AuthError,
    ContentRejected,
    InDoubtError,
    PublishError,
    RateLimited,
    TransientError,
)
from publisher.models import MediaItem, ReconcileStatus, Rendered, SentPost
from publisher.ops.redact import register_secret
from publisher.settings import HttpTimeouts, TelegramSettings, load_settings
from tests.fakes.base import Fault
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.helpers import READ_TIMEOUT, captured_log, closed_url
from tests.media import gif_file, media_file, mp4_file, png_file

TOKEN = "123456789:TEST-bot-token-for-the-fake"
CHANNEL = "@library_news"


# --- helpers ---------------------------------------------------------------------------------------


def image(tmp_path: Path, name: str, shade: int = 0) -> MediaItem:
    """A PNG whose post-given ``name`` differs from its file's: the upload must carry ``name``."""
    return png_file(tmp_path / f"shade{shade}.png", shade, name=name)


def rendered(
    text: str, media: tuple[MediaItem, ...] = (), parse_mode: str | None = None, link: str | None = None
) -> Rendered:
    limit = 1024 if media else 4096
    return Rendered("telegram", "telegram", text, len(text), limit, media, parse_mode=parse_mode, link=link)


def settings(url: str, token: str = TOKEN, chat_id: str = CHANNEL) -> TelegramSettings:
    return TelegramSettings(
        api_url=url,
        bot_token=SecretStr(token),
        chat_id=chat_id,
        timeouts=HttpTimeouts(connect=0.5, read=READ_TIMEOUT, total=5),
    )


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def adapter(fake: FakeTelegram) -> Iterator[TelegramAdapter]:
    a = TelegramAdapter("telegram", settings(fake.url))
    yield a
    a.close()


# --- publishing ------------------------------------------------------------------------------------


def test_text_post_with_mentions_and_html_arrives_verbatim(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    text = "Встреча с <b>автором</b> книги «Город» — @bntu_official, @minsk_lib\n#наука #библиотека"
    result = adapter.publish(rendered(text, parse_mode="HTML"), "key-1")

    (call,) = fake.calls("sendMessage")
    assert call.path == f"/bot{TOKEN}/sendMessage"
    assert call.json["chat_id"] == CHANNEL
    assert call.json["text"] == text
    assert call.json["parse_mode"] == "HTML"
    assert "link_preview_options" not in call.json
    assert fake.texts_sent_to(CHANNEL) == [text]
    assert len(fake.applied) == 1
    assert result.remote_id == "1"
    assert result.remote_ids == ("1",)
    assert result.url == "https://t.me/library_news/1"
    assert abs(result.published_at - datetime.now(UTC)) < timedelta(seconds=5)
    assert '"message_id": 1' in result.excerpt


def test_plain_text_has_no_parse_mode_and_link_is_previewed(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    text = "Каталог обновлён: <новые поступления> & журналы"
    adapter.publish(rendered(text, link="https://library.example.by/new"), "key-1")
    (call,) = fake.calls("sendMessage")
    assert "parse_mode" not in call.json  # the < and & are plain text, not markup
    assert call.json["link_preview_options"] == {"url": "https://library.example.by/new"}
    assert fake.texts_sent_to(CHANNEL) == [text]


def test_second_post_gets_the_next_message_id(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    adapter.publish(rendered("первый"), "key-1")
    result = adapter.publish(rendered("второй"), "key-2")
    assert result.url == "https://t.me/library_news/2"


def test_one_image_is_sent_as_photo_with_caption(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    cover = image(tmp_path, "обложка.png")
    result = adapter.publish(rendered("Новая книга @bntu_official", (cover,), parse_mode="HTML"), "key-1")

    (call,) = fake.calls("sendPhoto")
    assert call.form["chat_id"] == CHANNEL
    assert call.form["caption"] == "Новая книга @bntu_official"
    assert call.form["parse_mode"] == "HTML"
    filename, data, mime = call.files["photo"]
    assert (filename, data, mime) == ("обложка.png", cover.path.read_bytes(), "image/png")
    assert fake.channel.messages[0]["photo"]
    assert result.remote_id == "1" and result.url == "https://t.me/library_news/1"
    assert len(fake.applied) == 1


def test_several_images_are_one_album_with_the_caption_on_the_first(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    photos = tuple(image(tmp_path, f"фото{n}.png", shade=n) for n in range(3))
    result = adapter.publish(rendered("Выставка #архив", photos), "key-1")

    (call,) = fake.calls("sendMediaGroup")
    media = json.loads(call.form["media"])
    assert [m["type"] for m in media] == ["photo"] * 3
    assert media[0]["caption"] == "Выставка #архив"
    assert all("caption" not in m for m in media[1:])
    for n, item in enumerate(media):
        part = item["media"].removeprefix("attach://")
        assert call.files[part][1] == photos[n].path.read_bytes()
    assert len(fake.applied) == 1  # one album, one request
    assert len(fake.sent_to(CHANNEL)) == 3
    assert result.remote_ids == ("1", "2", "3")
    assert result.remote_id == "1"
    assert result.url == "https://t.me/library_news/1"


def test_numeric_chat_id_asks_get_chat_once_for_the_url(fake: FakeTelegram) -> None:
    a = TelegramAdapter("telegram", settings(fake.url, chat_id="-1001234567890"))
    first = a.publish(rendered("раз"), "k1")
    second = a.publish(rendered("два"), "k2")
    assert (first.url, second.url) == ("https://t.me/library_news/1", "https://t.me/library_news/2")
    assert len(fake.calls("getChat")) == 1


def test_private_channel_gets_a_members_only_url() -> None:
    with FakeTelegram(TOKEN, channel=FakeChat(id=-1009876543210, username=None)) as server:
        a = TelegramAdapter("telegram", settings(server.url, chat_id="-1009876543210"))
        assert a.publish(rendered("закрытый канал"), "k").url == "https://t.me/c/9876543210/1"


def test_failed_preparatory_get_chat_sends_nothing(fake: FakeTelegram) -> None:
    fake.fail_server_error("getChat", status=502)
    a = TelegramAdapter("telegram", settings(fake.url, chat_id="-1001234567890"))
    with pytest.raises(TransientError) as caught:
        a.publish(rendered("текст"), "k")
    assert not isinstance(caught.value, InDoubtError)
    assert fake.calls("sendMessage") == [] and fake.applied == []


def test_settings_from_the_environment_reach_the_configured_api_url(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray settings.env
    monkeypatch.setenv("PUBLISHER_TELEGRAM__API_URL", fake.url)
    monkeypatch.setenv("PUBLISHER_TELEGRAM__BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLISHER_TELEGRAM__CHAT_ID", CHANNEL)
    a = build_adapter(load_settings(), "telegram")
    assert isinstance(a, TelegramAdapter)
    assert a.publish(rendered("из настроек"), "k").remote_id == "1"
    assert fake.requests[0].path == f"/bot{TOKEN}/sendMessage"


# --- refusals --------------------------------------------------------------------------------------


def test_bad_html_is_rejected_content(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    with pytest.raises(ContentRejected) as caught:
        adapter.publish(rendered("<div>анонс</div>", parse_mode="HTML"), "k")
    assert "can't parse entities" in str(caught.value)
    assert caught.value.code == 400 and fake.applied == []


def test_too_long_text_is_rejected_content(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    with pytest.raises(ContentRejected, match="message is too long"):
        adapter.publish(rendered("я" * 4097), "k")
    assert fake.applied == []


def test_media_telegram_cannot_take_is_refused_before_any_call(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    eleven = tuple(image(tmp_path, f"{n}.png", shade=n) for n in range(11))
    with pytest.raises(ContentRejected, match="at most 10"):
        adapter.publish(rendered("много", eleven), "k")
    assert fake.requests == []


def test_one_video_goes_by_send_video_with_its_length_and_size(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "v.mp4", 12.4, name="ролик.mp4")
    result = adapter.publish(rendered("Экскурсия по фонду", (video,)), "k")
    [message] = fake.channel.messages
    assert message["video"]["file_name"] == "ролик.mp4" and message["caption"] == "Экскурсия по фонду"
    assert fake.files[(fake.channel.id, message["message_id"])] == video.path.read_bytes()
    assert fake.video_params == [
        {"duration": "12", "width": "320", "height": "240", "supports_streaming": "true"}
    ]
    assert result.remote_id == str(message["message_id"])


def test_pictures_and_videos_go_as_one_album(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    items = (image(tmp_path, "a.png"), mp4_file(tmp_path / "b.mp4", 3), image(tmp_path, "c.png", shade=2))
    result = adapter.publish(rendered("Фото и видео", items), "k")
    kinds = ["video" if "video" in m else "photo" for m in fake.channel.messages]
    assert kinds == ["photo", "video", "photo"] and len(fake.applied) == 1
    assert len(result.remote_ids) == 3 and fake.channel.messages[0]["caption"] == "Фото и видео"


def test_an_animated_gif_goes_by_send_animation_with_its_caption(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    loop = gif_file(tmp_path / "loop.gif", frames=4, name="анонс.gif")
    result = adapter.publish(rendered("Скоро: <b>Ночь в библиотеке</b>", (loop,), parse_mode="HTML"), "k")

    (call,) = fake.calls("sendAnimation")
    assert fake.calls("sendPhoto") == []
    assert call.form["chat_id"] == CHANNEL
    assert call.form["caption"] == "Скоро: <b>Ночь в библиотеке</b>"
    assert call.form["parse_mode"] == "HTML"
    assert call.files["animation"] == ("анонс.gif", loop.path.read_bytes(), "image/gif")
    assert fake.animation_params == [{"width": "2", "height": "2"}]  # the GIF's size, read at acceptance
    [message] = fake.channel.messages
    assert "photo" not in message and message["animation"]["mime_type"] == "video/mp4"
    assert message["caption"] == "Скоро: <b>Ночь в библиотеке</b>"
    assert fake.posts[0].media == (loop.path.read_bytes(),)
    assert result.remote_id == "1" and result.url == "https://t.me/library_news/1"
    assert len(fake.applied) == 1


def test_a_still_gif_a_jpeg_and_a_png_go_as_photos(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    still = gif_file(tmp_path / "still.gif", frames=1)
    jpeg = media_file(
        tmp_path / "c.jpg", b"\xff\xd8\xff\xe0\0\x10JFIF\0" + bytes(64) + b"\xff\xd9", "image/jpeg"
    )
    png = image(tmp_path, "p.png")
    for n, item in enumerate((still, jpeg, png)):
        adapter.publish(rendered(f"картинка {n}", (item,)), f"k{n}")
    assert fake.calls("sendAnimation") == [] and len(fake.calls("sendPhoto")) == 3
    assert [m["photo"] != [] and "animation" not in m for m in fake.channel.messages] == [True] * 3


def test_an_animated_gif_among_pictures_is_refused_before_any_call(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    # An album cannot carry an animation (#sendmediagroup); acceptance refuses such a post, and a post queued
    # before that rule is refused here too rather than published with the GIF standing still.
    items = (image(tmp_path, "a.png"), gif_file(tmp_path / "loop.gif", frames=3))
    with pytest.raises(ContentRejected, match=r"loop\.gif") as caught:
        adapter.publish(rendered("Фото и GIF", items), "k")
    assert "alone" in str(caught.value)
    assert fake.requests == [] and fake.channel.messages == []
    # Two still pictures, one of them a GIF of one frame, are an ordinary album.
    still = (image(tmp_path, "a.png"), gif_file(tmp_path / "still.gif", frames=1))
    adapter.publish(rendered("Два фото", still), "k2")
    assert ["photo" in m for m in fake.channel.messages] == [True, True]


def test_an_animation_over_the_bot_api_limit_is_refused_by_telegram(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    fake.fail("sendAnimation", 413, "Request Entity Too Large")
    with pytest.raises(ContentRejected, match="413"):
        adapter.publish(rendered("Большой GIF", (gif_file(tmp_path / "big.gif"),)), "k")
    assert fake.applied == []


def test_a_video_over_the_bot_api_limit_is_refused_by_telegram(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    # The fake refuses a file over VIDEO_LIMIT this way; acceptance keeps such files away (the profile).
    refusal = {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}
    fake.inject(Fault("status", r"/sendVideo$", status=413, body=refusal))
    with pytest.raises(ContentRejected, match="413"):
        adapter.publish(rendered("Большое видео", (mp4_file(tmp_path / "big.mp4", 3),)), "k")
    assert fake.applied == []


def test_bot_removed_from_the_channel_is_an_auth_error(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.channel.bot_status = "left"
    with pytest.raises(AuthError) as caught:
        adapter.publish(rendered("текст"), "k")
    assert "administrator" in str(caught.value) and "not a member" in str(caught.value)
    assert fake.applied == []


def test_bot_without_post_right_is_an_auth_error(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.channel.can_post_messages = False
    with pytest.raises(AuthError, match="need administrator rights"):
        adapter.publish(rendered("текст"), "k")


# --- check, reconcile, describe --------------------------------------------------------------------


def test_check_reports_an_administrator_that_may_post(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    info = adapter.check()
    assert info.can_post is True
    assert "@library_news_bot" in info.account and "Научная библиотека" in info.account
    member_call = fake.calls("getChatMember")[0]
    assert member_call.json == {"chat_id": CHANNEL, "user_id": 123456789}


def test_check_with_a_revoked_token_raises_auth_error(fake: FakeTelegram) -> None:
    a = TelegramAdapter("telegram", settings(fake.url, token="123456789:REVOKED-token-value"))
    with pytest.raises(AuthError, match="BotFather") as caught:
        a.check()
    assert caught.value.code == 401


def test_auth_error_of_a_named_account_names_its_own_variable(fake: FakeTelegram) -> None:
    a = TelegramAdapter("telegram:bntu", settings(fake.url, token="123456789:REVOKED-token-value"))
    with pytest.raises(AuthError, match="PUBLISHER_TELEGRAM__ACCOUNTS__BNTU__BOT_TOKEN"):
        a.publish(rendered("текст"), "k")


@pytest.mark.parametrize(
    ("status", "can_post_messages", "expected"),
    [("administrator", False, "without the 'Post messages' right"), ("left", True, "not an administrator")],
)
def test_check_says_what_to_fix_when_the_bot_may_not_post(
    fake: FakeTelegram, adapter: TelegramAdapter, status: str, can_post_messages: bool, expected: str
) -> None:
    fake.channel.bot_status = status
    fake.channel.can_post_messages = can_post_messages
    info = adapter.check()
    assert info.can_post is False
    assert expected in info.detail and CHANNEL in info.detail


def test_check_of_a_chat_the_bot_cannot_see(fake: FakeTelegram) -> None:
    a = TelegramAdapter("telegram", settings(fake.url, chat_id="@no_such_channel"))
    info = a.check()
    assert info.can_post is False and "chat not found" in info.detail


def test_reconcile_is_unknown_without_calling_the_api(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    result = adapter.reconcile(SentPost.of(rendered("текст")), datetime.now(UTC))
    assert result.status is ReconcileStatus.UNKNOWN
    assert "history" in result.detail
    assert fake.requests == []
    assert TelegramAdapter.deduplicates is False


def test_describe_and_repr_name_the_chat_not_the_token(adapter: TelegramAdapter) -> None:
    assert CHANNEL in adapter.describe()
    assert TOKEN not in repr(adapter) and TOKEN.split(":")[1] not in repr(adapter)


# --- fault matrix ----------------------------------------------------------------------------------

SHAPES = {
    "text": ("sendMessage", 0),
    "photo": ("sendPhoto", 1),
    "album": ("sendMediaGroup", 3),
    "animation": ("sendAnimation", 1),
}

# (id, inject(fake, method), expected error or None, times the fake applied the post)
FAULTS: list[tuple[str, Callable[[FakeTelegram, str], None], type[PublishError] | None, int]] = [
    ("latency", lambda f, m: f.inject(Fault("latency", path=f"/{m}$", seconds=0.1)), None, 1),
    # Telegram gives no guarantee that a 5xx send did nothing (its front end answers 502 while the
    # backend may still deliver), so it is in doubt, not transient.
    ("server-error", lambda f, m: f.fail_server_error(m), InDoubtError, 0),
    ("bad-gateway", lambda f, m: f.fail_server_error(m, status=502), InDoubtError, 0),
    ("rate-limited", lambda f, m: f.fail_rate_limited(m, retry_after=7), RateLimited, 0),
    ("unauthorized", lambda f, m: f.fail_unauthorized(m), AuthError, 0),
    ("forbidden", lambda f, m: f.fail_forbidden(m), AuthError, 0),
    ("too-long", lambda f, m: f.fail_bad_request(m, "Bad Request: message is too long"), ContentRejected, 0),
    (
        "timeout-after-apply",
        lambda f, m: f.inject(Fault("timeout_after_apply", path=f"/{m}$", seconds=READ_TIMEOUT + 0.4)),
        InDoubtError,
        1,
    ),
    ("drop-before-apply", lambda f, m: f.inject(Fault("drop_before_apply", path=f"/{m}$")), InDoubtError, 0),
    ("drop-after-apply", lambda f, m: f.inject(Fault("drop_after_apply", path=f"/{m}$")), InDoubtError, 1),
    ("malformed-json", lambda f, m: f.inject(Fault("malformed_after_apply", path=f"/{m}$")), InDoubtError, 1),
    ("ok-without-id", lambda f, m: f.answer_without_id(path=f"/{m}$"), InDoubtError, 1),
]


def shaped_post(shape: str, tmp_path: Path) -> Rendered:
    count = SHAPES[shape][1]
    if shape == "animation":
        return rendered("Анонс @bntu_official #наука", (gif_file(tmp_path / "loop.gif"),))
    photos = tuple(image(tmp_path, f"{shape}{n}.png", shade=n) for n in range(count))
    return rendered("Анонс @bntu_official #наука", photos)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize(
    ("inject", "expected", "applied"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_fault_matrix(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    tmp_path: Path,
    shape: str,
    inject: Callable[[FakeTelegram, str], None],
    expected: type[PublishError] | None,
    applied: int,
) -> None:
    inject(fake, SHAPES[shape][0])
    post = shaped_post(shape, tmp_path)
    if expected is None:
        assert adapter.publish(post, "k").remote_id == "1"
    else:
        with pytest.raises(expected) as caught:
            adapter.publish(post, "k")
        assert type(caught.value) is expected
        if expected is RateLimited:
            assert caught.value.retry_after == 7  # type: ignore[attr-defined]
            assert "7 s" in str(caught.value)
    assert len(fake.applied) == applied


def test_connection_refused_is_transient_nothing_sent() -> None:
    a = TelegramAdapter("telegram", settings(closed_url()))
    with pytest.raises(TransientError) as caught:
        a.publish(rendered("текст"), "k")
    assert type(caught.value) is TransientError
    assert "nothing was sent" in str(caught.value)


# --- secrets ---------------------------------------------------------------------------------------


def test_canary_token_never_leaks(tmp_path: Path) -> None:
    canary = f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(32)}"
    register_secret(canary)  # as load_settings does for every token it loads
    seen: list[str] = []
    with captured_log() as log:
        with FakeTelegram(canary) as server:
            a = TelegramAdapter("telegram", settings(server.url, token=canary, chat_id="-1001234567890"))
            seen.append(repr(a))
            seen.append(repr(a.check()))
            for shape in SHAPES:
                for _name, inject, _expected, _applied in FAULTS:
                    inject(server, SHAPES[shape][0])
                    try:
                        seen.append(repr(a.publish(shaped_post(shape, tmp_path), "k")))
                    except PublishError as exc:
                        seen += [str(exc), repr(exc), exc.excerpt]
            server.fail_unauthorized("getMe")
            with pytest.raises(AuthError) as caught:
                a.check()
            seen += [str(caught.value), repr(caught.value)]
        refused = TelegramAdapter("telegram", settings(closed_url(), token=canary))
        with pytest.raises(TransientError) as refused_error:
            refused.publish(rendered("текст"), "k")
        seen += [str(refused_error.value), repr(refused_error.value)]
    captured = log.getvalue()
    # The capture works: urllib3 logged the token-bearing paths, masked.
    assert "/bot***/sendMessage" in captured and "/bot***/sendMediaGroup" in captured
    assert "/bot***/sendAnimation" in captured
    secret_part = canary.split(":", 1)[1]
    for form in (canary, secret_part, canary.replace(":", "%3A")):
        assert form not in captured
        for text in seen:
            assert form not in text
