"""Scenarios that need the real daemon's scheduling: punctuality, rate limits and idle cost.

Each starts ``python -m publisher run`` as a process of its own (``DaemonProcess``), its four networks
pointed at the fakes by ``PUBLISHER_*__API_URL`` and credential variables, so that what is measured is
the daemon as deployed: APScheduler waking for the next due delivery, lanes, holds, housekeeping.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.baseline import CRON_PERIOD, PlainPublisher, cron_pass
from benchmarks.farm import Arrival, Farm
from benchmarks.pipeline import NETWORKS, DaemonProcess, bulk_queue, make_post, sqlite_path
from benchmarks.report import Row, Sizes, percentile
from benchmarks.scenarios import CMD, fresh_store


def _wait_for(farm: Farm, count: int, timeout: float) -> list[Arrival]:
    """Collect arrivals until ``count`` accepted publishing requests arrived or ``timeout`` passed."""
    found: list[Arrival] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found += farm.arrivals()
        if sum(1 for a in found if a.accepted) >= count:
            break
        time.sleep(0.2)
    return found


def punctuality(farm: Farm, work: Path, sizes: Sizes, seconds_per_delivery: float) -> list[Row]:
    """Lag from due time to the request reaching the fake, for deliveries due at spread instants."""
    farm.configure()
    farm.arrivals()
    data = work / "punctuality"
    store = fresh_store(data)
    n = sizes.punctual
    first = datetime.now(UTC) + timedelta(seconds=sizes.punctual_lead)
    due: dict[str, datetime] = {}
    created = datetime.now(UTC)
    for i in range(n):
        when = first + timedelta(seconds=sizes.punctual_spread * i / n)
        store.add_post(make_post("pu", i, (NETWORKS[i % 4],), when), created)
        due[f"pu.{i}"] = when
    with DaemonProcess(data, farm.env()) as daemon:
        daemon.wait_started(store)
        head_start = (first - datetime.now(UTC)).total_seconds()
        arrivals = _wait_for(farm, n, sizes.punctual_lead + sizes.punctual_spread + 60)
    store.close()
    lags = [a.time - due[a.marker].timestamp() for a in arrivals if a.marker in due]
    if len(lags) != n:
        raise RuntimeError(f"punctuality: {len(lags)} of {n} deliveries reached the fakes")

    # Baseline, computed: a cron job at each whole minute publishes what is due, one after another,
    # at the per-delivery pace measured in the throughput baseline.
    base_lags = []
    offsets = sorted(sizes.punctual_spread * i / n for i in range(n))
    queue_position: dict[int, int] = {}
    for offset in offsets:
        tick = math.floor(offset / CRON_PERIOD) + 1
        position = queue_position.get(tick, 0)
        queue_position[tick] = position + 1
        base_lags.append(tick * CRON_PERIOD - offset + (position + 1) * seconds_per_delivery)
    command = CMD + "punctuality" + sizes.flags
    note = (
        f"punctuality: {n} deliveries due over {sizes.punctual_spread:g} s; the daemon was up "
        f"{head_start:.1f} s before the first; baseline computed for a cron job at whole minutes "
        f"publishing at {seconds_per_delivery * 1000:.1f} ms per delivery (measured)"
    )
    return [
        Row(
            "Lag due → request at the network, p50",
            percentile(lags, 50),
            "s",
            percentile(base_lags, 50),
            command=command,
            notes=[note],
        ),
        Row(
            "Lag, p99",
            percentile(lags, 99),
            "s",
            percentile(base_lags, 99),
            "≤ 1",
            percentile(lags, 99) <= 1.0,
            command,
        ),
        Row("Lag, max", max(lags), "s", max(base_lags), command=command),
    ]


def rate_limits(farm: Farm, work: Path, sizes: Sizes) -> list[Row]:
    """Telegram allowing ``rate`` messages per second: achieved rate ÷ rate, and the refusals."""
    farm.configure(rate=sizes.rate)
    farm.arrivals()
    data = work / "ratelimit"
    store = fresh_store(data)
    m = sizes.rate_messages
    now = datetime.now(UTC)
    for i in range(m):
        store.add_post(make_post("rl", i, ("telegram",), now), now)
    # The service is told the documented pace (max_per_minute), as an operator would configure it.
    # A 3 % margin: a sender paced exactly at the limit straddles the fake's one-second windows.
    paced = {**farm.env(), "PUBLISHER_TELEGRAM__MAX_PER_MINUTE": str(sizes.rate * 60 * 0.97)}
    with DaemonProcess(data, paced) as daemon:
        daemon.wait_started(store)
        arrivals = _wait_for(farm, m, m / sizes.rate * 4 + 60)
    store.close()
    accepted = sorted(a.time for a in arrivals if a.accepted)
    refused = sum(1 for a in arrivals if not a.accepted)
    if len(accepted) != m:
        raise RuntimeError(f"rate limits: {len(accepted)} of {m} messages accepted")
    first = min(a.time for a in arrivals)
    # An evenly paced sender at exactly `rate` takes m / rate seconds for m messages (one slot each).
    achieved = m / (accepted[-1] - first + 1 / sizes.rate)

    # Baseline: cron passes; between them the fake's one-second window is let run out (a shortened
    # minute: the fake's state after 1 s and after 60 s is the same), the time counted as 60 s.
    base = fresh_store(work / "ratelimit-baseline")
    for i in range(m):
        base.add_post(make_post("rlb", i, ("telegram",)), now)
    path = sqlite_path(base)
    base.close()
    published = refusals = passes = 0
    last = 0.0
    while published < m and passes < 1000:
        if passes:
            time.sleep(1.05)
        result = cron_pass(path, PlainPublisher(farm.info))
        published += result.published
        refusals += result.refused
        last = result.seconds
        passes += 1
    base_rate = m / ((passes - 1) * CRON_PERIOD + last)
    farm.configure()
    farm.arrivals()
    command = CMD + "ratelimit" + sizes.flags
    note = (
        f"rate limits: {m} messages to a Telegram fake allowing {sizes.rate}/s; service "
        f"{achieved:.1f}/s with {refused} refusals; baseline {passes} cron passes, {refusals} refusals "
        f"(1 s between passes stands for the minute)"
    )
    return [
        Row(
            f"Rate-limited network ({sizes.rate}/s): achieved rate",
            achieved / sizes.rate,
            "÷ allowed rate",
            base_rate / sizes.rate,
            "≥ 0.95",
            achieved / sizes.rate >= 0.95,
            command,
            [note],
        ),
        Row("Refused requests (429)", refused, "requests", refusals, "0", refused == 0, command),
    ]


def idle(farm: Farm, work: Path, sizes: Sizes) -> list[Row]:
    """The daemon's CPU over an idle window with many future deliveries queued, and its memory."""
    farm.configure()
    data = work / "idle"
    store = fresh_store(data)
    bulk_queue(store, sizes.idle_queued, datetime.now(UTC) + timedelta(days=1), timedelta(days=30), "idle")
    with DaemonProcess(data, farm.env()) as daemon:
        daemon.wait_started(store)
        time.sleep(min(5.0, sizes.idle_window))  # start-up work (imports, first heartbeat) settles
        cpu = daemon.cpu_seconds()
        time.sleep(sizes.idle_window)
        cpu = daemon.cpu_seconds() - cpu
        memory = daemon.memory_kb()
    store.close()
    per_minute = cpu * 60 / sizes.idle_window

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.baseline", sqlite_path(store)],
        capture_output=True,
        check=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    base_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    base_rss = json.loads(out.stdout)["maxrss_kb"]
    command = CMD + "idle" + sizes.flags
    rss_mb = memory.get("VmRSS", 0) / 1024
    note = (
        f"idle: {sizes.idle_queued:,} deliveries queued for the coming month; CPU measured over "
        f"{sizes.idle_window:g} s after start-up; peak RSS (VmHWM) {memory.get('VmHWM', 0) / 1024:.1f} MB; "
        f"baseline: one cron run (a new Python process scanning the table) per minute"
    )
    return [
        Row(
            f"Idle CPU, {sizes.idle_queued:,} queued",
            per_minute,
            "CPU s per minute",
            base_cpu,
            "≤ 0.5",
            per_minute <= 0.5,
            command,
            [note],
        ),
        Row("Resident memory (VmRSS)", rss_mb, "MB", base_rss / 1024, "≤ 100", rss_mb <= 100, command),
    ]


