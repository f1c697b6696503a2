"""The store's contract, run against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from publisher.errors import StoreError
from publisher.models import DeliveryState, Post, PublishResult, RemoteRef
from publisher.store import Store
from publisher.store.schema import LATEST
from tests.conftest import FakeClock

S = DeliveryState


def make_post(
    key: str = "k1", targets: tuple[str, ...] = ("vk", "x"), publish_at: datetime | None = None, **kw: object
) -> Post:
    return Post(
        source_name=f"{key}.md",
        source_key=key * 4,
        targets=targets,
        approved_by="редактор",
        body="Текст поста",
        publish_at=publish_at,
        **kw,  # type: ignore[arg-type]
    )


def test_add_post_creates_one_delivery_per_target_and_is_idempotent(store: Store, clock: FakeClock) -> None:
    post_id, created = store.add_post(make_post(), clock())
    again, created_again = store.add_post(make_post(), clock())
    assert created and not created_again and again == post_id
    rows = store.deliveries(post_id=post_id)
    assert sorted(d.target for d in rows) == ["vk", "x"]
    assert all(d.state is S.QUEUED for d in rows)
    assert [e.status for e in store.events(post_id=post_id)] == ["enqueued", "enqueued"]
    stored = store.get_post(post_id)
    assert stored is not None and stored.body == "Текст поста" and stored.approved_by == "редактор"


def test_nothing_is_claimed_before_its_time(store: Store, clock: FakeClock) -> None:
    later = clock() + timedelta(hours=1)
    store.add_post(make_post(publish_at=later), clock())
    assert store.claim_due(clock(), worker="w", lease_seconds=60) == []
    assert store.next_due_at(clock()) == later
    claims = store.claim_due(later, worker="w", lease_seconds=60)
    assert len(claims) == 2 and all(
        c.delivery.state is S.PUBLISHING and c.delivery.attempts == 1 for c in claims
    )
    # Claimed deliveries are not claimed twice.
    assert store.claim_due(later, worker="w2", lease_seconds=60) == []


def test_publish_result_is_recorded_with_remote_id_and_url(store: Store, clock: FakeClock) -> None:
    post_id, _ = store.add_post(make_post(targets=("vk",)), clock())
    (claim,) = store.claim_due(clock(), worker="w", lease_seconds=60)
    d = claim.delivery
    assert d.attempt_id
    assert store.mark_sending(d.id, d.attempt_id, clock(), "rendered")
    result = PublishResult("-1_5", "https://vk.com/wall-1_5", clock())
    assert store.record_published(d.id, d.attempt_id, result, clock(), {"text": "rendered"})
    done = store.get_delivery(d.id)
    assert (
        done and done.state is S.PUBLISHED and done.remote_id == "-1_5" and done.remote_url.endswith("-1_5")
    )
    (event,) = store.events(status="published")
    assert (
        event.url == "https://vk.com/wall-1_5"
        and event.detail["text"] == "rendered"
        and event.post_id == post_id
    )


def test_a_stale_attempt_cannot_overwrite_a_newer_state(store: Store, clock: FakeClock) -> None:
    store.add_post(make_post(targets=("vk",)), clock())
    (claim,) = store.claim_due(clock(), worker="w", lease_seconds=60)
    d = claim.delivery
    store.cancel  # noqa: B018 - documented operator action exists
    assert store.record_failed(d.id, "someone-else", clock(), "boom") is False
    assert store.get_delivery(d.id).state is S.PUBLISHING  # type: ignore[union-attr]


def test_expired_lease_after_sending_becomes_in_doubt_never_queued(store: Store, clock: FakeClock) -> None:
    store.add_post(make_post(targets=("vk", "x")), clock())
    a, b = store.claim_due(clock(), worker="w", lease_seconds=60)
    store.mark_sending(a.delivery.id, a.delivery.attempt_id or "", clock(), "text")
    reaped = store.reap_expired_leases(clock() + timedelta(seconds=61))
    states = {d.id: d.state for d in reaped}
    assert states[a.delivery.id] is S.IN_DOUBT
    # b never reached the network: it goes back to the queue without burning an attempt.
    assert states[b.delivery.id] is S.QUEUED
    assert store.get_delivery(b.delivery.id).attempts == 0  # type: ignore[union-attr]
    assert (
        store.claim_due(clock() + timedelta(seconds=61), worker="w", lease_seconds=60)[0].delivery.id
        == b.delivery.id
    )


def test_retry_wait_respects_not_before_and_rate_limit_does_not_burn_attempts(
    store: Store, clock: FakeClock
) -> None:
    store.add_post(make_post(targets=("x",)), clock())
    (c,) = store.claim_due(clock(), worker="w", lease_seconds=60)
    later = clock() + timedelta(minutes=5)
    store.record_retry(
        c.delivery.id, c.delivery.attempt_id or "", clock(), not_before=later, error="429", burn_attempt=False
    )
    d = store.get_delivery(c.delivery.id)
    assert d and d.attempts == 0 and d.not_before == later
    assert store.claim_due(clock() + timedelta(minutes=4), worker="w", lease_seconds=60) == []
    assert len(store.claim_due(later, worker="w", lease_seconds=60)) == 1


def test_held_targets_are_skipped_and_other_targets_keep_going(store: Store, clock: FakeClock) -> None:
    store.add_post(make_post(targets=("vk", "x")), clock())
    assert store.hold_target("vk", "token revoked", clock()) is True
    assert store.hold_target("vk", "token revoked", clock()) is False  # one incident, one new hold
    claims = store.claim_due(clock(), worker="w", lease_seconds=60)
    assert [c.delivery.target for c in claims] == ["x"]
    assert [h.target for h in store.holds(clock())] == ["vk"]
    assert store.release_target("vk", clock(), "operator")
    assert [c.delivery.target for c in store.claim_due(clock(), worker="w", lease_seconds=60)] == ["vk"]


def test_rate_limit_hold_expires_by_itself(store: Store, clock: FakeClock) -> None:
    store.add_post(make_post(targets=("telegram",)), clock())
    until = clock() + timedelta(seconds=30)
    store.hold_target("telegram", "429", clock(), until=until)
    assert store.claim_due(clock(), worker="w", lease_seconds=60) == []
    assert store.next_due_at(clock()) == until
    assert len(store.claim_due(until + timedelta(seconds=1), worker="w", lease_seconds=60)) == 1


def test_operator_retry_cancel_resolve(store: Store, clock: FakeClock) -> None:
    store.add_post(make_post(targets=("vk", "x", "facebook")), clock())
    a, b, c = store.claim_due(clock(), worker="w", lease_seconds=60)
    store.record_failed(a.delivery.id, a.delivery.attempt_id or "", clock(), "rejected")
    store.record_in_doubt(b.delivery.id, b.delivery.attempt_id or "", clock(), "timeout", reconcile_at=None)
    store.record_in_doubt(c.delivery.id, c.delivery.attempt_id or "", clock(), "timeout", reconcile_at=None)
    assert store.retry(a.delivery.id, clock(), "op").state is S.QUEUED
    ref = RemoteRef("123", "https://x.com/i/web/status/123")
    assert store.resolve(b.delivery.id, clock(), published_as=ref, actor="op").state is S.PUBLISHED
    assert store.resolve(c.delivery.id, clock(), published_as=None, actor="op").state is S.CANCELLED
    with pytest.raises(StoreError, match="is published"):
        store.cancel(b.delivery.id, clock(), "op")
    with pytest.raises(StoreError, match="does not exist"):
        store.retry(9999, clock(), "op")


def test_expired_posts_fail_with_the_last_error(store: Store, clock: FakeClock) -> None:
    store.add_post(make_post(targets=("x",), expires_at=clock() + timedelta(hours=1)), clock())
    (c,) = store.claim_due(clock(), worker="w", lease_seconds=60)
    store.record_retry(
        c.delivery.id,
        c.delivery.attempt_id or "",
        clock(),
        not_before=clock() + timedelta(hours=2),
        error="HTTP 503",
        burn_attempt=True,
    )
    (expired,) = store.expire_overdue(clock() + timedelta(hours=1, seconds=1))
    assert (
        expired.state is S.FAILED
        and "expired" in (expired.last_error or "")
        and "HTTP 503" in (expired.last_error or "")
    )


def test_incident_opens_once(store: Store, clock: FakeClock) -> None:
    assert store.open_incident("paused:vk", clock())
    assert not store.open_incident("paused:vk", clock())
    store.close_incident("paused:vk", clock())
    assert store.open_incident("paused:vk", clock())


def test_times_round_trip_as_utc(store: Store) -> None:
    minsk = datetime(2026, 12, 1, 18, 0, tzinfo=UTC) + timedelta(hours=0)
    post_id, _ = store.add_post(make_post(publish_at=minsk), minsk)
    (d, _) = store.deliveries(post_id=post_id)
    assert d.due_at == minsk and d.due_at.tzinfo is not None


def test_concurrent_claimers_never_claim_the_same_delivery(store_url: str, clock: FakeClock) -> None:
    """Several daemons on one queue: every delivery is claimed exactly once."""
    setup = Store(store_url)
    for i in range(30):
        setup.add_post(make_post(key=f"p{i:02d}", targets=("vk", "x", "telegram")), clock())
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        s = Store(store_url, migrate=False)
        while True:
            got = s.claim_due(clock(), worker=name, lease_seconds=60, limit=5)
            if not got:
                break
            with lock:
                claimed.extend(c.delivery.id for c in got)
        s.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 90 and len(set(claimed)) == 90
    setup.close()


def strip_post_identity(conn: Connection) -> None:
    """Undo schema v3 (post identity) so a test database looks like one from before it."""
    conn.execute(text("DROP INDEX ux_posts_post_key"))
    for column in ("post_key", "content_key", "author", "revision", "updated_at"):
        conn.execute(text(f"ALTER TABLE posts DROP COLUMN {column}"))


def test_a_version_1_database_is_migrated_in_place(store_url: str, clock: FakeClock) -> None:
    """An existing queue from the first release keeps its posts and gains the later tables and indexes."""
    old = Store(store_url)
    post_id, _ = old.add_post(make_post(targets=("vk",), expires_at=clock() + timedelta(hours=1)), clock())
    with old.engine.begin() as conn:  # turn it back into a v1 database
        conn.execute(text("DROP INDEX ix_deliveries_state_expires"))
        conn.execute(text("ALTER TABLE deliveries DROP COLUMN expires_at"))
        strip_post_identity(conn)
        conn.execute(text("DROP TABLE pacing"))  # v6
        conn.execute(text("DROP TABLE media"))  # v7
        conn.execute(text("UPDATE schema_version SET version = 1"))
    old.close()
    upgraded = Store(store_url)
    assert upgraded.schema_version() == LATEST
    assert upgraded.take_slot("vk", clock(), 1.0, max_wait=0) == clock()
    (expired,) = upgraded.expire_overdue(clock() + timedelta(hours=2))
    assert expired.post_id == post_id and expired.state is S.FAILED
    upgraded.close()


@pytest.mark.parametrize("action", ["retry", "cancel", "resolve"])
def test_operator_actions_close_the_deliverys_incidents(store: Store, clock: FakeClock, action: str) -> None:
    """Closed in the action's own transaction: a later failure of that delivery alerts again."""
    store.add_post(make_post(targets=("vk",)), clock())
    (c,) = store.claim_due(clock(), worker="w", lease_seconds=60)
    d = c.delivery
    store.record_in_doubt(d.id, d.attempt_id or "", clock(), "timeout", reconcile_at=None)
    assert store.open_incident(f"in_doubt:{d.id}", clock())
    assert store.open_incident(f"failed:{d.id}", clock())
    assert store.open_incident("paused:vk", clock())
    if action == "retry":
        store.retry(d.id, clock(), "op")
    elif action == "cancel":
        store.cancel(d.id, clock(), "op")
    else:
        store.resolve(d.id, clock(), published_as=None, actor="op")
    assert store.open_incident(f"in_doubt:{d.id}", clock()), "the in-doubt incident stayed open"
    assert store.open_incident(f"failed:{d.id}", clock()), "the failure incident stayed open"
    assert not store.open_incident("paused:vk", clock()), "a target's incident is not the delivery's"
