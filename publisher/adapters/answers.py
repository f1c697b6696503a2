"""Reading networks' answers: small pure helpers every adapter uses (``Adapter`` exposes them as methods)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from publisher.ops.redact import scrub

_TOKEN_IN_TEXT = re.compile(r"(access_token[=\"': ]+)[^&\"'\s,}]+")


def as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when the API gave an object, else an empty one (answers are not to be trusted)."""
    return value if isinstance(value, dict) else {}


def retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` value (seconds or an HTTP date) or a number; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (as_utc(when) - datetime.now(UTC)).total_seconds())


def parse_time(value: Any) -> datetime | None:
    """An API time: ISO 8601 (``Z`` or an offset, with or without a colon) or unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value or "").strip()
    if re.fullmatch(r".*[+-]\d{4}", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def count(item: Any, *path: str) -> int | None:
    """An integer figure at ``path`` in an answer (``count(post, "likes", "count")``), else None."""
    for key in path:
        item = item.get(key) if isinstance(item, dict) else None
    return item if isinstance(item, int) and not isinstance(item, bool) else None


def clean_text(text: str) -> str:
    """A network's words, safe for messages: known secrets and an echoed ``access_token`` masked."""
    return _TOKEN_IN_TEXT.sub(r"\1***", scrub(text))


def data_excerpt(data: Any, limit: int = 300) -> str:
    """A short, secret-free JSON piece for the operator (scrubbed before cutting)."""
    try:
        text = json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(data)
    return clean_text(text)[:limit]
