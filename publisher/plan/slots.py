"""The candidate times of ``publish_at: slot``: the rubric's due days at its slot times, soonest first.

A rubric with a cadence offers its due days; without one, every day. Its ``slots`` give the times, else the
``default_slots`` setting; a post without a rubric uses the default slots every day. The store then takes the
first candidate that no post of the team occupies on any of the post's targets (``Store.add_post_in_slot``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from publisher.compose.directory import Rubric

#: How far ahead a slot is looked for (the post file parser allows publishing times up to two years ahead).
HORIZON_DAYS = 366


def local_time(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall time, or None when a DST change skips it."""
    aware = datetime.combine(day, at, tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone)
    return aware.astimezone(UTC) if (back.date(), back.time()) == (day, at) else None


def rubric_days(rubric: Rubric | None, first: date, last: date) -> list[date]:
    """The days a rubric expects a post (every day without a cadence or a rubric)."""
    if rubric is not None and rubric.cadence is not None:
        return list(rubric.cadence.days(first, last))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def slot_times(rubric: Rubric | None, default_slots: Sequence[time]) -> tuple[time, ...]:
    return rubric.slots if rubric is not None and rubric.slots else tuple(sorted(default_slots))


def slot_candidates(
    rubric: Rubric | None,
    default_slots: Sequence[time],
    zone: ZoneInfo,
    now: datetime,
    *,
    until: datetime | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> list[datetime]:
    """Every slot after ``now`` (and before ``until``, a post's expiry) within the horizon, in UTC."""
    first = now.astimezone(zone).date()
    times = slot_times(rubric, default_slots)
    found = []
    for day in rubric_days(rubric, first, first + timedelta(days=horizon_days)):
        for at in times:
            when = local_time(day, at, zone)
            if when is not None and when > now and (until is None or when < until):
                found.append(when)
    return found
