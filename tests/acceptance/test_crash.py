"""Crash safety: SIGKILL the real daemon at many points while it drains, restart, check nothing is lost or doubled.

Kill points are both enumerated — the n-th time the daemon reaches each named point around the network call
and the commits (``publisher/dispatch/crashpoints.py``: after the claim commit, after the "sending" commit just
before the call, after the call before its result is committed, after that commit) — and random (a timer
kills the running daemon). After every kill the daemon is restarted (``run --once``) until the queue is
settled. Every round checks:

* no approved post is lost: every post still has a delivery per target, none stuck in ``publishing``;
* no fake network received the same delivery twice (VK may receive a repeat with the same ``guid``, which
  it drops: it never *creates* a second post);
* every delivery ends ``published`` — directly or proved by reconciliation — or ``in_doubt`` (Telegram,
  which cannot be searched), and none ``failed``: a re-send would have hit X's duplicate check;
* every post carries a picture (Instagram takes nothing else; its media are found again by caption);
* nothing is ``published`` without a remote id, and every remote id is a post the fake holds.

``PUBLISHER_CRASH_POINTS`` sets how many kills to make (CI: 100; ``make crash-test``: 500). Two rounds play at
a time, each with its own database and daemon (``Planner`` hands out the kill plan's points to both), so the
suite's time is not one daemon start after another on an otherwise idle second core.

Those rounds use a 0.2 s lease so that the next run settles a dead daemon's claims at once. Beside them, on a
thread of its own (it mostly waits), one round runs with the **production** lease, housekeeping and
reconciliation settings: a long-running daemon is killed inside a network call, a new one starts at once (as
systemd's ``Restart=`` would), and the test measures how long until the dead daemon's deliveries are
recovered — queued again, published, or in doubt and looked up. That recovery time is printed and must stay
within 90 s (issue: a crash costs a minute, not ten).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.dispatch.crashpoints import POINTS
from publisher.models import DeliveryState, Post
from publisher.store import Store
from publisher.store.media import DatabaseMedia
from tests.crash_helpers import in_flight, markers_at, recovered
from tests.daemon_helpers import DaemonProcess, base_env, run_cli
from tests.fakes import FAKES, FakeFacebook, FakeInstagram, FakeTelegram, NetworkFake
from tests.helpers import wait_until
from tests.media import jpeg_file

S = DeliveryState
TARGETS = tuple(FAKES)
#: the enumerated kills die at the 1st..15th hit of each point (one hit per delivery of three posts)
HITS = 3 * len(TARGETS)
#: A round's queue is large enough that even the 15th hit of a point comes before the queue runs dry, so
#: planned kills land; a round ends after this many kills, or earlier when a run finished unkilled (it
#: drained the queue: the next planned kill needs a fresh one).
POSTS_PER_ROUND = 10
KILLS_PER_ROUND = 10
X_CREDS = ("crash-consumer-key", "crash-consumer-secret", "crash-access-token", "crash-access-secret")
VK_TOKEN = "vk1.a.crash-test-token-abcdef0123456789"


#: what makes each fake accept the service's credentials (the others make their own)
FAKE_ARGUMENTS: dict[str, dict[str, str]] = {
    "vk": {"token": VK_TOKEN},
    "x": dict(
        zip(("consumer_key", "consumer_secret", "access_token", "access_token_secret"), X_CREDS, strict=True)
    ),
}


class Fakes(dict[str, NetworkFake]):
    """Every network's fake by target name."""

    def env(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for fake in self.values():
            found.update(fake.service_env())
        return found | {
            # A dead daemon's claims are settled by the next run almost at once.
            "PUBLISHER_LEASE_SECONDS": "0.2",
            "PUBLISHER_RECONCILE_DELAY_SECONDS": "0",
            "PUBLISHER_LOG_LEVEL": "WARNING",
        }


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    fakes = Fakes({name: FAKES[name](**FAKE_ARGUMENTS.get(name, {})) for name in TARGETS})
    # Instagram allows 50 API posts a day; a long run publishes more, on an account that may.
    instagram = fakes["instagram"]
    assert isinstance(instagram, FakeInstagram)
    instagram.use_quota(0, total=1000)
    for fake in fakes.values():
        fake.start()
        # Every call takes a little while, so that random kills land during network calls too.
        fake.slow(0.03, times=10**9, path="")
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()


RECOVERY_LIMIT = 90.0  # seconds


def production_recovery(root: Path) -> float:
    """Kill a daemon running on the default lease and housekeeping inside a call; seconds until recovered."""
    tg, fb = FakeTelegram(), FakeFacebook()
    for fake in (tg, fb):
        fake.start()
        fake.slow(2.0, times=10**9, path="")  # a kill surely lands inside a call
    env = base_env(
        root,
        **tg.service_env(),
        **fb.service_env(),
        PUBLISHER_INGEST_INTERVAL="30",
        PUBLISHER_LOG_LEVEL="WARNING",
    )
    store = Store(f"sqlite:///{root / 'var' / 'publisher.db'}")
    markers = []
    for i in range(2):
        marker = f"REC{i}-{random.randrange(10**9)}"
        markers.append(marker)
        post = Post(
            source_name=f"{marker}.md",
            source_key=marker.ljust(64, "0"),
            targets=("telegram", "facebook"),
            approved_by="crash test",
            body=f"Пост {marker}",
        )
        store.add_post(post, datetime.now(UTC))
    first = DaemonProcess(env, "run")
    successor: DaemonProcess | None = None
    try:

        def sending() -> bool:
            return any(d.sending_at for d in store.deliveries(states=[S.PUBLISHING]))

        assert wait_until(sending, timeout=120, interval=0.05), first.output
        first.proc.kill()
        first.wait(30)
        killed_at = time.monotonic()
        held = {d: a for attempts in in_flight(store).values() for d, a in attempts.items()}
        successor = DaemonProcess(env, "run")
        done = wait_until(
            lambda: all(recovered(store, d, a) for d, a in held.items()),
            timeout=RECOVERY_LIMIT * 2,
            interval=0.2,
        )
        took = time.monotonic() - killed_at
        assert done, f"not recovered after {took:.0f} s: {store.counts_by_state()}"
        wait_until(lambda: not store.deliveries(states=[S.QUEUED, S.PUBLISHING]), timeout=60)
        for fake in (tg, fb):
            doubled = {m: n for m, n in markers_at(fake, markers).items() if n > 1}
            assert not doubled, f"sent twice after the production-timing kill: {doubled}"
        return took
    finally:
        for daemon in (first, successor):
            if daemon is not None:
                daemon.stop()
        store.close()
        tg.stop()
        fb.stop()


def kill_plan(total: int, seed: int) -> list[str]:
    """Enumerated points first (each point at the 1st..15th hit), then random timer kills."""
    rng = random.Random(seed)
    enumerated = [f"{point}:{n}" for n in range(1, HITS + 1) for point in POINTS]
    plan = enumerated[: max(0, total - total // 3)]
    while len(plan) < total:
        plan.append(f"timer:{rng.uniform(0.4, 1.6):.2f}")
    return plan


def leased(store: Store) -> bool:
    """Whether a delivery is still held under a lease that has not run out."""
    now = datetime.now(UTC)
    return any(
        d.lease_until is not None and d.lease_until > now for d in store.deliveries(states=[S.PUBLISHING])
    )


def settle(env: dict[str, str], store: Store, runs: int = 8) -> int:
    """Restart the daemon (``run --once``) until nothing waits, as an operator's restart loop would; returns
    how many runs that took."""
    for run in range(1, runs + 1):
        # Let a dead daemon's leases run out (0.2 s): until nothing is held by a lease still running.
        assert wait_until(lambda: not leased(store), timeout=30), store.counts_by_state()
        result = run_cli(env, "run", "--once")
        assert result.returncode == 0, result.stdout + result.stderr
        counts = store.counts_by_state()
        if counts["queued"] + counts["retry_wait"] + counts["publishing"] == 0:
            due_checks = (
                store.in_doubt_due(store.next_due_at_or_now()) if hasattr(store, "next_due_at_or_now") else []
            )
            if not due_checks:
                return run
    raise AssertionError(f"queue did not settle: {store.counts_by_state()}")


def check_round(store: Store, fakes: Fakes, markers: dict[int, str]) -> dict[str, int]:
    deliveries = store.deliveries()
    assert len(deliveries) == len(markers) * len(TARGETS), "a delivery went missing"
    outcome: Counter[str] = Counter()
    for target, fake in fakes.items():
        held = {p.remote_id for p in fake.posts}
        created = markers_at(fake, list(markers.values()))
        doubled = {m: n for m, n in created.items() if n > 1}
        assert not doubled, f"{target} received the same delivery twice: {doubled}"
        for d in (d for d in deliveries if d.target == target):
            marker = markers[d.post_id]
            assert d.state in (S.PUBLISHED, S.IN_DOUBT), (
                f"delivery {d.id} to {target} ended {d.state}: {d.last_error}"
            )
            if d.state is S.PUBLISHED:
                assert d.remote_id in held, f"delivery {d.id} published as {d.remote_id!r}: not on {target}"
                assert created[marker] == 1, (
                    f"delivery {d.id} to {target} is published but the fake has no such post"
                )
            else:
                assert target == "telegram", f"{target} can be searched, yet delivery {d.id} stayed in doubt"
            outcome[d.state.value] += 1
    return dict(outcome)


class Planner:
    """Hands out the kill plan's points to the rounds playing at the same time, and counts the kills.

    A point is handed out only while the kills made plus the points still being played stay under the
    total, so the rounds together make exactly the planned kills; a run that finished unkilled gives its
    share back. When the plan runs out before that many kills landed it goes on with a fresh plan.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.plan = kill_plan(total, seed=20261125)
        self.index = 0
        self.kills = 0
        self.playing = 0
        self.rounds = 0  # round numbers handed out
        self.played_rounds = 0
        self.runs = 0  # daemon starts: the kills, the runs that finished, and settle's restarts
        self.outcomes: Counter[str] = Counter()
        self.failed = False
        self.changed = threading.Condition()

    def next_round(self) -> int:
        with self.changed:
            self.rounds += 1
            return self.rounds

    def next_point(self, round_no: int) -> str | None:
        """The next point to kill at; None once enough kills landed (or a round failed)."""
        with self.changed:
            while not self.failed and self.kills < self.total and self.kills + self.playing >= self.total:
                self.changed.wait()
            if self.failed or self.kills >= self.total:
                return None
            if self.index >= len(self.plan):
                missing = self.total - self.kills - self.playing
                self.plan += kill_plan(missing, seed=round_no)[-missing:]
            self.index += 1
            self.playing += 1
            self.runs += 1
            return self.plan[self.index - 1]

    def played(self, killed: bool) -> None:
        with self.changed:
            self.playing -= 1
            self.kills += killed
            self.changed.notify_all()

    def round_done(self, runs: int, outcome: dict[str, int]) -> None:
        with self.changed:
            self.runs += runs
            self.played_rounds += 1
            self.outcomes.update(outcome)

    def fail(self) -> None:
        with self.changed:
            self.failed = True
            self.changed.notify_all()


def play_round(planner: Planner, fakes: Fakes, tmp_path: Path) -> bool:
    """One round: queue a round's posts, kill daemons draining them at the planner's points, settle, check.
    False when there was nothing left to kill (no round played)."""
    round_no = planner.next_round()
    point = planner.next_point(round_no)
    if point is None:
        return False
    root = tmp_path / f"round{round_no}"
    env = base_env(root, **fakes.env())
    store = Store(f"sqlite:///{root / 'var' / 'publisher.db'}")
    markers: dict[int, str] = {}
    for i in range(POSTS_PER_ROUND):
        marker = f"R{round_no}P{i}-{random.randrange(10**9)}"
        # Every post carries a picture (kept in the database): Instagram publishes nothing else, and
        # only a JPEG.
        picture = jpeg_file(root / f"{marker}.jpg", seed=round_no * POSTS_PER_ROUND + i)
        post = Post(
            source_name=f"{marker}.md",
            source_key=f"{marker}".ljust(64, "0"),
            targets=TARGETS,
            approved_by="crash test",
            body=f"Пост {marker} про @fitr",
            media=(picture,),
        )
        post_id, _ = store.add_post(DatabaseMedia(store).keep(post), datetime.now(UTC))
        markers[post_id] = marker
    kills = 0
    while point is not None:
        killed = False
        try:
            if point.startswith("timer:"):
                daemon = DaemonProcess(env, "run")
                time.sleep(float(point.split(":")[1]))
                daemon.proc.kill()
                daemon.wait(30)
                killed = True
            else:
                result = run_cli({**env, "PUBLISHER_TEST_CRASH_AT": point}, "run", "--once")
                killed = result.returncode == -signal.SIGKILL
                if not killed:
                    assert result.returncode == 0, result.stdout + result.stderr
        finally:
            planner.played(killed)
        # After every kill: nothing published without a remote id. (The next run reaps what the dead one
        # held once its 0.2 s lease has run out; claims still leased simply wait.)
        for d in store.deliveries(states=[S.PUBLISHED]):
            assert d.remote_id
        kills += killed
        if not killed or kills >= KILLS_PER_ROUND:
            break  # a run that finished drained the queue: the next planned kill needs a fresh one
        point = planner.next_point(round_no)
    runs = settle(env, store)
    planner.round_done(runs, check_round(store, fakes, markers))
    store.close()
    return True


#: rounds played at the same time, each with its own database and daemon (the fakes are shared: every
#: round looks only for its own posts); the machine's two cores are both busy, the kills are the same
PLAYERS = 2


@pytest.mark.timeout(3600)  # 100 kills take ~1.5 min; `make crash-test` runs 500
def test_sigkill_at_many_points_loses_nothing_and_doubles_nothing(fakes: Fakes, tmp_path: Path) -> None:
    total = int(os.environ.get("PUBLISHER_CRASH_POINTS", "100"))
    measured: list[float] = []
    failures: list[BaseException] = []
    planner = Planner(total)

    def measure() -> None:
        try:
            measured.append(production_recovery(tmp_path / "recovery"))
        except BaseException as exc:  # reported below
            failures.append(exc)

    def play() -> None:
        try:
            while play_round(planner, fakes, tmp_path):
                pass
        except BaseException as exc:  # reported below
            failures.append(exc)
            planner.fail()

    recovery = threading.Thread(target=measure, name="production-recovery")
    recovery.start()
    players = [threading.Thread(target=play, name=f"rounds-{n}") for n in range(PLAYERS)]
    for player in players:
        player.start()
    for player in players:
        player.join()
    recovery.join()
    if failures:
        raise failures[0]
    (took,) = measured
    report = (
        f"crash safety: {planner.kills} SIGKILLs over {planner.played_rounds} rounds ({planner.runs} daemon "
        f"starts); final states {dict(planner.outcomes)}; recovery after a kill with production leases: "
        f"{took:.1f} s"
    )
    print(f"\n{report}")
    assert planner.kills >= total
    assert took <= RECOVERY_LIMIT, report
