"""Checking the fields of a post file one by one, collecting every problem so the editor sees them all at once.

Split from ``postfile`` so the parser reads as the list of fields it checks; the value checks (text, names,
local date and time with DST) live here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from publisher.errors import InputError
from publisher.i18n import _

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=731)
_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)


class FieldChecker:
    """Collects problems so an editor sees all of them at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[InputError] = []

    def add(self, field: str, problem: str, fix: str = "") -> None:
        self.problems.append(InputError(self.source, field, problem, fix))

    def clean(self, field: str, value: str, *, allowed: str = "") -> bool:
        """False (and a problem) when ``value`` holds a control character: invisible in an editor, it would be
        published as garbage or act on a terminal (an ANSI escape sequence)."""
        for char in value:
            if char not in allowed and (ord(char) < 32 or 0x7F <= ord(char) <= 0x9F):
                problem = _("contains an invisible control character (U+{code})").format(
                    code=f"{ord(char):04X}"
                )
                self.add(
                    field, problem, _("retype the text or paste it as plain text, without special characters")
                )
                return False
        return True

    def text(self, data: Mapping[str, Any], key: str, *, required: str = "", limit: int = 500) -> str | None:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            if len(value) > limit:
                self.add(key, _("is too long (at most {limit} characters)").format(limit=limit))
                return None
            if not self.clean(key, value):
                return None
            return value.strip()
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(key, _("is missing") if key not in data else _("is empty"), required)
            return None
        self.add(key, _("must be a single text value"), _("write '{key}: <text>'").format(key=key))
        return None

    def names(self, data: Mapping[str, Any], key: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
            self.add(key, _("must be a list of names"), _("write '{key}: [first, second]'").format(key=key))
            return []
        if key != "media" and not all(self.clean(key, v) for v in items):  # media names: plain_name_problem
            return []
        return [v.strip() for v in items]

    def when(self, data: Mapping[str, Any], key: str, zone: ZoneInfo, now: datetime) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        fix = _("write '{key}: 2026-12-01 18:00' (local time) or '2026-12-01T18:00+03:00'").format(key=key)
        if key == "publish_at":
            fix += _(" or 'slot' (the next free posting slot of the rubric)")
        match = _TIME_RE.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            self.add(key, _("is not a date and time: {value}").format(value=repr(str(value)[:40])), fix)
            return None
        day, clock, offset = match.groups()
        offset = "" if offset is None else "+00:00" if offset == "Z" else offset
        try:
            clock = "0" + clock if clock[1] == ":" else clock
            parsed = datetime.fromisoformat(f"{day}T{clock}{offset}")
        except ValueError:
            self.add(key, _("is not a valid date and time: {value}").format(value=repr(value.strip())), fix)
            return None
        if not EARLIEST.year <= parsed.year <= now.year + 3:
            self.add(
                key, _("is out of range ({year}): a typo?").format(year=parsed.year), _("check the year")
            )
            return None
        aware = self._local(key, parsed, zone) if parsed.tzinfo is None else parsed
        if aware is None:
            return None
        try:
            result = aware.astimezone(UTC)
        except OverflowError:
            self.add(key, _("is out of range"), _("check the date"))
            return None
        if not EARLIEST <= result <= now + MAX_AHEAD:
            self.add(
                key,
                _("is out of range ({date}): a typo?").format(date=f"{result:%Y-%m-%d}"),
                _("use a date within two years"),
            )
            return None
        return result

    def _local(self, key: str, naive: datetime, zone: ZoneInfo) -> datetime | None:
        """Local wall time -> aware; refuses a time skipped or repeated by a DST change (PEP 495 fold)."""
        early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if early.utcoffset() == late.utcoffset():
            return early
        fix = _("write the time with an explicit UTC offset, e.g. '2026-03-29T02:30+01:00'")
        roundtrip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if roundtrip != naive:
            problem = _("{time} does not exist in {zone} (clocks jump forward)")
            self.add(key, problem.format(time=f"{naive:%Y-%m-%d %H:%M}", zone=zone.key), fix)
        else:
            problem = _("{time} happens twice in {zone} (clocks go back)")
            self.add(key, problem.format(time=f"{naive:%Y-%m-%d %H:%M}", zone=zone.key), fix)
        return None


def directory_fix(directory: object, usual: str) -> str:
    """The fix for a key the directory lacks: ``usual``, unless no directory is loaded at all.

    Without ``PUBLISHER_DIRECTORY_FILE`` every key is unknown, and "use a key from the directory" would send
    the editor looking for a typo that is not there.
    """
    if any(getattr(directory, name, ()) for name in ("hashtags", "entities", "rubrics")):
        return usual
    return _(
        "no directory is loaded: ask the operator to set PUBLISHER_DIRECTORY_FILE (see directory.example.yaml)"
    )


def suggest(word: str, choices: Collection[str]) -> str:
    """ "Did you mean ...?" for a mistyped name, or nothing when no known name is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return _("did you mean '{word}'? ").format(word=close[0]) if close else ""
