"""The plan with its inputs: the store, the directory in force, the dates file; and the calendar file kept fresh.

Shared by the commands (``publisher plan``, ``rubric list``) and the daemon (``DATA_DIR/plan.ics``, reminders),
so both read the same plan. The dates file is re-read when it changes on disk; a broken dates file keeps the
previous dates in the daemon (and is reported), while a command reports it and stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.compose.directory import Directory
from publisher.errors import InputError
from publisher.plan.build import Plan, build_plan, period
from publisher.plan.dates import MemorableDate, load_dates
from publisher.plan.ics import PostEvents, plan_calendar, write_atomically
from publisher.settings import Settings

log = logging.getLogger("publisher.plan")

#: What the shared calendar file covers: the last month and the next three.
CALENDAR_PAST = timedelta(days=31)
CALENDAR_AHEAD = timedelta(weeks=13)
CALENDAR_NAME = "plan.ics"
#: ... and at most this many deliveries ahead of today and behind it. A calendar app cannot show more usefully
#: (a team posting 30 times a day to four networks has ~11,000 in three months), and the daemon rebuilds the
#: file after changes: its cost must not grow with the queue or the history. Past the bound the calendar
#: ends on the last whole day within it and says so (``publisher plan --from`` lists the rest).
CALENDAR_MAX_AHEAD = 8_000
CALENDAR_MAX_PAST = 2_500


class PlanSource:
    """Builds plans from the store, the directory and the dates file."""

    def __init__(self, store: Any, settings: Settings, directory: Callable[[], Directory]) -> None:
        self.store = store
        self.settings = settings
        self.directory = directory
        self._dates: list[MemorableDate] = []
        self._dates_stamp: tuple[Path, float, int] | None = None
        self._bad_stamp: tuple[Path, float, int] | None = None
        self._calendar_key: tuple[Any, ...] | None = None
        self._post_events = PostEvents()

    def dates(self, *, strict: bool = True) -> list[MemorableDate]:
        """The memorable dates; re-read when the file changed. ``strict=False`` keeps the old ones on error."""
        path = self.settings.dates_file
        if path is None:
            return []
        try:
            st = path.stat()
        except OSError as exc:
            if strict:
                raise InputError(
                    path.name, "", f"cannot be read ({exc.strerror})", "check PUBLISHER_DATES_FILE"
                ) from None
            return self._dates
        stamp = (path, st.st_mtime, st.st_size)
        if stamp != self._dates_stamp and (strict or stamp != self._bad_stamp):
            try:
                self._dates = load_dates(path, self.directory().rubrics)
            except InputError as exc:
                if strict:
                    raise
                self._bad_stamp = stamp  # warned once per version of the file
                log.warning(
                    "dates file not reloaded, keeping the previous dates: %s", exc, extra={"event": "dates"}
                )
                return self._dates
            self._dates_stamp = stamp
        return self._dates

    def today(self, now: datetime) -> date:
        return now.astimezone(self.settings.zone).date()

    def plan(self, first: date, last: date, *, strict: bool = True) -> Plan:
        zone = self.settings.zone
        start, end = period(first, last, zone)
        posts = self.store.planned_posts(start, end)
        return build_plan(self.directory(), self.dates(strict=strict), posts, zone, first, last)

    def calendar_plan(self, now: datetime, *, strict: bool = True) -> Plan:
        """The shared calendar's plan: the last month and the next three, bounded by the number of deliveries."""
        zone = self.settings.zone
        today = self.today(now)
        first, last = today - CALENDAR_PAST, today + CALENDAR_AHEAD
        start, end = period(first, last, zone)
        midnight = period(today, today, zone)[0]
        after = self.store.due_horizon(midnight, end, CALENDAR_MAX_AHEAD)
        if after is not None:  # end on the last whole day before the bound (today at least)
            last = max(today, after.astimezone(zone).date() - timedelta(days=1))
        before = self.store.due_horizon(start, midnight, CALENDAR_MAX_PAST, backwards=True)
        if before is not None:  # start on the first whole day after it
            first = before.astimezone(zone).date() + timedelta(days=1)
        plan = self.plan(first, last, strict=strict)
        return replace(plan, more_before=before is not None, more_after=after is not None)

    def refresh_calendar(self, now: datetime) -> bool:
        """Rewrite ``DATA_DIR/plan.ics`` when the queue, the directory, the dates or the day changed."""
        key = (
            self.store.change_marker(),
            id(self.directory()),
            self._dates_file_stamp(),
            self.today(now),
        )
        if key == self._calendar_key:
            return False
        data = plan_calendar(self.calendar_plan(now, strict=False), now, self._post_events)
        written = write_atomically(self.settings.data_dir / CALENDAR_NAME, data)
        self._calendar_key = key
        if written:
            log.debug(
                "calendar %s rewritten", self.settings.data_dir / CALENDAR_NAME, extra={"event": "calendar"}
            )
        return written

    def _dates_file_stamp(self) -> tuple[float, int] | None:
        path = self.settings.dates_file
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return None
        return (st.st_mtime, st.st_size) if st else None
