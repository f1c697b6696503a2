"""Output helpers shared by the commands: exit codes, tables, local times, JSON shapes, safe terminal text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from publisher.errors import InputError
from publisher.models import Delivery, Event
from publisher.ops.safetext import printable

if TYPE_CHECKING:  # loaded by the command that needs it: `publisher --help` starts without pydantic
    from publisher.settings import Settings

T = TypeVar("T")

# Exit codes of every command: 0 success, 1 failure, 2 usage or invalid input.
OK, FAILURE, USAGE = 0, 1, 2
#: Ids and counts are SQL BIGINTs: anything larger cannot name a row.
MAX_ID = 2**63 - 1
MAX_LIMIT = 1_000_000
#: ``--since`` earlier than this is surely a typo; later than this cannot be represented in every zone.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class SafeTerminal:
    """Wraps stdout/stderr for human output: control characters (ANSI/OSC escapes, a stray carriage return,
    bidi overrides) from posts, file names, pause reasons or a network's answer are shown escaped (``\\x1b``)
    instead of acting on the operator's terminal. Newlines and tabs pass: the commands lay out their own lines.
    JSON output (``--json``) does not use it: JSON must stay exact.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text, keep="\n\t"))

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def check_number(value: int | None, what: str, high: int, low: int = 1) -> None:
    """Refuse an id or a count outside ``low..high`` (a 20-digit id would overflow the database driver)."""
    if value is not None and not low <= value <= high:
        raise InputError(what, "", f"{value} is out of range", f"use a number from {low} to {high}")


def local(settings: Settings, when: datetime | None) -> str:
    return when.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M") if when else "-"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def one_line(text: str | None, width: int = 70) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def parse_when(value: str, settings: Settings, now: datetime) -> datetime:
    """``2h``, ``3d``, ``30m``, ``today``, ``2026-12-01`` or ``2026-12-01 18:00`` (local time)."""
    fix = "use e.g. 2h, 3d, today or 2026-12-01 18:00 (after 1970)"
    try:
        found = _parse_when(value, settings, now)
    except (OverflowError, ValueError):
        raise InputError("--since", "", f"{value[:40]!r} is out of range", fix) from None
    if not EARLIEST <= found <= LATEST:
        raise InputError("--since", "", f"{value[:40]!r} is out of range", fix)
    return found


def _parse_when(value: str, settings: Settings, now: datetime) -> datetime:
    text = value.strip().lower()
    match = re.fullmatch(r"(\d{1,12})\s*([mhdw])", text)
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    if text == "today":
        start = now.astimezone(settings.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return start.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            "--since", "", f"{value[:40]!r} is not a time", "use e.g. 2h, 3d, today or 2026-12-01 18:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.zone)
    return parsed.astimezone(UTC)


def event_json(e: Event, facts: Any = None) -> dict[str, Any]:
    """One publish-log line; ``facts`` (the post's ``PostFacts``) adds rubric, author and mentions."""
    return {
        "time": e.time.isoformat(),
        "event": e.id,
        "post": e.post_id,
        "delivery": e.delivery_id,
        "target": e.target,
        "status": e.status,
        "remote_id": e.remote_id,
        "url": e.url,
        "error": e.error,
        "detail": dict(e.detail),
        "rubric": facts.rubric if facts else None,
        "author": facts.author if facts else None,
        "mentions": list(facts.mentions) if facts else [],
    }


def listed(items: Sequence[T], as_json: bool, to_json: Callable[[T], dict[str, Any]], empty: str) -> bool:
    """Print ``items`` as JSON lines (exact, for scripts), or ``empty`` when there are none.

    True when that was all there is to print; False when the caller prints its table.
    """
    if as_json:
        for item in items:
            print(json.dumps(to_json(item), ensure_ascii=False))
        return True
    if not items:
        print(empty)
        return True
    return False


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "post": d.post_id,
        "target": d.target,
        "state": d.state.value,
        "attempts": d.attempts,
        "due_at": d.due_at.isoformat(),
        "next_at": d.not_before.isoformat() if d.not_before else None,
        "remote_id": d.remote_id,
        "url": d.remote_url,
        "error": d.last_error,
    }
