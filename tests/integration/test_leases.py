"""Short leases, renewed while a network call is in flight: a slow call keeps its claim, a dead one loses it.

A second ``Store`` plays the other daemon that reaps expired leases. Waits are on observable order (the
lease moved on, the original lease ran out), never on how long something took.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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


def slow_dispatcher(store: Store, adapter: SlowAdapter, lease: float) -> Dispatcher:
    # Telegram's pace (20 a minute) is not what these tests are about: the second post would wait 3 s for it.
    settings = Settings(workers=2, dry_run=False, lease_seconds=lease, telegram={"max_per_minute": None})
    pool: Any = AdapterPool(settings, factory=lambda s, t: adapter)
    render = lambda post, target: Rendered(target, network_of(target), post.body, 4, 100)  # noqa: E731
    return Dispatcher(store, settings, render, adapters=pool)


def test_a_call_longer_than_the_lease_keeps_its_claim(store_url: str) -> None:
    store, other = Store(store_url), Store(store_url, migrate=False)
    adapter = SlowAdapter()
    dispatcher = slow_dispatcher(store, adapter, LEASE)
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


def test_a_claim_settled_during_a_heartbeat_is_not_reported_lost_and_a_reaped_one_is(
    store_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat runs beside the lanes: a result committed while it renews is no lost claim."""
    store, other = Store(store_url), Store(store_url, migrate=False)
    adapter = SlowAdapter()
    adapter.go.set()
    # A long lease: the heartbeat thread does not beat during the test; the test beats by hand.
    dispatcher = slow_dispatcher(store, adapter, 600)
    recorded, beaten = threading.Event(), threading.Event()
    record = store.record_published_later

    def record_then_wait(*args: Any, **kwargs: Any) -> Callable[[], bool]:
        settle = record(*args, **kwargs)

        def settled() -> bool:
            done = settle()
            recorded.set()  # committed; the lane forgets the claim only when this returns
            assert beaten.wait(30), "the test never beat"
            return done

        return settled

    def lost() -> list[Any]:
        return [
            getattr(r, "delivery", None) for r in caplog.records if getattr(r, "event", "") == "claim_lost"
        ]

    def post(name: str) -> None:
        store.add_post(
            Post(
                source_name=f"{name}.md",
                source_key=name * 64,
                targets=("telegram",),
                approved_by="ed",
                body=name,
            ),
            datetime.now(UTC),
        )

    monkeypatch.setattr(store, "record_published_later", record_then_wait)
    post("a")
    try:
        with caplog.at_level(logging.WARNING, logger="publisher.dispatch.dispatcher"):
            assert dispatcher.drain() == 1
            assert recorded.wait(30)
            dispatcher.renew_leases()  # still held by the lane, but settled: its lease is no longer renewable
            beaten.set()
            assert dispatcher.wait_idle(30)
            dispatcher.renew_leases()
            assert [d.state for d in store.deliveries()] == [S.PUBLISHED]
            assert lost() == []

            # A claim that another daemon reaped while its call was in flight is reported lost, once; its late
            # result (same attempt) still settles the doubt.
            monkeypatch.setattr(store, "record_published_later", record)
            adapter.go.clear()
            adapter.started.clear()
            post("b")
            assert dispatcher.drain() == 1
            assert adapter.started.wait(30)
            (b,) = [d for d in store.deliveries() if d.state is S.PUBLISHING]
            assert [d.id for d in other.reap_expired_leases(datetime.now(UTC) + timedelta(hours=1))] == [b.id]
            for _ in range(3):
                dispatcher.renew_leases()
            assert lost() == [b.id]
            adapter.go.set()
            assert dispatcher.wait_idle(30)
            assert lost() == [b.id] and store.deliveries()[-1].state is S.PUBLISHED
    finally:
        beaten.set()
        adapter.go.set()
        dispatcher.stop(30)
        store.close()
        other.close()
