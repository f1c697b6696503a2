"""The daemon: APScheduler wiring, signals, heartbeat and systemd notification.

Jobs (APScheduler 3.11 ``BlockingScheduler``, explicit time zone, in-memory job store — the posts live
in our own tables, never in APScheduler's):

* ``ingest``  every ``ingest_interval`` s: take stable files from the inbox, then wake the drain;
* ``drain``   at the next due time (rescheduled after every ingest, drain and finished lane) and every
              30 s as a safety net; ``max_instances=1`` so two drains never overlap;
* ``housekeeping`` every ``housekeeping_interval`` s (15): reap expired leases, reconcile in-doubt deliveries, expire old posts,
              heartbeat, STATUS=, stalled-queue detection, ``plan.ics`` rebuilt when the queue changed;
* ``metrics`` every ``metrics.interval`` s (300): snapshots of published posts that are due (never
              before publishing: see ``publisher.metrics.collect``);
* ``report``  on the 1st at ``report.hour`` local time, when ``report.telegram_chat_id`` is set: last
              month's round-table report to the team's chat;
* ``tick``    every second: ``WATCHDOG=1`` — only while the ingest and drain jobs keep completing, so a
              hung loop is caught by systemd rather than hidden by a helper thread — and SIGHUP reloads.

Signal handlers only set flags or stop the scheduler; the work happens after ``start()`` returns.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from publisher.adapters.pool import AdapterPool
from publisher.compose.composer import preload, render
from publisher.compose.reloadable import DirectoryHolder
from publisher.dispatch.dispatcher import Dispatcher
from publisher.dispatch.health import Health
from publisher.dispatch.jobs import add_jobs
from publisher.dispatch.reload import reread_settings
from publisher.errors import ConfigurationError, PublisherError
from publisher.intake.accept import Intake
from publisher.intake.failures import StoredFailures
from publisher.intake.inbox import Inbox, ScanReport, Taken
from publisher.intake.receipt import receipt_text
from publisher.metrics.collect import Collector
from publisher.models import NETWORKS, Post, Rendered
from publisher.ops.alerts import Alerter
from publisher.ops.editors_chat import EditorsFeed
from publisher.ops.incidents import Incidents
from publisher.ops.safetext import printable
from publisher.ops.sdnotify import Notifier
from publisher.plan.remind import Reminders
from publisher.plan.service import PlanSource
from publisher.settings import Settings
from publisher.store import Store
from publisher.store.sqlite import private_dir

log = logging.getLogger("publisher.dispatch.daemon")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """The long-running service (``publisher run``) and its one-shot form (``--once``)."""

    def __init__(
        self, settings: Settings, *, settings_file: str | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings = settings
        self.settings_file = settings_file
        self.clock = clock
        try:
            private_dir(settings.data_dir, existing_too=True)
        except OSError as exc:
            raise ConfigurationError(
                f"PUBLISHER_DATA_DIR {printable(str(settings.data_dir))} cannot be used ({exc.strerror}): "
                "create it for the service user or fix the setting"
            ) from None
        self.store = Store(settings.resolved_database_url)
        self.directory = DirectoryHolder(settings.directory_file)
        self.inbox_dir = settings.resolved_inbox_dir
        self.inbox = Inbox(
            self.inbox_dir,
            settings.inbox_settle_seconds,
            max_bytes=settings.max_post_bytes,
            failures=StoredFailures(self.store, clock),
            zone=settings.zone,
        )
        self.intake = Intake(self.store, settings, self.directory, clock)
        alerter = Alerter(settings)
        self.incidents = Incidents(self.store, alerter if alerter.configured else None, clock)
        self.dispatcher = Dispatcher(
            self.store,
            settings,
            self._render,
            incidents=self.incidents,
            clock=clock,
            on_lane_done=self.wake,
        )
        self.plan = PlanSource(self.store, settings, self.directory)
        self.reminders = Reminders(self.plan, self.store, alerter, clock)
        # Metrics use their own adapters (own HTTP sessions): a metrics call never waits for a publish.
        self.metrics = Collector(
            self.store,
            settings,
            AdapterPool(settings).get,
            clock=clock,
            busy=self.dispatcher.busy_targets,
            incidents=self.incidents,
        )
        self.notifier = Notifier()
        self.health = Health(self.store, self.dispatcher, self.incidents, self.notifier, clock)
        self.editors = EditorsFeed(settings, self.store, clock)
        self.editors.poll()  # from now on: what happened before this start is not announced again
        self.scheduler: Any = None  # apscheduler's BlockingScheduler, created by run()
        self._progress = time.monotonic()
        self._reload_requested = threading.Event()
        self._stop_requested = threading.Event()
        self._overrides: dict[str, Any] = {}

    def _render(self, post: Post, target: str) -> Rendered:
        return render(post, target, self.directory())

    # --- jobs ------------------------------------------------------------------------------------

    def ingest(self) -> ScanReport:
        report = self.inbox.scan(self._accept)
        for name, message in report.rejected:
            self.editors.rejected(printable(name), message)
            self.store.log_event(self.clock(), "rejected", error=message, detail={"file": printable(name)})
        self.health.inbox(report.broken)
        self._progress = time.monotonic()
        self.wake()
        return report

    def _accept(self, path: Path) -> Taken:
        done = self.intake.submit(path, self.inbox_dir)
        outcome, post = done.outcome, done.post
        if outcome.outcome == "created" and post.wants_slot and post.publish_at is not None:
            log.info(
                "post file %s took the slot %s",
                path.name,
                post.publish_at.astimezone(self.settings.zone).strftime("%Y-%m-%d %H:%M %Z"),
                extra={"event": "slot_taken", "post": outcome.post_id},
            )
        if outcome.outcome != "created":
            log.info(
                "post file %s: post %s %s",
                printable(path.name),
                outcome.post_id,
                outcome.outcome,
                extra={"event": f"ingest_{outcome.outcome}", "post": outcome.post_id},
            )
        self.editors.accepted(done)
        receipt = receipt_text(done, self.settings.zone, self.clock())
        return Taken(str(outcome.post_id), receipt)

    def drain(self) -> None:
        claimed = self.dispatcher.drain()
        self._progress = time.monotonic()
        if claimed >= self.settings.drain_batch:
            self.wake()  # more is due right now
        else:
            self._schedule_next_drain()

    def housekeeping(self) -> None:
        try:
            self.dispatcher.reap()
            self.dispatcher.reconcile()
            self.health.check_stalled(self.settings.alerts.stalled_after_seconds)
            self.refresh_calendar()
        finally:
            self.health.heartbeat()
        self.wake()

    def refresh_calendar(self) -> None:
        """Keep ``DATA_DIR/plan.ics`` in step with the queue; a failure is logged, never raised.

        Run by housekeeping (every 15 s), never after a drain: while publishing, every drain changes the
        queue, and rebuilding the calendar each time cost more than the publishing.
        """
        try:
            self.plan.refresh_calendar(self.clock())
        except Exception as exc:  # the calendar must never hold up publishing
            log.warning("plan.ics not refreshed: %s", exc, extra={"event": "calendar_failed"})

    def remind(self) -> None:
        """The daily reminder to the team chat (once per gap per day, see publisher.plan.remind)."""
        try:
            self.reminders.run()
        except Exception as exc:
            log.warning("reminders not sent: %s", exc, extra={"event": "reminders_failed"})

    def collect_metrics(self) -> None:
        """The metrics job: snapshots that are due; a failure is logged and the next round tries again."""
        try:
            self.metrics.run()
        except Exception:
            log.exception("metrics round failed", extra={"event": "metrics_failed"})

    def send_monthly_report(self) -> bool:
        """On the 1st: last month's report to the team's Telegram chat (``PUBLISHER_REPORT__TELEGRAM_CHAT_ID``)."""
        from publisher.metrics.delivery import send_report

        try:
            return send_report(self.store, self.settings, self.clock())
        except Exception:
            log.exception("monthly report not sent", extra={"event": "report_failed"})
            return False

    def tick(self) -> None:
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            self.reload()
        interval = self.notifier.watchdog_interval()
        if interval is not None and time.monotonic() - self._progress < interval:
            self.notifier.watchdog()

    # --- scheduling ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Make the drain run now if something is due, else at the next due time."""
        self.editors.poll()  # a lane finished or files came in: tell the editors what came of their posts
        if self.scheduler is None or self.dispatcher.stopping:
            return
        self._schedule_next_drain()

    def _schedule_next_drain(self) -> None:
        scheduler = self.scheduler
        if scheduler is None or self.dispatcher.stopping:
            return
        now = self.clock()
        due = self.store.next_due_at(now)
        if due is None:
            return
        when = max(due, now)
        try:
            scheduler.add_job(
                self.drain,
                "date",
                run_date=when,
                id="drain-at",
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )
        except Exception:  # the scheduler is shutting down
            log.debug("could not schedule the next drain", exc_info=True)

    # --- lifecycle -------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Ingest, publish what is due now, settle what can be settled, exit."""
        report = self.ingest()
        if report.deferred:
            log.warning(
                "run --once: left %d file(s) that changed in the last %s s (still being written?): %s; "
                "the next run takes them",
                len(report.deferred),
                f"{self.settings.inbox_settle_seconds:g}",
                ", ".join(printable(n) for n in report.deferred),
                extra={"event": "ingest_deferred"},
            )
        self.dispatcher.reap()
        stats = self.dispatcher.run_until_idle()
        self.dispatcher.reconcile()
        self.dispatcher.stop(timeout=self._stop_grace())
        self.refresh_calendar()
        self.health.heartbeat(stopped=True)
        self.incidents.close()
        self.editors.close()
        log.info(
            "run --once done: %d published, %d retrying, %d failed, %d in doubt",
            stats.published,
            stats.retried,
            stats.failed,
            stats.in_doubt,
            extra={"event": "once_done"},
        )
        return 0

    def run(self) -> int:
        from apscheduler.schedulers.blocking import BlockingScheduler  # not needed by --once

        # The long-running service loads X's counting now, so its first post does not wait for it; --once
        # loads it only if it renders for X (~0.5 s of CPU that a run with nothing for X never spends).
        preload()
        scheduler = BlockingScheduler(
            timezone=self.settings.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            executors={"default": {"type": "threadpool", "max_workers": 4}},
        )
        self.scheduler = scheduler
        self._install_signals()
        self.ingest()
        # A dead daemon's leftovers are settled before new work, as in run --once: a daemon restarted again
        # and again (a crash loop on a busy host) may never live to its first housekeeping round.
        self.dispatcher.reap()
        self.dispatcher.reconcile()
        self.refresh_calendar()  # start-up work, as the ingest: fresh from the start, rebuilt on changes
        self.health.heartbeat()
        add_jobs(scheduler, self)
        self.notifier.ready(self.health.status_line())
        log.info(
            "publisher started: inbox %s, database %s, dry run %s",
            self.inbox_dir,
            self.settings.resolved_database_url.split("@")[-1],
            self.settings.dry_run,
            extra={"event": "started"},
        )
        if not self._stop_requested.is_set():
            scheduler.start()  # blocks until a signal stops it
        return self._shutdown()

    def _shutdown(self) -> int:
        self.notifier.stopping("stopping: finishing deliveries in flight")
        log.info("stopping: finishing deliveries in flight", extra={"event": "stopping"})
        clean = self.dispatcher.stop(timeout=self._stop_grace())
        self.health.heartbeat(stopped=True)
        self.incidents.close()
        self.editors.close()
        self.store.close()
        log.info(
            "stopped%s",
            "" if clean else " (some deliveries were still in flight)",
            extra={"event": "stopped"},
        )
        return 0

    def _stop_grace(self) -> float:
        """How long lanes may take to finish their current call: the longest HTTP deadline, plus a margin.

        Leases are renewed meanwhile, so a short lease does not cut a slow call short.
        """
        deadlines = [self.settings.network(n).timeouts.total for n in NETWORKS]
        return max(deadlines) + 5.0

    def _install_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            self._stop_requested.set()
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.shutdown(wait=False)

        def hup(_signum: int, _frame: FrameType | None) -> None:
            self._reload_requested.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    def reload(self) -> None:
        """SIGHUP: re-read the settings file and the editorial directory; keep what was there on error."""
        self.notifier.reloading()
        self._reload_settings()
        if self.directory.path != self.settings.directory_file:
            self.directory.path = self.settings.directory_file
        message = self.directory.reload()
        level = logging.WARNING if message.startswith("directory not reloaded") else logging.INFO
        log.log(level, message, extra={"event": "reloaded"})
        self.notifier.ready(self.health.status_line())

    def _reload_settings(self) -> None:
        reread = reread_settings(self.settings_file, self._overrides, self.settings)
        if reread is None:
            return
        merged, applied, restart = reread
        if applied:
            self.settings = merged
            self.intake.settings = merged
            self.dispatcher.reconfigure(merged)
            self.inbox.settle_seconds = merged.inbox_settle_seconds
            self.inbox.max_bytes = merged.max_post_bytes
            alerter = Alerter(merged)  # new channels, addresses or bot token: used from the next incident on
            self.incidents.alerter = alerter if alerter.configured else None
            self.metrics.reconfigure(merged, AdapterPool(merged).get)
            logging.getLogger().setLevel(merged.log_level)
        log.info(
            "settings reloaded: changed %s%s",
            ", ".join(applied) or "nothing that applies without a restart",
            f"; needs a restart to apply: {', '.join(restart)}" if restart else "",
            extra={"event": "reloaded"},
        )


def run_daemon(
    settings: Settings,
    *,
    once: bool = False,
    settings_file: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> int:
    try:
        daemon = Daemon(settings, settings_file=settings_file)
        daemon._overrides = dict(overrides or {})
    except PublisherError as exc:
        log.error("cannot start: %s", exc, extra={"event": "start_failed"})
        return 2 if isinstance(exc, ConfigurationError) else 1
    return daemon.run_once() if once else daemon.run()
