"""Lease heartbeat: while this process holds claims, a thread renews their leases every third of a lease.

So a slow network call keeps its claim, while a dead process's claims are reaped within a lease and a
housekeeping round (see ``publisher.dispatch.dispatcher``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from publisher.settings import Settings
from publisher.store import Store

# The dispatcher's log: operators see the same logger name as before the split.
log = logging.getLogger("publisher.dispatch.dispatcher")


class LeasesMixin:
    """The claims this process holds and their heartbeat; ``Dispatcher`` provides the attributes below."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime]
    _lock: threading.Lock
    _held: dict[str, int]  # attempt id -> delivery id of every claim this process holds
    _unrenewed: set[str]  # held attempts the last heartbeat could not renew
    _renewer: threading.Thread | None
    _closed: threading.Event

    def _start_renewer(self) -> None:
        with self._lock:
            if self._renewer is not None or self._closed.is_set():
                return
            self._renewer = threading.Thread(target=self._renew_loop, name="lease-heartbeat", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        interval = max(0.05, self.settings.lease_seconds / 3)
        while not self._closed.wait(interval):
            try:
                self.renew_leases()
            except Exception:  # the next beat tries again; a lease lost meanwhile is fenced anyway
                log.warning("could not renew leases", exc_info=True, extra={"event": "lease_renew_failed"})

    def renew_leases(self) -> int:
        """Extend the lease of every claim this process holds (the heartbeat calls it). Returns how many.

        A claim whose lease could not be renewed was either reaped by another daemon or settled by its lane
        while this beat ran (its result committed, the lane about to forget it). So a claim is reported lost
        only when it is still held and not renewed on two beats in a row; a settled one is gone by then. It
        is forgotten here, and the fencing makes sure its late result changes nothing.
        """
        with self._lock:
            held = dict(self._held)
        if not held:
            return 0
        kept = self.store.renew_leases(held.keys(), self.clock(), self.settings.lease_seconds)
        with self._lock:
            missed = {a for a in held if a not in kept and a in self._held}
            lost, self._unrenewed = missed & self._unrenewed, missed - self._unrenewed
        for attempt in lost:
            log.warning(
                "claim lost: its lease was reaped", extra={"event": "claim_lost", "delivery": held[attempt]}
            )
        self._forget(list(lost))
        return len(kept)

    def _forget(self, attempts: list[str]) -> None:
        with self._lock:
            for attempt in attempts:
                self._held.pop(attempt, None)
