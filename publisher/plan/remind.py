"""The daily reminder to the team chat: a rubric's next slot is empty, a memorable date has no post.

Missing a rubric's deadline is the group's main risk, so once a day (``PUBLISHER_REMIND_AT``, 10:00 local)
the daemon looks ahead and writes to the team's Telegram chat (the alerts' chat), mentioning the owner:

- each rubric (not paused, with a cadence) whose *next* expected slot, within its ``remind_days``
  (``PUBLISHER_REMIND_DAYS``, 3), has no post;
- each memorable date within ``PUBLISHER_DATE_REMIND_DAYS`` (7) without a post.

One message per gap per day at most: the gap's key for the day is recorded in the store before sending
(``Store.open_incident``), so a second run the same day — a restart, a second daemon — sends nothing again.
A message Telegram refused is un-recorded, so a later run that day may try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from publisher.i18n import _, ngettext
from publisher.ops.alerts import Alerter
from publisher.plan.build import DateEntry, SlotEntry
from publisher.plan.cadence import weekday_name
from publisher.plan.service import PlanSource

log = logging.getLogger("publisher.plan.remind")


@dataclass(frozen=True)
class Gap:
    key: str
    text: str


def _day(day: date) -> str:
    return f"{weekday_name(day.weekday())} {day:%d.%m.%Y}"


def slot_text(slot: SlotEntry, today: date) -> str:
    """The reminder of an empty rubric slot, in the editors' language."""
    rubric = slot.rubric
    when = _day(slot.day) + (f" {slot.at:%H:%M}" if slot.at else "")
    owner = rubric.owner_mention or _("not named (add owner: to the rubric in the directory)")
    return "\n".join(
        [
            "📅 "
            + _("Rubric #{rubric}: nothing is planned for {when} ({in_days}).").format(
                rubric=rubric.key, when=when, in_days=_in_days(slot.day, today)
            ),
            _("Owner: {owner}.").format(owner=owner),
            _("Drop a post into the publisher's folder (publish_at: slot will do) or pause the rubric."),
        ]
    )


def date_text(entry: DateEntry, owner: str, today: date) -> str:
    """The reminder of a memorable date without a post, in the editors' language."""
    memorable = entry.memorable
    text = "📅 " + _("Memorable date {day} «{title}»: no post yet ({in_days}).").format(
        day=_day(entry.day), title=memorable.title, in_days=_in_days(entry.day, today)
    )
    if memorable.rubric:
        text += "\n" + _("Rubric: #{rubric}.").format(rubric=memorable.rubric)
    if owner:
        text += "\n" + _("Owner: {owner}.").format(owner=owner)
    return text


def _in_days(day: date, today: date) -> str:
    days = (day - today).days
    if days == 0:
        return _("today")
    if days == 1:
        return _("tomorrow")
    return ngettext("in {n} day", "in {n} days", days).format(n=days)


class Reminders:
    """Finds today's gaps and sends each once. ``run`` is the daemon's daily job."""

    def __init__(
        self, source: PlanSource, store: Any, alerter: Alerter, clock: Callable[[], datetime]
    ) -> None:
        self.source = source
        self.store = store
        self.alerter = alerter
        self.clock = clock

    def gaps(self, now: datetime) -> list[Gap]:
        settings = self.source.settings
        today = self.source.today(now)
        directory = self.source.directory()
        ahead = max(
            [settings.remind_days, settings.date_remind_days]
            + [r.remind_days or 0 for r in directory.rubrics.values()]
        )
        # The next expected slot may lie beyond the reminder window: look a little further to find it.
        plan = self.source.plan(today, today + timedelta(days=ahead + 62), strict=False)
        found: list[Gap] = []
        next_slot: dict[str, SlotEntry] = {}
        for slot in plan.slots:
            ahead_of_now = slot.day > today or slot.at is None or self._still_ahead(slot, now)
            if slot.status != "paused" and slot.rubric.key not in next_slot and ahead_of_now:
                next_slot[slot.rubric.key] = slot
        for key, slot in sorted(next_slot.items()):
            limit = slot.rubric.remind_days if slot.rubric.remind_days is not None else settings.remind_days
            if slot.status == "empty" and (slot.day - today).days <= limit:
                found.append(Gap(f"remind:rubric:{key}:{slot.day}:{today}", slot_text(slot, today)))
        for entry in plan.dates:
            if not entry.covered and (entry.day - today).days <= settings.date_remind_days:
                rubric = directory.rubric(entry.memorable.rubric) if entry.memorable.rubric else None
                owner = rubric.owner_mention if rubric else ""
                found.append(
                    Gap(
                        f"remind:date:{entry.memorable.uid_part(entry.day)}:{today}",
                        date_text(entry, owner, today),
                    )
                )
        return found

    def _still_ahead(self, slot: SlotEntry, now: datetime) -> bool:
        assert slot.at is not None
        return slot.at >= now.astimezone(self.source.settings.zone).time()

    def run(self) -> int:
        """Send today's reminders not sent yet; return how many went out."""
        now = self.clock()
        sent = 0
        if "telegram" not in self.alerter.channels:
            log.debug("no team chat configured: no reminders", extra={"event": "reminders"})
            return 0
        for gap in self.gaps(now):
            if not self.store.open_incident(gap.key, now):
                continue  # already sent today
            if self.alerter.send_chat(gap.text, gap.key):
                sent += 1
            else:
                self.store.close_incident(gap.key, now)  # not delivered: a later run today may try again
        if sent:
            log.info("%d reminders sent to the team chat", sent, extra={"event": "reminders"})
        return sent
