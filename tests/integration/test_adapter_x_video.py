"""X video and GIF: the v2 chunked upload in the documented steps, processing, failures, a stopping daemon."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.adapters import x_media
from publisher.adapters.x import XAdapter
from publisher.errors import ContentRejected, TransientError, UploadInterrupted
from publisher.models import MediaItem, Rendered
from tests.fakes.base import Fault, Request
from tests.fakes.x import FakeX
from tests.integration.test_adapter_x import Creds, make_adapter, start_fake
from tests.integration.test_adapter_x import creds as creds
from tests.media import gif_file, mp4_file, png_file

SEGMENT = 64 * 1024


@pytest.fixture
def fake(creds: Creds) -> Iterator[FakeX]:
    server = start_fake(creds)
    yield server
    server.stop()


@pytest.fixture
def adapter(fake: FakeX, creds: Creds, monkeypatch: pytest.MonkeyPatch) -> Iterator[XAdapter]:
    monkeypatch.setattr(x_media, "SEGMENT_BYTES", SEGMENT)  # small files, several segments
    a = make_adapter(fake.url, creds)
    yield a
    a.close()


def post(*media: MediaItem, text: str = "Видео с экскурсии") -> Rendered:
    return Rendered(target="x", network="x", text=text, length=len(text), limit=280, media=media)


def kinds(fake: FakeX) -> list[str]:
    return [step[0] for step in fake.steps]


def test_a_video_goes_up_in_the_documented_steps(adapter: XAdapter, fake: FakeX, tmp_path: Path) -> None:
    video = mp4_file(tmp_path / "tour.mp4", 30, size=3 * SEGMENT + 100)
    result = adapter.publish(post(video), "k")

    media_id = fake.steps[0][1]
    assert kinds(fake) == [
        "initialize",
        "append",
        "append",
        "append",
        "append",
        "finalize",
        "status",
        "status",
    ]
    assert [s[2] for s in fake.steps if s[0] == "append"] == [0, 1, 2, 3]
    assert fake.media[media_id]["category"] == "tweet_video"
    assert fake.media[media_id]["data"] == video.path.read_bytes()
    assert fake.tweets[0]["media_ids"] == [media_id] and result.remote_id == fake.tweets[0]["id"]
    init = next(r.json for r in fake.requests if r.path.endswith("/initialize"))
    assert init == {"media_type": "video/mp4", "total_bytes": video.size, "media_category": "tweet_video"}


def test_an_animated_gif_is_a_tweet_gif_and_a_still_one_a_picture(
    adapter: XAdapter, fake: FakeX, tmp_path: Path
) -> None:
    adapter.publish(post(gif_file(tmp_path / "loop.gif", frames=4)), "k1")
    adapter.publish(post(gif_file(tmp_path / "still.gif", frames=1), text="Схема проезда"), "k2")
    categories = [fake.media[t["media_ids"][0]]["category"] for t in fake.tweets]
    assert categories == ["tweet_gif", "tweet_image"]


def test_a_processing_failure_refuses_the_post_with_xs_reason(
    adapter: XAdapter, fake: FakeX, tmp_path: Path
) -> None:
    fake.fail_processing("Unsupported video codec: use H.264.")
    with pytest.raises(ContentRejected, match=r"could not process tour\.mp4: Unsupported video codec"):
        adapter.publish(post(mp4_file(tmp_path / "tour.mp4", 10)), "k")
    assert fake.tweets == [] and kinds(fake)[-1] == "status"


def test_a_5xx_in_the_middle_of_the_appends_sends_that_segment_again(
    adapter: XAdapter, fake: FakeX, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "tour.mp4", 10, size=3 * SEGMENT)
    appends = 0

    def second_append(request: Request) -> bool:
        nonlocal appends
        appends += 1
        return appends == 2

    fake.inject(Fault("status", r"/append$", status=503, when=second_append))
    adapter.publish(post(video), "k")
    sent = [r.form["segment_index"] for r in fake.requests if r.path.endswith("/append")]
    assert sent == ["0", "1", "1", "2"]  # segment 1 was answered 503, then sent again
    assert [s[2] for s in fake.steps if s[0] == "append"] == [0, 1, 2] and len(fake.tweets) == 1
    assert fake.media[fake.tweets[0]["media_ids"][0]]["data"] == video.path.read_bytes()


def test_appends_failing_every_time_leave_nothing_published(
    adapter: XAdapter, fake: FakeX, tmp_path: Path
) -> None:
    fake.server_error(503, path=r"/append$", times=x_media.SEGMENT_TRIES)
    with pytest.raises(TransientError) as err:
        adapter.prepare(post(mp4_file(tmp_path / "tour.mp4", 10, size=2 * SEGMENT)))
    assert not isinstance(err.value, UploadInterrupted)
    assert fake.tweets == [] and "finalize" not in kinds(fake)


def test_a_stopping_daemon_ends_the_upload_while_x_processes(
    adapter: XAdapter, fake: FakeX, tmp_path: Path
) -> None:
    fake.check_after_secs = 30  # X asks to wait: the stop must not wait that long
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(UploadInterrupted, match="stopping"):
        adapter.prepare(post(mp4_file(tmp_path / "tour.mp4", 10)), stop)
    assert fake.tweets == [] and "finalize" in kinds(fake)


def test_the_upload_deadline_bounds_processing(fake: FakeX, creds: Creds, tmp_path: Path) -> None:
    adapter = make_adapter(fake.url, creds)
    adapter.settings.timeouts.upload = 0.3
    fake.check_after_secs = 30
    with pytest.raises(TransientError, match="took longer than"):
        adapter.prepare(post(mp4_file(tmp_path / "tour.mp4", 10)))
    assert fake.tweets == []


def test_a_picture_still_goes_in_one_request(adapter: XAdapter, fake: FakeX, tmp_path: Path) -> None:
    adapter.publish(post(png_file(tmp_path / "p.png")), "k")
    assert fake.steps == [] and len(fake.tweets) == 1
