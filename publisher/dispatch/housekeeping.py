"""Housekeeping between attempts: claims of dead processes, deliveries past their expiry, and in-doubt
deliveries looked up on their network.

A claim whose lease ran out was either never sent (back to the queue) or may have been (in doubt). An in-doubt
delivery is never re-sent blindly: ``reconcile`` asks the network for exactly what was sent, and only a post
that is certainly absent (or a network that drops repeats of the same idempotency key) goes back to the queue.
"""

from __future__ import annotations

import logging

from publisher.adapters.base import Adapter
from publisher.adapters.pool import AdapterPool
from publisher.dispatch.outcomes import OutcomesMixin
from publisher.dispatch.retry import RetryPolicy
from publisher.errors import PublisherError
from publisher.models import DeliveryState, ReconcileStatus, SentPost
from publisher.ops.redact import scrub

# The dispatcher's log: operators see the same logger name as before the split.
log = logging.getLogger("publisher.dispatch.dispatcher")


class HousekeepingMixin(OutcomesMixin):
    """Reaping, expiry and reconciliation; ``Dispatcher`` provides the attributes below."""

    adapters: AdapterPool
    policy: RetryPolicy

    def reap(self) -> int:
        """Settle claims whose holder died and fail what expired. Returns how many changed."""
        now = self.clock()
        reaped = self.store.reap_expired_leases(now, reconcile_at=self.policy.after_reap(now))
        for d in reaped:
            if d.state is DeliveryState.IN_DOUBT:
                self._incident(
                    "in_doubt",
                    d,
                    f"delivery {d.id} to {d.target} is in doubt",
                    f"the publishing process stopped during the network call. Run: publisher resolve {d.id} ...",
                )
        expired = self.store.expire_overdue(now)
        for d in expired:
            self._incident(
                "failed",
                d,
                f"delivery {d.id} to {d.target} expired",
                d.last_error or "expired",
            )
        return len(reaped) + len(expired)

    def reconcile(self) -> int:
        """Ask the networks about in-doubt deliveries whose check is due. Returns how many were settled."""
        settled = 0
        now = self.clock()
        for claim in self.store.in_doubt_due(now):
            d = claim.delivery
            try:
                adapter = self.adapters.get(d.target)
            except PublisherError:
                continue
            if self._may_resend(adapter, d.id):
                # Re-sending with the same idempotency key cannot make a second post on this network.
                if self.store.settle_in_doubt(
                    d.id, now, attempt_id=d.attempt_id, requeue=True, note="network deduplicates by key"
                ):
                    settled += 1
                continue
            started = d.sending_at or d.attempt_started_at or d.updated_at
            try:
                answer = adapter.reconcile(d.sent or SentPost(d.rendered_text or ""), started)
            except Exception as exc:  # a failed lookup is simply "unknown"
                answer_status, detail, ref = ReconcileStatus.UNKNOWN, scrub(str(exc)), None
            else:
                answer_status, detail, ref = answer.status, answer.detail, answer.ref
            if answer_status is ReconcileStatus.FOUND and ref is not None:
                done = self.store.settle_in_doubt(d.id, now, attempt_id=d.attempt_id, found=ref, note=detail)
            elif answer_status is ReconcileStatus.ABSENT:
                done = self.store.settle_in_doubt(
                    d.id,
                    now,
                    attempt_id=d.attempt_id,
                    requeue=True,
                    note=detail or "not found on the network",
                )
            else:
                next_check = self.policy.next_check(self._checks(d.id) + 1, now)
                self.store.settle_in_doubt(
                    d.id, now, attempt_id=d.attempt_id, next_check=next_check, note=detail
                )
                done = False
            if done:
                settled += 1
                log.info(
                    "in-doubt delivery settled: %s",
                    answer_status.value,
                    extra={"event": "reconciled", "delivery": d.id},
                )
        return settled

    def _may_resend(self, adapter: Adapter, delivery_id: int) -> bool:
        """True when the network would drop a repeat of every earlier send of this delivery."""
        if not adapter.deduplicates:
            return False
        if adapter.dedup_window_seconds is None:
            return True
        sends = self.store.events(delivery_id=delivery_id, status="publishing", limit=None)
        if not sends:
            return True
        first = sends[0].time
        return (self.clock() - first).total_seconds() < adapter.dedup_window_seconds

    def _checks(self, delivery_id: int) -> int:
        return len(self.store.events(delivery_id=delivery_id, status="in_doubt_checked"))
