"""The one place that maps the outcome of a failed attempt to a state change, and counts every outcome.

``Dispatcher.process`` publishes; when the attempt fails, the retry policy turns the error into a ``Decision``
and ``_apply`` records it: retry later, hold or pause the target, fail the delivery, or mark it in doubt. Each
change is one store transaction; what needs a person (a paused target, a failed or in-doubt delivery) is
reported once as an incident, with the command that settles it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.dispatch.retry import Action, Decision
from publisher.errors import InputError
from publisher.models import Delivery
from publisher.ops.alerts import Incident, IncidentKind
from publisher.ops.incidents import IncidentSink
from publisher.ops.redact import scrub
from publisher.store import Claim, Store

# The dispatcher's log: operators see the same logger name as before the split.
log = logging.getLogger("publisher.dispatch.dispatcher")


@dataclass
class DrainStats:
    """What the dispatcher did since it started (``run --once`` prints it); updated under the lock."""

    claimed: int = 0
    published: int = 0
    retried: int = 0
    failed: int = 0
    in_doubt: int = 0
    released: int = 0


class OutcomesMixin:
    """Recording what an attempt came to; ``Dispatcher`` provides the attributes below."""

    store: Store
    incidents: IncidentSink
    clock: Callable[[], datetime]
    stats: DrainStats
    _lock: threading.Lock

    def _count(self, outcome: str) -> None:
        """Count an outcome in ``stats``: lanes run on several threads, so under the lock."""
        with self._lock:
            setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)

    def _missing_keys(self, claim: Claim, keys: list[str]) -> bool:
        """Fail a delivery whose post mentions directory keys that were removed while it waited.

        Publishing would put a literal ``@key`` in public (perhaps a stranger's account), so nothing is sent.
        The reason names the keys and both fixes; ``missing_keys`` in the publish log lets the editors' chat
        tell the editor in their language. Nothing was sent, so ``publisher retry`` is safe after the fix.
        """
        d, post = claim.delivery, claim.post
        mentions = ", ".join(f"@{k}" for k in keys)
        problem = f"mentions {mentions}, no longer in the directory (removed while the post waited)"
        fix = (
            "restore the key in the directory, or edit the post without it and drop the file again "
            "with the same id"
        )
        error = InputError(post.source_name, "text", problem, fix)
        reason = f"not published to {d.target}, so that {mentions} does not appear as written: {error}"
        return self._apply(claim, Decision(Action.FAIL, reason), error, {"missing_keys": keys})

    def _apply(
        self,
        claim: Claim,
        decision: Decision,
        error: BaseException,
        facts: dict[str, Any] | None = None,
    ) -> bool:
        """Record a failed attempt's decision (``facts`` go into the publish log as they are). Returns True
        when the target went on hold."""
        d, post = claim.delivery, claim.post
        attempt = d.attempt_id or ""
        now = self.clock()
        message = scrub(decision.reason)
        kind = type(error).__name__
        detail: dict[str, Any] = {"attempt": d.attempts, "error_class": kind, **(facts or {})}
        status = getattr(error, "status", None)
        if status is not None:
            detail["http_status"] = status
        excerpt = getattr(error, "excerpt", "")
        if excerpt:
            detail["excerpt"] = scrub(excerpt)
        ids = {"target": d.target, "post": d.post_id, "delivery": d.id, "attempt": d.attempts}
        if decision.action is Action.RETRY:
            assert decision.not_before is not None
            self.store.record_retry(
                d.id,
                attempt,
                now,
                not_before=decision.not_before,
                error=message,
                burn_attempt=True,
                detail=detail,
            )
            self._count("retried")
            log.warning(
                "will retry at %s: %s",
                decision.not_before.isoformat(),
                message,
                extra={"event": "retry_wait", **ids},
            )
            return False
        if decision.action is Action.HOLD_TARGET:
            assert decision.not_before is not None
            self.store.hold_target(d.target, message, now, until=decision.not_before)
            # The hold keeps the whole target waiting; the delivery keeps its place in the queue so that
            # posts still go out in their order once the hold ends.
            self.store.record_retry(
                d.id,
                attempt,
                now,
                not_before=min(d.not_before or d.due_at, decision.not_before),
                error=message,
                burn_attempt=False,
                status="rate_limited",
                detail=detail,
            )
            self._count("retried")
            log.warning(
                "rate limited until %s",
                decision.not_before.isoformat(),
                extra={"event": "rate_limited", **ids},
            )
            return True
        if decision.action is Action.PAUSE_TARGET:
            self.store.hold_target(d.target, message, now)
            self.store.release(d.id, attempt, now, f"target paused: {message}", error=message)
            self._count("released")
            self._incident(
                "paused",
                d,
                f"{d.target} paused",
                f"{message}. Queued posts wait; after fixing it run: publisher resume {d.target}",
            )
            return True
        if decision.action is Action.FAIL:
            self.store.record_failed(d.id, attempt, now, message, detail)
            self._count("failed")
            self._incident(
                "failed",
                d,
                f"delivery {d.id} to {d.target} failed",
                f"post {d.post_id} ({post.source_name}): {message}. Fix and run: publisher retry {d.id}",
            )
            return False
        # IN_DOUBT
        self.store.record_in_doubt(
            d.id, attempt, now, message, reconcile_at=decision.not_before, detail=detail
        )
        self._count("in_doubt")
        self._incident(
            "in_doubt",
            d,
            f"delivery {d.id} to {d.target} is in doubt",
            f"post {d.post_id} ({post.source_name}) may or may not be published: {message}. "
            f"Check the account: if it is there, run publisher resolve {d.id} --published-as URL; "
            f"if not, publisher retry {d.id} --yes (or resolve {d.id} --not-published to drop it)",
        )
        return False

    def _incident(self, kind: IncidentKind, d: Delivery, title: str, text: str) -> None:
        """Report once per incident: a paused target is one incident, a failed delivery is one each."""
        key = f"{kind}:{d.target}" if kind == "paused" else f"{kind}:{d.id}"
        self.incidents.report(Incident(key, kind, title, text, d.target, d.post_id, d.id))
