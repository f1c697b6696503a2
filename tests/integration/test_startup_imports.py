"""What a fresh process loads: ``publisher --help`` answers without the settings' and the store's libraries,
and a SQLite deployment never loads the PostgreSQL dialect.

Why: every command and every ``run --once`` is a new process, and the test suite starts some 270 of them;
pydantic, SQLAlchemy and requests cost ~0.4 s of CPU to import, the PostgreSQL dialect ~0.05 s. The test
checks which modules a real interpreter holds afterwards (a state), never how long it took.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon_helpers import ROOT

HELP = """
import json, sys
from publisher.cli import main
try:
    main(["--help"])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.argv[1:] if m in sys.modules)}))
"""

SQLITE_STORE = """
import json, sys
from datetime import UTC, datetime
from publisher.store import Store
store = Store(sys.argv[1])
store.put_media("0" * 64, "image/jpeg", b"bytes", datetime.now(UTC))
store.take_slot("telegram", datetime.now(UTC), 1.0, 60.0)
store.close()
print(json.dumps(sorted(m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql"))))
"""


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_help_loads_neither_the_settings_nor_the_store_nor_http() -> None:
    found = json.loads(_python(HELP, "pydantic", "pydantic_settings", "sqlalchemy", "requests", "icalendar"))
    assert found == {"code": 0, "loaded": []}


def test_a_sqlite_store_never_loads_the_postgresql_dialect(tmp_path: Path) -> None:
    assert json.loads(_python(SQLITE_STORE, f"sqlite:///{tmp_path / 'publisher.db'}")) == []
