"""Short leases, renewed while a network call is in flight: a slow call keeps its claim, a dead one loses it.

A second ``Store`` plays the other daemon that reaps expired leases. Waits are on observable order (the
lease moved on, the original lease ran out), never on how long something took.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from publisher.adapters.base import Prepared
from publisher.adapters.pool import AdapterPool
from publisher.dispatch.dispatcher import Dispatcher
from publisher.models import AccountInfo, DeliveryState, Post, PublishResult, Rendered, network_of
from publisher.settings import Settings
from publisher.store import Store
from tests.helpers import wait_until

S = DeliveryState
LEASE = 3.0


class SlowAdapter:
    """Holds every publish until ``go`` is set, recording what it was asked to send."""

    network = "telegram"
    deduplicates = False
    dedup_window_seconds = None

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()
        self.sent: list[str] = []

    def prepare(self, rendered: Rendered, stop: Any = None) -> Prepared:
        return Prepared()

    def publish(self, rendered: Rendered, idempotency_key: str, prepared: Any = None) -> PublishResult:
        self.sent.append(rendered.text)
        self.started.set()
        assert self.go.wait(60), "the test never let the call finish"
        return PublishResult("m1", "https://t.me/c/1", datetime.now(UTC))

    def describe(self) -> str:
        return "slow"

    def check(self) -> AccountInfo:
        return AccountInfo("slow", "slow", True)


def test_a_call_longer_than_the_lease_keeps_its_claim(store_url: str) -> None:
    store, other = Store(store_url), Store(store_url, migrate=False)
    adapter = SlowAdapter()
    settings = Settings(workers=2, dry_run=False, lease_seconds=LEASE)
    pool: Any = AdapterPool(settings, factory=lambda s, t: adapter)
    dispatcher = Dispatcher(
        store,
        settings,
        lambda post, target: Rendered(target, network_of(target), post.body, 4, 100),
        adapters=pool,
    )
    store.add_post(
        Post(source_name="a.md", source_key="a" * 64, targets=("telegram",), approved_by="ed", body="text"),
        datetime.now(UTC),
    )
    try:
        assert dispatcher.drain() == 1
        assert adapter.started.wait(30)
        (d,) = store.deliveries()
        first_lease = d.lease_until
        assert first_lease is not None
        # The call outlives the lease it started with; the heartbeat has moved the lease on meanwhile.
        assert wait_until(lambda: datetime.now(UTC) > first_lease, timeout=30)
        assert other.reap_expired_leases(datetime.now(UTC)) == [], "a live claim was reaped"
        (d,) = store.deliveries()
        assert d.state is S.PUBLISHING and d.lease_until is not None and d.lease_until > first_lease
        adapter.go.set()
        assert dispatcher.wait_idle(30)
        (d,) = store.deliveries()
        assert d.state is S.PUBLISHED and adapter.sent == ["text"]
        assert [e.status for e in store.events(delivery_id=d.id)] == ["enqueued", "publishing", "published"]
    finally:
        adapter.go.set()
        dispatcher.stop(30)
        store.close()
        other.close()
