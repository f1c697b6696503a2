"""In-process scenarios: throughput, fan-out and scale, each beside the cron baseline.

The pipeline runs in this process (store, composer, dispatcher, adapters through their client libraries);
the fakes run in the farm process, so ``time.process_time()`` here is the pipeline's CPU alone.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from benchmarks.baseline import CRON_PERIOD, PlainPublisher, cron_pass
from benchmarks.farm import Farm
from benchmarks.pipeline import (
    NETWORKS,
    bench_settings,
    bulk_queue,
    dispatcher,
    make_post,
    process_cpu_seconds,
    sqlite_path,
)
from benchmarks.profiling import profiled_lanes, top_costs
from benchmarks.report import Row, Sizes
from publisher.settings import Settings
from publisher.store import Store

CMD = "python -m benchmarks --only "


def fresh_store(path: Path) -> Store:
    path.mkdir(parents=True, exist_ok=True)
    return Store(f"sqlite:///{path / 'publisher.db'}")


def fill(store: Store, tag: str, deliveries: int, due: datetime | None = None) -> None:
    """``deliveries`` deliveries as posts to all four networks, through the real ``Store.add_post``."""
    now = datetime.now(UTC)
    for i in range(deliveries // len(NETWORKS)):
        store.add_post(make_post(tag, i, NETWORKS, due), now)


def throughput(farm: Farm, work: Path, sizes: Sizes, baseline_rate: dict[str, float]) -> list[Row]:
    """Deliveries per second and CPU per 1,000 deliveries through the whole pipeline (zero latency)."""
    farm.configure()
    store = fresh_store(work / "throughput")
    n = sizes.throughput - sizes.throughput % len(NETWORKS)
    fill(store, "tp", n)
    farm.arrivals()
    # The fakes take any pace: no pacing at all (a huge max_per_minute would still take a slot per request).
    info = {name: dict(values) for name, values in farm.info.items()}
    info["telegram"]["max_per_minute"] = None
    settings = bench_settings(info, work / "throughput")
    run = dispatcher(store, settings)
    fakes_cpu = process_cpu_seconds(farm.pid)
    wall, cpu = time.perf_counter(), time.process_time()
    stats = run.run_until_idle(timeout=3600)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    fakes_cpu = process_cpu_seconds(farm.pid) - fakes_cpu
    run.stop(10)
    received = sum(a.accepted for a in farm.arrivals())
    store.close()
    if stats.published != n or received != n:
        raise RuntimeError(f"throughput run published {stats.published}, fakes accepted {received} of {n}")
    costs = _profile(farm, work, sizes, settings)

    base = fresh_store(work / "throughput-baseline")
    fill(base, "tpb", n)
    base_path = sqlite_path(base)
    base.close()
    b_cpu, b_fakes_cpu = time.process_time(), process_cpu_seconds(farm.pid)
    result = cron_pass(base_path, PlainPublisher(farm.info))
    b_cpu, b_fakes_cpu = time.process_time() - b_cpu, process_cpu_seconds(farm.pid) - b_fakes_cpu
    farm.arrivals()
    if result.published != n:
        raise RuntimeError(f"baseline published {result.published} of {n}")
    baseline_rate["seconds_per_delivery"] = result.seconds / n
    command = CMD + "throughput" + sizes.flags
    return [
        Row(
            f"Throughput, {n:,} deliveries",
            n / wall,
            "deliveries/s",
            result.published / result.seconds,
            "≥ 500",
            n / wall >= 500,
            command,
            [
                f"throughput: one in-process daemon, SQLite (WAL, synchronous=FULL), fakes answering at once; "
                f"top five costs (own CPU time by package, {sizes.profiled:,} deliveries under cProfile): "
                + "; ".join(f"{label} {share:.0%}" for label, share in costs)
            ],
        ),
        Row("CPU per 1,000 deliveries", cpu / n * 1000, "CPU s", b_cpu / n * 1000, "", None, command),
        Row(
            "Fakes' CPU per 1,000 deliveries (the other process)",
            fakes_cpu / n * 1000,
            "CPU s",
            b_fakes_cpu / n * 1000,
            "",
            None,
            command,
            [
                f"throughput ceiling from CPU alone: one daemon's lanes share one interpreter lock (about "
                f"{1 / (cpu / n):,.0f}/s if it ran all the time), and the fakes answer on the same "
                f"{os.cpu_count()} cores (daemon and fakes together: at most "
                f"{(os.cpu_count() or 1) / ((cpu + fakes_cpu) / n):,.0f}/s)"
            ],
        ),
    ]


def _profile(farm: Farm, work: Path, sizes: Sizes, settings: Settings) -> list[tuple[str, float]]:
    """Publish ``sizes.profiled`` deliveries again with every thread under cProfile; the top five costs."""
    store = fresh_store(work / "throughput-profiled")
    fill(store, "tpp", sizes.profiled - sizes.profiled % len(NETWORKS))
    farm.arrivals()
    run = dispatcher(store, settings)
    with profiled_lanes() as profiles:
        run.run_until_idle(timeout=3600)
    run.stop(10)
    store.close()
    farm.arrivals()
    return top_costs(profiles, 5)


def fanout(farm: Farm, work: Path, sizes: Sizes) -> list[Row]:
    """One post to four networks that each answer after ``fanout_delay``: wall time from due to recorded."""
    farm.configure(delay=sizes.fanout_delay)
    store = fresh_store(work / "fanout")
    run = dispatcher(store, bench_settings(farm.info, work / "fanout"))
    times = []
    for i in range(sizes.fanout_runs):
        due = datetime.now(UTC)
        store.add_post(make_post("fan", i, NETWORKS, due), due)
        stats = run.run_until_idle(timeout=60)
        recorded = max(d.updated_at for d in store.deliveries(post_id=i + 1))
        if stats.published != len(NETWORKS) * (i + 1):
            raise RuntimeError(f"fan-out run {i}: {stats}")
        times.append((recorded - due).total_seconds())
    run.stop(10)
    store.close()
    farm.arrivals()

    base = fresh_store(work / "fanout-baseline")
    base.add_post(make_post("fanb", 0, NETWORKS), datetime.now(UTC))
    base_path = sqlite_path(base)
    base.close()
    sequential = cron_pass(base_path, PlainPublisher(farm.info)).seconds
    farm.configure()
    farm.arrivals()
    median = statistics.median(times)
    ratio = median / sizes.fanout_delay
    # The cron job starts on the next minute: on average half a period after the post fell due.
    base_ratio = (CRON_PERIOD / 2 + sequential) / sizes.fanout_delay
    row = Row(
        f"Fan-out to 4 networks answering in {sizes.fanout_delay * 1000:.0f} ms",
        ratio,
        "× the answer time",
        base_ratio,
        "≤ 1.2",
        ratio <= 1.2,
        CMD + "fanout" + sizes.flags,
        [
            f"fan-out: service {', '.join(f'{t:.3f}' for t in times)} s from due to the last result "
            f"recorded; baseline: {sequential:.3f} s publishing the four one after another, plus "
            f"{CRON_PERIOD / 2:.0f} s mean wait for the next cron minute (computed, not waited)"
        ],
    )
    return [row]


def _timed(call: Callable[[], Any], repeat: int = 21) -> float:
    """Median milliseconds of ``repeat`` calls (after one warm-up call)."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _baseline_enqueue(db_path: str, count: int, tag: str) -> float:
    """Posts per second for a script that INSERTs each post and its four deliveries and commits."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(db_path, timeout=30)
    started = time.perf_counter()
    for i in range(count):
        cur = conn.execute(
            "INSERT INTO posts (source_key, source_name, approved_by, body, hashtags, mentions, media,"
            " overrides, created_at) VALUES (?, ?, 'cron', ?, '[]', '[]', '[]', '{}', ?)",
            (f"{tag}-{i}", f"{tag}-{i}.md", f"Пост {i}", now),
        )
        for target in NETWORKS:
            conn.execute(
                "INSERT INTO deliveries (post_id, target, state, attempts, due_at, next_at, reconcile_checks,"
                " created_at, updated_at) VALUES (?, ?, 'queued', 0, ?, ?, 0, ?, ?)",
                (cur.lastrowid, target, now, now, now, now),
            )
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.execute("DELETE FROM deliveries WHERE post_id IN (SELECT id FROM posts WHERE approved_by = 'cron')")
    conn.execute("DELETE FROM posts WHERE approved_by = 'cron'")
    conn.commit()
    conn.close()
    return count / elapsed


def scale(work: Path, sizes: Sizes, plans: list[str]) -> list[Row]:
    """Enqueue rate and due-query time as the queue grows; the query plans go to ``plans``."""
    store = fresh_store(work / "scale")
    path = sqlite_path(store)
    rows: list[Row] = []
    queued = 0
    future = datetime.now(UTC) + timedelta(days=1)
    for size in sizes.scale:
        bulk_queue(store, size - queued, future, timedelta(days=30), f"s{size}")
        queued = size
        tag = f"enq{size}"
        now = datetime.now(UTC)
        started = time.perf_counter()
        for i in range(sizes.enqueue):
            store.add_post(make_post(tag, i, NETWORKS, future), now)
        enqueue_rate = sizes.enqueue / (time.perf_counter() - started)
        with store.engine.begin() as conn:  # keep the queue at exactly ``size`` for the next step
            conn.exec_driver_sql(
                "DELETE FROM deliveries WHERE post_id IN (SELECT id FROM posts WHERE source_name LIKE ?)",
                (tag + "-%",),
            )
            conn.exec_driver_sql("DELETE FROM events WHERE post_id IN "
                                 "(SELECT id FROM posts WHERE source_name LIKE ?)", (tag + "-%",))  # fmt: skip
            conn.exec_driver_sql("DELETE FROM posts WHERE source_name LIKE ?", (tag + "-%",))
        base_enqueue = _baseline_enqueue(path, sizes.enqueue, tag)

        def claim() -> None:
            if store.claim_due(datetime.now(UTC), worker="bench", lease_seconds=600):
                raise RuntimeError("the scale queue must have nothing due")

        claim_ms = _timed(claim)
        next_ms = _timed(lambda: store.next_due_at(datetime.now(UTC)))
        scan_ms = _timed(lambda: cron_pass(path, None), repeat=3 if size >= 500_000 else 7)
        if size == sizes.scale[-1]:
            plans.extend(_plans(store))
        command = CMD + "scale" + sizes.flags
        big = size == max(sizes.scale)
        rows += [
            Row(f"Enqueue with {size:,} queued", enqueue_rate, "posts/s (×4 deliveries)", base_enqueue,
                command=command),
            Row(f"claim_due, nothing due, {size:,} queued", claim_ms, "ms", scan_ms,
                "≤ 10 at 10^6" if big else "", claim_ms <= 10 if big and size >= 1_000_000 else None,
                command),
            Row(f"next_due_at, {size:,} queued", next_ms, "ms", scan_ms,
                "≤ 10 at 10^6" if big else "", next_ms <= 10 if big and size >= 1_000_000 else None,
                command),
        ]  # fmt: skip
    store.close()
    return rows


def _plans(store: Store) -> list[str]:
    """EXPLAIN QUERY PLAN of the SELECTs that ``claim_due`` and ``next_due_at`` really execute."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "deliveries" in statement:
            captured.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        now = datetime.now(UTC)
        store.claim_due(now, worker="bench", lease_seconds=600)
        store.next_due_at(now)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    lines = []
    conn = sqlite3.connect(sqlite_path(store))
    try:
        for statement, parameters in captured:
            lines.append(" ".join(statement.split()))
            for row in conn.execute("EXPLAIN QUERY PLAN " + statement, parameters):
                lines.append("    -> " + str(row[-1]))
    finally:
        conn.close()
    return lines
