"""Facebook Page video: /{page-id}/videos with the text as description, simple or resumable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.adapters import facebook_media
from publisher.adapters.facebook import FacebookAdapter
from publisher.errors import InDoubtError, TransientError
from publisher.models import MediaItem, Rendered
from tests.fakes.base import Fault, Request
from tests.fakes.facebook import FakeFacebook, graph_error
from tests.integration.test_adapter_facebook import make_adapter
from tests.media import mp4_file

CHUNK = 100_000


@pytest.fixture
def fake() -> Iterator[FakeFacebook]:
    server = FakeFacebook()
    server.chunk_bytes = CHUNK
    server.start()
    yield server
    server.stop()


@pytest.fixture
def adapter(fake: FakeFacebook, monkeypatch: pytest.MonkeyPatch) -> Iterator[FacebookAdapter]:
    monkeypatch.setattr(facebook_media, "SIMPLE_UPLOAD_MAX", 150_000)
    a = make_adapter(fake.url, fake.page_id, fake.token)
    yield a
    a.close()


def post(video: MediaItem, text: str = "Лекция о редких книгах") -> Rendered:
    return Rendered("facebook", "facebook", text, len(text), 63206, media=(video,))


def test_a_small_video_is_one_upload_with_its_description(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "talk.mp4", 30, size=50_000)
    result = adapter.publish(post(video), "k")
    [(step, video_id)] = fake.video_steps
    assert step == "simple" and result.remote_id == video_id
    assert result.url == f"https://www.facebook.com/{fake.page_id}/videos/{video_id}"
    [published] = fake.posts
    assert published.text == "Лекция о редких книгах" and published.media == (video.path.read_bytes(),)


def test_a_large_video_goes_resumable_and_only_finish_publishes(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "talk.mp4", 30, size=250_000)
    prepared = adapter.prepare(post(video))
    assert [s[0] for s in fake.video_steps] == ["start", "transfer", "transfer", "transfer"]
    assert fake.posts == [] and fake.applied == []  # uploaded, not published
    result = adapter.publish(post(video), "k", prepared)
    assert [s[0] for s in fake.video_steps][-1] == "finish" and len(fake.applied) == 1
    assert [s[2] for s in fake.video_steps if s[0] == "transfer"] == ["0", "100000", "200000"]
    assert fake.posts[0].media == (video.path.read_bytes(),) and result.remote_id == fake.video_steps[0][1]


def test_a_failed_chunk_is_sent_again(fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path) -> None:
    transfers = 0

    def second_transfer(request: Request) -> bool:
        nonlocal transfers
        transfers += request.form.get("upload_phase") == "transfer"
        return request.form.get("upload_phase") == "transfer" and transfers == 2

    fault = Fault("status", r"/videos$", status=500, body=graph_error(2, "Service temporarily unavailable"))
    fault.when = second_transfer
    fake.inject(fault)
    video = mp4_file(tmp_path / "talk.mp4", 30, size=250_000)
    adapter.publish(post(video), "k")
    offsets = [r.form["start_offset"] for r in fake.requests if r.form.get("upload_phase") == "transfer"]
    assert offsets == ["0", "100000", "100000", "200000"]
    assert fake.posts[0].media == (video.path.read_bytes(),)


def test_transfers_failing_every_time_publish_nothing(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    fault = Fault("status", r"/videos$", status=500, body=graph_error(2, "Service temporarily unavailable"))
    fault.times, fault.when = 10, lambda request: request.form.get("upload_phase") == "transfer"
    fake.inject(fault)
    with pytest.raises(TransientError) as err:
        adapter.prepare(post(mp4_file(tmp_path / "talk.mp4", 30, size=250_000)))
    assert not isinstance(err.value, InDoubtError) and fake.posts == []


def test_a_lost_answer_to_finish_is_in_doubt(
    fake: FakeFacebook, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    video = mp4_file(tmp_path / "talk.mp4", 30, size=250_000)
    prepared = adapter.prepare(post(video))
    fake.lose_answer()  # aimed at the publishing call: the finish
    with pytest.raises(InDoubtError):
        adapter.publish(post(video), "k", prepared)
    assert len(fake.posts) == 1
