"""The daemon's job table: which job runs when (APScheduler 3.11 triggers); the jobs themselves are methods
of ``publisher.dispatch.daemon.Daemon``, whose docstring says what each does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from publisher.plan.cadence import parse_slot

if TYPE_CHECKING:
    from publisher.dispatch.daemon import Daemon


def add_jobs(scheduler: Any, daemon: Daemon) -> None:
    """Register the daemon's periodic jobs on ``scheduler`` (a ``BlockingScheduler`` not yet started)."""
    scheduler.add_job(daemon.ingest, "interval", seconds=daemon.settings.ingest_interval, id="ingest")
    scheduler.add_job(daemon.drain, "interval", seconds=30, id="drain", next_run_time=datetime.now(UTC))
    scheduler.add_job(
        daemon.housekeeping, "interval", seconds=daemon.settings.housekeeping_interval, id="housekeeping"
    )
    scheduler.add_job(daemon.tick, "interval", seconds=1, id="tick")
    if daemon.settings.remind_at != "off":
        at = parse_slot(daemon.settings.remind_at)
        scheduler.add_job(daemon.remind, "cron", hour=at.hour, minute=at.minute, id="remind")
        if daemon.clock().astimezone(daemon.settings.zone).time() >= at:
            scheduler.add_job(daemon.remind, id="remind-catch-up")  # started after today's time: remind now
    if daemon.settings.metrics.enabled:
        scheduler.add_job(
            daemon.collect_metrics, "interval", seconds=daemon.settings.metrics.interval, id="metrics"
        )
    if daemon.settings.report.telegram_chat_id:
        scheduler.add_job(
            daemon.send_monthly_report, "cron", day=1, hour=daemon.settings.report.hour, id="report"
        )
