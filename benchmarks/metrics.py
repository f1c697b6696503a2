"""Metrics: what a round of snapshots costs per 1,000 deliveries, and how long the monthly report takes.

* Snapshot round: ``Collector.run(everything=True)`` over N published deliveries (a quarter on each
  network) against the VK, X and Facebook fakes, started in this process with posts seeded on them. The
  figures are the requests the fakes received (VK and X take 100 posts a call, Facebook 50 plus an
  insights call; Telegram needs none) and the wall-clock seconds, both scaled to 1,000 deliveries.
* Report: ``build_report`` (figures, HTML with matplotlib charts, CSV) for a month of N deliveries with
  snapshots, written straight into the tables (setup speed only: the rows are those the store writes).
"""

from __future__ import annotations

import importlib
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from benchmarks.pipeline import NETWORKS
from benchmarks.report import Row, Sizes
from benchmarks.scenarios import CMD, fresh_store
from publisher.adapters.pool import AdapterPool
from publisher.metrics.collect import Collector
from publisher.metrics.report import build_report, month_of
from publisher.settings import Settings
from publisher.store import Store
from publisher.store.schema import deliveries, events, posts, snapshots

RUBRICS = ("древняядичь", "бюроизобретений", "чтотознакомое", "тынепохожанабиблиотекаря", "киноклуб")
ENTITIES = ("fitr", "bntu", "fmmp", "brsm", "atf", "library")


def _fakes(name: str) -> Any:
    # Imported by name: the fakes live in tests/ (run from the repository root), outside what mypy checks.
    return importlib.import_module(f"tests.fakes.{name}")


