"""A post's media against a network's video limits: refused at acceptance with the network, limit and fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from publisher.adapters import profile_of
from publisher.adapters.profile import NetworkProfile, VideoLimits
from publisher.compose.media_rules import media_problems
from publisher.models import MediaItem, Post
from tests.media import gif_file, mp4_file, png_file

LIMITS = VideoLimits(max_bytes=1_000_000, max_seconds=140, containers=("mp4",), min_seconds=0.5)


def profile(**limits: object) -> NetworkProfile:
    return dataclasses.replace(profile_of("x"), video=dataclasses.replace(LIMITS, **limits))


def post(*media: MediaItem) -> Post:
    return Post("kino.md", "k" * 64, ("x",), "ed", "Текст", media=media)


def problems(item_post: Post, prof: NetworkProfile) -> list[str]:
    return [str(e) for e in media_problems(item_post, "x", prof)]


def test_a_video_within_every_limit_passes(tmp_path: Path) -> None:
    assert problems(post(mp4_file(tmp_path / "a.mp4", 139.9)), profile()) == []


def test_too_long_names_the_network_the_limit_and_the_fix(tmp_path: Path) -> None:
    [message] = problems(post(mp4_file(tmp_path / "long.mp4", 150)), profile())
    assert "media 'long.mp4'" in message
    assert "is 2 min 30 s long; X takes videos up to 2 min 20 s" in message
    assert "cut it to 2 min 20 s at most, or drop x from networks" in message


def test_too_big_too_short_and_wrong_container(tmp_path: Path) -> None:
    big = mp4_file(tmp_path / "big.mp4", 10, size=1_500_000)
    short = mp4_file(tmp_path / "short.mp4", 0.2)
    mov = dataclasses.replace(short, name="clip.mov", info=dataclasses.replace(short.info, container="mov"))
    found = problems(post(big), profile()) + problems(post(short), profile(per_post=2))
    found += problems(post(mov), profile())
    assert "is 1.5 MB; X takes videos up to 1 MB" in found[0]
    assert "is 0.2 s long; X takes videos of at least 0.5 s" in found[1]
    assert any("is a MOV video; X takes MP4" in m for m in found[2:])


def test_video_count_and_pictures_beside_a_video(tmp_path: Path) -> None:
    a, b = mp4_file(tmp_path / "a.mp4"), mp4_file(tmp_path / "b.mp4")
    picture = png_file(tmp_path / "p.png")
    assert any("has 2 videos; X takes 1 video in one post" in m for m in problems(post(a, b), profile()))
    alone = problems(post(a, picture), profile())
    assert any("has pictures and a video; X takes a video alone" in m for m in alone)
    assert problems(post(a, picture), profile(with_images=True, per_post=10)) == []


def test_an_animated_gif_counts_as_a_video_where_the_network_takes_it_as_one(tmp_path: Path) -> None:
    loop, still = gif_file(tmp_path / "loop.gif", frames=3), gif_file(tmp_path / "still.gif", frames=1)
    picture = png_file(tmp_path / "p.png")
    assert problems(post(loop), profile(gif_max_bytes=15_000_000)) == []
    assert problems(post(still, picture), profile(gif_max_bytes=15_000_000)) == []
    assert any(
        "takes a video alone" in m for m in problems(post(loop, picture), profile(gif_max_bytes=10**7))
    )
    [too_big] = problems(post(loop), profile(gif_max_bytes=10))
    assert "is an animated GIF of 0 MB; X takes GIFs up to 0 MB" in too_big
    # Where GIFs are pictures, an animated one is a picture like any other.
    assert problems(post(loop, picture), profile()) == []


def test_a_network_without_video_refuses_it(tmp_path: Path) -> None:
    no_video = dataclasses.replace(profile_of("x"), video=None)
    [message] = problems(post(mp4_file(tmp_path / "a.mp4")), no_video)
    assert "publishing video to X is not supported yet" in message


@pytest.mark.parametrize(
    ("seconds", "shown"), [(45.5, "45.5 s"), (60, "1 min"), (600, "10 min"), (14400, "4 h 0 min")]
)
def test_lengths_in_plain_words(tmp_path: Path, seconds: float, shown: str) -> None:
    [message] = problems(post(mp4_file(tmp_path / "a.mp4", seconds + 1)), profile(max_seconds=seconds))
    assert f"takes videos up to {shown}" in message


def test_a_video_too_long_for_x_is_refused_at_acceptance_naming_the_limit(tmp_path: Path) -> None:
    from publisher.compose.composer import render_all
    from publisher.compose.directory import Directory
    from publisher.errors import InputError
    from tests.hostile_corpus import parse, write
    from tests.media import mp4_bytes

    (tmp_path / "lecture.mp4").write_bytes(mp4_bytes(141, 1280, 720))
    post = parse(write(tmp_path, "lecture.md", "networks: [x]\napproved_by: ed\nmedia: [lecture.mp4]"))
    with pytest.raises(InputError) as err:
        render_all(post, Directory.empty())
    message = str(err.value)
    assert "lecture.md" in message and "media 'lecture.mp4'" in message
    assert "is 2 min 21 s long; X takes videos up to 2 min 20 s" in message
    assert "cut it to 2 min 20 s at most, or drop x from networks" in message


def test_telegram_takes_an_animated_gif_only_alone(tmp_path: Path) -> None:
    """An album cannot hold an animation (sendMediaGroup), so the editor hears it at acceptance."""
    telegram = profile_of("telegram")
    loop, still = gif_file(tmp_path / "loop.gif", frames=3), gif_file(tmp_path / "still.gif", frames=1)
    picture, video = png_file(tmp_path / "p.png"), mp4_file(tmp_path / "v.mp4")

    def said(*media: MediaItem) -> list[str]:
        return [str(e) for e in media_problems(post(*media), "telegram", telegram)]

    assert said(loop) == [] and said(still, picture) == [] and said(picture, video) == []
    for mixed in ((loop, picture), (video, loop), (loop, gif_file(tmp_path / "again.gif", frames=2))):
        [message] = said(*mixed)
        assert "Telegram shows an animated GIF only in a post of its own" in message
        assert "put the GIF into a post of its own, or drop telegram from networks" in message
    [too_big] = said(dataclasses.replace(loop, size=51_000_000))
    assert "is an animated GIF of 51 MB; Telegram takes GIFs up to 50 MB" in too_big
