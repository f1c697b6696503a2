"""The plan of a period, day by day in local time: scheduled posts, rubric slots, memorable dates.

Pure: the caller reads the posts from the store (``Store.planned_posts``) and passes the directory and the
dates. A rubric with a cadence expects one post on each due day, shown at its first slot time: the slot is
*filled* when a post of the rubric is due that day, else *empty* (or *paused* while the rubric is on a
break, which is never reported as empty). A memorable date is *covered* by a post that day with the date's
rubric or one of its hashtags (a date with neither is covered by any post that day), else *uncovered*.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from publisher.plan.slots import local_time

if TYPE_CHECKING:  # annotations only: `publisher --help` imports this module without the store and YAML
    from publisher.compose.directory import Directory, Rubric
    from publisher.plan.dates import MemorableDate
    from publisher.store.plan import PlannedPost

SlotStatus = Literal["filled", "empty", "paused"]


@dataclass(frozen=True)
class PostEntry:
    post: PlannedPost
    day: date
    at: datetime  # local

    @property
    def state(self) -> str:
        """One state when every delivery agrees, else each target's."""
        states = {d.state for d in self.post.deliveries}
        if len(states) == 1:
            return states.pop()
        return ", ".join(f"{d.target}: {d.state}" for d in self.post.deliveries)


@dataclass(frozen=True)
class SlotEntry:
    rubric: Rubric
    day: date
    at: time | None
    status: SlotStatus
    posts: tuple[int, ...] = ()


@dataclass(frozen=True)
class DateEntry:
    memorable: MemorableDate
    day: date
    posts: tuple[int, ...] = ()

    @property
    def covered(self) -> bool:
        return bool(self.posts)


@dataclass(frozen=True)
class Plan:
    first: date
    last: date
    zone: ZoneInfo
    posts: tuple[PostEntry, ...]
    slots: tuple[SlotEntry, ...]
    dates: tuple[DateEntry, ...]
    #: The calendar was cut short by its size bound: more posts are planned before ``first`` / after ``last``.
    more_before: bool = False
    more_after: bool = False

    def days(self) -> Iterator[tuple[date, list[PostEntry], list[SlotEntry], list[DateEntry]]]:
        day = self.first
        while day <= self.last:
            yield (
                day,
                [p for p in self.posts if p.day == day],
                [s for s in self.slots if s.day == day],
                [d for d in self.dates if d.day == day],
            )
            day += timedelta(days=1)


def period(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[first 00:00, last+1 00:00)`` local, as aware datetimes (for ``Store.planned_posts``)."""
    return (
        datetime.combine(first, time(), tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=zone),
    )


def build_plan(
    directory: Directory,
    dates: Iterable[MemorableDate],
    posts: Sequence[PlannedPost],
    zone: ZoneInfo,
    first: date,
    last: date,
) -> Plan:
    entries = []
    for post in posts:
        at = post.due_at.astimezone(zone)
        if first <= at.date() <= last:
            entries.append(PostEntry(post, at.date(), at))
    by_day: dict[date, list[PostEntry]] = {}
    for entry in entries:
        by_day.setdefault(entry.day, []).append(entry)
    slots = []
    for rubric in directory.rubrics.values():
        if rubric.cadence is None:
            continue
        for day in rubric.cadence.days(first, last):
            mine = tuple(e.post.id for e in by_day.get(day, []) if _same(e.post.rubric, rubric.key))
            status: SlotStatus = "filled" if mine else "paused" if rubric.paused else "empty"
            slots.append(SlotEntry(rubric, day, rubric.slots[0] if rubric.slots else None, status, mine))
    marked = []
    for memorable in dates:
        for day in memorable.occurrences(first, last):
            covering = tuple(e.post.id for e in by_day.get(day, []) if _covers(e.post, memorable))
            marked.append(DateEntry(memorable, day, covering))
    slots.sort(key=lambda s: (s.day, s.at or time(), s.rubric.key))
    marked.sort(key=lambda d: (d.day, d.memorable.title))
    return Plan(first, last, zone, tuple(entries), tuple(slots), tuple(marked))


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.lstrip("#").casefold() == b.casefold()


def _covers(post: PlannedPost, memorable: MemorableDate) -> bool:
    if memorable.rubric is None and not memorable.hashtags:
        return True
    tags = {t.casefold() for t in post.hashtags}
    return _same(post.rubric, memorable.rubric or "\0") or any(
        t.casefold() in tags for t in memorable.hashtags
    )


def slot_instant(slot: SlotEntry, zone: ZoneInfo) -> datetime | None:
    return local_time(slot.day, slot.at, zone) if slot.at is not None else None


# --- JSON lines -----------------------------------------------------------------------------------


def plan_json(plan: Plan) -> Iterator[dict[str, Any]]:
    """One object per post, slot and date, in day order (``publisher plan --json``)."""
    for day, posts, slots, dates in plan.days():
        for p in posts:
            yield {
                "date": day.isoformat(),
                "kind": "post",
                "time": p.at.strftime("%H:%M"),
                "post": p.post.id,
                "title": p.post.title,
                "rubric": p.post.rubric,
                "author": p.post.approved_by,
                "networks": [d.target for d in p.post.deliveries],
                "state": p.state,
                "links": [d.url for d in p.post.deliveries if d.url],
            }
        for s in slots:
            yield {
                "date": day.isoformat(),
                "kind": "slot",
                "time": s.at.strftime("%H:%M") if s.at else None,
                "rubric": s.rubric.key,
                "status": s.status,
                "owner": s.rubric.owner_mention,
                "networks": list(s.rubric.networks),
                "posts": list(s.posts),
            }
        for d in dates:
            yield {
                "date": day.isoformat(),
                "kind": "date",
                "title": d.memorable.title,
                "status": "covered" if d.covered else "uncovered",
                "rubric": d.memorable.rubric,
                "hashtags": list(d.memorable.hashtags),
                "posts": list(d.posts),
            }
