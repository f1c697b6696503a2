"""Incidents: what an operator must know, reported once per incident (not once per post).

The store remembers open incidents (``open_incident``), so a target paused with forty queued posts, or a
daemon restarted in the middle of an outage, still sends one alert. Alerts go out on a background thread:
a slow mail server never holds up publishing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from publisher.ops.alerts import Alerter, Incident
from publisher.store import Store

log = logging.getLogger("publisher.ops.incidents")


class IncidentSink:
    """Where the dispatcher reports what an operator must see. This base only logs (no alert channel
    configured, tests); ``Incidents`` also records the incident and alerts once per incident."""

    def report(self, incident: Incident) -> None:
        level = logging.ERROR if incident.kind in ("failed", "stalled") else logging.WARNING
        log.log(
            level,
            "%s: %s",
            incident.title,
            incident.text,
            extra={
                "event": f"incident_{incident.kind}",
                "target": incident.target,
                "delivery": incident.delivery_id,
            },
        )
        self.raised(incident)

    def raised(self, incident: Incident) -> None:
        """What happens besides the log line: nothing here."""


#: the sink that only logs, by the name its users know
LogIncidents = IncidentSink


class Incidents(IncidentSink):
    """Incidents recorded in the store, each alerted once, on a background thread."""

    def __init__(
        self, store: Store, alerter: Alerter | None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ):
        self.store = store
        self.alerter = alerter
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")
        self._sending: set[Future[None]] = set()

    def raised(self, incident: Incident) -> None:
        try:
            first = self.store.open_incident(incident.key, self.clock())
        except Exception:
            log.exception("could not record incident %s", incident.key)
            return
        if first and self.alerter is not None:
            future = self._pool.submit(self._send, incident)
            self._sending.add(future)
            future.add_done_callback(self._sending.discard)

    def resolve(self, key: str) -> None:
        self.store.close_incident(key, self.clock())

    def _send(self, incident: Incident) -> None:
        try:
            assert self.alerter is not None
            self.alerter.send(incident)
        except Exception:  # alerting must never break publishing
            log.exception("alert could not be sent")

    def close(self, timeout: float = 10.0) -> bool:
        """Give alerts still on their way up to ``timeout`` seconds; True when all went out.

        A slow mail server must not hold up a stopping daemon's shutdown sequence: what is still pending
        after ``timeout`` is logged and not waited for here (the send itself is bounded by its timeouts).
        """
        _done, pending = wait(list(self._sending), timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if pending:
            log.warning(
                "%d alert(s) still being sent when stopping; not waiting longer",
                len(pending),
                extra={"event": "alerts_abandoned"},
            )
        return not pending
