"""Reconciling an in-doubt post through the dispatcher, the real adapters and the network fakes.

Issue 10 point 2: the lookup is given exactly what was sent (text, link, media names, parse mode), as recorded
when the delivery was marked as sending. A photo post with a link (on Facebook its text carries the link) whose
answer was lost is found on the network and settled as published, not sent a second time.

Issue 12 point 2: the lookup pages back until it reaches posts older than the attempt, however many newer
posts stand before the one it looks for (here more than three pages of 100).

VK deduplicates by ``guid`` for an hour, so its first in-doubt attempt is simply re-sent; the post here goes in
doubt on a second attempt made three hours after the first, when only a lookup can tell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.store import Store
from tests.conftest import FakeClock
from tests.fault_world import SHARED_CREDS, World, start_fakes

LOOKS_UP = ("vk", "x", "facebook")
LINK = "https://library.bntu.by/news/rare-books"
NEWER = 350  # more than three pages of 100: the old lookups read 20 (VK), 50 (Facebook), 300 (X)


@pytest.fixture
def clock() -> FakeClock:
    # Three hours back, so VK's second attempt (three hours after the first) happens near the wall clock
    # the fakes stamp posts with.
    return FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))


@pytest.fixture
def world_of(store: Store, clock: FakeClock, tmp_path: Path) -> Iterator[Callable[[str], World]]:
    opened: list[tuple[World, Any]] = []

    def make(network: str) -> World:
        manager = start_fakes(SHARED_CREDS, (network,))
        world = World(store, clock, manager.__enter__(), SHARED_CREDS, media_dir=tmp_path)
        opened.append((world, manager))
        return world

    yield make
    for world, manager in opened:
        world.close()
        manager.__exit__(None, None, None)


def in_doubt(world: World, network: str, media: int) -> int:
    """A post with ``media`` images and a link whose publishing answer is lost: the post exists, in doubt."""
    fake = world.fakes[network]
    did = world.add(network, media=media, link=LINK)
    if network == "vk":
        fake.server_error()  # the first attempt sends nothing; the retry comes after VK's guid window
        world.drain()
        world.clock.advance(hours=2, minutes=55)
    fake.lose_answer()
    world.drain()
    d = world.get(did)
    assert d.state.value == "in_doubt", d.last_error
    assert len(fake.posts) == 1
    return did


def seed_newer(world: World, network: str, count: int) -> None:
    """Posts made after the in-doubt one (by hand, by other tools), newest last."""
    fake: Any = world.fakes[network]
    now = datetime.now(UTC)
    for i in range(count):
        when = now + timedelta(seconds=i + 1)
        if network == "vk":
            fake.add_post(f"Другая новость {i}", date=when.timestamp())
        elif network == "x":
            fake.add_post(f"Другая новость {i}", created_at=when)
        else:
            fake.add_post(f"Другая новость {i}", created_time=when)


def settle(world: World, did: int) -> None:
    world.clock.advance(minutes=2)  # past the first reconciliation check
    world.dispatcher.reconcile()
    world.drain()  # a delivery requeued by a wrong "absent" would be sent again here


def assert_found_once(world: World, network: str, did: int, posts: int) -> None:
    fake = world.fakes[network]
    d = world.get(did)
    assert d.state.value == "published", (d.state, d.last_error)
    assert len(fake.applied) == 1 and len(fake.posts) == posts
    assert d.remote_id == fake.posts[0].remote_id
    statuses = world.statuses(did)
    assert statuses[-1] == "published" and statuses.count("publishing") == (2 if network == "vk" else 1)


@pytest.mark.parametrize("media", [1, 2], ids=["one-image", "two-images"])
@pytest.mark.parametrize("network", LOOKS_UP)
def test_in_doubt_post_with_media_and_link_is_found_not_sent_again(
    world_of: Callable[[str], World], network: str, media: int
) -> None:
    world = world_of(network)
    did = in_doubt(world, network, media)
    settle(world, did)
    assert_found_once(world, network, did, posts=1)


@pytest.mark.parametrize("network", LOOKS_UP)
def test_lookup_pages_back_past_many_newer_posts(world_of: Callable[[str], World], network: str) -> None:
    world = world_of(network)
    did = in_doubt(world, network, media=1)
    seed_newer(world, network, NEWER)
    settle(world, did)
    assert_found_once(world, network, did, posts=1 + NEWER)
