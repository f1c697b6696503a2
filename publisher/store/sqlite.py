"""SQLite engine setup: WAL, ``synchronous=FULL``, a busy timeout and ``BEGIN IMMEDIATE`` for writes.

Reads ask for ``BEGIN DEFERRED`` through the ``sqlite_begin`` execution option so they never take the write lock.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from publisher.errors import ConfigurationError
from publisher.ops.safetext import printable


def sqlite_engine(url: str, pool_size: int) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        try:
            private_file(Path(path.split("?", 1)[0]))
        except OSError as exc:
            raise ConfigurationError(
                f"PUBLISHER_DATABASE_URL: the database file cannot be created ({exc.strerror}: "
                f"{printable(str(exc.filename))}): fix the path or the folder's permissions"
            ) from None
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=pool_size,
        max_overflow=pool_size,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def private_dir(folder: Path, *, existing_too: bool = False) -> None:
    """Create ``folder`` (and missing parents) not readable by others, whatever the umask. With
    ``existing_too`` an existing folder of ours loses its permissions for others (the data folder: it holds
    post texts, media and the database); a folder someone else chose for the database file is left alone."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, 0o750)
    st = folder.stat()
    if existing_too and st.st_uid == os.geteuid() and st.st_mode & 0o007:
        os.chmod(folder, stat.S_IMODE(st.st_mode) & ~0o007)


def private_file(path: Path) -> None:
    """The database file, created 0640 before SQLite opens it: its WAL and shared-memory files inherit the
    mode (SQLite's unix VFS gives them the database file's permissions), so none is readable by others."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and st.st_mode & 0o007:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o007)
    finally:
        os.close(fd)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")
