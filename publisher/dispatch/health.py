"""What the daemon tells about itself: its status line (systemd's STATUS=, heartbeats), the heartbeat row
``publisher status`` reads, and the two incidents it watches for (a stalled queue, a broken inbox).

Split from ``daemon`` so the daemon reads as wiring and jobs; each incident is reported once and resolved
when the condition clears.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from publisher.dispatch.dispatcher import Dispatcher
from publisher.models import Event
from publisher.ops.alerts import Incident
from publisher.ops.incidents import Incidents
from publisher.ops.sdnotify import Notifier
from publisher.store import UNFINISHED, Store

#: The status line counts each unfinished state up to this ("queued 10000+"): ``publisher status`` gives the
#: full figures; the heartbeat's cost stays the same however long the queue.
COUNT_AT_MOST = 10_000
NOT_CHECKED = "not checked yet"


def unrepaired_inbox_problem(store: Store) -> Event | None:
    """The last ``inbox_broken`` event when no ``inbox_repaired`` came after it (``Health.inbox`` logs both)."""
    broken = store.events(status="inbox_broken", limit=1, newest_first=True)
    repaired = store.events(status="inbox_repaired", limit=1, newest_first=True)
    if broken and not (repaired and repaired[0].id > broken[0].id):
        return broken[0]
    return None


@dataclass
class Health:
    """One daemon's status, heartbeat and the stalled-queue and inbox incidents."""

    store: Store
    dispatcher: Dispatcher
    incidents: Incidents
    notifier: Notifier
    clock: Callable[[], datetime]
    daemon_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    _stalled: bool = False
    _inbox_problem: str | None = NOT_CHECKED
    _counts: tuple[int, dict[str, int]] | None = None  # (publish-log id they were counted at, counts)

    def status_line(self) -> str:
        """Unfinished work (counted through the state index: flat however long the history) and this
        daemon's own results since it started (from memory), e.g. for systemd's STATUS= and heartbeats.

        Every change of state appends to the publish log, so the counts are taken again only when its newest
        id moved, and each only up to ``COUNT_AT_MOST``: an idle daemon does not count a queue of 10^6
        deliveries every 15 s.
        """
        marker = self.store.last_event_id()  # read first: a change after it is counted now or next time
        if self._counts is None or self._counts[0] != marker:
            self._counts = (marker, self.store.counts_by_state(UNFINISHED, at_most=COUNT_AT_MOST))
        counts = self._counts[1]
        stats = self.dispatcher.stats
        waiting = ", ".join(
            f"{s.value} {counts[s.value]}{'+' if counts[s.value] >= COUNT_AT_MOST else ''}"
            for s in UNFINISHED
        )
        return f"{waiting}; since start: published {stats.published}, failed {stats.failed}"

    def heartbeat(self, stopped: bool = False) -> None:
        status = self.status_line()
        self.store.heartbeat(
            self.daemon_id,
            self.clock(),
            host=socket.gethostname(),
            pid=os.getpid(),
            status=status,
            stopped=stopped,
        )
        if not stopped:
            self.notifier.status(status)

    def check_stalled(self, stalled_after_seconds: float) -> None:
        """Alert when due deliveries wait far longer than they should (a stuck network or lane)."""
        now = self.clock()
        limit = timedelta(seconds=stalled_after_seconds)
        waiting = self.store.overdue_count(now, now - limit)
        if waiting and not self._stalled:
            self._stalled = True
            self.incidents.report(
                Incident(
                    "stalled",
                    "stalled",
                    "publishing has stalled",
                    f"{waiting} deliveries are overdue by more than {limit}; check 'publisher status' and the logs",
                )
            )
        elif not waiting and self._stalled:
            self._stalled = False
            self.incidents.resolve("stalled")

    def inbox(self, broken: list[str]) -> None:
        """A broken inbox folder is an incident (one alert) and an event ``publisher status`` shows.

        A sound inbox at the first check logs ``inbox_repaired`` only when the publish log still shows it
        broken (from an earlier run): a daemon's every start would otherwise add a repair nobody made.
        """
        problem = "\n".join(broken) or None
        if problem == self._inbox_problem:
            return
        first, self._inbox_problem = self._inbox_problem == NOT_CHECKED, problem
        if problem is None:
            self.incidents.resolve("inbox")
            if not first or unrepaired_inbox_problem(self.store) is not None:
                self.store.log_event(self.clock(), "inbox_repaired")
            return
        self.store.log_event(self.clock(), "inbox_broken", error=problem)
        self.incidents.report(Incident("inbox", "inbox", "the inbox cannot be used", problem))
