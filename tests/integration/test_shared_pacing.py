"""One pace per target across daemons: the request slot lives in the database (SQLite and PostgreSQL).

With pacing kept per process, N daemons sent N times the configured rate (issue 12). Here two stores (two
daemons) share one database, and the assertions are about which slots were handed out, never about timing.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from publisher.adapters.base import Adapter, Prepared
from publisher.adapters.pool import AdapterPool
from publisher.dispatch.dispatcher import Dispatcher
from publisher.models import AccountInfo, DeliveryState, Post, PublishResult, Rendered, network_of
from publisher.settings import Settings
from publisher.store import Store

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_two_stores_on_one_database_never_hand_out_one_slot_twice(store_url: str) -> None:
    stores = [Store(store_url), Store(store_url, migrate=False)]
    taken: list[datetime] = []
    guard = threading.Lock()

    def take(store: Store) -> None:
        for _ in range(20):
            slot = store.take_slot("telegram", T0, 0.1, max_wait=3600)
            assert slot is not None
            with guard:
                taken.append(slot)

    workers = [threading.Thread(target=take, args=(s,)) for s in stores for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for s in stores:
        s.close()
    # 80 requests from four threads in two "daemons": exactly the 80 consecutive slots, none twice.
    assert sorted(taken) == [T0 + timedelta(seconds=0.1) * i for i in range(80)]


def test_no_slot_beyond_the_horizon_or_while_the_target_is_held(store: Store) -> None:
    slots = [store.take_slot("vk", T0, 0.1, max_wait=0.25) for _ in range(4)]
    assert slots == [T0, T0 + timedelta(seconds=0.1), T0 + timedelta(seconds=0.2), None]
    # Refusing took nothing: the next caller, later, gets the slot that was refused.
    later = T0 + timedelta(seconds=0.1)
    assert store.take_slot("vk", later, 0.1, max_wait=0.25) == T0 + timedelta(seconds=0.3)
    # A rate-limit hold learnt by any daemon stops every daemon's pace for the target until it ends.
    store.hold_target("vk", "HTTP 429", later, until=later + timedelta(seconds=30))
    assert store.take_slot("vk", later, 0.1, max_wait=60) is None
    after = later + timedelta(seconds=31)
    assert store.take_slot("vk", after, 0.1, max_wait=60) == after
    # Targets are paced independently.
    assert store.take_slot("x", T0, 0.1, max_wait=0) == T0


class Recording(Adapter):
    """Records when each delivery reached the 'network' and answers success."""

    network = "telegram"
    sent: ClassVar[list[tuple[str, datetime]]] = []
    guard = threading.Lock()

    def __init__(self, target: str, settings: Any, session: Any = None) -> None:
        self.target = target

    def prepare(self, rendered: Rendered, stop: Any = None) -> Prepared:
        return Prepared()

    def publish(self, rendered: Rendered, idempotency_key: str, prepared: Any = None) -> PublishResult:
        at = datetime.now(UTC)
        with self.guard:
            self.sent.append((idempotency_key, at))
        return PublishResult(idempotency_key, f"https://example.invalid/{idempotency_key}", at)

    def check(self) -> AccountInfo:
        return AccountInfo(self.target, "recording", True)


def render(post: Post, target: str) -> Rendered:
    return Rendered(target, network_of(target), post.body, len(post.body), 4096)


def test_two_dispatchers_share_the_pace_of_a_target(store_url: str) -> None:
    """Two daemons draining one target: every request in its own slot, one interval apart, none early."""
    Recording.sent = []
    rate = 1200  # a slot every 50 ms, so the test stays short
    settings = Settings(workers=2, dry_run=False, drain_batch=2, telegram={"max_per_minute": rate})
    stores = [Store(store_url), Store(store_url, migrate=False)]
    now = datetime.now(UTC)
    for i in range(12):
        post = Post(f"p{i}.md", f"key{i:05d}", ("telegram",), "ed", f"post {i}")
        stores[0].add_post(post, now)
    daemons = [
        Dispatcher(
            s,
            settings,
            render,
            adapters=AdapterPool(settings, lambda st, t: Recording(t, st)),
            worker_id=f"daemon-{n}",
        )
        for n, s in enumerate(stores)
    ]
    runs = [threading.Thread(target=d.run_until_idle) for d in daemons]
    for r in runs:
        r.start()
    for r in runs:
        r.join()
    for d in daemons:
        d.stop(5)

    published = stores[0].events(status="published")
    deliveries = stores[0].deliveries()
    for s in stores:
        s.close()
    assert all(d.state is DeliveryState.PUBLISHED for d in deliveries) and len(deliveries) == 12
    assert len(Recording.sent) == 12 and len({key for key, _ in Recording.sent}) == 12
    slots = sorted(datetime.fromisoformat(e.detail["slot"]) for e in published)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    # Twelve slots at least one interval apart (more when no lane was waiting): together the daemons kept
    # the configured rate; per-process pacing would put the two daemons' requests closer than that.
    assert len(slots) == 12 and min(gaps) >= timedelta(seconds=60 / rate), gaps
    # No request left before its slot.
    slot_of = {e.delivery_id: datetime.fromisoformat(e.detail["slot"]) for e in published}
    key_of = {d.idempotency_key: d.id for d in deliveries}
    assert all(at >= slot_of[key_of[key]] for key, at in Recording.sent)


def test_a_late_request_moves_the_free_slots_on_and_keeps_the_taken_ones(store_url: str) -> None:
    """A request that left late (a pause, the first connection) would meet the on-time ones after it in the
    network's rate window: the refusals of the benchmark's pace. The free schedule moves on by the lateness."""
    stores = [Store(store_url), Store(store_url, migrate=False)]
    first = stores[0].take_slot("telegram", T0, 0.1, max_wait=60)
    held_by_other = stores[1].take_slot("telegram", T0, 0.1, max_wait=60)
    assert (first, held_by_other) == (T0, T0 + timedelta(seconds=0.1))
    stores[0].delay_slots("telegram", timedelta(seconds=0.03))
    # The slot the other daemon holds keeps its time; the next free one is one interval after it, plus the
    # lateness, so the 20 requests after the late one still span 20 intervals.
    assert stores[1].take_slot("telegram", T0, 0.1, max_wait=60) == T0 + timedelta(seconds=0.23)
    assert stores[0].take_slot("vk", T0, 0.1, max_wait=60) == T0  # other targets keep their pace
    for s in stores:
        s.close()


def test_the_dispatcher_delays_the_pace_only_for_a_request_that_left_late(store: Store) -> None:
    settings = Settings(dry_run=False, telegram={"max_per_minute": 600})  # a slot every 100 ms
    daemon = Dispatcher(
        store, settings, render, adapters=AdapterPool(settings, lambda st, t: Recording(t, st))
    )
    assert store.take_slot("telegram", T0, 0.1, max_wait=60) == T0
    # On time (within a few milliseconds of the slot): the schedule stays.
    daemon._departed("telegram", T0, (T0 + timedelta(milliseconds=3)).timestamp())
    assert store.take_slot("telegram", T0, 0.1, max_wait=60) == T0 + timedelta(seconds=0.1)
    # Forty milliseconds late: every free slot moves forty milliseconds on.
    daemon._departed("telegram", T0 + timedelta(seconds=0.1), (T0 + timedelta(seconds=0.14)).timestamp())
    assert store.take_slot("telegram", T0, 0.1, max_wait=60) == T0 + timedelta(seconds=0.24)
    # A request without a slot (an unpaced target) moves nothing.
    daemon._departed("telegram", None, (T0 + timedelta(seconds=9)).timestamp())
    assert store.take_slot("telegram", T0, 0.1, max_wait=60) == T0 + timedelta(seconds=0.34)
    daemon.stop(5)
