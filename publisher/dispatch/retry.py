"""Retry policy: one object that turns a failed attempt into a decision, so the rules live in one place.

The dispatcher asks ``decide`` after a failed attempt, ``after_reap`` when a dead process's claim became in
doubt, and ``next_check`` after a lookup that could not tell; it applies the answers. Nothing else in the
service chooses when to retry or to look a post up again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from publisher.errors import (
    AccountError,
    ConfigurationError,
    InDoubtError,
    InputError,
    PermanentError,
    RateLimited,
    TransientError,
)
from publisher.settings import Settings


class Action(StrEnum):
    RETRY = "retry"  # back to the queue at not_before
    HOLD_TARGET = "hold_target"  # rate limited: the whole target waits until not_before
    PAUSE_TARGET = "pause_target"  # auth or configuration: the target waits for an operator
    FAIL = "fail"  # permanent, exhausted or expired
    IN_DOUBT = "in_doubt"  # may have been applied: never re-sent blindly


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    not_before: datetime | None = None
    burn_attempt: bool = True


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by the post's expiry.

    ``backoff(n)`` is ``base * 2**(n-1)`` capped at ``max_seconds``, then scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` so that many deliveries failing together do not retry in step.
    """

    max_attempts: int = 8
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    jitter: float = 0.2
    default_rate_limit_wait: float = 60.0
    #: wait before looking up a post whose attempt ended in doubt (it may take a moment to appear)
    reconcile_delay: float = 15.0
    #: lookups that could not tell before the delivery is left to the operator
    max_checks: int = 10
    #: the n-th inconclusive lookup is followed by another after n times this
    check_backoff_seconds: float = 300.0
    rng: Callable[[], float] = field(default=random.random, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the operator configured (``PUBLISHER_MAX_ATTEMPTS``, ``PUBLISHER_RETRY_*``, ...)."""
        return cls(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            reconcile_delay=settings.reconcile_delay_seconds,
        )

    def backoff(self, attempts: int) -> float:
        raw = min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        factor = 1 + self.jitter * (2 * float(self.rng()) - 1)
        return max(1.0, raw * factor)

    def after_reap(self, now: datetime) -> datetime:
        """When to look up a claim reaped in doubt: at once, since its lease already outlived the call."""
        return now

    def next_check(self, checks_done: int, now: datetime) -> datetime | None:
        """When to look an in-doubt post up again after ``checks_done`` inconclusive lookups; None: stop."""
        if checks_done >= self.max_checks:
            return None
        return now + timedelta(seconds=self.check_backoff_seconds * checks_done)

    def decide(
        self,
        error: BaseException,
        *,
        attempts: int,
        now: datetime,
        expires_at: datetime | None,
        deduplicates: bool = False,
        sent: bool = True,
    ) -> Decision:
        """What to do after attempt number ``attempts`` failed with ``error``.

        ``sent`` is False when the failure happened before the network call began (then even an
        unexpected error cannot have published anything). Most specific class first.
        """
        reason = str(error) or type(error).__name__
        if isinstance(error, RateLimited):
            wait = error.retry_after
            if wait is None and error.reset_at is not None:
                wait = (error.reset_at - now).total_seconds()
            until = now + timedelta(
                seconds=max(1.0, wait if wait is not None else self.default_rate_limit_wait)
            )
            if expires_at is not None and until > expires_at:
                return Decision(Action.FAIL, f"rate limited until after the post expires: {reason}")
            return Decision(Action.HOLD_TARGET, reason, until, burn_attempt=False)
        if isinstance(error, TransientError):
            return self._retry_or_fail(reason, attempts, now, expires_at)
        if isinstance(error, AccountError | ConfigurationError):
            return Decision(Action.PAUSE_TARGET, reason, burn_attempt=False)
        if isinstance(error, PermanentError | InputError):
            return Decision(Action.FAIL, reason)
        if isinstance(error, InDoubtError) or sent:
            if deduplicates:
                # The network drops a repeat with the same idempotency key: re-sending is safe.
                return self._retry_or_fail(reason, attempts, now, expires_at)
            return Decision(Action.IN_DOUBT, reason, now + timedelta(seconds=self.reconcile_delay))
        # An unexpected error before anything was sent: a bug or a broken environment, not the network.
        return self._retry_or_fail(f"internal error before sending: {reason}", attempts, now, expires_at)

    def _retry_or_fail(
        self, reason: str, attempts: int, now: datetime, expires_at: datetime | None
    ) -> Decision:
        if attempts >= self.max_attempts:
            return Decision(Action.FAIL, f"gave up after {attempts} attempts; last error: {reason}")
        not_before = now + timedelta(seconds=self.backoff(attempts))
        if expires_at is not None and not_before > expires_at:
            return Decision(
                Action.FAIL, f"the next attempt would come after the post expires; last error: {reason}"
            )
        return Decision(Action.RETRY, reason, not_before)
