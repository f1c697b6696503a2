"""Several daemons on one PostgreSQL queue (issue 12): throughput, duplicates, losses and the shared pace.

Each daemon is ``python -m publisher run`` in a process of its own, with its own data folder, all pointed at
one fresh PostgreSQL schema and at the farm's fakes. The work is queued for later first, the daemons are
started and seen alive (heartbeats), then everything is made due at one instant: what is measured is from
that instant to the last request the fakes accepted, so start-up (imports) is not in the figure.

The PostgreSQL server comes from ``--postgres URL``, else ``PUBLISHER_BENCH_POSTGRES_URL`` or
``PUBLISHER_TEST_POSTGRES_URL``; without one the scenarios report nothing and say why.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, update

from benchmarks.farm import Arrival, Farm
from benchmarks.pipeline import NETWORKS, DaemonProcess, make_post
from benchmarks.report import Row, Sizes
from benchmarks.scenarios import CMD
from publisher.models import DeliveryState
from publisher.store import Store
from publisher.store.schema import deliveries

DAEMONS = (1, 2, 4)
FAR = timedelta(days=7)


def postgres_base() -> str | None:
    return os.environ.get("PUBLISHER_BENCH_POSTGRES_URL") or os.environ.get("PUBLISHER_TEST_POSTGRES_URL")


@contextlib.contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    name = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


def _run_daemons(
    farm: Farm, work: Path, url: str, count: int, env: dict[str, str], expected: int, timeout: float
) -> tuple[datetime, list[Arrival], Store]:
    """Start ``count`` daemons, make the queued work due, collect arrivals until ``expected`` were accepted."""
    store = Store(url, migrate=False)
    daemons = [DaemonProcess(_fresh_dir(work / f"daemon-{i}"), env) for i in range(count)]
    found: list[Arrival] = []
    with contextlib.ExitStack() as stack:
        for daemon in daemons:
            stack.enter_context(daemon)
        for daemon in daemons:
            daemon.wait_started(store, timeout=120)
        farm.arrivals()
        due = datetime.now(UTC) + timedelta(seconds=2)
        with store.engine.begin() as conn:
            conn.execute(update(deliveries).values(due_at=due, next_at=due))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sum(a.accepted for a in found) < expected:
            time.sleep(0.2)
            found += farm.arrivals()
        time.sleep(1.0)  # a duplicate would arrive late: give it a moment
        found += farm.arrivals()
    return due, found, store


def _fresh_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _settled_env(farm: Farm, url: str) -> dict[str, str]:
    return {
        **farm.env(),
        "PUBLISHER_DATABASE_URL": url,
        # Wake often, so the instant everything falls due is noticed at once (the daemon reschedules its
        # drain at each housekeeping run).
        "PUBLISHER_HOUSEKEEPING_INTERVAL": "0.5",
    }


def several_daemons(farm: Farm, work: Path, sizes: Sizes) -> list[Row]:
    """1, 2 and 4 daemons on one PostgreSQL queue: deliveries per second, duplicates and losses."""
    base = postgres_base()
    command = CMD + "daemons" + sizes.flags
    if not base:
        return [_skipped("Several daemons on PostgreSQL", command)]
    farm.configure()
    n = sizes.multi - sizes.multi % len(NETWORKS)
    rows: list[Row] = []
    for count in DAEMONS:
        with pg_schema(base) as url:
            store = Store(url)
            later = datetime.now(UTC) + FAR
            now = datetime.now(UTC)
            for i in range(n // len(NETWORKS)):
                store.add_post(make_post(f"md{count}", i, NETWORKS, later), now)
            store.close()
            due, arrivals, store = _run_daemons(
                farm, work / f"daemons-{count}", url, count, _settled_env(farm, url), n, 600
            )
            published = store.counts_by_state().get(DeliveryState.PUBLISHED.value, 0)
            workers = Counter(e.detail.get("worker", "") for e in store.events(status="publishing"))
            store.close()
        accepted = [a for a in arrivals if a.accepted]
        markers = Counter((a.network, a.marker) for a in accepted)
        duplicates = sum(c - 1 for c in markers.values())
        lost = n - len(markers)
        last = max((a.time for a in accepted), default=due.timestamp())
        rate = len(markers) / max(last - due.timestamp(), 1e-9)
        share = ", ".join(f"{c}" for c in sorted(workers.values(), reverse=True))
        rows.append(
            Row(
                f"{count} daemon{'s' if count > 1 else ''} on PostgreSQL, {n:,} deliveries",
                rate,
                "deliveries/s",
                command=command,
                notes=[
                    f"daemons: {count} on PostgreSQL, {n:,} deliveries: {rate:.0f}/s from due to the last "
                    f"accepted request, {duplicates} duplicated, {lost} lost, {published:,} recorded "
                    f"published; claims per daemon {share}"
                ],
            )
        )
        rows.append(
            Row(
                "  duplicated / lost",
                duplicates + lost,
                "deliveries",
                None,
                "0",
                duplicates + lost == 0,
                command,
            )
        )
    return rows


def shared_pace(farm: Farm, work: Path, sizes: Sizes) -> list[Row]:
    """1, 2 and 4 daemons publishing to one rate-limited Telegram: the total rate against the configured."""
    base = postgres_base()
    command = CMD + "pace" + sizes.flags
    if not base:
        return [_skipped("Shared pacing across daemons", command)]
    farm.configure(rate=sizes.rate)
    m = sizes.rate_messages
    configured = sizes.rate * 0.97  # the documented pace with the same 3 % margin as the one-daemon run
    rows: list[Row] = []
    for count in DAEMONS:
        with pg_schema(base) as url:
            store = Store(url)
            later = datetime.now(UTC) + FAR
            now = datetime.now(UTC)
            for i in range(m):
                store.add_post(make_post(f"sp{count}", i, ("telegram",), later), now)
            store.close()
            env = {**_settled_env(farm, url), "PUBLISHER_TELEGRAM__MAX_PER_MINUTE": str(configured * 60)}
            _due, arrivals, store = _run_daemons(
                farm, work / f"pace-{count}", url, count, env, m, m / configured * 4 + 60
            )
            store.close()
        accepted = sorted(a.time for a in arrivals if a.accepted)
        refused = sum(1 for a in arrivals if not a.accepted)
        # m requests evenly paced take (m - 1) intervals from the first to the last.
        achieved = (len(accepted) - 1) / (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0
        ratio = achieved / configured
        rows.append(
            Row(
                f"Shared pace, {count} daemon{'s' if count > 1 else ''}: total rate at the fake",
                ratio,
                "÷ configured rate",
                None,
                "0.95–1.05",
                0.95 <= ratio <= 1.05 and refused == 0,
                command,
                [
                    f"pace: {count} daemon(s), {m} messages to a Telegram fake allowing {sizes.rate}/s, each "
                    f"daemon configured at {configured * 60:.0f}/min: {achieved:.2f}/s together, "
                    f"{len(accepted)} accepted, {refused} refused (429)"
                ],
            )
        )
    farm.configure()
    return rows


def _skipped(figure: str, command: str) -> Row:
    return Row(
        figure,
        float("nan"),
        "skipped",
        command=command,
        notes=[f"{figure}: skipped, no PostgreSQL (set PUBLISHER_BENCH_POSTGRES_URL or --postgres URL)"],
    )
