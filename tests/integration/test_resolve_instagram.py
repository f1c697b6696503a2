"""``publisher resolve ID --published-as`` for an Instagram delivery, through the real CLI against the loopback
Graph fake: a post address names the media by its shortcode, but metrics and reconciliation read it by its
numeric media id, so the address is looked up and the id stored; when it cannot be, one line says what to give
instead, exit 2, and the delivery stays in doubt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.adapters import build_adapter
from publisher.cli import main
from publisher.models import DeliveryState, Post, PublishResult, RemoteRef
from publisher.settings import load_settings
from publisher.store import Store
from tests.fakes.instagram import FakeInstagram
from tests.helpers import service_env
from tests.media import jpeg_file

LISTS = r"/media$"


@pytest.fixture
def fake() -> Iterator[FakeInstagram]:
    with FakeInstagram() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeInstagram) -> Path:
    service_env(monkeypatch, tmp_path, fake.service_env())
    return tmp_path


@pytest.fixture
def in_doubt(env: Path) -> Iterator[tuple[Store, int]]:
    """One Instagram delivery in doubt (its answer was lost); yields the store and the delivery id."""
    store = Store(f"sqlite:///{env / 'var' / 'publisher.db'}")
    now = datetime.now(UTC)
    picture = jpeg_file(env / "afisha.jpg")
    post = Post("afisha.md", "a" * 64, ("instagram",), "ed", "Афиша недели", media=(picture,))
    store.add_post(post, now)
    (claim,) = store.claim_due(now, worker="test", lease_seconds=60)
    d = claim.delivery
    store.record_in_doubt(d.id, d.attempt_id or "", now, "no answer after media_publish", reconcile_at=None)
    yield store, d.id
    store.close()


def lists(fake: FakeInstagram) -> list[dict[str, str]]:
    """The query of every read of the account's media the fake answered."""
    return [r.query for r in fake.requests if r.method == "GET" and r.path.endswith("/media")]


def seed(fake: FakeInstagram, count: int) -> None:
    for n in range(count):
        fake.add_media(f"Пост {n}")


def test_a_post_address_is_looked_up_and_the_media_id_and_permalink_are_stored(
    fake: FakeInstagram, in_doubt: tuple[Store, int]
) -> None:
    store, delivery_id = in_doubt
    seed(fake, 60)
    ours = fake.add_media("Афиша недели")
    seed(fake, 70)  # 70 newer posts: the media is on the second page of 50
    address = f"https://www.instagram.com/p/{ours.shortcode}/?igsh=MWQ1ZGUxMzBkMA=="

    assert main(["resolve", str(delivery_id), "--published-as", address]) == 0

    d = store.get_delivery(delivery_id)
    assert d is not None and d.state is DeliveryState.PUBLISHED
    assert (d.remote_id, d.remote_url) == (ours.id, ours.permalink)
    read = lists(fake)
    assert [q.get("fields") for q in read] == ["id,permalink", "id,permalink"]
    assert "after" not in read[0] and read[1]["after"]  # the second page by the cursor of the first


def test_a_reel_address_is_found_by_its_shortcode_too(
    fake: FakeInstagram, in_doubt: tuple[Store, int]
) -> None:
    store, delivery_id = in_doubt
    reel = fake.add_media("Афиша недели", kind="REELS")
    seed(fake, 3)

    assert (
        main(["resolve", str(delivery_id), f"--published-as=https://instagram.com/reel/{reel.shortcode}"])
        == 0
    )

    d = store.get_delivery(delivery_id)
    assert d is not None and (d.remote_id, d.remote_url) == (reel.id, reel.permalink)


def test_a_media_id_is_taken_as_is_without_asking_instagram(
    fake: FakeInstagram, in_doubt: tuple[Store, int]
) -> None:
    store, delivery_id = in_doubt
    assert main(["resolve", str(delivery_id), "--published-as", "17900000000000042"]) == 0
    d = store.get_delivery(delivery_id)
    assert d is not None and d.state is DeliveryState.PUBLISHED and d.remote_id == "17900000000000042"
    assert fake.requests == []


def test_the_stored_id_is_what_metrics_read(
    fake: FakeInstagram, in_doubt: tuple[Store, int], env: Path
) -> None:
    """The point of storing the id: the Graph API's multiple-id read knows the media by it."""
    store, delivery_id = in_doubt
    ours = fake.add_media("Афиша недели")
    assert (
        main(["resolve", str(delivery_id), f"--published-as=https://www.instagram.com/p/{ours.shortcode}/"])
        == 0
    )
    d = store.get_delivery(delivery_id)
    assert d is not None and d.remote_id is not None
    adapter = build_adapter(load_settings(None), "instagram")
    try:
        (snapshot,) = adapter.fetch_metrics([RemoteRef(d.remote_id, d.remote_url)])
    finally:
        adapter.close()
    assert snapshot.available and snapshot.likes == fake.figures.served[ours.id]["likes"]


