"""Metrics snapshots in the store (SQLite and PostgreSQL): append-only, newest per delivery, no secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from publisher.cli import main
from publisher.models import Post, RemoteRef, Snapshot
from publisher.ops.redact import register_secret
from publisher.store import Store
from tests.metrics_world import TELEGRAM_REASON, World, build, month_start


def test_snapshots_are_appended_and_the_newest_is_the_current_figure(store: Store) -> None:
    world = build(store, World(), month_start(2026, 11), 2, history=3)
    rows = {r.delivery_id: r for r in store.metrics_rows()}
    assert set(rows) == set(world.served)
    for delivery_id, (post, target, newest) in world.served.items():
        row = rows[delivery_id]
        assert row.target == target and row.post_id == post.id and row.snapshot_count == 3
        assert row.snapshot == newest
        assert row.facts.rubric == post.rubric and row.facts.author == post.approved_by
        assert row.facts.mentions == post.mentions and row.facts.title == post.body.splitlines()[0]
        assert row.url == world.urls[delivery_id] and row.published_at == world.published_at[delivery_id]
        history = store.snapshot_history(delivery_id)
        assert len(history) == 3 and history[-1] == newest
    telegram = next(r for r in rows.values() if r.target == "telegram")
    assert telegram.snapshot is not None and not telegram.snapshot.available
    assert telegram.snapshot.reason == TELEGRAM_REASON and telegram.snapshot.views is None
    # A later snapshot becomes current; the earlier ones stay.
    some = next(iter(rows.values()))
    later = Snapshot(some.remote_id or "", some.published_at + timedelta(days=30), views=10**10, likes=1)
    store.record_snapshots([(some.delivery_id, later)])
    (again,) = store.metrics_rows(delivery_ids=[some.delivery_id])
    assert again.snapshot == later and again.snapshot_count == 4


def test_rows_filter_by_publication_time_target_and_post(store: Store) -> None:
    nov = build(store, World(), month_start(2026, 11), 3, key="n")
    dec = build(store, World(), month_start(2026, 12), 2, key="d")
    in_december = store.metrics_rows(published_from=month_start(2026, 12))
    assert {r.delivery_id for r in in_december} == set(dec.served)
    in_november = store.metrics_rows(published_from=month_start(2026, 11), published_to=month_start(2026, 12))
    assert {r.delivery_id for r in in_november} == set(nov.served)
    assert {r.target for r in store.metrics_rows(target="x")} == {"x"}
    post_id = next(iter(dec.served.values()))[0].id
    assert post_id is not None
    assert {r.post_id for r in store.metrics_rows(post_id=post_id)} == {post_id}


def test_a_snapshot_keeps_no_secret(store: Store) -> None:
    register_secret("tok-metrics-SECRET-123")
    world = build(store, World(), month_start(2026, 11), 1, history=0)
    delivery_id = next(iter(world.served))
    raw = '{"error": "bad token tok-metrics-SECRET-123"}'
    store.record_snapshots(
        [(delivery_id, Snapshot("r", month_start(2026, 11), available=False, reason=raw, raw=raw))]
    )
    (kept,) = store.snapshot_history(delivery_id)
    assert "SECRET" not in kept.raw and "SECRET" not in kept.reason and "***" in kept.raw


def test_log_json_carries_rubric_author_and_mentions(store_url: str, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    store = Store(store_url)
    world = build(store, World(), month_start(2026, 11), 3, history=0)
    store.close()
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", store_url)
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path))
    assert main(["log", "--json", "--status", "published"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(world.served)
    for line in lines:
        post, _target, _ = world.served[line["delivery"]]
        assert line["rubric"] == post.rubric and line["author"] == post.approved_by
        assert line["mentions"] == list(post.mentions)


def test_metrics_json_shows_the_current_figures(store_url: str, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    store = Store(store_url)
    world = build(store, World(), month_start(2026, 11), 3, missing_every=5)
    store.close()
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", store_url)
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path))
    assert main(["metrics", "--json", "--target", "telegram"]) == 0
    telegram = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {t["target"] for t in telegram} == {"telegram"} and len(telegram) == 3
    assert main(["metrics", "--json"]) == 0
    lines = {j["delivery"]: j for j in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(lines) == set(world.served)
    for delivery_id, (post, target, newest) in world.served.items():
        got = lines[delivery_id]
        assert (got["post"], got["target"], got["rubric"]) == (post.id, target, post.rubric)
        if newest is None:
            assert got["views"] is None and got["reason"] == "not collected yet"
        else:
            assert {k: got[k] for k in newest.figures()} == newest.figures()
            assert got["available"] is newest.available and got["reason"] == newest.reason


def test_metrics_csv_is_exact_csv(store_url: str, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import csv
    import io

    store = Store(store_url)
    world = build(store, World(), month_start(2026, 11), 2)
    store.close()
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", store_url)
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path))
    assert main(["metrics", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert sorted(int(r["delivery"]) for r in rows) == sorted(world.served)
    assert all(r["reason"] != "" or r["available"] == "yes" for r in rows)


def test_a_delivery_resolved_as_published_has_metrics_and_its_id_can_be_corrected_once(store: Store) -> None:
    """``resolve --published-as`` settles a delivery with a "resolved" event: its figures are collected like
    any published post's. One recorded under a shortcode takes its id (fenced on the id it had)."""
    now = datetime.now(UTC)
    store.add_post(Post("a.md", "r" * 64, ("instagram", "vk"), "ed", "Пост"), now)
    ig, vk = sorted(store.claim_due(now, worker="w", lease_seconds=60), key=lambda c: c.delivery.target)
    for c in (ig, vk):
        store.record_in_doubt(c.delivery.id, c.delivery.attempt_id or "", now, "timeout", reconcile_at=None)
    url = "https://www.instagram.com/p/C1a2B3c4D5e/"
    store.resolve(ig.delivery.id, now, published_as=RemoteRef("C1a2B3c4D5e", url), actor="op")
    store.resolve(vk.delivery.id, now, published_as=None, actor="op")  # not published: no metrics

    (row,) = store.metrics_rows(published_from=now - timedelta(hours=1))
    assert (row.delivery_id, row.remote_id, row.url) == (ig.delivery.id, "C1a2B3c4D5e", url)

    ref = RemoteRef("17900000000000001", url)
    kw = {"ref": ref, "actor": "metrics collection", "note": "looked up"}
    assert store.correct_remote_id(ig.delivery.id, now, was="C1a2B3c4D5e", **kw)
    assert not store.correct_remote_id(ig.delivery.id, now, was="C1a2B3c4D5e", **kw)  # no longer so
    assert not store.correct_remote_id(vk.delivery.id, now, was="", **kw)  # cancelled: not published
    (row,) = store.metrics_rows(delivery_ids=[ig.delivery.id])
    assert (row.remote_id, row.url, row.published_at) == (ref.remote_id, url, now)
    (event,) = store.events(delivery_id=ig.delivery.id, status="id_corrected")
    assert event.remote_id == ref.remote_id and event.detail == {
        "by": "metrics collection",
        "was": "C1a2B3c4D5e",
        "url": url,
        "reason": "looked up",
    }
