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
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar

from publisher.i18n import _, current_language
from publisher.plan.build import Plan, PostEntry, slot_instant
from publisher.store.plan import PlannedPost

PRODID = "-//publisher//content plan//RU"
DOMAIN = "publisher"
#: How long a post's event lasts in the calendar (the post itself is an instant).
POST_MINUTES = 15


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def post_event(entry: PostEntry) -> bytes:
    """One scheduled post's VEVENT (it depends on the post alone, so it can be kept between rebuilds)."""
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
    return bytes(event.to_ical())


class PostEvents:
    """The posts' VEVENTs of the last calendar, kept by what they show (the post's row and the language).

    The daemon rebuilds ``plan.ics`` after every change to the queue; with this, a rebuild renders only the
    posts that changed (rendering is most of a rebuild's cost), and keeps nothing for posts no longer shown.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple[PlannedPost, str], bytes] = {}

    def render(self, entries: Iterable[PostEntry]) -> list[bytes]:
        language = current_language()
        kept, self._kept = self._kept, {}
        out = []
        for entry in entries:
            key = (entry.post, language)
            text = kept.get(key) or post_event(entry)
            self._kept[key] = text
            out.append(text)
        return out


def plan_calendar(plan: Plan, stamp: datetime, posts: PostEvents | None = None) -> bytes:
    """The iCalendar text of ``plan`` in the editors' language. ``stamp`` (UTC): DTSTAMP of slots and dates.

    ``posts`` keeps rendered post events from one call to the next (the daemon's calendar file).
    """
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", _("Content plan"))
    cal.add("x-wr-timezone", plan.zone.key)
    rendered = (posts or PostEvents()).render(plan.posts)
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
    for cut, uid, day, summary in (
        (
            plan.more_before,
            "more-before",
            plan.first,
            _("The calendar starts here: earlier posts are not shown"),
        ),
        (
            plan.more_after,
            "more-after",
            plan.last + timedelta(days=1),
            _("The calendar ends here: later posts are not shown"),
        ),
    ):
        if cut:  # the calendar's size bound was reached (see publisher.plan.service)
            event = icalendar.Event()
            event.add("uid", f"{uid}@{DOMAIN}")
            event.add("dtstamp", stamp.astimezone(UTC))
            event.add("dtstart", day)
            event.add("summary", summary)
            event.add(
                "description",
                _(
                    "Too many posts for one calendar; the command publisher plan --from {day} lists them all."
                ).format(day=day.isoformat()),
            )
            cal.add_component(event)
    # The post events go in before END:VCALENDAR (as add_component would put them; order has no meaning).
    text = bytes(cal.to_ical())
    end = b"END:VCALENDAR\r\n"
    if not text.endswith(end):
        raise ValueError("unexpected calendar text from icalendar")  # pragma: no cover - library contract
    return text[: -len(end)] + b"".join(rendered) + end


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
