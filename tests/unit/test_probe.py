"""Reading what a media file holds (hachoir): what acceptance checks each network's video limits against."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from publisher.intake.probe import ProbeError, probe
from publisher.models import MediaInfo
from tests.hostile_corpus import GOOD, parse, write
from tests.media import gif_bytes, mp4_bytes, png_bytes


def test_mp4_length_picture_size_and_container_from_path_file_and_bytes(tmp_path: Path) -> None:
    data = mp4_bytes(142.5, 1280, 720, size=200_000)
    (tmp_path / "clip.mp4").write_bytes(data)
    expected = MediaInfo("video", "mp4", duration=142.5, width=1280, height=720)
    assert probe(tmp_path / "clip.mp4") == expected
    assert probe(io.BytesIO(data), "video/mp4") == expected
    assert probe(data) == expected


def test_quicktime_is_a_mov() -> None:
    assert probe(mp4_bytes(3, 640, 480, quicktime=True)) == MediaInfo("video", "mov", 3.0, 640, 480)


def test_animated_gif_told_from_a_still_one() -> None:
    assert probe(gif_bytes(frames=5)).animated is True
    assert probe(gif_bytes(frames=1)).animated is False
    assert probe(gif_bytes(frames=1), "image/gif").kind == "image"


def test_other_pictures_are_images_even_when_the_parser_cannot_size_them() -> None:
    assert probe(png_bytes(), "image/png") == MediaInfo("image", "png", width=1, height=1)
    assert probe(b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg") == MediaInfo("image", "jpeg")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00", "no picture"),  # no moov: no track, no length
        (b"\x00\x00\x00\x02ftypisom" + b"\xff" * 40, "MP4 or MOV"),  # a first box of 2 bytes
        (b"plain text, not media", "neither a picture nor a video"),
    ],
)
def test_a_video_that_cannot_be_read_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ProbeError, match=reason):
        probe(data)


def test_acceptance_keeps_what_the_file_holds_and_refuses_an_unreadable_video(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(mp4_bytes(61, 640, 360))
    (tmp_path / "loop.gif").write_bytes(gif_bytes(3))
    post = parse(write(tmp_path, "kino.md", f"{GOOD}\nmedia: [clip.mp4, loop.gif]"))
    infos = [m.info for m in post.media]
    assert infos == [MediaInfo("video", "mp4", 61.0, 640, 360), MediaInfo("image", "gif", None, 2, 2, True)]
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")
    with pytest.raises(Exception) as err:
        parse(write(tmp_path, "broken.md", f"{GOOD}\nmedia: [broken.mp4]"))
    message = str(err.value)
    assert "broken.md" in message and "broken.mp4" in message and "cannot tell its length" in message
    assert "export the video again as MP4" in message