def refused(capsys: pytest.CaptureFixture[str], store: Store, delivery_id: int, argv: list[str]) -> str:
    """Run ``resolve`` expecting a refusal: exit 2, one line, the delivery still in doubt with no id."""
    assert main(["resolve", str(delivery_id), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("publisher: --published-as") and err.count("\n") == 1, err
    assert "give its media id instead" in err, err
    d = store.get_delivery(delivery_id)
    assert d is not None and d.state is DeliveryState.IN_DOUBT and d.remote_id is None
    return err


def test_an_address_not_among_the_newest_posts_is_refused_after_a_bounded_search(
    fake: FakeInstagram, in_doubt: tuple[Store, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, delivery_id = in_doubt
    old = fake.add_media("Давний пост")
    seed(fake, 520)  # past the 500 newest posts that are looked through
    err = refused(
        capsys, store, delivery_id, [f"--published-as=https://www.instagram.com/p/{old.shortcode}/"]
    )
    assert "was not found among the newest posts" in err
    assert len(lists(fake)) == 10  # 10 pages of 50, not all 11


def test_an_address_is_refused_when_instagram_cannot_be_asked(
    fake: FakeInstagram,
    in_doubt: tuple[Store, int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, delivery_id = in_doubt
    ours = fake.add_media("Афиша недели")
    address = f"--published-as=https://www.instagram.com/p/{ours.shortcode}/"

    fake.fail(190, "Error validating access token: Session has expired", path=LISTS)
    assert "could not be looked up on instagram" in refused(capsys, store, delivery_id, [address])

    monkeypatch.setenv("PUBLISHER_INSTAGRAM__API_URL", "http://127.0.0.1:9")  # nothing listens: network down
    assert "could not be looked up on instagram" in refused(capsys, store, delivery_id, [address])

    monkeypatch.delenv("PUBLISHER_INSTAGRAM__ACCESS_TOKEN")  # no credentials
    err = refused(capsys, store, delivery_id, [address])
    assert "cannot be looked up on instagram" in err and "PUBLISHER_INSTAGRAM__ACCESS_TOKEN" in err
    assert fake.token not in err


@pytest.mark.parametrize("state", ["published", "queued"])
def test_a_delivery_not_in_doubt_is_refused_before_instagram_is_asked(
    fake: FakeInstagram, env: Path, capsys: pytest.CaptureFixture[str], state: str
) -> None:
    store = Store(f"sqlite:///{env / 'var' / 'publisher.db'}")
    now = datetime.now(UTC)
    post = Post("afisha.md", "b" * 64, ("instagram",), "ed", "Афиша", media=(jpeg_file(env / "a.jpg"),))
    store.add_post(post, now)
    if state == "published":
        (claim,) = store.claim_due(now, worker="test", lease_seconds=60)
        d = claim.delivery
        result = PublishResult("17900000000000077", "https://www.instagram.com/p/Zz1/", now)
        store.record_published(d.id, d.attempt_id or "", result, now, {"text": "Афиша"})
    (d,) = store.deliveries()
    ours = fake.add_media("Афиша")

    argv = ["resolve", str(d.id), f"--published-as=https://www.instagram.com/p/{ours.shortcode}/"]
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        f"publisher: delivery {d.id} is {state}; this action applies to in_doubt deliveries\n"
    )
    assert fake.requests == []  # no lookup: the state was checked first
    assert store.get_delivery(d.id) == d
    store.close()


def test_a_delivery_recorded_with_a_shortcode_is_corrected_by_resolve(
    fake: FakeInstagram, in_doubt: tuple[Store, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """What the operator line of ``metrics collect`` says to run for a delivery the old ``resolve`` stored
    with the shortcode as its id: the address is looked up (or the id taken) and the id recorded."""
    store, delivery_id = in_doubt
    ours = fake.add_media("Афиша недели")
    store.resolve(
        delivery_id, datetime.now(UTC), published_as=RemoteRef(ours.shortcode, ours.permalink), actor="op"
    )

    assert main(["resolve", str(delivery_id), f"--published-as={ours.permalink}"]) == 0

    assert f"its id is now {ours.id}" in capsys.readouterr().out
    d = store.get_delivery(delivery_id)
    assert (
        d is not None
        and d.state is DeliveryState.PUBLISHED
        and (d.remote_id, d.remote_url)
        == (
            ours.id,
            ours.permalink,
        )
    )
    (event,) = store.events(delivery_id=delivery_id, status="id_corrected")
    assert event.detail["was"] == ours.shortcode and event.remote_id == ours.id
    # Now recorded under its id, the delivery is published like any other: resolve refuses it.
    assert main(["resolve", str(delivery_id), f"--published-as={ours.id}"]) == 1
