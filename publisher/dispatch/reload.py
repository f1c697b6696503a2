"""SIGHUP for the settings: re-read them, and tell which changes apply now and which need a restart."""

from __future__ import annotations

import logging
from typing import Any

from publisher.errors import PublisherError
from publisher.settings import Settings, load_settings

log = logging.getLogger("publisher.dispatch.daemon")  # the daemon's log: same records as before the split

#: settings a running daemon cannot change under its feet (open files, pools, the scheduler's zone)
RESTART_ONLY = frozenset(
    {
        "data_dir",
        "database_url",
        "inbox_dir",
        "workers",
        "timezone",
        "log_format",
        "remind_at",
        "media_storage",
    }
)


def reread_settings(
    settings_file: str | None, overrides: dict[str, Any], current: Settings
) -> tuple[Settings, list[str], list[str]] | None:
    """``(settings to use, changed keys applied, changed keys needing a restart)``; None (logged) when the
    file cannot be read or nothing changed. The restart-only keys keep their current values."""
    try:
        fresh = load_settings(settings_file, **overrides)
    except PublisherError as exc:
        log.warning("settings not reloaded, keeping the previous ones: %s", exc, extra={"event": "reloaded"})
        return None
    old, new = current.model_dump(), fresh.model_dump()
    changed = sorted(k for k in new if new[k] != old[k])
    if not changed:
        log.info("settings reloaded: no changes", extra={"event": "reloaded"})
        return None
    kept = {k: getattr(current, k) for k in RESTART_ONLY}
    merged = fresh.model_copy(update=kept)
    return merged, [k for k in changed if k not in RESTART_ONLY], [k for k in changed if k in RESTART_ONLY]
