"""Posts as editors name them: replace by identity, withdraw, reschedule, cancel, list; SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from publisher.models import DeliveryState, Post, PublishResult
from publisher.store import Store
from tests.conftest import FakeClock

S = DeliveryState


def post(content: str = "v1", targets: tuple[str, ...] = ("vk", "x"), hours: float = 2, **kw: object) -> Post:
    start = FakeClock().now
    return Post(
        source_name="kino.md",
        source_key=content * 8,
        targets=targets,
        approved_by="Анна",
        body=f"Киноклуб: {content}",
        publish_at=start + timedelta(hours=hours),
        key="kino",
        **kw,  # type: ignore[arg-type]
    )


def publish_one(store: Store, clock: FakeClock, target: str) -> None:
    claims = store.claim_due(clock() + timedelta(days=1), worker="w", lease_seconds=60)
    for c in claims:
        if c.delivery.target == target:
            store.record_published(
                c.delivery.id,
                c.delivery.attempt_id or "",
                PublishResult("1", "https://x/1", clock()),
                clock(),
                {},
            )
        else:  # give the others back as they were: failed once, then requeued by the replacement
            store.record_failed(c.delivery.id, c.delivery.attempt_id or "", clock(), "refused")


def states(store: Store, post_id: int) -> dict[str, str]:
    return {d.target: d.state.value for d in store.deliveries(post_id=post_id)}


def test_replacing_moves_waiting_deliveries_and_updates_the_text(store: Store, clock: FakeClock) -> None:
    first = store.submit_post(post("v1", hours=2), clock())
    later = post("v2", targets=("vk", "telegram"), hours=5)
    done = store.submit_post(later, clock(), actor="Анна")

    assert done.outcome == "replaced" and done.post_id == first.post_id
    assert set(done.changed) >= {"body", "publish_at", "networks"}
    assert done.added == ("telegram",) and done.cancelled == ("x",) and set(done.moved) == {"vk"}
    assert done.due_before == first.due_at and done.due_at == later.publish_at
    rows = {d.target: d for d in store.deliveries(post_id=first.post_id)}
    assert rows["vk"].due_at == later.publish_at and rows["vk"].state is S.QUEUED
    assert rows["x"].state is S.CANCELLED and rows["telegram"].state is S.QUEUED
    stored = store.get_post(first.post_id)
    assert stored is not None and stored.body == "Киноклуб: v2" and stored.key == "kino"
    assert stored.source_key == first_key()  # idempotency keys stay stable across revisions
    log = store.events(post_id=first.post_id)
    replaced = [e for e in log if e.status == "replaced"]
    assert replaced and replaced[0].detail["by"] == "Анна" and "body" in replaced[0].detail["changed"]
    # Nothing is claimed at the old time any more.
    assert store.claim_due(clock() + timedelta(hours=3), worker="w", lease_seconds=60) == []


def first_key() -> str:
    return "v1" * 8


def test_the_same_file_again_changes_nothing(store: Store, clock: FakeClock) -> None:
    first = store.submit_post(post("v1"), clock())
    again = store.submit_post(post("v1"), clock())
    assert again.outcome == "unchanged" and again.post_id == first.post_id
    assert len(store.events(post_id=first.post_id)) == 2


def test_published_deliveries_are_left_alone_and_failed_ones_requeued(store: Store, clock: FakeClock) -> None:
    first = store.submit_post(post("v1"), clock())
    publish_one(store, clock, "vk")
    assert states(store, first.post_id) == {"vk": "published", "x": "failed"}

    done = store.submit_post(post("v2", hours=6), clock())

    assert done.kept == {"vk": "published"} and done.requeued == ("x",)
    assert states(store, first.post_id) == {"vk": "published", "x": "queued"}


def test_a_post_published_everywhere_is_not_replaced(store: Store, clock: FakeClock) -> None:
    first = store.submit_post(post("v1", targets=("vk",)), clock())
    publish_one(store, clock, "vk")
    done = store.submit_post(post("v2", targets=("vk",)), clock())
    assert done.outcome == "published_everywhere"
    assert store.get_post(first.post_id).body == "Киноклуб: v1"  # type: ignore[union-attr]


def test_withdraw_cancels_what_is_not_sent(store: Store, clock: FakeClock) -> None:
    first = store.submit_post(post("v1", targets=("vk", "x", "telegram")), clock())
    publish_one(store, clock, "vk")  # x and telegram failed once
    store.retry(store.deliveries(post_id=first.post_id)[1].id, clock(), "op")
    done = store.withdraw_post("kino", clock(), actor="Анна", source="kino.md")
    assert done is not None and done.outcome == "withdrawn"
    assert set(done.cancelled) == {"x", "telegram"} and done.kept == {"vk": "published"}
    assert states(store, first.post_id) == {"vk": "published", "x": "cancelled", "telegram": "cancelled"}
    assert store.withdraw_post("nope", clock(), actor="Анна") is None
    # Dropping it again brings the cancelled deliveries back.
    again = store.submit_post(post("v3", targets=("vk", "x")), clock())
    assert again.outcome == "replaced" and again.requeued == ("x",) and again.cancelled == ()


def test_reschedule_cancel_and_list(store: Store, clock: FakeClock) -> None:
    kino = store.submit_post(post("v1", hours=2), clock())
    other = store.submit_post(
        replace(post("o1", targets=("vk",), hours=30), key="lecture", rubric="древняядичь"), clock()
    )
    when = clock() + timedelta(days=3)
    moved = store.reschedule_post(kino.post_id, when, clock(), actor="op")
    assert set(moved.moved) == {"vk", "x"} and moved.due_at == when
    assert {d.due_at for d in store.deliveries(post_id=kino.post_id)} == {when}

    listed = store.post_summaries()
    assert [s.key for s in listed] == ["lecture", "kino"]
    assert listed[1].title == "Киноклуб: v1" and listed[1].states == {"vk": "queued", "x": "queued"}
    assert listed[1].due_at == when and listed[1].author == "Анна"
    assert [s.key for s in store.post_summaries(rubric="древняядичь")] == ["lecture"]
    assert [s.key for s in store.post_summaries(due_from=clock() + timedelta(days=2))] == ["kino"]
    assert [s.key for s in store.post_summaries(due_to=clock() + timedelta(days=2))] == ["lecture"]

    cancelled = store.cancel_post(other.post_id, clock(), actor="op")
    assert cancelled.cancelled == ("vk",)
    assert (
        store.find_post_id("lecture") == other.post_id
        and store.find_post_id(str(kino.post_id)) == kino.post_id
    )
    statuses = [e.status for e in store.events(post_id=kino.post_id)]
    assert statuses.count("rescheduled") == 2


def test_posts_from_before_identities_keep_their_meaning(store_url: str, clock: FakeClock) -> None:
    """A v2 database is migrated: its posts have no identity, the same file is still the same post."""
    from sqlalchemy import text

    from tests.integration.test_store import strip_post_identity

    old = Store(store_url)
    legacy = old.submit_post(replace(post("v1"), key=None), clock())
    with old.engine.begin() as conn:
        strip_post_identity(conn)
        conn.execute(text("UPDATE schema_version SET version = 2"))
    old.close()
    upgraded = Store(store_url)
    try:
        assert upgraded.submit_post(post("v1"), clock()).outcome == "unchanged"
        fresh = upgraded.submit_post(post("v2"), clock())
        assert fresh.outcome == "created" and fresh.post_id != legacy.post_id
        assert upgraded.get_post(legacy.post_id).author == "Анна"  # type: ignore[union-attr]
    finally:
        upgraded.close()
