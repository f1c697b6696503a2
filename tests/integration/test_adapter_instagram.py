"""InstagramAdapter against the loopback Instagram Graph fake: pictures, carousels, processing, faults, check,
reconcile, metrics, and the public folder the pictures pass through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from publisher.adapters import instagram_media
from publisher.adapters.instagram import InstagramAdapter
from publisher.errors import AuthError, ContentRejected, InDoubtError, RateLimited, TransientError
from publisher.models import MediaItem, ReconcileStatus, RemoteRef, Rendered, SentPost
from publisher.settings import HttpTimeouts, InstagramSettings
from tests.fakes.instagram import MEDIA_PATH, FakeInstagram
from tests.media import jpeg_bytes, jpeg_file, mp4_bytes, mp4_file, png_file

CAPTION = "Выставка редких книг 📚 @fitr_bntu #БНТУ #библиотека"


def rendered(media: tuple[MediaItem, ...], text: str = CAPTION) -> Rendered:
    return Rendered("instagram", "instagram", text, len(text), 2200, media=media)


def pictures(tmp_path: Path, count: int) -> tuple[MediaItem, ...]:
    return tuple(jpeg_file(tmp_path / f"photo{i}.jpg", i) for i in range(count))


def make_adapter(fake: FakeInstagram, upload: float = 1.0, **overrides: Any) -> InstagramAdapter:
    values = fake.service_settings() | {"access_token": SecretStr(fake.token)}
    values |= {"timeouts": HttpTimeouts(connect=0.5, read=5.0, total=10.0, upload=upload)} | overrides
    return InstagramAdapter("instagram", InstagramSettings(**values))


@pytest.fixture
def fake() -> Iterator[FakeInstagram]:
    server = FakeInstagram()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def adapter(fake: FakeInstagram) -> Iterator[InstagramAdapter]:
    a = make_adapter(fake)
    yield a
    a.close()


def posts_made(fake: FakeInstagram) -> list[str]:
    return [r.path for r in fake.requests if fake.is_publish(r)]


# --- publishing ----------------------------------------------------------------------------------


def test_one_picture_goes_container_status_publish_and_records_id_and_permalink(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    result = adapter.publish(rendered(pictures(tmp_path, 1)), "key-1")

    (post,) = fake.media
    assert result.remote_id == post.id and result.url == f"https://www.instagram.com/p/{post.shortcode}/"
    assert post.caption == CAPTION and post.media == (jpeg_bytes(0),)
    steps = [(r.method, r.path.split("/", 2)[-1], r.param("fields")) for r in fake.requests]
    ig = fake.account_id
    assert steps == [
        ("GET", f"{ig}/content_publishing_limit", "config,quota_usage"),
        ("POST", f"{ig}/media", None),
        ("GET", steps[2][1], "status_code,status"),
        ("POST", f"{ig}/media_publish", None),
        ("GET", post.id, "permalink"),
    ]
    create = fake.requests[1]
    assert create.form["caption"] == CAPTION and "is_carousel_item" not in create.form
    # Instagram fetched the picture from the public folder; the copy is gone once it was processed.
    assert fake.fetched == [create.form["image_url"]] and create.form["image_url"].startswith(fake.public.url)
    assert list(fake.public.folder.iterdir()) == []
    assert fake.requests[3].form == {"creation_id": steps[2][1]}
    for request in fake.requests:
        assert request.headers["authorization"] == f"Bearer {fake.token}"
        assert fake.token not in json.dumps(request.query) + request.body.decode()


def test_carousel_makes_item_containers_then_one_carousel_published_once(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    result = adapter.publish(rendered(pictures(tmp_path, 3)), "key-2")

    creates = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/media")]
    assert [r.form.get("is_carousel_item") for r in creates] == ["true", "true", "true", None]
    assert all("caption" not in r.form for r in creates[:3])
    carousel = creates[3].form
    assert carousel["media_type"] == "CAROUSEL" and carousel["caption"] == CAPTION
    assert carousel["children"].split(",") == list(fake.containers)[:3]
    assert len(fake.applied) == 1 and posts_made(fake) == [f"/v26.0/{fake.account_id}/media_publish"]
    (post,) = fake.media
    assert post.media == tuple(jpeg_bytes(i) for i in range(3)) and result.remote_id == post.id
    assert list(fake.public.folder.iterdir()) == []


def test_a_reel_is_uploaded_to_meta_then_processed_and_published(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "reel.mp4", seconds=5.0, size=50_000)
    result = adapter.publish(rendered((video,)), "key-3")

    (create,) = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/media")]
    assert create.form == {"media_type": "REELS", "upload_type": "resumable", "caption": CAPTION}
    (upload,) = [r for r in fake.requests if r.path.startswith("/ig-api-upload/")]
    container = upload.path.rsplit("/", 1)[-1]
    assert upload.path == f"/ig-api-upload/v26.0/{container}"
    assert upload.headers["authorization"] == f"OAuth {fake.token}" and upload.headers["offset"] == "0"
    assert upload.headers["file_size"] == str(len(upload.body)) and upload.body == mp4_bytes(5.0, size=50_000)
    assert fake.requests.index(upload) < min(
        i for i, r in enumerate(fake.requests) if r.param("fields") == "status_code,status"
    )
    (post,) = fake.media
    assert post.kind == "REELS" and post.media == (upload.body,) and result.remote_id == post.id
    assert result.url == f"https://www.instagram.com/reel/{post.shortcode}/" == post.permalink
    assert fake.fetched == [] and list(fake.public.folder.iterdir()) == []  # no public copy of a video


def test_a_larger_reel_goes_in_parts_each_from_where_the_last_ended(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instagram_media, "UPLOAD_PART", 20_000)
    video = mp4_file(tmp_path / "reel.mp4", seconds=5.0, size=50_000)
    adapter.publish(rendered((video,)), "key-4")

    parts = [r for r in fake.requests if r.path.startswith("/ig-api-upload/")]
    assert [r.headers["offset"] for r in parts] == ["0", "20000", "40000"]
    assert {r.headers["file_size"] for r in parts} == {str(video.size)}
    assert b"".join(r.body for r in parts) == video.read() == fake.media[0].media[0]


def test_a_post_without_a_picture_is_refused_before_any_call(
    fake: FakeInstagram, adapter: InstagramAdapter
) -> None:
    with pytest.raises(ContentRejected, match="picture or a video"):
        adapter.publish(rendered(()), "k")
    assert fake.requests == []


def test_a_picture_that_is_not_jpeg_is_refused_before_any_call_where_instagram_would_refuse_it(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    """Instagram takes JPEG pictures only; a PNG queued before the composer refused it at acceptance fails
    before any call, naming the file, instead of after its public copy and container (subcode 2207005)."""
    png = png_file(tmp_path / "poster.png")
    with pytest.raises(ContentRejected, match=r"only JPEG pictures are taken, not poster\.png \(PNG\)"):
        adapter.publish(rendered((*pictures(tmp_path, 1), png)), "k")
    assert fake.requests == [] and list(fake.public.folder.iterdir()) == []
    with pytest.raises(ContentRejected, match="picture format") as caught:  # what Instagram itself says
        adapter.upload_media(rendered((png,)))
    assert caught.value.code == "36001/2207005" and not posts_made(fake)


def test_container_still_in_progress_is_transient_and_nothing_is_published(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    fake.hold_processing(None)
    with pytest.raises(TransientError, match=r"took longer than 1 s \(Instagram processing"):
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    assert not fake.applied and not posts_made(fake)
    assert list(fake.public.folder.iterdir()) == []
    fake.hold_processing(2)  # a little later it is ready: polled until FINISHED, then published
    make_adapter(fake, upload=60.0).publish(rendered(pictures(tmp_path, 1)), "k")
    assert len(fake.applied) == 1


def test_container_error_refuses_the_post_with_the_reason(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    fake.fail_processing("2207009")
    with pytest.raises(ContentRejected, match="aspect ratio"):
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    assert not posts_made(fake)


def test_a_picture_instagram_cannot_fetch_is_refused(fake: FakeInstagram, tmp_path: Path) -> None:
    adapter = make_adapter(fake, media_base_url=f"{fake.public.url}/elsewhere")
    with pytest.raises(ContentRejected, match="could not fetch") as caught:
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    assert caught.value.code == "9004/2207052" and not posts_made(fake)
    assert list(fake.public.folder.iterdir()) == []


def test_publishing_limit_holds_the_target_before_any_container(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    fake.use_quota(50, total=50)
    with pytest.raises(RateLimited, match="50 posts") as caught:
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    assert caught.value.retry_after == 3600 and not fake.containers
    # The operator's lower cap counts too.
    fake.use_quota(3, total=50)
    with pytest.raises(RateLimited, match="MAX_PER_DAY"):
        make_adapter(fake, max_per_day=3).publish(rendered(pictures(tmp_path, 1)), "k")


@pytest.mark.parametrize(
    ("inject", "error", "words", "made"),
    [
        (lambda f: f.rate_limit(600), RateLimited, "request limit", 0),
        (lambda f: f.revoke_token(), AuthError, "invalid or has expired", 0),
        (lambda f: f.server_error(500), InDoubtError, "may have been published", 0),
        (lambda f: f.lose_answer(), InDoubtError, "may have been published", 1),
        (lambda f: f.answer_without_id(), InDoubtError, "no post id", 1),
        (
            lambda f: f.fail(9, "You reached maximum number of posts", subcode=2207042),
            RateLimited,
            "limit",
            0,
        ),
        (lambda f: f.fail(4, "We restrict certain activity", subcode=2207051), ContentRejected, "spam", 0),
        (
            lambda f: f.fail(10, "(#10) Application does not have permission"),
            AuthError,
            "instagram_content",
            0,
        ),
    ],
    ids=[
        "rate-limit",
        "revoked",
        "server-error",
        "lost-answer",
        "no-id",
        "publish-limit",
        "spam",
        "permission",
    ],
)
def test_faults_at_media_publish_map_to_the_error_tree(
    fake: FakeInstagram,
    adapter: InstagramAdapter,
    tmp_path: Path,
    inject: Any,
    error: type[Exception],
    words: str,
    made: int,
) -> None:
    inject(fake)
    with pytest.raises(error, match=words) as caught:
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    assert len(fake.media) == made and fake.token not in str(caught.value) + repr(caught.value)
    if isinstance(caught.value, RateLimited) and "request limit" in words:
        assert caught.value.retry_after == 600


def test_a_failure_creating_a_container_is_never_in_doubt(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    fake.server_error(500, path=MEDIA_PATH)
    with pytest.raises(TransientError) as caught:
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    assert not isinstance(caught.value, InDoubtError) and not fake.media


# --- check, reconcile, metrics -------------------------------------------------------------------


def test_check_names_the_account_the_limit_and_the_public_folder(
    fake: FakeInstagram, adapter: InstagramAdapter
) -> None:
    fake.use_quota(4)
    info = adapter.check()
    assert info.can_post and info.account == f"@library_bntu ({fake.account_id})"
    assert "4 of 50 posts" in info.detail
    assert list(fake.public.folder.iterdir()) == []  # the probe file is removed
    broken = make_adapter(fake, media_base_url=f"{fake.public.url}/nowhere").check()
    assert not broken.can_post and "PUBLISHER_INSTAGRAM__MEDIA_BASE_URL" in broken.detail


def test_reconcile_finds_a_lost_answer_by_its_caption_past_a_full_page(
    fake: FakeInstagram, adapter: InstagramAdapter, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    fake.lose_answer()
    with pytest.raises(InDoubtError):
        adapter.publish(rendered(pictures(tmp_path, 1)), "k")
    for i in range(60):  # more than one page of newer posts
        fake.add_media(f"другой пост {i}")
    found = adapter.reconcile(SentPost(CAPTION, None, ("photo0.jpg",)), started)
    assert found.status is ReconcileStatus.FOUND and found.ref is not None
    assert found.ref.remote_id == fake.media[0].id
    assert found.ref.url == f"https://www.instagram.com/p/{fake.media[0].shortcode}/"
    absent = adapter.reconcile(SentPost("Такого поста не было", None, ()), started)
    assert absent.status is ReconcileStatus.ABSENT
    fake.add_media("старый", datetime.now(UTC) - timedelta(days=2))


def test_metrics_read_likes_comments_and_insights(fake: FakeInstagram, adapter: InstagramAdapter) -> None:
    a, b = fake.add_media("пост 1"), fake.add_media("пост 2")
    snapshots = {s.remote_id: s for s in adapter.fetch_metrics([RemoteRef(a.id), RemoteRef(b.id)])}
    for media_id in (a.id, b.id):
        served = fake.figures.served[media_id]
        s = snapshots[media_id]
        assert (s.likes, s.comments, s.views, s.reposts) == (
            served["likes"],
            served["comments"],
            served["views"],
            served["reposts"],
        )
        assert s.reach == served["views"] // 2 and s.available
    fake.insights_allowed = False
    (s,) = adapter.fetch_metrics([RemoteRef(a.id)])
    assert s.likes is not None and s.views is None and "insights" in s.reason


def test_a_deleted_media_does_not_hold_up_the_figures_of_the_others(
    fake: FakeInstagram, adapter: InstagramAdapter
) -> None:
    kept = fake.add_media("пост остался")
    snapshots = {s.remote_id: s for s in adapter.fetch_metrics([RemoteRef(kept.id), RemoteRef("17999")])}
    assert snapshots[kept.id].available and snapshots[kept.id].likes == fake.figures.served[kept.id]["likes"]
    gone = snapshots["17999"]
    assert not gone.available and "do not exist" in gone.reason
