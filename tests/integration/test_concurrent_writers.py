"""Several writers on one SQLite file at once: ``publisher enqueue`` processes, ``publisher run --once``
processes ingesting the inbox and draining, and a dispatcher draining in this process.

What the editors would notice: every command exits 0, none prints "database is locked", every post is
stored exactly once (a file enqueued by two processes too), and every delivery ends published, claimed
and sent exactly once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.compose.composer import render
from publisher.compose.directory import Directory
from publisher.dispatch.dispatcher import Dispatcher
from publisher.models import Post, Rendered
from publisher.settings import Settings
from publisher.store import Store
from tests.helpers import wait_until

ENQUEUERS = 6
FILES_EACH = 10
RUNNERS = 2
INBOX_FILES = 6
#: the networks the text-only posts go to (Instagram takes only posts with a picture)
TARGETS = ("vk", "x", "facebook", "telegram")


def post_text(n: int) -> str:
    return (
        "---\nnetworks: [vk, x, facebook, telegram]\napproved_by: редактор дня\n---\n"
        f"Новое поступление №{n}: редкие книги по истории техники ждут читателей.\n"
    )


def env_for(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env |= {
        "PUBLISHER_DATA_DIR": str(data_dir),
        "PUBLISHER_DATABASE_URL": url,
        "PUBLISHER_DRY_RUN": "true",
        "PUBLISHER_INBOX_SETTLE_SECONDS": "0",
        "PUBLISHER_LOG_LEVEL": "INFO",
        "PUBLISHER_LANGUAGE": "en",  # the assertions read enqueue's answers in English
        # Telegram is paced at 20 posts a minute by default, dry run or not: far too slow for a test.
        "PUBLISHER_TELEGRAM__MAX_PER_MINUTE": "60000",
    }
    return env


@pytest.fixture
def dispatcher(tmp_path: Path) -> Iterator[Dispatcher]:
    data_dir = tmp_path / "var"
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'publisher.db'}",
        dry_run=True,
        workers=4,
        telegram={"max_per_minute": None},
    )
    store = Store(settings.resolved_database_url)

    def renderer(post: Post, target: str) -> Rendered:
        return render(post, target, Directory.empty())

    d = Dispatcher(store, settings, renderer, worker_id="test-process")
    yield d
    d.stop(10)
    store.close()


def test_enqueue_processes_runners_and_a_dispatcher_write_at_once(
    tmp_path: Path, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    store = dispatcher.store
    data_dir = tmp_path / "var"
    env = env_for(data_dir, store.url)
    posts = tmp_path / "posts"
    posts.mkdir()
    files = []
    for n in range(ENQUEUERS * FILES_EACH):
        files.append(posts / f"p{n:02d}.md")
        files[-1].write_text(post_text(n), encoding="utf-8")
    inbox = data_dir / "inbox"
    inbox.mkdir(parents=True)
    for n in range(INBOX_FILES):
        (inbox / f"in{n}.md").write_text(post_text(1000 + n), encoding="utf-8")

    command = [sys.executable, "-m", "publisher"]
    argvs = []
    for k in range(ENQUEUERS):
        # Each process also takes the next one's first file: that post must still be stored once.
        mine = [*files[k * FILES_EACH : (k + 1) * FILES_EACH], files[(k + 1) % ENQUEUERS * FILES_EACH]]
        argvs.append([*command, "enqueue", *map(str, mine)])
    argvs += [[*command, "run", "--once", "--dry-run"]] * RUNNERS
    logs = tmp_path / "out"
    logs.mkdir()
    procs = []
    for n, argv in enumerate(argvs):
        # Output into files, not pipes: a chatty process must never block on a full pipe.
        with open(logs / f"{n}.out", "w") as stdout, open(logs / f"{n}.err", "w") as stderr:
            procs.append(subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=stdout, stderr=stderr))

    def writers_done() -> bool:
        """Publish what they stored so far, then look whether they have all finished."""
        dispatcher.drain()
        dispatcher.wait_idle(10)
        return all(p.poll() is not None for p in procs)

    if not wait_until(writers_done, timeout=60, interval=0.02):
        for p in procs:
            p.kill()
        raise AssertionError("the writers did not finish in a minute")
    outputs = [((logs / f"{n}.out").read_text(), (logs / f"{n}.err").read_text()) for n in range(len(procs))]
    dispatcher.run_until_idle()

    for argv, p, (out, err) in zip(argvs, procs, outputs, strict=True):
        assert p.returncode == 0, f"{argv[3:5]} exited {p.returncode}:\n{out}\n{err}"
        assert "locked" not in (out + err).lower()
    assert not [r for r in caplog.records if "locked" in r.getMessage().lower()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    stored = [store.get_post(i) for i in range(1, 200)]
    keys = [p.source_key for p in stored if p is not None]
    assert len(keys) == len(set(keys)) == ENQUEUERS * FILES_EACH + INBOX_FILES
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(
        [f"in{n}.md" for n in range(INBOX_FILES)] + [f"in{n}.md.receipt.txt" for n in range(INBOX_FILES)]
    )
    enqueued = "".join(out for out, _ in outputs)
    assert enqueued.count("(already queued: same content)") + len(keys) - INBOX_FILES == enqueued.count(
        ": post "
    )

    deliveries = store.deliveries()
    assert len(deliveries) == len(keys) * len(TARGETS)
    assert {d.state.value for d in deliveries} == {"published"}
    sends: dict[int | None, int] = {}
    for event in store.events(status="publishing"):
        sends[event.delivery_id] = sends.get(event.delivery_id, 0) + 1
    assert sends == {d.id: 1 for d in deliveries}  # each claimed and sent exactly once
    assert len(store.events(status="published")) == len(deliveries)
