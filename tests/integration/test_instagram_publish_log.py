"""A picture, a carousel and a reel go to Instagram through the dispatcher: each by container -> status ->
media_publish, and the publish log records each media id and its permalink."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.models import MediaItem, Post
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fakes.instagram import FakeInstagram
from tests.fault_world import SHARED_CREDS, World, start_fakes
from tests.media import jpeg_file, mp4_file, png_file


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    with start_fakes(SHARED_CREDS, ("instagram",)) as fakes:
        clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        w = World(store, clock, fakes, SHARED_CREDS, media_dir=tmp_path)
        yield w
        w.close()


def queue(world: World, name: str, media: tuple[MediaItem, ...]) -> int:
    post = Post(
        source_name=f"{name}.md",
        source_key=secrets.token_hex(16),
        targets=("instagram",),
        approved_by="редактор дня",
        body=f"Новости библиотеки: {name}",
        media=media,
    )
    post_id, _ = world.store.add_post(post, world.clock())
    (delivery,) = world.store.deliveries(post_id=post_id)
    return delivery.id


def test_picture_carousel_and_reel_reach_instagram_and_the_log_names_id_and_permalink(
    world: World, tmp_path: Path
) -> None:
    fake = world.fakes["instagram"]
    assert isinstance(fake, FakeInstagram)
    ids = {
        "picture": queue(world, "picture", (jpeg_file(tmp_path / "a.jpg", 1),)),
        "carousel": queue(world, "carousel", tuple(jpeg_file(tmp_path / f"c{i}.jpg", i) for i in range(3))),
        "reel": queue(world, "reel", (mp4_file(tmp_path / "r.mp4", seconds=6.0),)),
    }
    world.drain()

    kinds = {m.caption.rsplit(" ", 1)[-1]: m for m in fake.media}
    assert {name: kinds[name].kind for name in ids} == {
        "picture": "IMAGE",
        "carousel": "CAROUSEL",
        "reel": "REELS",
    }
    for name, delivery_id in ids.items():
        d = world.get(delivery_id)
        media = kinds[name]
        assert d.state.value == "published" and d.remote_id == media.id
        (event,) = world.store.events(delivery_id=delivery_id, status="published")
        assert event.remote_id == media.id
        assert event.url == media.permalink == d.remote_url
    assert kinds["reel"].permalink.startswith("https://www.instagram.com/reel/")
    assert len(fake.applied) == 3  # one media_publish per post, each after its containers were FINISHED
    order = [
        "publish" if fake.is_publish(r) else "status" if r.param("fields") == "status_code,status" else ""
        for r in fake.requests
    ]
    steps = [s for s in order if s]
    assert steps.count("publish") == 3 and all(
        steps[i - 1] == "status" for i, s in enumerate(steps) if s == "publish"
    )


def test_a_png_queued_before_the_rule_fails_with_the_reason_before_any_call(
    world: World, tmp_path: Path
) -> None:
    """A post accepted before Instagram's JPEG-only rule existed: its Instagram delivery fails when it is
    written, with the file and the fix, and Instagram is never called; nothing is retried."""
    fake = world.fakes["instagram"]
    assert isinstance(fake, FakeInstagram)
    delivery_id = queue(world, "poster", (png_file(tmp_path / "poster.png", 1),))
    world.drain()

    d = world.get(delivery_id)
    assert d.state.value == "failed" and d.attempts == 1
    assert "poster.png in PNG" in (d.last_error or "") and "convert it to JPEG" in (d.last_error or "")
    assert fake.requests == [] and fake.media == []
