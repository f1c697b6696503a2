"""Logging for journald and for people: one event per line, secrets masked, optional JSON.

Text lines are escaped (``publisher.ops.safetext``): one event is always one line. Text lines start with a syslog priority prefix (``<6>``) when stderr goes to journald
(``JOURNAL_STREAM`` is set), so ``journalctl -p warning`` works; elsewhere they start with a time.
Structured fields passed as ``extra={"event": ..., "target": ..., "post": ..., "delivery": ...}`` are
appended as ``key=value`` (text) or as JSON keys.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO

from publisher.ops.redact import ScrubbingFilter
from publisher.ops.safetext import printable

FIELDS = ("event", "target", "post", "delivery", "attempt", "state")
_SYSLOG_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class TextFormatter(logging.Formatter):
    def __init__(self, journald: bool) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={getattr(record, k)}" for k in FIELDS if getattr(record, k, None) is not None)
        message = record.getMessage()
        if fields:
            message = f"{message} [{fields}]"
        if record.exc_text:
            message += " | " + record.exc_text.replace("\n", " | ")
        # One event, one line: a newline or an escape sequence from a file name or a network's answer is shown
        # escaped, so it can neither forge a log line nor act on the terminal of whoever reads the log.
        message = printable(message)
        if self.journald:
            return f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>{record.name}: {message}"
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp} {record.levelname:<7} {record.name}: {message}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Install one scrubbing handler on the root logger (replacing earlier ones of ours) and return it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_publisher", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._publisher = True  # type: ignore[attr-defined]
    handler.addFilter(ScrubbingFilter())
    journald = stream is None and bool(os.environ.get("JOURNAL_STREAM"))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(journald))
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler reports every run of our own internal jobs (one a second) at INFO: noise for operators.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
