"""VK video: video.save to the community (not posted by itself), the upload, then the wall.post attachment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.adapters.vk import VkAdapter
from publisher.errors import AuthError, TransientError
from publisher.models import MediaItem, Rendered
from tests.fakes.vk import FULL_SCOPE, VIDEO_SCOPE, FakeVk
from tests.integration.test_adapter_vk import GROUP, TOKEN, make_adapter, wall_posts
from tests.media import mp4_file, png_file


@pytest.fixture
def fake() -> Iterator[FakeVk]:
    server = FakeVk(TOKEN, GROUP)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def adapter(fake: FakeVk) -> Iterator[VkAdapter]:
    a = make_adapter(fake.url)
    yield a
    a.close()


def post(*media: MediaItem) -> Rendered:
    text = "Видео с дня открытых дверей"
    return Rendered(target="vk", network="vk", text=text, length=len(text), limit=16000, media=media)


def test_a_video_is_saved_to_the_community_uploaded_and_attached(
    fake: FakeVk, adapter: VkAdapter, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "day.mp4", 20, size=300_000)
    result = adapter.publish(post(video), "k")

    (kind, params), (uploaded, video_id) = fake.video_steps
    assert (kind, uploaded) == ("save", "upload")
    assert params == {"group_id": str(GROUP), "name": "day.mp4", "wallpost": "0", "is_private": None}
    attachment = f"video-{GROUP}_{video_id}"
    assert wall_posts(fake)[0]["attachments"] == attachment
    assert fake.videos[attachment] == video.path.read_bytes()
    assert fake.posts[0].media == (video.path.read_bytes(),)
    assert result.url == f"https://vk.com/wall{result.remote_id}" and len(fake.applied) == 1
    # The calls before wall.post upload; only wall.post publishes.
    paths = [r.path for r in fake.requests]
    assert paths.index("/method/video.save") < paths.index("/upload/video") < paths.index("/method/wall.post")


def test_pictures_and_a_video_keep_their_order(fake: FakeVk, adapter: VkAdapter, tmp_path: Path) -> None:
    items = (png_file(tmp_path / "a.png", 1), mp4_file(tmp_path / "b.mp4"), png_file(tmp_path / "c.png", 2))
    adapter.publish(post(*items), "k")
    kinds = [a[:5] for a in wall_posts(fake)[0]["attachments"].split(",")]
    assert kinds == ["photo", "video", "photo"]


def test_a_token_without_the_video_right(fake: FakeVk, adapter: VkAdapter, tmp_path: Path) -> None:
    fake.scope = FULL_SCOPE & ~VIDEO_SCOPE
    info = adapter.check()
    assert info.can_post is True and "no video right" in info.detail and "wall,photos,video" in info.detail
    with pytest.raises(AuthError, match="wall,photos,video,offline"):
        adapter.prepare(post(mp4_file(tmp_path / "a.mp4")))
    assert fake.wall == []


def test_check_names_the_video_right_when_it_is_there(adapter: VkAdapter) -> None:
    assert "with the video right" in adapter.check().detail


def test_an_upload_server_failure_publishes_nothing(fake: FakeVk, adapter: VkAdapter, tmp_path: Path) -> None:
    fake.server_error(502, path=r"^/upload/video$")
    with pytest.raises(TransientError):
        adapter.prepare(post(mp4_file(tmp_path / "a.mp4")))
    assert fake.wall == [] and not any(r.path == "/method/wall.post" for r in fake.requests)