def bulk_published(store: Store, remote_ids: list[tuple[str, str]], start: datetime, seed: int = 1) -> None:
    """One post per four ``(target, remote id)`` pairs, published from ``start`` on, with one snapshot each."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    post_rows, delivery_rows, event_rows, snapshot_rows = [], [], [], []
    with store.engine.begin() as conn:
        first_post = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM posts").scalar() or 0) + 1
        first_delivery = (
            int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM deliveries").scalar() or 0) + 1
        )
        for i, (target, remote_id) in enumerate(remote_ids):
            post_id = first_post + i // len(NETWORKS)
            at = start + timedelta(minutes=10 * (i // len(NETWORKS)))
            if i % len(NETWORKS) == 0:
                n = i // len(NETWORKS)
                post_rows.append(
                    {
                        "id": post_id,
                        "source_key": f"bench-metrics-{seed}-{n:010d}".ljust(64, "0"),
                        "source_name": f"m{n}.md",
                        "approved_by": f"автор {n % 7}",
                        "body": f"Пост {n} о выставке редких книг",
                        "rubric": RUBRICS[n % len(RUBRICS)],
                        "hashtags": "[]",
                        "mentions": json.dumps([ENTITIES[(n + k) % len(ENTITIES)] for k in range(n % 3)]),
                        "media": "[]",
                        "overrides": "{}",
                        "publish_at": at,
                        "created_at": now,
                    }
                )
            delivery_id = first_delivery + i
            delivery_rows.append(
                {
                    "id": delivery_id,
                    "post_id": post_id,
                    "target": target,
                    "state": "published",
                    "attempts": 1,
                    "due_at": at,
                    "remote_id": remote_id,
                    "remote_url": f"https://example.org/{target}/{remote_id}",
                    "reconcile_checks": 0,
                    "created_at": now,
                    "updated_at": at,
                }
            )
            event_rows.append(
                {
                    "time": at,
                    "post_id": post_id,
                    "delivery_id": delivery_id,
                    "target": target,
                    "status": "published",
                    "detail": "{}",
                }
            )
            views = None if target in ("facebook", "telegram") else rng.randrange(50, 5000)
            snapshot_rows.append(
                {
                    "delivery_id": delivery_id,
                    "taken_at": at + timedelta(days=1),
                    "views": views,
                    "likes": None if target == "telegram" else rng.randrange(0, 100),
                    "reposts": None if target == "telegram" else rng.randrange(0, 20),
                    "comments": None if target == "telegram" else rng.randrange(0, 15),
                    "impressions": None,
                    "reach": None,
                    "available": target != "telegram",
                    "reason": "not available from the Bot API" if target == "telegram" else "",
                    "raw": "",
                }
            )
        for table, rows in (
            (posts, post_rows),
            (deliveries, delivery_rows),
            (events, event_rows),
            (snapshots, snapshot_rows),
        ):
            for offset in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[offset : offset + 5000])


def snapshot_round(work: Path, sizes: Sizes) -> list[Row]:
    """Requests and seconds of one snapshot round, per 1,000 published deliveries."""
    FakeVk, FakeX, FakeFacebook = _fakes("vk").FakeVk, _fakes("x").FakeX, _fakes("facebook").FakeFacebook
    creds = ("bench-ck", "bench-cs", "1580000000000000001-bench-at", "bench-as")
    vk = FakeVk("vk1.a.bench-metrics-token")
    x = FakeX(
        consumer_key=creds[0], consumer_secret=creds[1], access_token=creds[2], access_token_secret=creds[3]
    )
    fb = FakeFacebook()
    for fake in (vk, x, fb):
        fake.start()
    try:
        per_network = sizes.metrics_deliveries // len(NETWORKS)
        now = datetime.now(UTC)
        pairs: list[tuple[str, str]] = []
        for i in range(per_network):
            v = vk.add_post(f"пост {i}")
            t = x._store(f"пост {i}", [], now)
            f = fb.add_post(f"пост {i}")
            pairs += [
                ("vk", f"-{vk.group_id}_{v.id}"),
                ("x", t["id"]),
                ("facebook", f.id),
                ("telegram", str(i + 1)),
            ]
        store = fresh_store(work / "metrics-round")
        bulk_published(store, pairs, now - timedelta(days=2))
        settings = Settings(
            data_dir=work / "metrics-round",
            vk={"api_url": vk.url, "access_token": vk.token, "group_id": vk.group_id},
            x={
                "api_url": x.url,
                "api_key": creds[0],
                "api_secret": creds[1],
                "access_token": creds[2],
                "access_token_secret": creds[3],
                "username": "bntu_library",
            },
            facebook={"api_url": fb.url, "page_id": fb.page_id, "page_access_token": fb.token},
            telegram={
                "api_url": "http://127.0.0.1:9",
                "bot_token": "123456789:AAbench",
                "chat_id": "@c",
                "max_per_minute": 1e9,
            },
        )
        measured = []
        for batch in (None, 1):  # batched as each API allows; then one post per call, the baseline
            pool = AdapterPool(settings)

            def adapter_for(target: str, pool: AdapterPool = pool, batch: int | None = batch) -> Any:
                adapter = pool.get(target)
                if batch is not None:
                    setattr(adapter, "metrics_batch", batch)  # noqa: B010 - the instance only
                return adapter

            before = sum(len(f.requests) for f in (vk, x, fb))
            collector = Collector(store, settings, adapter_for, yield_to_publishing=False)
            started = time.perf_counter()
            stats = collector.run(everything=True)
            seconds = time.perf_counter() - started
            requests = sum(len(f.requests) for f in (vk, x, fb)) - before
            if stats.taken != len(pairs):
                raise RuntimeError(f"the snapshot round took {stats.taken} of {len(pairs)}: {stats.skipped}")
            measured.append((requests, seconds))
        store.close()
    finally:
        for fake in (vk, x, fb):
            fake.stop()
    scale = 1000 / len(pairs)
    (requests, seconds), (one_requests, one_seconds) = measured
    note = (
        f"{len(pairs):,} deliveries, a quarter per network; VK and X 100 posts a call, Facebook 50 plus an "
        "insights call, Telegram none (the Bot API gives no figures); fakes in the same process; baseline: "
        "the same round asking one post per call"
    )
    return [
        Row(
            "Snapshot round, requests per 1,000 deliveries",
            requests * scale,
            "requests",
            baseline=one_requests * scale,
            command=CMD + "metrics",
            notes=[note],
        ),
        Row(
            "Snapshot round, time per 1,000 deliveries",
            seconds * scale,
            "s",
            baseline=one_seconds * scale,
            command=CMD + "metrics",
        ),
    ]


def report_time(work: Path, sizes: Sizes) -> list[Row]:
    """Seconds to build the month's report (figures, HTML with charts, CSV) for N deliveries."""
    store = fresh_store(work / "metrics-report")
    zone = Settings().zone
    month = month_of(2026, 11, zone)
    count = sizes.report_deliveries
    pairs = [(NETWORKS[i % len(NETWORKS)], f"r{i}") for i in range(count)]
    # Spread over the month: 10 minutes apart would overflow it, so place them by index.
    bulk_published(store, pairs, month.start + timedelta(hours=1), seed=2)
    with store.engine.begin() as conn:  # squeeze every publication into November
        span = (month.end - month.start - timedelta(hours=2)).total_seconds()
        rows = conn.exec_driver_sql("SELECT id FROM events WHERE status = 'published' ORDER BY id").fetchall()
        for n, (event_id,) in enumerate(rows):
            at = month.start + timedelta(hours=1, seconds=span * n / max(1, len(rows)))
            conn.exec_driver_sql(
                "UPDATE events SET time = ? WHERE id = ?", (at.strftime("%Y-%m-%d %H:%M:%S.%f"), event_id)
            )
    started = time.perf_counter()
    report = build_report(store, month, zone=zone, language="ru", now=month.end + timedelta(days=1))
    seconds = time.perf_counter() - started
    if len(report.figures.rows) != count:
        raise RuntimeError(f"the report covered {len(report.figures.rows)} of {count} deliveries")
    store.close()
    return [
        Row(
            f"Report for a month of {count:,} deliveries (HTML with charts + CSV)",
            seconds,
            "s",
            command=CMD + "metrics",
            notes=[f"report page {len(report.html) / 1024:.0f} KiB, CSV {len(report.csv) / 1024:.0f} KiB"],
        )
    ]


def metrics(work: Path, sizes: Sizes) -> list[Row]:
    return snapshot_round(work, sizes) + report_time(work, sizes)
