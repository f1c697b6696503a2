"""Three daemons on one PostgreSQL queue; one of them is killed with SIGKILL mid-publish, again and again.

The networks are fakes that do **not** deduplicate (Telegram, a Facebook Page): a delivery sent twice is
two posts. Each round queues a few posts, waits until some daemon is inside a network call, kills that
daemon (SIGKILL: no cleanup) and starts a new one in its place, as systemd's ``Restart=`` would. Leases are
short (3 s, renewed by the survivors' heartbeats) so the survivors reap the dead daemon's claims quickly.

Checked at the end: 0 lost (every delivery published, or in doubt on Telegram, which cannot be searched),
0 duplicated (no fake holds a delivery twice), nothing published that the fake does not hold; and after every
kill, how long until each delivery the dead daemon held was recovered (queued again, published, or in doubt
and looked up) — the recovery time, printed (``-s``) and bounded at 90 s.

Every other post carries a picture, kept in the database (the default media storage) and deleted from
disk before the daemons start on it, so each daemon — each with a data folder of its own, as on separate
hosts — publishes it from the database; every fake must receive those exact bytes.

``PUBLISHER_CRASH_ROUNDS`` sets the number of kills (CI: 20; ``make crash-test``: 100). Skipped with a
message when no PostgreSQL server is configured (``PUBLISHER_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.models import DeliveryState, Post
from publisher.store import Store
from publisher.store.media import DatabaseMedia
from tests.crash_helpers import Pending, Recovery, in_flight, markers_at, worker_of
from tests.daemon_helpers import DaemonProcess, base_env
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.helpers import wait_until
from tests.media import png_file

S = DeliveryState
TARGETS = ("telegram", "facebook")
DAEMONS = 3
POSTS_PER_ROUND = 3
SETTLE_LIMIT = 90.0  # seconds: the bound for every in-flight delivery of a dead daemon


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeFacebook]]:
    tg, fb = FakeTelegram(), FakeFacebook()
    for fake in (tg, fb):
        fake.start()
        # Calls take a moment, so that a kill lands inside one.
        fake.slow(0.15, times=10**9, path="")
    try:
        yield tg, fb
    finally:
        tg.stop()
        fb.stop()


def start_daemon(env: dict[str, str], root: Path, n: int) -> DaemonProcess:
    return DaemonProcess({**env, "PUBLISHER_DATA_DIR": str(root / f"d{n}" / "var")}, "run")


@pytest.mark.timeout(3600)
def test_three_daemons_one_killed_again_and_again_lose_and_double_nothing(
    pg_schema_url: str, fakes: tuple[FakeTelegram, FakeFacebook], tmp_path: Path
) -> None:
    tg, fb = fakes
    rounds = int(os.environ.get("PUBLISHER_CRASH_ROUNDS", "20"))
    rng = random.Random(20261127)
    env = base_env(
        tmp_path,
        PUBLISHER_DATABASE_URL=pg_schema_url,
        **tg.service_env(),
        **fb.service_env(),
        PUBLISHER_LEASE_SECONDS="3",
        PUBLISHER_HOUSEKEEPING_INTERVAL="1",
        PUBLISHER_RECONCILE_DELAY_SECONDS="0",
        PUBLISHER_INGEST_INTERVAL="30",
        PUBLISHER_LOG_LEVEL="WARNING",
    )
    store = Store(pg_schema_url)
    watcher = Recovery(Store(pg_schema_url, migrate=False))
    watching = threading.Thread(target=watcher.run, daemon=True)
    watching.start()
    daemons = [start_daemon(env, tmp_path, n) for n in range(DAEMONS)]
    markers: dict[int, str] = {}
    pictures: dict[str, bytes] = {}  # marker -> the picture its post carries
    media = DatabaseMedia(store)
    restarts = DAEMONS
    try:
        for round_no in range(rounds):
            for i in range(POSTS_PER_ROUND):
                marker = f"M{round_no}x{i}x{rng.randrange(10**9)}"
                post = Post(
                    source_name=f"{marker}.md",
                    source_key=marker.ljust(64, "0"),
                    targets=TARGETS,
                    approved_by="crash test",
                    body=f"Пост {marker}",
                )
                if i % 2 == 0:
                    picture = tmp_path / f"{marker}.png"
                    item = png_file(picture, seed=round_no * POSTS_PER_ROUND + i)
                    post = media.keep(replace(post, media=(item,)))
                    pictures[marker] = picture.read_bytes()
                    picture.unlink()  # only the database has it now
                post_id, _ = store.add_post(post, datetime.now(UTC))
                markers[post_id] = marker
            # Kill a daemon that is inside a network call (or, if none is, any of them).
            by_worker = {worker_of(d): d for d in daemons}
            wait_until(
                lambda live=by_worker: any(w in live for w in in_flight(store)), timeout=10, interval=0.02
            )
            time.sleep(rng.uniform(0, 0.1))
            busy = [w for w in in_flight(store) if w in by_worker]
            victim = by_worker[rng.choice(busy)] if busy else rng.choice(daemons)
            victim.proc.kill()
            victim.wait(30)
            killed_at = time.monotonic()
            held = in_flight(store).get(worker_of(victim), {})
            if held:
                watcher.add(Pending(killed_at, held))
            daemons[daemons.index(victim)] = start_daemon(env, tmp_path, restarts)
            restarts += 1
        # Let the survivors finish: nothing waiting, nothing held, every doubt looked up.
        settled = wait_until(
            lambda: (
                not watcher.unrecovered()
                and not store.deliveries(states=[S.QUEUED, S.RETRY_WAIT, S.PUBLISHING])
            ),
            timeout=SETTLE_LIMIT + 30,
            interval=0.25,
        )
        assert settled, f"the queue did not settle: {store.counts_by_state()}"
    finally:
        watcher.stop.set()
        for daemon in daemons:
            daemon.stop()
        watching.join(5)
    times = watcher.times()
    outcome = Counter(d.state.value for d in store.deliveries())
    summary = (
        f"{rounds} kills of 1 of {DAEMONS} daemons on PostgreSQL, {len(markers) * len(TARGETS)} deliveries "
        f"{dict(outcome)}; kills that left deliveries in flight: {len(times)}; recovery time "
        f"max {max(times, default=0):.1f} s, mean {sum(times) / max(1, len(times)):.1f} s"
    )
    print(f"\nmulti-daemon crash: {summary}")
    lost, doubled, pictureless = [], [], []
    for target, fake in (("telegram", tg), ("facebook", fb)):
        held = markers_at(fake, list(markers.values()))
        doubled += [f"{target} {m} x{n}" for m, n in held.items() if n > 1]
        for d in (d for d in store.deliveries() if d.target == target):
            marker = markers[d.post_id]
            if d.state is S.PUBLISHED:
                assert held[marker] == 1, f"delivery {d.id} is published but {target} holds no such post"
                if marker in pictures and pictures[marker] not in received_files(fake):
                    pictureless.append(f"{target} delivery {d.id}")
            elif not (d.state is S.IN_DOUBT and target == "telegram"):
                lost.append(f"{target} delivery {d.id} ended {d.state.value}: {d.last_error}")
    store.close()
    watcher.store.close()
    assert not doubled, f"published twice: {doubled} ({summary})"
    assert not lost, f"lost: {lost} ({summary})"
    assert not pictureless, f"published without the picture kept in the database: {pictureless}"
    assert max(times, default=0) <= SETTLE_LIMIT, f"recovery took longer than {SETTLE_LIMIT} s ({summary})"


def received_files(fake: FakeTelegram | FakeFacebook) -> list[bytes]:
    """The bytes of every file the fake was sent (multipart uploads)."""
    return [data for request in list(fake.requests) for _name, data, _type in request.files.values()]
