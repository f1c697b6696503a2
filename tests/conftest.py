"""Shared fixtures: stores on real SQLite files and (when available) a real PostgreSQL server."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest

from publisher.i18n import set_language
from publisher.store import Store
from tests.helpers import captured_log

POSTGRES_ENV = "PUBLISHER_TEST_POSTGRES_URL"

# The suite's assertions read the English texts; the tests of the editors' language (Russian by default)
# choose their language themselves (tests/unit/test_i18n.py, tests/acceptance/test_editors.py).
os.environ["PUBLISHER_LANGUAGE"] = "en"
set_language("en")


def _cache_bytecode_of_subprocesses() -> None:
    """Let the daemons and commands the tests start (some 270 processes) keep their compiled bytecode.

    With PYTHONDONTWRITEBYTECODE set (CI's machine sets it) each of them compiled the whole package from
    source again, ~0.3 s of CPU per start. They now write it under a private folder of the temporary
    directory (``PYTHONPYCACHEPREFIX``), never beside the sources; bytecode changes nothing they do.
    """
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    folder = Path(tempfile.gettempdir()) / f"publisher-tests-pycache-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        owned = folder.stat()
    except OSError:
        return
    if owned.st_uid != os.getuid() or owned.st_mode & 0o077 or folder.is_symlink():
        return  # not a folder only we can write: keep bytecode off
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)


_cache_bytecode_of_subprocesses()


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = postgres_url()
    if not base:
        pytest.skip(
            f"PostgreSQL tests skipped: set {POSTGRES_ENV} (make test / .ci/run do when a server runs)"
        )
    import sqlalchemy

    name = "t_" + uuid.uuid4().hex[:12]
    admin = sqlalchemy.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    except sqlalchemy.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is not reachable: {exc.orig}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'publisher.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def log_text() -> Iterator[StringIO]:
    """Our real logging setup at DEBUG, writing into a buffer the test reads."""
    with captured_log() as stream:
        yield stream


class FakeClock:
    """A controllable UTC clock for code that takes ``clock: Callable[[], datetime]``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(autouse=True)
def _english_texts() -> Iterator[None]:
    """A test that loads settings without PUBLISHER_LANGUAGE switches the process to Russian: switch back."""
    yield
    set_language("en")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