def idle_history(farm: Farm, work: Path, sizes: Sizes) -> list[Row]:
    """Idle CPU as the history grows: 10^4, 10^5, 10^6 published deliveries under one idle daemon.

    Months of published posts must not make housekeeping (heartbeat counts, reaping, expiry) cost more.
    """
    farm.configure()
    data = work / "history"
    store = fresh_store(data)
    start = datetime.now(UTC) - timedelta(days=365)
    rows: list[Row] = []
    per_minute: list[float] = []
    have = 0
    command = CMD + "history" + sizes.flags
    for size in sizes.history:
        bulk_queue(store, size - have, start, timedelta(days=365), f"h{size}", state="published")
        have = size
        with DaemonProcess(data, farm.env()) as daemon:
            daemon.wait_started(store)
            time.sleep(min(5.0, sizes.idle_window))
            cpu = daemon.cpu_seconds()
            time.sleep(sizes.idle_window)
            cpu = daemon.cpu_seconds() - cpu
        per_minute.append(cpu * 60 / sizes.idle_window)
        rows.append(Row(f"Idle CPU, {size:,} published", per_minute[-1], "CPU s per minute", command=command))
    store.close()
    # CPU time is counted in clock ticks: with no tick at all in a window the ratio means nothing (NaN).
    spread = max(per_minute) / min(per_minute) if min(per_minute) > 0 else math.nan
    rows.append(
        Row(
            "Idle CPU, largest ÷ smallest history",
            spread,
            "×",
            None,
            "≤ 2",
            spread <= 2 if math.isfinite(spread) else None,
            command,
            [
                f"history: {', '.join(f'{s:,}' for s in sizes.history)} published deliveries (no queued work); "
                f"CPU over {sizes.idle_window:g} s each: {', '.join(f'{c:.3f}' for c in per_minute)} s per minute"
            ],
        )
    )
    return rows
