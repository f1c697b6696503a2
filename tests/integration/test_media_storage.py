"""Media for several hosts: a post accepted on one host is published, with its images, from another.

The store is the real one (SQLite file and PostgreSQL); the networks are the four loopback fakes, reached
through the real adapters; acceptance is the real ``Intake`` reading an inbox folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from publisher.compose.composer import render
from publisher.compose.directory import Directory
from publisher.dispatch.dispatcher import Dispatcher
from publisher.intake.accept import Intake
from publisher.models import NETWORKS, DeliveryState, Post, Rendered
from publisher.settings import Settings
from publisher.store import Store
from publisher.store.schema import media
from tests.fakes import NetworkFake
from tests.fault_world import SHARED_CREDS, section, start_fakes
from tests.media import jpeg_bytes

POST = """---
networks: [{networks}]
approved_by: редактор дня
media: [{media}]
---
Выставка редких книг в читальном зале {n}.
"""


def drop(inbox: Path, n: int, networks: tuple[str, ...], seeds: tuple[int, ...]) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    names = []
    for seed in seeds:
        (inbox / f"img{n}-{seed}.jpg").write_bytes(jpeg_bytes(seed))  # every network takes a JPEG
        names.append(f"img{n}-{seed}.jpg")
    path = inbox / f"post{n}.md"
    path.write_text(POST.format(networks=", ".join(networks), media=", ".join(names), n=n), encoding="utf-8")
    return path


def host(data_dir: Path, fakes: dict[str, NetworkFake], **extra: str) -> Settings:
    # Generous timeouts: an answer late on a loaded machine must not turn into "in doubt" here.
    timeouts = {"connect": 5, "read": 30, "total": 60}
    networks = {name: section(fake, timeouts=timeouts) for name, fake in fakes.items()}
    return Settings(data_dir=data_dir, dry_run=False, workers=4, **networks, **extra)  # type: ignore[arg-type]


def rendered(post: Post, target: str) -> Rendered:
    return render(post, target, Directory.empty())


def test_a_post_accepted_on_one_host_is_published_with_its_images_from_another(
    store_url: str, tmp_path: Path
) -> None:
    with start_fakes(SHARED_CREDS) as fakes:
        accepting = Store(store_url)
        intake = Intake(accepting, host(tmp_path / "a", fakes), Directory.empty)
        intake.accept(drop(tmp_path / "a" / "inbox", 1, NETWORKS, (1, 2)))
        # The same image in a second post is kept once: content-addressed, written once.
        intake.accept(drop(tmp_path / "a" / "inbox", 2, ("telegram",), (2,)))
        accepting.close()
        shutil.rmtree(tmp_path / "a")  # nothing of the accepting host is left but the database

        publishing = Store(store_url, migrate=False)
        with publishing.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(media)).scalar() == 2
        daemon = Dispatcher(publishing, host(tmp_path / "b", fakes), rendered)
        daemon.run_until_idle(timeout=60)
        daemon.stop(5)
        deliveries = publishing.deliveries()
        publishing.close()
        assert [d.state for d in deliveries] == [DeliveryState.PUBLISHED] * (len(NETWORKS) + 1), [
            d.last_error for d in deliveries
        ]
        for name, fake in fakes.items():
            uploaded = {data for post in fake.posts for data in post.media}
            assert {jpeg_bytes(1), jpeg_bytes(2)} <= uploaded, name


def test_with_file_storage_a_missing_copy_fails_the_delivery_before_sending(
    store_url: str, tmp_path: Path
) -> None:
    """Files in one host's data folder: another host cannot publish the post, and says why, sending nothing."""
    with start_fakes(SHARED_CREDS, ("telegram",)) as fakes:
        store = Store(store_url)
        a = host(tmp_path / "a", fakes, media_storage="files")
        Intake(store, a, Directory.empty).accept(drop(tmp_path / "a" / "inbox", 1, ("telegram",), (3,)))
        assert list((tmp_path / "a" / "media").rglob("*.jpg"))
        b = host(tmp_path / "b", fakes, media_storage="files")
        shutil.rmtree(tmp_path / "a" / "media")
        daemon = Dispatcher(store, b, rendered)
        daemon.run_until_idle(timeout=60)
        daemon.stop(5)
        (d,) = store.deliveries()
        store.close()
        assert d.state is DeliveryState.FAILED and "img1-3.jpg" in (d.last_error or "")
        assert fakes["telegram"].applied == []
