"""Memorable dates: the YAML file the team keeps (``PUBLISHER_DATES_FILE``) and importing an iCalendar file into it.

The file is a mapping with one key, ``dates``, holding a list of entries (see ``dates.example.yaml``)::

    dates:
      - date: "12-22"             # every year
        title: День энергетика
        rubric: бюроизобретений   # optional: whose owner prepares the post
        hashtags: [ДеньЭнергетика] # optional
      - date: "2026-09-06"        # once

Validated like the directory: unknown keys, bad dates and unknown rubrics are errors naming the line. Import
reads VEVENTs with the ``icalendar`` library (RFC 5545, https://icalendar.readthedocs.io/): an event that
repeats yearly (``RRULE:FREQ=YEARLY``) becomes ``MM-DD``, any other a one-off ``YYYY-MM-DD``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from publisher.errors import InputError, combine_errors

_KEYS = ("date", "title", "rubric", "hashtags")
_YEARLY = re.compile(r"^(\d{2})-(\d{2})$")
_ONCE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATE_FIX = "write '12-22' (every year) or '2026-09-06' (once), in quotes"


@dataclass(frozen=True)
class MemorableDate:
    """A day to prepare a post for; ``year`` None means every year (29 February falls on the 28th)."""

    month: int
    day: int
    title: str
    year: int | None = None
    rubric: str | None = None
    hashtags: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        return (
            f"{self.month:02}-{self.day:02}"
            if self.year is None
            else f"{self.year}-{self.month:02}-{self.day:02}"
        )

    def occurrences(self, first: date, last: date) -> list[date]:
        """The days in ``[first, last]`` this date falls on."""
        years = [self.year] if self.year is not None else range(first.year, last.year + 1)
        found = []
        for year in years:
            day = self.day if (self.month, self.day) != (2, 29) or _leap(year) else 28
            when = date(year, self.month, day)
            if first <= when <= last:
                found.append(when)
        return found

    def uid_part(self, day: date) -> str:
        """Stable across runs: the day plus a digest of the title (calendar UIDs, reminder keys)."""
        digest = hashlib.sha256(self.title.encode()).hexdigest()[:10]
        return f"{day:%Y%m%d}-{digest}"


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def load_dates(path: Path | None, rubrics: Collection[str] | None = None) -> list[MemorableDate]:
    """Read and validate the dates file (``None``: no dates). Raises ``InputError`` naming field and line."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path.name, "", f"cannot be read ({exc})", "check PUBLISHER_DATES_FILE") from exc
    return parse_dates(text, path.name, rubrics)


