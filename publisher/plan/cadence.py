"""When a rubric is due: a structured cadence read from the directory, and the days it gives in a period.

Shapes accepted in the directory (a mapping under ``cadence:``)::

    cadence: {every_days: 3}                       # every third day (start: sets the phase)
    cadence: {weekly: [tue, fri]}                  # every week on those weekdays
    cadence: {biweekly: [wed], start: 2026-12-02}  # every second week; start picks which weeks
    cadence: {monthly: 15}                         # on the 15th (the last day in shorter months)

Weekdays may be written in English (mon, tuesday) or Russian (пн, вторник). A cadence without ``start``
counts its phase from Monday 2026-01-05, so the same file always gives the same days.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any, Literal

from publisher.i18n import N_, _, ngettext

Kind = Literal["every_days", "weekly", "biweekly", "monthly"]
KINDS: tuple[Kind, ...] = ("every_days", "weekly", "biweekly", "monthly")
#: The default phase of "every N days" and "biweekly": a Monday, so biweekly weeks start on Mondays.
EPOCH = date(2026, 1, 5)

_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        ("mon", "monday", "пн", "пон", "понедельник"),
        ("tue", "tuesday", "вт", "вто", "вторник"),
        ("wed", "wednesday", "ср", "сре", "среда"),
        ("thu", "thursday", "чт", "чет", "четверг"),
        ("fri", "friday", "пт", "пят", "пятница"),
        ("sat", "saturday", "сб", "суб", "суббота"),
        ("sun", "sunday", "вс", "вос", "воскресенье"),
    ]
):
    for _name in _names:
        _WEEKDAYS[_name] = _number
#: Codes in JSON output; ``weekday_name`` gives the editors' abbreviation.
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def weekday_name(day: int) -> str:
    """The editors' short name of a weekday (0 = Monday): ``пн`` in Russian."""
    return _(_WEEKDAY_NAMES[day])


class CadenceError(ValueError):
    """A cadence or slot that cannot be read; ``fix`` tells the editor what to write."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Cadence:
    """How often a rubric is due. ``weekdays`` are 0 (Monday) to 6; ``day`` is the day of the month."""

    kind: Kind
    every: int = 1
    weekdays: tuple[int, ...] = ()
    day: int = 1
    start: date = EPOCH

    def is_due(self, day: date) -> bool:
        if self.kind == "every_days":
            return (day - self.start).days % self.every == 0
        if self.kind == "monthly":
            return day.day == min(self.day, monthrange(day.year, day.month)[1])
        if day.weekday() not in self.weekdays:
            return False
        if self.kind == "weekly":
            return True
        monday = self.start - timedelta(days=self.start.weekday())
        return ((day - monday).days // 7) % 2 == 0

    def days(self, first: date, last: date) -> Iterator[date]:
        """The due days from ``first`` to ``last`` inclusive, in order."""
        day = first
        while day <= last:
            if self.is_due(day):
                yield day
            day += timedelta(days=1)

    def describe(self) -> str:
        """Short wording for listings, in the editors' language: ``every 3 days``, ``on Tue, Fri``."""
        if self.kind == "every_days":
            return ngettext("every {n} day", "every {n} days", self.every).format(n=self.every)
        if self.kind == "monthly":
            return _("on day {day} of every month").format(day=self.day)
        names = ", ".join(weekday_name(d) for d in self.weekdays)
        if self.kind == "weekly":
            return _("on {weekdays}").format(weekdays=names)
        return _("every other week on {weekdays}").format(weekdays=names)

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "every_days":
            return {"every_days": self.every, "start": self.start.isoformat()}
        if self.kind == "monthly":
            return {"monthly": self.day}
        out: dict[str, Any] = {self.kind: [WEEKDAY_CODES[d] for d in self.weekdays]}
        if self.kind == "biweekly":
            out["start"] = self.start.isoformat()
        return out


_FIX = "write e.g. {weekly: [tue]}, {biweekly: [wed], start: 2026-12-02}, {every_days: 3} or {monthly: 15}"


def parse_cadence(value: Any) -> Cadence:
    """Read the ``cadence:`` value of a rubric; raises ``CadenceError`` saying what to write instead."""
    if not isinstance(value, dict) or not value:
        raise CadenceError("must be a mapping such as {weekly: [tue]}", _FIX)
    keys = [str(k) for k in value]
    unknown = [k for k in keys if k not in (*KINDS, "start")]
    if unknown:
        raise CadenceError(f"has unknown keys: {', '.join(unknown)}", _FIX)
    kinds = [k for k in keys if k in KINDS]
    if len(kinds) != 1:
        raise CadenceError("needs exactly one of every_days, weekly, biweekly, monthly", _FIX)
    kind = kinds[0]
    start = _start(value.get("start"))
    spec = value[kind]
    if kind == "every_days":
        if isinstance(spec, bool) or not isinstance(spec, int) or not 1 <= spec <= 366:
            raise CadenceError("every_days must be a whole number from 1 to 366", "write e.g. every_days: 3")
        return Cadence("every_days", every=spec, start=start or EPOCH)
    if kind == "monthly":
        if isinstance(spec, bool) or not isinstance(spec, int) or not 1 <= spec <= 31:
            raise CadenceError("monthly must be a day of the month from 1 to 31", "write e.g. monthly: 15")
        if start is not None:
            raise CadenceError("start is not used with monthly", "remove start")
        return Cadence("monthly", day=spec)
    return Cadence(kind, weekdays=parse_weekdays(spec), start=start or EPOCH)


def parse_weekdays(spec: Any) -> tuple[int, ...]:
    items = spec if isinstance(spec, list) else [spec]
    days: set[int] = set()
    for item in items:
        number = _WEEKDAYS.get(str(item).strip().casefold().rstrip("."))
        if number is None or isinstance(item, bool):
            raise CadenceError(
                f"{item!r} is not a weekday", "write mon, tue, wed, thu, fri, sat, sun (or пн, вт, ...)"
            )
        days.add(number)
    if not days:
        raise CadenceError("lists no weekday", "write e.g. weekly: [tue, fri]")
    return tuple(sorted(days))


def _start(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CadenceError(f"start {value!r} is not a date", "write start: 2026-12-01") from None


def parse_slot(value: Any) -> time:
    """``"18:30"`` -> ``time(18, 30)``. YAML 1.1 reads an unquoted 18:30 as a number: quote it."""
    match = _TIME.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise CadenceError(
            f"{value!r} is not a time of day", 'write times in quotes, e.g. ["10:00", "18:30"]'
        )
    return time(int(match.group(1)), int(match.group(2)))
