"""Every state change is fenced: two daemons' reap / claim / record / reconcile interleaved on one database.

Two ``Store`` instances (two daemons) share one real database and act on what they read earlier, as daemons
do: a result comes back after the claim was reaped, a reconciliation verdict is applied after someone else
settled the delivery, two reapers run at once. A small model of a network that does **not** deduplicate
records every post it received. After every run:

* no delivery reached the network twice (reconciliation answers truthfully, so only a stale change could
  cause a second send);
* each delivery's publish log replays as legal transitions (no "released" after "published", no second
  settlement of one claim) and ends in the state its row holds; nothing leaves published/failed;
* a delivery is published exactly when the network holds its post.

Interleavings are seeded random: a sequential one (one RNG picks which daemon acts, so a failure replays
from its seed) and a threaded one (real concurrency: READ COMMITTED on PostgreSQL, lock waits on SQLite).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from publisher.models import DeliveryState, Post, PublishResult, RemoteRef
from publisher.store import Claim, Store

S = DeliveryState
LEASE = 5.0
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# Publish-log status -> (states it may follow, state it leads to). Operator commands are not exercised here.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "enqueued": (frozenset({""}), "queued"),
    "publishing": (frozenset({"queued", "retry_wait"}), "publishing"),
    "released": (frozenset({"publishing"}), "queued"),
    "retry_wait": (frozenset({"publishing"}), "retry_wait"),
    "failed": (frozenset({"publishing", "queued", "retry_wait"}), "failed"),
    "in_doubt": (frozenset({"publishing"}), "in_doubt"),
    "published": (frozenset({"publishing", "in_doubt"}), "published"),
    "requeued": (frozenset({"in_doubt"}), "queued"),
    "in_doubt_checked": (frozenset({"in_doubt"}), "in_doubt"),
}


class SimClock:
    """Shared simulated time; every action moves it on a little, so leases run out during a run."""

    def __init__(self) -> None:
        self.now = T0
        self._lock = threading.Lock()

    def tick(self, rng: random.Random) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=rng.uniform(0, 1.5))
            return self.now


@dataclass
class Network:
    """A network that keeps every post it receives (no idempotency key, like Telegram or Facebook)."""

    posts: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, delivery_id: int) -> None:
        with self.lock:
            self.posts[delivery_id] += 1

    def holds(self, delivery_id: int) -> bool:
        with self.lock:
            return self.posts[delivery_id] > 0


@dataclass
class Daemon:
    """What one daemon knows: its claims, answers on their way back, lookups not yet recorded."""

    name: str
    store: Store
    clock: SimClock
    network: Network
    rng: random.Random
    held: list[Claim] = field(default_factory=list)
    answers: list[tuple[Claim, str]] = field(default_factory=list)
    verdicts: list[tuple[Claim, bool]] = field(default_factory=list)

    def step(self) -> None:
        now = self.clock.tick(self.rng)
        action = self.rng.choice(
            ["claim", "send", "send", "answer", "answer", "renew", "reap", "lookup", "verdict", "expire"]
        )
        getattr(self, action)(now)

    def claim(self, now: datetime) -> None:
        self.held += self.store.claim_due(now, worker=self.name, lease_seconds=LEASE, limit=3)

    def send(self, now: datetime) -> None:
        if not self.held:
            return
        claim = self.held.pop(self.rng.randrange(len(self.held)))
        d = claim.delivery
        if self.rng.random() < 0.15:
            self.store.release(d.id, d.attempt_id or "", now, "not sent")
            return
        if not self.store.mark_sending(d.id, d.attempt_id or "", now, f"text {d.id}"):
            return  # the claim was reaped: nothing may be sent
        outcome = self.rng.choice(["ok", "ok", "ok", "refused", "lost_after_apply", "lost_before_apply"])
        if outcome in ("ok", "lost_after_apply"):
            self.network.send(d.id)
        self.answers.append((claim, outcome))  # the answer is recorded later, maybe after a reap

    def answer(self, now: datetime) -> None:
        if not self.answers:
            return
        claim, outcome = self.answers.pop(self.rng.randrange(len(self.answers)))
        d, attempt = claim.delivery, claim.delivery.attempt_id or ""
        if outcome == "ok":
            self.store.record_published(d.id, attempt, PublishResult(f"r{d.id}", None, now), now, {})
        elif outcome == "refused":
            self.store.record_retry(d.id, attempt, now, not_before=now, error="503", burn_attempt=True)
        else:
            self.store.record_in_doubt(d.id, attempt, now, "read timeout", reconcile_at=now)

    def renew(self, now: datetime) -> None:
        attempts = [c.delivery.attempt_id or "" for c in self.held] + [
            c.delivery.attempt_id or "" for c, _ in self.answers
        ]
        self.store.renew_leases(attempts, now, LEASE)

    def reap(self, now: datetime) -> None:
        self.store.reap_expired_leases(now, reconcile_at=now)

    def lookup(self, now: datetime) -> None:
        for claim in self.store.in_doubt_due(now, limit=3):
            self.verdicts.append((claim, self.network.holds(claim.delivery.id)))

    def verdict(self, now: datetime) -> None:
        if not self.verdicts:
            return
        claim, found = self.verdicts.pop(self.rng.randrange(len(self.verdicts)))
        d = claim.delivery
        ref = RemoteRef(f"r{d.id}") if found else None
        self.store.settle_in_doubt(d.id, now, attempt_id=d.attempt_id, found=ref, requeue=not found)

    def expire(self, now: datetime) -> None:
        self.store.expire_overdue(now)


def seed_posts(store: Store, count: int) -> None:
    for i in range(count):
        store.add_post(
            Post(
                source_name=f"p{i}.md",
                source_key=f"p{i:03d}".ljust(64, "0"),
                targets=("telegram", "facebook"),
                approved_by="test",
                body=f"post {i}",
                # Some posts expire during the run: expiry races with claims too.
                expires_at=T0 + timedelta(seconds=60) if i % 4 == 0 else None,
            ),
            T0,
        )


def finish(daemons: list[Daemon], clock: SimClock) -> None:
    """Every answer arrives, every lease runs out, lookups settle what they can: the end of a busy day."""
    for daemon in daemons:
        while daemon.answers:
            daemon.answer(clock.now)
    clock.now += timedelta(seconds=LEASE * 3)
    store = daemons[0].store
    store.reap_expired_leases(clock.now, reconcile_at=clock.now)
    for claim in store.in_doubt_due(clock.now, limit=1000):
        if daemons[0].network.holds(claim.delivery.id):
            store.settle_in_doubt(
                claim.delivery.id,
                clock.now,
                attempt_id=claim.delivery.attempt_id,
                found=RemoteRef(f"r{claim.delivery.id}"),
            )


def check(store: Store, network: Network, deliveries: int) -> None:
    rows = {d.id: d for d in store.deliveries()}
    assert len(rows) == deliveries, "a delivery went missing"
    doubled = {i: n for i, n in network.posts.items() if n > 1}
    assert not doubled, f"the network received these deliveries more than once: {doubled}"
    replayed: dict[int, str] = {}
    for event in store.events():
        if event.delivery_id is None:
            continue
        before = replayed.get(event.delivery_id, "")
        allowed, after = TRANSITIONS[event.status]
        assert before in allowed, (
            f"delivery {event.delivery_id}: '{event.status}' logged while it was {before or 'new'} "
            f"(event {event.id}, detail {event.detail})"
        )
        replayed[event.delivery_id] = after
    for delivery_id, d in rows.items():
        assert replayed[delivery_id] == d.state.value, f"delivery {delivery_id}: log and row disagree"
        assert (d.state is S.PUBLISHED) == network.holds(delivery_id), (
            f"delivery {delivery_id} is {d.state.value}; the network holds {network.posts[delivery_id]} posts"
        )


@pytest.mark.parametrize("seed", range(6))
def test_sequential_interleavings_of_two_daemons_never_resend_or_revive(store_url: str, seed: int) -> None:
    rng = random.Random(seed)
    clock, network = SimClock(), Network()
    stores = [Store(store_url), Store(store_url, migrate=False)]
    seed_posts(stores[0], 8)
    daemons = [Daemon(f"d{i}", s, clock, network, random.Random(rng.random())) for i, s in enumerate(stores)]
    try:
        for _ in range(160):
            rng.choice(daemons).step()
        finish(daemons, clock)
        check(stores[0], network, 16)
    finally:
        for s in stores:
            s.close()


def test_concurrent_daemons_never_resend_or_revive(store_url: str) -> None:
    """Two threads, two stores, no turn-taking: the database's locks and the fences alone keep order."""
    clock, network = SimClock(), Network()
    stores = [Store(store_url), Store(store_url, migrate=False)]
    seed_posts(stores[0], 10)
    daemons = [Daemon(f"d{i}", s, clock, network, random.Random(100 + i)) for i, s in enumerate(stores)]
    failures: list[BaseException] = []

    def run(daemon: Daemon) -> None:
        try:
            for _ in range(150):
                daemon.step()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in daemons]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        finish(daemons, clock)
        check(stores[0], network, 20)
    finally:
        for s in stores:
            s.close()


