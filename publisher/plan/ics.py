"""The plan as an iCalendar file (RFC 5545, written with the ``icalendar`` library) people subscribe to.

One VEVENT per scheduled post, per empty rubric slot and per uncovered memorable date. UIDs are derived from
what the event is about (the post id; the rubric and day; the date's day and title), never from the time of
the run, so a calendar app that re-reads the file updates an event instead of adding a copy — a post moved to
another time keeps its UID and its DTSTART changes. ``DTSTAMP`` of a post is the time it last changed, so the
output is the same from run to run until something changes (the daemon rewrites the file only then).

RFC 5545: UID (3.8.4.7), DTSTAMP (3.8.7.2, UTC), DTSTART with VALUE=DATE for all-day events (3.8.2.4),
https://www.rfc-editor.org/rfc/rfc5545
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar

from publisher.i18n import _
from publisher.plan.build import Plan, slot_instant

PRODID = "-//publisher//content plan//RU"
DOMAIN = "publisher"
#: How long a post's event lasts in the calendar (the post itself is an instant).
POST_MINUTES = 15


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def plan_calendar(plan: Plan, stamp: datetime) -> bytes:
    """The iCalendar text of ``plan`` in the editors' language. ``stamp`` (UTC): DTSTAMP of slots and dates."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", _("Content plan"))
    cal.add("x-wr-timezone", plan.zone.key)
    for entry in plan.posts:
        post = entry.post
        event = icalendar.Event()
        event.add("uid", f"post-{post.id}@{DOMAIN}")
        event.add("dtstamp", post.updated_at.astimezone(UTC))
        event.add("last-modified", post.updated_at.astimezone(UTC))
        event.add("dtstart", post.due_at.astimezone(UTC))
        event.add("dtend", post.due_at.astimezone(UTC) + timedelta(minutes=POST_MINUTES))
        event.add("summary", post.title[:120])
        targets = ", ".join(d.target for d in post.deliveries)
        lines = [
            _("Networks: {targets}").format(targets=targets),
            _("State: {state}").format(state=entry.state),
            _("Approved by: {name}").format(name=post.approved_by),
        ]
        if post.rubric:
            lines.insert(0, _("Rubric: #{rubric}").format(rubric=post.rubric))
        links = [d.url for d in post.deliveries if d.url]
        lines += [f"{d.target}: {d.url}" for d in post.deliveries if d.url]
        event.add("description", "\n".join(lines))
        if links:
            event.add("url", links[0])
        if post.rubric:
            event.add("categories", [post.rubric])
        cal.add_component(event)
    for slot in plan.slots:
        if slot.status != "empty":
            continue
        event = icalendar.Event()
        event.add("uid", f"slot-{_digest(slot.rubric.key)}-{slot.day:%Y%m%d}@{DOMAIN}")
        event.add("dtstamp", stamp.astimezone(UTC))
        start = slot_instant(slot, plan.zone)
        if start is None:
            event.add("dtstart", slot.day)
        else:
            event.add("dtstart", start)
            event.add("dtend", start + timedelta(minutes=POST_MINUTES))
        owner = f" ({slot.rubric.owner_mention})" if slot.rubric.owner_mention else ""
        event.add("summary", _("No post: rubric #{rubric}").format(rubric=slot.rubric.key) + owner)
        event.add("description", _("The rubric's cadence expects a post here; nothing is planned yet."))
        event.add("categories", [slot.rubric.key])
        cal.add_component(event)
    for marked in plan.dates:
        if marked.covered:
            continue
        event = icalendar.Event()
        event.add("uid", f"date-{marked.memorable.uid_part(marked.day)}@{DOMAIN}")
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", marked.day)
        event.add("summary", _("Memorable date without a post: {title}").format(title=marked.memorable.title))
        cal.add_component(event)
    return bytes(cal.to_ical())


def write_atomically(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` (readers never see half a file); False when it already holds it."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # the calendar is meant to be shared (served or synced)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
