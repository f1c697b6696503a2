"""Taking metrics snapshots: which published deliveries are due, and asking each network in batches.

The schedule decays after publication (``PUBLISHER_METRICS__SCHEDULE``, default ``1h,1d,7d,30d``): a
delivery is due when a step has passed since it was published and no snapshot was taken since that step.
``publisher metrics collect --all`` takes one now for every delivery published in the last 30 days.

Publishing has priority on a target: a target that is held (paused, rate limited) or has a publishing lane
running, or deliveries due, is skipped this round and asked next time. A metrics failure never touches
publishing: a rate limit or a 5xx on a metrics call holds only the *metrics* of that target, in memory,
until the network's retry-after; the deliveries stay due and are asked next round. An auth error pauses
the target as publishing does (the token is broken for both). Metrics calls use their own adapters (own
HTTP sessions), so they never wait for a publishing call; each target's metrics calls are paced at its
``max_per_minute`` without sleeping (a call that would come too soon waits for the next round).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import UTC, datetime, timedelta

from publisher.adapters.base import Adapter
from publisher.errors import AccountError, ConfigurationError, PublishError, RateLimited
from publisher.metrics.heal import heal
from publisher.models import RemoteRef, Snapshot
from publisher.ops.alerts import Incident
from publisher.ops.incidents import IncidentSink, LogIncidents
from publisher.ops.redact import scrub
from publisher.settings import Settings
from publisher.store import MetricsRow, Store

log = logging.getLogger("publisher.metrics")

#: ``collect --all`` looks this far back.
RECENT = timedelta(days=30)
#: How long a metrics call waits after a failure without a retry-after (5xx, timeout).
FAILURE_HOLD = timedelta(minutes=5)


def due(rows: Sequence[MetricsRow], steps: Sequence[timedelta], now: datetime) -> list[MetricsRow]:
    """The deliveries whose latest passed step has no snapshot taken since it."""
    found = []
    for r in rows:
        if r.dry_run or not r.remote_id:
            continue
        age = now - r.published_at
        passed = [s for s in steps if s <= age]
        if not passed:
            continue
        step_at = r.published_at + max(passed)
        if r.snapshot is None or r.snapshot.taken_at < step_at:
            found.append(r)
    return found


@dataclass
class CollectStats:
    """What one round did: snapshots recorded, network calls made, targets skipped and why."""

    taken: int = 0
    unavailable: int = 0
    calls: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    corrected: int = 0  # remote ids looked up and corrected (``heal``)


@dataclass(eq=False, repr=False)
class Collector:
    """Takes the snapshots that are due (the daemon's metrics job and ``publisher metrics collect``)."""

    store: Store
    settings: Settings
    adapter_for: Callable[[str], Adapter]
    _: KW_ONLY
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    busy: Callable[[], set[str]] = set
    incidents: IncidentSink = field(default_factory=LogIncidents)
    yield_to_publishing: bool = True
    _held: dict[str, tuple[datetime, str]] = field(
        init=False, default_factory=dict
    )  # metrics-only holds, per target
    _last_call: dict[str, float] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def reconfigure(self, settings: Settings, adapter_for: Callable[[str], Adapter]) -> None:
        """After SIGHUP: new settings and fresh adapters (the old ones may still be in use)."""
        with self._lock:
            self.settings, self.adapter_for = settings, adapter_for

    def run(self, *, everything: bool = False) -> CollectStats:
        """One round: the due snapshots (``everything``: one for each delivery of the last 30 days)."""
        with self._lock:
            now = self.clock()
            window = max((*self.settings.metrics.steps, RECENT)) + timedelta(days=1)
            rows = self.store.metrics_rows(published_from=now - (RECENT if everything else window))
            if everything:
                chosen = [r for r in rows if r.remote_id and not r.dry_run]
            else:
                chosen = due(rows, self.settings.metrics.steps, now)
            stats = CollectStats()
            by_target: dict[str, list[MetricsRow]] = {}
            for r in chosen:
                by_target.setdefault(r.target, []).append(r)
            waiting = self.store.due_targets(now) | self.busy() if by_target else set()
            held = {h.target for h in self.store.holds(now)} if by_target else set()
            for target, members in sorted(by_target.items()):
                reason = self._skip_reason(target, now, waiting, held)
                if reason:
                    stats.skipped[target] = reason
                    continue
                self._collect_target(target, members, stats)
            if stats.taken or stats.skipped:
                log.info(
                    "metrics: %d snapshots (%d without figures), %d calls%s",
                    stats.taken,
                    stats.unavailable,
                    stats.calls,
                    "; skipped " + ", ".join(f"{t} ({why})" for t, why in stats.skipped.items())
                    if stats.skipped
                    else "",
                    extra={"event": "metrics_collected"},
                )
            return stats

    def _skip_reason(self, target: str, now: datetime, waiting: set[str], held_targets: set[str]) -> str:
        """Why this target's metrics wait for the next round ("" to go ahead)."""
        try:
            if self.settings.is_dry_run(target):
                return "dry run"
        except ConfigurationError:
            return "not configured"
        held = self._held.get(target)
        if held and held[0] > now:
            return f"metrics held until {held[0].isoformat(timespec='seconds')}: {held[1]}"
        if target in held_targets:
            return "target on hold"
        if target in waiting and self.yield_to_publishing:
            return "publishing first"
        return ""

    def _paced(self, target: str) -> bool:
        """True when a metrics call to ``target`` may go now (its ``max_per_minute``); never sleeps."""
        rate = self.settings.target(target).max_per_minute
        last = self._last_call.get(target)
        if rate and last is not None and time.monotonic() - last < 60.0 / rate:
            return False
        self._last_call[target] = time.monotonic()
        return True

    def _collect_target(self, target: str, rows: list[MetricsRow], stats: CollectStats) -> None:
        try:
            adapter = self.adapter_for(target)
        except ConfigurationError as exc:
            stats.skipped[target] = f"not configured: {exc}"
            return
        try:
            healing = heal(self.store, adapter, rows, self.clock)
        except AccountError as exc:
            self._pause(target, exc)
            stats.skipped[target] = f"paused: {exc}"
            return
        stats.corrected += healing.corrected
        now = self.clock()
        self._record(
            [r for r, _ in healing.unreadable],
            [Snapshot(r.remote_id or "", now, available=False, reason=why) for r, why in healing.unreadable],
            stats,
        )
        rows = healing.rows
        for start in range(0, len(rows), adapter.metrics_batch):
            batch = rows[start : start + adapter.metrics_batch]
            if not self._paced(target):
                stats.skipped[target] = "pacing: next round"
                return
            refs = [RemoteRef(r.remote_id or "", r.url) for r in batch]
            stats.calls += 1
            try:
                snapshots = adapter.fetch_metrics(refs)
            except AccountError as exc:
                self._pause(target, exc)
                stats.skipped[target] = f"paused: {exc}"
                return
            except PublishError as exc:
                self._hold(target, exc)
                stats.skipped[target] = f"held: {exc}"
                return
            self._record(batch, snapshots, stats)

    def _record(self, batch: list[MetricsRow], snapshots: list[Snapshot], stats: CollectStats) -> None:
        by_id = {s.remote_id: s for s in snapshots}
        now = self.clock()
        taken = []
        for r in batch:
            s = by_id.get(r.remote_id or "")
            if s is None:
                s = Snapshot(
                    r.remote_id or "", now, available=False, reason="the network did not return this post"
                )
            # The snapshot is stamped with our clock (the schedule's), not the adapter's.
            s = replace(s, taken_at=now)
            taken.append((r.delivery_id, s))
            stats.unavailable += 0 if s.available else 1
        stats.taken += self.store.record_snapshots(taken)

    def _hold(self, target: str, exc: PublishError) -> None:
        now = self.clock()
        wait = FAILURE_HOLD
        if isinstance(exc, RateLimited):
            if exc.reset_at is not None:
                wait = max(exc.reset_at - now, timedelta(seconds=1))
            elif exc.retry_after is not None:
                wait = timedelta(seconds=exc.retry_after)
        self._held[target] = (now + wait, scrub(str(exc)))
        log.warning(
            "metrics of %s held until %s (publishing goes on): %s",
            target,
            (now + wait).isoformat(timespec="seconds"),
            exc,
            extra={"event": "metrics_held", "target": target},
        )

    def _pause(self, target: str, exc: AccountError) -> None:
        message = f"metrics: {exc}"
        self.store.hold_target(target, message, self.clock())
        self.incidents.report(
            Incident(
                f"paused:{target}",
                "paused",
                f"{target} paused",
                f"{message}. Queued posts wait; after fixing it run: publisher resume {target}",
                target=target,
            )
        )
