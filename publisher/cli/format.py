"""Output helpers shared by the commands: exit codes, tables, local times and JSON shapes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.errors import InputError
from publisher.models import Event
from publisher.settings import Settings

# Exit codes of every command: 0 success, 1 failure, 2 usage or invalid input.
OK, FAILURE, USAGE = 0, 1, 2


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
    text = value.strip().lower()
    match = re.fullmatch(r"(\d+)\s*([mhdw])", text)
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
            "--since", "", f"{value!r} is not a time", "use e.g. 2h, 3d, today or 2026-12-01 18:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.zone)
    return parsed.astimezone(UTC)


def event_json(e: Event) -> dict[str, Any]:
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
    }


def delivery_json(d: Any) -> dict[str, Any]:
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