def parse_dates(
    text: str, source: str = "dates", rubrics: Collection[str] | None = None
) -> list[MemorableDate]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"(line {mark.line + 1}) " if mark else ""
        raise InputError(
            source, "", f"{line}is not valid YAML: {getattr(exc, 'problem', exc)}", "fix the syntax"
        ) from None
    if root is None:
        return []
    problems: list[InputError] = []

    def fail(node: yaml.Node, field: str, problem: str, fix: str = "") -> None:
        problems.append(InputError(source, field, f"(line {node.start_mark.line + 1}) {problem}", fix))

    entries: list[yaml.Node] = []
    if not isinstance(root, yaml.MappingNode):
        fail(root, "", "must be a mapping with a 'dates' list", "start the file with 'dates:'")
    else:
        for key, value in root.value:
            if key.value != "dates":
                fail(key, str(key.value), "is not a known key", "the file has one key: dates")
            elif isinstance(value, yaml.SequenceNode):
                entries = list(value.value)
            elif not (isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")):
                fail(value, "dates", "must be a list of entries", "write '- date: ...' lines under 'dates:'")
    found = []
    known = {r.casefold() for r in rubrics} if rubrics is not None else None
    for index, node in enumerate(entries):
        entry = _entry(node, f"dates[{index}]", fail, known)
        if entry is not None:
            found.append(entry)
    if problems:
        raise combine_errors(source, problems)
    return found


def _entry(node: yaml.Node, path: str, fail: Any, known: set[str] | None) -> MemorableDate | None:
    if not isinstance(node, yaml.MappingNode):
        fail(node, path, "must be a mapping (date:, title:, ...)")
        return None
    fields: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = str(key.value)
        if name not in _KEYS:
            fail(key, f"{path}.{name}", "is not a known key", f"use one of: {', '.join(_KEYS)}")
        elif name in fields:
            fail(key, f"{path}.{name}", "is a duplicate key", "keep one of them")
        else:
            fields[name] = value
    ok = True
    for needed in ("date", "title"):
        if needed not in fields:
            fail(node, path, f"has no {needed}", "add date: and title:")
            ok = False
    scalars = {k: v.value.strip() for k, v in fields.items() if isinstance(v, yaml.ScalarNode)}
    for key in ("date", "title", "rubric"):
        if key in fields and (key not in scalars or not scalars[key]):
            fail(fields[key], f"{path}.{key}", "must be a text")
            ok = False
    parsed = _parse_date(scalars.get("date", "")) if "date" in scalars else None
    if "date" in scalars and parsed is None:
        fail(fields["date"], f"{path}.date", f"{scalars['date']!r} is not a date", _DATE_FIX)
        ok = False
    rubric = scalars.get("rubric") or None
    if rubric is not None and known is not None and rubric.lstrip("#").casefold() not in known:
        fail(
            fields["rubric"],
            f"{path}.rubric",
            f"{rubric!r} is not a rubric of the directory",
            "use a rubric key",
        )
        ok = False
    tags: list[str] = []
    if "hashtags" in fields:
        raw = fields["hashtags"]
        items = raw.value if isinstance(raw, yaml.SequenceNode) else [raw]
        for item in items:
            value = item.value.strip().lstrip("#") if isinstance(item, yaml.ScalarNode) else ""
            if not re.fullmatch(r"\w+", value):
                fail(
                    item, f"{path}.hashtags", f"{value!r} is not a hashtag", "one word: letters, digits and _"
                )
                ok = False
            tags.append(value)
    if not ok or parsed is None:
        return None
    year, month, day = parsed
    return MemorableDate(month, day, scalars["title"], year, rubric, tuple(dict.fromkeys(tags)))


def _parse_date(text: str) -> tuple[int | None, int, int] | None:
    once, yearly = _ONCE.match(text), _YEARLY.match(text)
    try:
        if once:
            when = date(int(once[1]), int(once[2]), int(once[3]))
            return when.year, when.month, when.day
        if yearly:
            date(2028, int(yearly[1]), int(yearly[2]))  # a leap year: 02-29 is a valid yearly date
            return None, int(yearly[1]), int(yearly[2])
    except ValueError:
        return None
    return None


# --- iCalendar import ---------------------------------------------------------------------------


def dates_from_ics(data: bytes, source: str) -> list[MemorableDate]:
    """The VEVENTs of an iCalendar file as memorable dates (yearly when ``RRULE:FREQ=YEARLY``)."""
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise InputError(
            source, "", f"is not an iCalendar file ({exc})", "export the calendar as .ics"
        ) from None
    found = []
    for event in calendar.walk("VEVENT"):
        start = event.get("DTSTART")
        title = " ".join(str(event.get("SUMMARY", "")).split())
        if start is None or not title:
            continue
        when = start.dt
        day = when.date() if isinstance(when, datetime) else when
        rule = event.get("RRULE")
        yearly = rule is not None and "YEARLY" in [str(f).upper() for f in rule.get("FREQ", [])]
        found.append(MemorableDate(day.month, day.day, title, None if yearly else day.year))
    return found


def append_dates(path: Path, new: Iterable[MemorableDate], rubrics: Collection[str] | None = None) -> int:
    """Add the dates not yet in the file (same day and title) at its end; return how many were added.

    Appending keeps the team's comments. The result is read back; if it does not validate, the file is
    restored and ``InputError`` raised.
    """
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    existing = parse_dates(before, path.name, rubrics) if before.strip() else []
    seen = {(d.spec, d.title) for d in existing}
    lines = []
    indent = m.group(1) if (m := re.search(r"^(\s*)- date:", before, re.M)) else "  "
    for item in new:
        if (item.spec, item.title) in seen:
            continue
        seen.add((item.spec, item.title))
        lines.append(f'{indent}- date: "{item.spec}"\n{indent}  title: {_quote(item.title)}\n')
    if not lines:
        return 0
    head = before if before.strip() else "dates:\n"
    text = head + ("" if head.endswith("\n") else "\n") + "".join(lines)
    parse_dates(text, path.name, rubrics)
    path.write_text(text, encoding="utf-8")
    return len(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
