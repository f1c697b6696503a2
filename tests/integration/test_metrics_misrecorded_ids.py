"""Instagram deliveries recorded with a shortcode as their remote id (what ``resolve --published-as URL`` stored
before it looked ids up), through the real CLI against the loopback Graph fake and a real SQLite store.

The Graph API reads media by numeric id only and refuses a multiple-id read as a whole for one alias that
does not exist (error 803). ``metrics collect`` keeps such a delivery out of the batch, looks its id up from
its recorded address, records it (``publisher show`` tells), and reads its figures with the others; when the
lookup fails the delivery is skipped with one operator line naming it and the fix, the others read as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.metrics.collect import Collector
from publisher.models import Post, PublishResult, RemoteRef
from publisher.settings import load_settings
from publisher.store import Store
from tests.fakes.instagram import FakeInstagram, Media
from tests.helpers import service_env

LISTS = r"/media$"


@pytest.fixture
def fake() -> Iterator[FakeInstagram]:
    with FakeInstagram() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeInstagram) -> Iterator[Store]:
    service_env(monkeypatch, tmp_path, fake.service_env())
    store = Store(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
    yield store
    store.close()


def published(store: Store, media: Media, *, shortcode: bool = False) -> int:
    """An Instagram delivery published as ``media``: under its id, or (``shortcode``) as the old
    ``resolve --published-as https://www.instagram.com/p/<shortcode>/`` settled it."""
    now = datetime.now(UTC)
    post = Post(f"{media.id}.md", media.id.rjust(64, "0"), ("instagram",), "ed", media.caption)
    store.add_post(post, now)
    (claim,) = store.claim_due(now, worker="test", lease_seconds=60)
    d = claim.delivery
    if not shortcode:
        result = PublishResult(media.id, media.permalink, now)
        store.record_published(d.id, d.attempt_id or "", result, now, {"text": media.caption})
        return d.id
    store.record_in_doubt(d.id, d.attempt_id or "", now, "no answer after media_publish", reconcile_at=None)
    store.resolve(d.id, now, published_as=RemoteRef(media.shortcode, media.permalink), actor="op")
    return d.id


def id_reads(fake: FakeInstagram) -> list[list[str]]:
    """The ids of every multiple-id read the fake answered."""
    return [
        (r.query.get("ids") or "").split(",") for r in fake.requests if r.method == "GET" and "ids" in r.query
    ]


def likes(store: Store, delivery_id: int) -> int | None:
    (snapshot,) = store.snapshot_history(delivery_id)
    return snapshot.likes if snapshot.available else None


def test_a_shortcode_fails_the_whole_multiple_id_read_of_the_fake(fake: FakeInstagram) -> None:
    """The fake answers as Graph does: one error for the request, naming the alias (error 803)."""
    import requests

    good = fake.add_media("пост")
    answer = requests.get(
        f"{fake.url}/v21.0/",
        params={"ids": f"{good.id},C1a2B3c4D5e", "fields": "like_count"},
        headers={"Authorization": f"Bearer {fake.token}"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 803 and "C1a2B3c4D5e" in answer.json()["error"]["message"]


def test_collection_looks_the_id_up_records_it_and_reads_its_figures_with_the_batch(
    fake: FakeInstagram, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = fake.add_media("Афиша недели")
    others = [fake.add_media(f"Пост {n}") for n in range(3)]
    bad = published(store, ours, shortcode=True)
    good = [published(store, m) for m in others]
    assert store.get_delivery(bad).remote_id == ours.shortcode  # type: ignore[union-attr]

    assert main(["metrics", "collect", "--all"]) == 0

    d = store.get_delivery(bad)
    assert d is not None and (d.remote_id, d.remote_url) == (ours.id, ours.permalink)
    assert likes(store, bad) == fake.figures.served[ours.id]["likes"]
    for delivery_id, media in zip(good, others, strict=True):
        assert likes(store, delivery_id) == fake.figures.served[media.id]["likes"]
    # One read of counts and one of insights for all four: no id read alone, no shortcode sent.
    reads = id_reads(fake)
    assert len(reads) == 2 and all(sorted(r) == sorted([ours.id, *(m.id for m in others)]) for r in reads)
    capsys.readouterr()

    assert main(["show", str(bad)]) == 0
    shown = capsys.readouterr().out
    assert "id_corrected" in shown and ours.shortcode in shown and ours.id in shown

    fake.requests.clear()
    assert main(["metrics", "collect", "--all"]) == 0  # the next round reads it by its id alone
    assert [r for r in fake.requests if r.path.endswith("/media")] == []


def test_a_delivery_whose_lookup_finds_nothing_is_skipped_with_the_fix_and_the_others_are_read(
    fake: FakeInstagram, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = fake.add_media("Удалённый пост")
    fake.media.remove(gone)  # deleted from the account since: the lookup cannot find it
    kept = fake.add_media("Пост")
    bad, good = published(store, gone, shortcode=True), published(store, kept)

    assert main(["metrics", "collect", "--all"]) == 0

    assert likes(store, good) == fake.figures.served[kept.id]["likes"]
    assert all(r == [kept.id] for r in id_reads(fake)) and len(id_reads(fake)) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if f"delivery {bad} " in line]
    assert len(lines) == 1, lines
    assert f"publisher resolve {bad} --published-as <media id>" in lines[0] and gone.shortcode in lines[0]
    d = store.get_delivery(bad)
    assert d is not None and d.remote_id == gone.shortcode  # unchanged
    (snapshot,) = store.snapshot_history(bad)
    assert not snapshot.available and f"publisher resolve {bad}" in snapshot.reason

    # The fix the line names works: the operator gives the media id.
    assert main(["resolve", str(bad), "--published-as", gone.id]) == 0
    d = store.get_delivery(bad)
    assert d is not None and d.remote_id == gone.id


def test_a_lookup_that_fails_for_now_leaves_the_others_read_and_that_delivery_due(
    fake: FakeInstagram, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ours, kept = fake.add_media("Афиша"), fake.add_media("Пост")
    bad, good = published(store, ours, shortcode=True), published(store, kept)
    fake.server_error(500, path=LISTS)
    settings = load_settings(None)
    from publisher.adapters import build_adapter

    def collect() -> int:
        """One round of the daemon's collection (its own Collector: no pacing between rounds here)."""
        return (
            Collector(store, settings, lambda target: build_adapter(settings, target))
            .run(everything=True)
            .taken
        )

    assert collect() == 1 and likes(store, good) == fake.figures.served[kept.id]["likes"]
    assert store.snapshot_history(bad) == []  # asked again next round
    (line,) = [r.getMessage() for r in caplog.records if f"delivery {bad} " in r.getMessage()]
    assert "tried again next round" in line and f"publisher resolve {bad}" in line

    assert collect() == 2
    d = store.get_delivery(bad)
    assert (
        d is not None
        and d.remote_id == ours.id
        and likes(store, bad) == fake.figures.served[ours.id]["likes"]
    )
