"""The editorial directory in force: loaded once, reloaded on SIGHUP, kept when a new version is broken.

The daemon renders with it, and the CLI's ``enqueue``/``preview`` accept posts with it the same way.
"""

from __future__ import annotations

from pathlib import Path

from publisher.compose.directory import Directory, load_directory
from publisher.errors import InputError


class DirectoryHolder:
    """The editorial directory in force; SIGHUP reloads it, a broken file keeps the old one."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.current: Directory = load_directory(path)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[float, int] | None:
        if self.path is None or not self.path.exists():
            return None
        st = self.path.stat()
        return (st.st_mtime, st.st_size)

    def __call__(self) -> Directory:
        return self.current

    def reload(self) -> str:
        """Reload and return a one-line account of what changed (or why the old one stays)."""
        try:
            fresh = load_directory(self.path)
        except (InputError, OSError) as exc:
            return f"directory not reloaded, keeping the previous one: {exc}"
        before, self.current = self.current, fresh
        self._stamp = self._file_stamp()
        return "directory reloaded: " + describe_directory_change(before, fresh)


def describe_directory_change(old: Directory, new: Directory) -> str:
    parts = []
    for name in ("entities", "rubrics"):
        a, b = set(getattr(old, name)), set(getattr(new, name))
        added, removed = sorted(b - a), sorted(a - b)
        changed = sorted(k for k in a & b if getattr(old, name)[k] != getattr(new, name)[k])
        if added:
            parts.append(f"{name} added: {', '.join(added)}")
        if removed:
            parts.append(f"{name} removed: {', '.join(removed)}")
        if changed:
            parts.append(f"{name} changed: {', '.join(changed)}")
    if old.hashtags != new.hashtags:
        parts.append("standard hashtags changed")
    return "; ".join(parts) or "no changes"