def test_two_reapers_at_once_settle_each_expired_claim_once(store_url: str) -> None:
    """The race that doubled posts: two survivors reap the same expired claims at the same moment."""
    stores = [Store(store_url), Store(store_url, migrate=False), Store(store_url, migrate=False)]
    seed_posts(stores[0], 20)
    claims = stores[0].claim_due(T0, worker="dead", lease_seconds=LEASE, limit=100)
    for claim in claims[::2]:
        stores[0].mark_sending(claim.delivery.id, claim.delivery.attempt_id or "", T0, "text")
    later = T0 + timedelta(seconds=LEASE * 2)
    start = threading.Barrier(2)
    reaped: list[list[int]] = [[], []]

    def reap(i: int) -> None:
        start.wait()
        reaped[i] = [d.id for d in stores[i + 1].reap_expired_leases(later, reconcile_at=later)]

    threads = [threading.Thread(target=reap, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        every = reaped[0] + reaped[1]
        assert sorted(every) == sorted(c.delivery.id for c in claims), (
            "a claim was reaped twice or not at all"
        )
        settled = [e for e in stores[0].events() if e.status in ("released", "in_doubt")]
        assert Counter(e.delivery_id for e in settled).most_common(1)[0][1] == 1
        assert all(d.attempts == 0 for d in stores[0].deliveries(states=[S.QUEUED]))
    finally:
        for s in stores:
            s.close()


def test_a_stale_reconciliation_verdict_does_not_requeue_a_newer_attempt(store_url: str) -> None:
    """Daemon A looked attempt 1 up and found nothing; meanwhile B re-sent it (attempt 2), in doubt again."""
    a, b = Store(store_url), Store(store_url, migrate=False)
    try:
        seed_posts(a, 1)
        first, _ = a.claim_due(T0, worker="a", lease_seconds=LEASE)
        d = first.delivery
        a.mark_sending(d.id, d.attempt_id or "", T0, "text")
        a.record_in_doubt(d.id, d.attempt_id or "", T0, "timeout", reconcile_at=T0)
        (looked_up,) = [c for c in a.in_doubt_due(T0) if c.delivery.id == d.id]
        assert b.settle_in_doubt(d.id, T0, attempt_id=d.attempt_id, requeue=True)
        (second,) = [c for c in b.claim_due(T0, worker="b", lease_seconds=LEASE) if c.delivery.id == d.id]
        b.mark_sending(d.id, second.delivery.attempt_id or "", T0, "text")
        b.record_in_doubt(d.id, second.delivery.attempt_id or "", T0, "timeout", reconcile_at=T0)
        # A's verdict is about attempt 1: it must not send attempt 2's (possibly published) post again.
        assert not a.settle_in_doubt(d.id, T0, attempt_id=looked_up.delivery.attempt_id, requeue=True)
        now = a.get_delivery(d.id)
        assert now is not None and now.state is S.IN_DOUBT and now.attempt_id == second.delivery.attempt_id
    finally:
        a.close()
        b.close()


def test_a_renewed_lease_is_not_reaped_and_a_reaped_one_is_not_renewed(store: Store) -> None:
    seed_posts(store, 1)
    kept, lost = store.claim_due(T0, worker="w", lease_seconds=LEASE)
    for c in (kept, lost):
        store.mark_sending(c.delivery.id, c.delivery.attempt_id or "", T0, "text")
    almost = T0 + timedelta(seconds=LEASE - 1)
    assert store.renew_leases([kept.delivery.attempt_id or ""], almost, LEASE) == {kept.delivery.attempt_id}
    after = T0 + timedelta(seconds=LEASE + 1)
    assert [d.id for d in store.reap_expired_leases(after, reconcile_at=after)] == [lost.delivery.id]
    assert store.renew_leases([lost.delivery.attempt_id or ""], after, LEASE) == set()
    states = {d.id: d.state for d in store.deliveries()}
    assert states == {kept.delivery.id: S.PUBLISHING, lost.delivery.id: S.IN_DOUBT}
