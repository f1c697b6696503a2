"""Claim -> render -> publish -> record: lanes, pacing, leases and one attempt.

A failed attempt's outcome becomes a state change in ``outcomes`` (the one place that maps them); reaping,
expiry and in-doubt reconciliation are in ``housekeeping``; the lease heartbeat in ``leases``. ``Dispatcher``
puts them together.

Deliveries are grouped into *lanes*, one per target: a lane publishes its target's deliveries one after
another (gentle on each network's limits) while lanes of different targets run side by side on a thread
pool, so one post fans out to four networks at once and a slow network holds up only itself.

Order of commits for one attempt (see docs/operations.md):
1. ``claim_due`` commits ``publishing`` with an attempt id and a lease;
2. the post is rendered; ``mark_sending`` commits what will be sent (text, link, media names) just before
   the network call;
3. the adapter publishes; the result and the new state are committed together.
A crash between 1 and 2 leaves a claim that the reaper returns to the queue (nothing was sent); a crash
after 2 leaves one that becomes ``in_doubt`` and is reconciled, never re-sent blindly.

A published result (3) is queued rather than waited for: on SQLite it is committed in the same transaction
as the lane's next write — usually the next delivery's "sending" (2) — so a delivery costs one fsync, not
two. It is always durable before the lane's next network call (uploads included), before the lane waits
for a paced slot, and before the lane ends (``_settled``). A crash in that short window leaves the delivery
``sending``, as a crash during the network call does: in doubt, and reconciled.

Leases are short (``lease_seconds``, 30 s by default) and renewed by a heartbeat thread every third of a lease
while this process holds claims, so a slow network call keeps its claim while a dead process's claims are
reaped within a lease and a housekeeping round (about a minute), not after the longest call could last.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.adapters.http import last_request_started_at
from publisher.adapters.pool import AdapterPool
from publisher.compose.notices import missing_keys
from publisher.dispatch.crashpoints import crashpoint
from publisher.dispatch.housekeeping import HousekeepingMixin
from publisher.dispatch.leases import LeasesMixin
from publisher.dispatch.outcomes import DrainStats
from publisher.dispatch.retry import Action, Decision, RetryPolicy
from publisher.errors import ConfigurationError, InputError, UploadInterrupted
from publisher.models import Post, Rendered, SentPost
from publisher.ops.incidents import IncidentSink, LogIncidents
from publisher.ops.redact import scrub
from publisher.settings import Settings
from publisher.store import Claim, Store
from publisher.store.media import MediaStorage, media_storage

log = logging.getLogger("publisher.dispatch.dispatcher")

Renderer = Callable[[Post, str], Rendered]


def utcnow() -> datetime:
    return datetime.now(UTC)


#: a lane holds its claims for a paced target at most this long before giving them back
PACE_HOLD_LIMIT = 300.0
#: a paced request is prepared (written, committed as sending) up to this long before its slot
PREPARE_AHEAD = 0.25
#: a paced request that left more than this after its slot moves the shared schedule on (``delay_slots``)
LATE_DEPARTURE = 0.005


class Dispatcher(LeasesMixin, HousekeepingMixin):
    """Publishes due deliveries. Thread-safe; ``drain`` never blocks on the network."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        renderer: Renderer,
        *,
        adapters: AdapterPool | None = None,
        policy: RetryPolicy | None = None,
        incidents: IncidentSink | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        on_lane_done: Callable[[], None] | None = None,
        media: MediaStorage | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.renderer = renderer
        self.adapters = adapters or AdapterPool(settings)
        self.media = media or media_storage(settings, store)
        self.policy = policy or RetryPolicy.from_settings(settings)
        self.incidents: IncidentSink = incidents or LogIncidents()
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.on_lane_done = on_lane_done
        self.stats = DrainStats()
        self._busy: set[str] = set()
        self._held: dict[str, int] = {}  # attempt id -> delivery id of every claim this process holds
        self._unrenewed: set[str] = set()  # held attempts the last heartbeat could not renew
        self._renewer: threading.Thread | None = None
        self._closed = threading.Event()
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="lane")

    def reconfigure(self, settings: Settings) -> None:
        """Apply reloaded settings: retry rules, timeouts, tokens (adapters are rebuilt on next use)."""
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.adapters.reset(settings)

    # --- draining --------------------------------------------------------------------------------

    def drain(self) -> int:
        """Claim what is due for targets without a running lane and start their lanes. Returns claims."""
        if self._stopping.is_set():
            return 0
        # One drain at a time (the scheduler's timed and periodic drains may fire together): a second
        # drain must see the lanes the first one started, or one target could get two lanes.
        with self._drain_lock:
            with self._lock:
                busy = set(self._busy)
            claims = self.store.claim_due(
                self.clock(),
                worker=self.worker_id,
                lease_seconds=self.settings.lease_seconds,
                limit=self.settings.drain_batch,
                exclude_targets=busy,
            )
            lanes: dict[str, list[Claim]] = defaultdict(list)
            for claim in claims:
                lanes[claim.delivery.target].append(claim)
            with self._lock:
                self.stats.claimed += len(claims)
                self._held.update({c.delivery.attempt_id or "": c.delivery.id for c in claims})
                for target, group in lanes.items():
                    self._busy.add(target)
                    future = self._pool.submit(self._lane, target, group)
                    self._futures.add(future)
                    future.add_done_callback(self._futures.discard)
            if claims:
                self._start_renewer()
            return len(claims)

    def run_until_idle(self, timeout: float = 300.0) -> DrainStats:
        """Drain repeatedly until nothing is due now and no lane runs (``publisher run --once``, tests).

        Like the daemon, it drains again as soon as any lane ends (that target is free again), rather than
        waiting for the slowest lane of a batch while the others' targets sit idle.
        """
        deadline = self.clock() + timedelta(seconds=timeout)
        while True:
            with self._lock:
                skipped = bool(self._busy)  # targets the drain leaves out: their lanes run
            started = self.drain()
            with self._lock:
                running = [f for f in self._futures if not f.done()]
            # Idle only when a drain that left no target out found nothing: a lane that ended during the
            # drain may leave its target's next delivery due.
            if not running and started == 0 and not skipped:
                return self.stats
            if self._stopping.is_set() or self.clock() > deadline:
                self.wait_idle()
                return self.stats
            if running:
                wait(running, return_when=FIRST_COMPLETED)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the running lanes; True when none is left."""
        with self._lock:
            pending = list(self._futures)
        for future in pending:
            try:
                future.result(timeout=timeout)
            except TimeoutError:
                return False
            except Exception:  # a lane's own errors are logged inside it
                pass
        with self._lock:
            return not self._futures

    def busy_targets(self) -> set[str]:
        with self._lock:
            return set(self._busy)

    def stop(self, timeout: float) -> bool:
        """Stop claiming, let lanes finish their current network call, release the rest. True if clean."""
        self._stopping.set()
        clean = self.wait_idle(timeout)
        self._pool.shutdown(wait=clean, cancel_futures=True)
        self._closed.set()
        return clean

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _lane(self, target: str, claims: list[Claim]) -> None:
        unsettled: _Unsettled | None = None  # the last result, queued to commit with the next write
        try:
            rate = self._rate(target)  # once a lane: a reload applies to the target's next lane
            for index, claim in enumerate(claims):
                if unsettled is not None and rate:
                    self._settled(unsettled)  # before waiting for the slot
                go, slot = self._pace(target, rate)
                if not go or self._stopping.is_set():
                    self._settled(unsettled)
                    reason = (
                        "the service is stopping"
                        if self._stopping.is_set()
                        else "pacing: the next slot is far off or the target is on hold"
                    )
                    self._release(claims[index:], reason)
                    return
                held, unsettled = self._attempt(claim, slot, unsettled)
                if unsettled is None:
                    self._forget([claim.delivery.attempt_id or ""])
                if held:
                    self._release(claims[index + 1 :], f"target {target} is on hold")
                    return
            self._settled(unsettled)
        except Exception:
            log.exception("lane for %s crashed", target, extra={"event": "lane_crashed", "target": target})
        finally:
            self._forget([c.delivery.attempt_id or "" for c in claims])
            with self._lock:
                self._busy.discard(target)
            if self.on_lane_done and not self._stopping.is_set():
                self.on_lane_done()

    def _rate(self, target: str) -> float | None:
        """The target's pace (requests per minute), or None when it is not paced (or sends nothing)."""
        try:
            if self.settings.is_dry_run(target):
                return None  # nothing reaches the network: nothing to pace
            return self.settings.target(target).max_per_minute or None
        except ConfigurationError:
            return None

    def _pace(self, target: str, rate: float | None) -> tuple[bool, datetime | None]:
        """Wait until just before the target's next free slot (``rate`` a minute): (go ahead, the slot).

        Publishing at the documented pace avoids learning the limit from refusals. The slot is taken from
        the database (``Store.take_slot``), so every daemon on the queue shares one pace per target. The wait
        is on the stop event, so SIGTERM is not delayed; a slot further off than ``PACE_HOLD_LIMIT``, or a
        target put on hold (by any daemon), releases the claims.
        """
        if not rate:
            return True, None
        # Real time, not ``self.clock``: the pace is shared with daemons on other hosts.
        slot = self.store.take_slot(target, utcnow(), 60.0 / rate, PACE_HOLD_LIMIT)
        if slot is None:
            return False, None
        # Wake a little before the slot (one interval, a quarter of a second at most): the text is written
        # and committed as sending meanwhile, and ``process`` sends at the slot itself. Sent after that
        # work instead, requests left late by a varying amount, and two of them could meet in one of the
        # network's rate windows.
        wait = (slot - utcnow()).total_seconds() - min(60.0 / rate, PREPARE_AHEAD)
        return wait <= 0 or not self._stopping.wait(wait), slot

    def _departed(self, target: str, slot: datetime | None, leaving: float) -> None:
        """After a paced call: when its request left late, every free slot of the target moves as late.

        Departure is the later of "about to call the adapter" and the last request this thread handed to a
        connection during the call (uploads come before ``leaving``). Late by more than ``LATE_DEPARTURE``
        (a garbage collection, the first connection), the shared schedule moves on by that much
        (``Store.delay_slots``), so a late request and the on-time ones after it never come closer than the
        configured pace in the network's rate window.
        """
        if slot is None:
            return
        started = last_request_started_at()
        departed = max(leaving, started) if started is not None else leaving
        late = departed - slot.timestamp()
        if late > LATE_DEPARTURE:
            self.store.delay_slots(target, timedelta(seconds=late))

    def _release(self, claims: list[Claim], reason: str) -> None:
        for claim in claims:
            d = claim.delivery
            if self.store.release(d.id, d.attempt_id or "", self.clock(), reason):
                self._count("released")
        self._forget([c.delivery.attempt_id or "" for c in claims])

    # --- one attempt -----------------------------------------------------------------------------

    def process(self, claim: Claim, *, slot: datetime | None = None) -> bool:
        """Publish one claimed delivery and record the outcome. Returns True when its target went on hold.

        ``slot`` is the paced request slot taken for it, kept in the publish log.
        """
        held, unsettled = self._attempt(claim, slot, None)
        self._settled(unsettled)
        return held

    def _settled(self, unsettled: _Unsettled | None) -> None:
        """Wait until a queued result is committed (committing it if nothing has), then count and log it."""
        if unsettled is None or unsettled.done:
            return
        unsettled.done = True
        recorded = unsettled.settle()
        crashpoint("after_record")
        self._forget([unsettled.attempt])
        ids = unsettled.ids
        if not recorded:
            log.warning(
                "published, but the result was not recorded: the delivery moved on after its lease was reaped",
                extra={"event": "claim_lost", **ids},
            )
            return
        self._count("published")
        if log.isEnabledFor(logging.INFO):
            log.info(
                "published %s", unsettled.where, extra={"event": "published", "state": "published", **ids}
            )

    def _attempt(
        self, claim: Claim, slot: datetime | None, previous: _Unsettled | None
    ) -> tuple[bool, _Unsettled | None]:
        """``process``, leaving a published result queued (``_Unsettled``) for the lane to settle.

        ``previous``, the lane's last result still queued, is settled before this attempt's network call:
        its "sending" commit carries it, or it is committed first when there are uploads to make.
        """
        try:
            return self._attempt_one(claim, slot, previous)
        finally:
            self._settled(previous)

    def _attempt_one(
        self, claim: Claim, slot: datetime | None, previous: _Unsettled | None
    ) -> tuple[bool, _Unsettled | None]:
        d, post = claim.delivery, claim.post
        attempt = d.attempt_id or ""
        ids = {"target": d.target, "post": d.post_id, "delivery": d.id, "attempt": d.attempts}
        crashpoint("after_claim")
        try:
            rendered = self.renderer(post, d.target)
            if rendered.media:  # loaded now, before anything is committed as sent
                loaded = tuple(self.media.load(m, post.source_name) for m in rendered.media)
                rendered = replace(rendered, media=loaded)
        except InputError as exc:
            decision = Decision(Action.FAIL, f"cannot be written for {d.target}: {exc}")
            return self._apply(claim, decision, exc), None
        missing = missing_keys(rendered.warnings)
        if missing:
            return self._missing_keys(claim, missing), None
        try:
            adapter = self.adapters.get(d.target)
        except ConfigurationError as exc:
            return self._apply(claim, Decision(Action.PAUSE_TARGET, str(exc), burn_attempt=False), exc), None
        dry_run = self.settings.is_dry_run(d.target)
        if rendered.media:
            self._settled(previous)  # uploads are network calls too (and may take a while)
        try:  # the uploads, before anything is committed as sent: nothing here can have published the post
            prepared = adapter.prepare(rendered, self._stopping)
        except UploadInterrupted as exc:
            self._release([claim], str(exc))
            return False, None
        except Exception as exc:
            decision = self.policy.decide(
                exc, attempts=d.attempts, now=self.clock(), expires_at=post.expires_at, sent=False
            )
            return self._apply(claim, decision, exc), None
        sending = self.store.mark_sending(d.id, attempt, self.clock(), SentPost.of(rendered))
        self._settled(previous)  # committed with "sending" or before it (writes commit in queue order)
        if not sending:
            log.warning("claim lost before sending", extra={"event": "claim_lost", **ids})
            return False, None
        if slot is not None and (early := (slot - utcnow()).total_seconds()) > 0:
            time.sleep(early)  # prepared ahead (see _pace): the request leaves at its slot, never before
        if log.isEnabledFor(logging.INFO):  # the record's arguments cost more than the check when it is off
            log.info("publishing to %s", adapter.describe(), extra={"event": "publish_start", **ids})
        crashpoint("before_send")
        leaving = time.time()
        try:
            result = adapter.publish(rendered, d.idempotency_key, prepared)
        except Exception as exc:
            self._departed(d.target, slot, leaving)
            crashpoint("after_send")
            decision = self.policy.decide(
                exc,
                attempts=d.attempts,
                now=self.clock(),
                expires_at=post.expires_at,
                deduplicates=self._may_resend(adapter, d.id),
                sent=True,
            )
            return self._apply(claim, decision, exc), None
        self._departed(d.target, slot, leaving)
        detail: dict[str, Any] = {
            "attempt": d.attempts,
            "text": rendered.text,
            "length": rendered.length,
            "limit": rendered.limit,
            "warnings": [w.as_dict() for w in rendered.warnings],
            "excerpt": scrub(result.excerpt),
        }
        if dry_run:
            detail["dry_run"] = True
        if slot is not None:
            detail["slot"] = slot.isoformat()
        if result.remote_ids:
            detail["remote_ids"] = list(result.remote_ids)
        crashpoint("after_send")
        settle = self.store.record_published_later(d.id, attempt, result, self.clock(), detail)
        return False, _Unsettled(settle, attempt, ids, result.url or result.remote_id)


class _Unsettled:
    """A published delivery whose result is queued to commit with the lane's next write (``_settled``)."""

    __slots__ = ("attempt", "done", "ids", "settle", "where")

    def __init__(self, settle: Callable[[], bool], attempt: str, ids: dict[str, Any], where: str) -> None:
        self.settle = settle
        self.attempt = attempt
        self.ids = ids
        self.where = where
        self.done = False
